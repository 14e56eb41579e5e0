#!/usr/bin/env bash
# MCP prompts/get side by side: our release server (TLS + auth + rate limits, the
# stateless 2026-07-28 revision, as scripts/bench.sh measures it) against the official
# MCP SDK servers serving the same catalog with Handlebars rendering, in their documented
# stateless Streamable HTTP patterns (plain HTTP, no auth, JSON responses):
#   - Python: PyPI `mcp` (MCPServer, stateless_http=True, json_response=True) + pybars3
#   - TypeScript: npm `@modelcontextprotocol/sdk` (StreamableHTTPServerTransport with
#     sessionIdGenerator: undefined, a server per request, on express) + handlebars
# All three are driven by the same load generator (host/examples/loadgen.rs) with the same
# connections and durations; every 2xx body is checked (a JSON-RPC error in a 200 is an
# error). Prints req/s and the ratios ours ÷ Python and ours ÷ TypeScript. Not a test:
# figures, not thresholds (docs/benchmarks.md).
#
#   ./scripts/bench_sdk.sh
#   BENCH_DURATION=5s BENCH_ROUNDS=2 ./scripts/bench_sdk.sh
#
# Environment (all optional): BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_CONNECTIONS
# (16), BENCH_THREADS (loadgen threads, 1), BENCH_ROUNDS (1), BENCH_OUT (raw JSON lines,
# default target/bench/sdk-DATE.jsonl), BENCH_SKIP_BUILD=1 (use the existing release
# build), BENCH_CATALOG (prompt files all three serve; default ../shared/catalog when
# present, plus the benchmark's own prompt).
#
# The peers' packages are pinned in scripts/sdk-peers/ (requirements.txt, package.json and
# package-lock.json); they are installed from PyPI and npm when missing. Everything
# started here is stopped on exit; all traffic goes to 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS=$ROOT/scripts/sdk-peers

command -v jq >/dev/null || { echo "bench_sdk.sh: needs jq" >&2; exit 1; }
command -v node >/dev/null || { echo "bench_sdk.sh: needs Node.js 20 or later" >&2; exit 1; }
table() { if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi; }

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-1}
mkdir -p target/bench
OUT=${BENCH_OUT:-$ROOT/target/bench/sdk-$(date +%Y%m%d-%H%M%S).jsonl}
CATALOG=${BENCH_CATALOG:-$ROOT/../shared/catalog}

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    echo "== building (release) =="
    cargo plugins
    cargo build --release --workspace --examples --bins
fi

# --- the peers' pinned packages --------------------------------------------------------
if ! python3 - "$PEERS/requirements.txt" <<'PY' >/dev/null 2>&1
import sys, importlib.metadata as md
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, version = line.split("==")
        assert md.version(name) == version, name
PY
then
    echo "== installing the Python peer (scripts/sdk-peers/requirements.txt) =="
    python3 -m pip install --quiet -r "$PEERS/requirements.txt"
fi
if [[ ! -d "$PEERS/node_modules/@modelcontextprotocol/sdk" ]]; then
    echo "== installing the TypeScript peer (scripts/sdk-peers/package-lock.json) =="
    npm ci --prefix "$PEERS" --no-audit --no-fund
fi

BIN=$ROOT/target/release/mcp-prompts
LOADGEN=$ROOT/target/release/examples/loadgen
WASM=$ROOT/target/wasm32-wasip2/release
for f in "$BIN" "$LOADGEN" "$WASM/renderer.wasm" "$WASM/prompt_store.wasm" "$WASM/policy.wasm"; do
    [[ -e "$f" ]] || { echo "bench_sdk.sh: missing $f (run without BENCH_SKIP_BUILD=1)" >&2; exit 1; }
done

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_url LOGFILE PREFIX PID -> prints the URL (a Python SDK start on a busy machine
# can take most of a minute: importing the SDK alone is seconds of CPU)
wait_for_url() {
    local log=$1 prefix=$2 pid=$3 i line
    for ((i = 0; i < 3000; i++)); do
        line=$(grep -m1 "^$prefix" "$log" 2>/dev/null || true)
        if [[ -n "$line" ]]; then
            echo "${line#"$prefix"}"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench_sdk.sh: process $pid exited before listening" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "bench_sdk.sh: timed out waiting for '$prefix' in $log" >&2
    return 1
}

# --- the catalog all three serve ----------------------------------------------------------
CAT=$TMP/catalog
mkdir -p "$CAT"
if [[ -d "$CATALOG" ]]; then
    cp "$CATALOG"/*.json "$CAT"/ 2>/dev/null || true
fi
cat >"$CAT/bench-greet.json" <<'JSON'
{
  "id": "bench-greet",
  "name": "Benchmark greeting",
  "description": "A small template used by scripts/bench.sh",
  "content": "Hello {{name}}, let us talk about {{topic}}.",
  "variables": ["name", "topic"],
  "tags": ["bench"]
}
JSON

# --- ours: bench.sh's rate-limited route behind /mcp, warm instances as config/*.toml ship ---
DATA=$TMP/data
CONFIG=$TMP/config.toml
cat >"$CONFIG" <<EOF
[server]
listen = "127.0.0.1:0"
mode = "tls"

[storage]
backend = "embedded"
data_dir = "$DATA"

[auth.dev]
secret_file = "$DATA/dev-jwt-secret"
generate_if_missing = true

[runtime]
pooling = true
max_instances = 1000
max_memory = "256MiB"
epoch_tick = "5ms"
keep_resident = "1MiB"
max_wasm_stack = "512KiB"

[logging]
format = "human"
level = "warn"

[plugins.renderer]
path = "$WASM/renderer.wasm"
world = "renderer"
memory_limit = "64MiB"
timeout = "2s"

[plugins.renderer.warm]                # as config/dev.toml ships
max_calls = 1000
max_idle = 8
idle_timeout = "60s"

[plugins.prompt-store]
path = "$WASM/prompt_store.wasm"
world = "prompt-handler"
memory_limit = "64MiB"
timeout = "5s"
kv = ["prompts"]
renderer = "renderer"

[plugins.prompt-store.warm]                # as config/dev.toml ships
max_calls = 1000
max_idle = 8
idle_timeout = "60s"

[plugins.prompt-store.config]
namespace = "prompts"

[plugins.limited]
path = "$WASM/policy.wasm"
world = "policy"
memory_limit = "16MiB"
timeout = "1s"

[plugins.limited.warm]                # as config/dev.toml ships
max_calls = 1000
max_idle = 8
idle_timeout = "60s"

[plugins.limited.config]
anonymous_read = true
write_requires_auth = true
write_scopes = []
rate_window = "60s"

[plugins.limited.config.rate_limits]
anonymous = 1000000000
free = 1000000000
premium = 1000000000

[[routes]]
path = "/v1/limited"
handler = "prompt-store"
auth = "optional"
policies = ["limited"]

[mcp]
route = "/v1/limited"
EOF
"$BIN" import --config "$CONFIG" "$CAT" >"$TMP/import.out" 2>&1 || {
    echo "bench_sdk.sh: seeding failed:" >&2; cat "$TMP/import.out" >&2; exit 1;
}

"$BIN" serve --config "$CONFIG" >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
SERVER_URL=$(wait_for_url "$TMP/server.out" "mcp-prompts listening on " "$SERVER_PID") || {
    cat "$TMP/server.err" >&2; exit 1;
}
CA=$DATA/tls/cert.pem

python3 "$PEERS/python_server.py" "$CAT" >"$TMP/py.out" 2>"$TMP/py.err" &
PY_PID=$!
PIDS+=("$PY_PID")
node "$PEERS/ts_server.mjs" "$CAT" >"$TMP/ts.out" 2>"$TMP/ts.err" &
TS_PID=$!
PIDS+=("$TS_PID")
PY_URL=$(wait_for_url "$TMP/py.out" "listening on " "$PY_PID") || { cat "$TMP/py.err" >&2; exit 1; }
TS_URL=$(wait_for_url "$TMP/ts.out" "listening on " "$TS_PID") || { cat "$TMP/ts.err" >&2; exit 1; }

echo "== ours $SERVER_URL (pid $SERVER_PID), Python SDK $PY_URL (pid $PY_PID), TypeScript SDK $TS_URL (pid $TS_PID)"
echo "== catalog: $(ls "$CAT" | wc -l) prompt files; $CONNECTIONS connections, ${WARMUP} warm-up + ${DURATION} measured per run, $ROUNDS round(s), $(nproc) cores"
echo "== raw results: $OUT"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"

TOKEN=$("$BIN" token --config "$CONFIG" --sub bench-user)
ARGS='"name":"bench-greet","arguments":{"name":"Ada","topic":"benchmarks"}'
META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}'
# The stateless 2026-07-28 request (ours and the Python SDK speak it) ...
BODY_V3="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{$ARGS,$META}}"
# ... and the TypeScript SDK's newest revision (2025-11-25), stateless: no session, no
# initialize (its transport with sessionIdGenerator undefined serves any request).
BODY_TS="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{$ARGS}}"

# run LABEL PID URL [loadgen args...]
run() {
    local label=$1 pid=$2 url=$3
    shift 3
    "$LOADGEN" --url "$url" --connections "$CONNECTIONS" --duration "$DURATION" \
        --warmup "$WARMUP" --threads "$THREADS" --watch-pid "$pid" --label "$label" \
        --method POST --jsonrpc --expect-body "Hello Ada" \
        --header "accept: application/json, text/event-stream" "$@" \
        | tee -a "$OUT" >"$TMP/last.json"
    jq -c --argjson round "$ROUND" '. + {round: $round}' "$TMP/last.json" >>"$TMP/all.jsonl"
}

: >"$TMP/all.jsonl"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    echo "-- round $ROUND/$ROUNDS"
    run "ours (TLS+auth+limits)" "$SERVER_PID" "$SERVER_URL/mcp" --ca "$CA" --body "$BODY_V3" \
        --header "authorization: Bearer $TOKEN" --header "mcp-protocol-version: 2026-07-28" \
        --header "mcp-method: prompts/get" --header "mcp-name: bench-greet"
    run "Python SDK" "$PY_PID" "$PY_URL" --body "$BODY_V3" \
        --header "mcp-protocol-version: 2026-07-28" \
        --header "mcp-method: prompts/get" --header "mcp-name: bench-greet"
    run "TypeScript SDK" "$TS_PID" "$TS_URL" --body "$BODY_TS" \
        --header "mcp-protocol-version: 2025-11-25"
done

echo
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
jq -r -s '
  def r(x; n): if x == null then "-" else ((x * pow(10; n) | round) / pow(10; n) | tostring) end;
  def ms(x): if x == null then "-" else r(x / 1000; 2) end;
  def mib(x): if x == null then "-" else r(x / 1024; 1) end;
  ["round", "target", "req/s", "p50 ms", "p99 ms", "errors", "srv CPU us/req", "srv cores", "RSS peak MiB"],
  (.[] | [ (.round | tostring), .label, r(.rps; 0), ms(.p50_us), ms(.p99_us), (.errors | tostring),
           r(.server_cpu_us_per_req; 1), r(.server_cpu_cores; 2), mib(.server_rss_peak_kib) ])
  | @tsv' "$TMP/all.jsonl" | table
echo
jq -r -s '
  def r(x; n): if x == null then "-" else ((x * pow(10; n) | round) / pow(10; n) | tostring) end;
  group_by(.round)[]
  | (map(select(.label | startswith("ours")))[0]) as $o
  | (map(select(.label == "Python SDK"))[0]) as $p
  | (map(select(.label == "TypeScript SDK"))[0]) as $t
  | "round \(.[0].round): ours / Python req/s \(r($o.rps / $p.rps; 2)) (target >= 20), ours / TypeScript req/s \(r($o.rps / $t.rps; 2)) (target >= 40); CPU per request: Python / ours \(r($p.server_cpu_us_per_req / $o.server_cpu_us_per_req; 2)), TypeScript / ours \(r($t.server_cpu_us_per_req / $o.server_cpu_us_per_req; 2))"
' "$TMP/all.jsonl"

if jq -e -s 'map(.errors) | add > 0' "$TMP/all.jsonl" >/dev/null; then
    echo
    echo "bench_sdk.sh: some requests failed; first errors:" >&2
    jq -r 'select(.errors > 0) | "  \(.label): \(.errors) errors, e.g. \(.first_error)"' "$TMP/all.jsonl" >&2
    exit 1
fi
