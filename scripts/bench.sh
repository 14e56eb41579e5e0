#!/usr/bin/env bash
# HTTP benchmarks: the real server against a bare hyper + rustls responder measured in the
# same run (docs/benchmarks.md). Results are ratios to that baseline, never thresholds.
#
#   ./scripts/bench.sh                         # 10 s per run, 16 connections
#   BENCH_DURATION=5s BENCH_ROUNDS=3 ./scripts/bench.sh
#
# Environment (all optional):
#   BENCH_DURATION     measured time per run (default 10s)
#   BENCH_WARMUP       unmeasured warm-up per run (default 2s)
#   BENCH_CONNECTIONS  concurrent keep-alive connections (default 16)
#   BENCH_MANY         connections of the high-concurrency row (default 256)
#   BENCH_THREADS      load generator worker threads (default 1)
#   BENCH_ROUNDS       how many times the whole sequence runs (default 1)
#   BENCH_OUT          where the raw JSON lines go (default target/bench/http-DATE.jsonl)
#   BENCH_SKIP_BUILD   set to 1 to use the existing release build
#   BENCH_ROWS         extended regex: run only the rows whose label matches (the bare
#                      baseline always runs), e.g. to profile one row at length
#
# Two servers run side by side on the same plugins: one with a fresh instance per call (a
# plugin without a `warm` table) and one with every plugin's `[plugins.NAME.warm]` on, as
# config/*.toml ship the bundled plugins (docs/plugins.md#warm-instances). MCP prompts/get is
# measured stateless (2026-07-28) on both and in a 2025-11-25 session on the warm server.
# Each serves the Rust policy and renderer and, when plugins/examples/build.sh has built them
# (componentize-py, componentize-js), the Python policy and the JavaScript renderer examples, so
# the language rows compare per-request cost against the Rust rows of the same run.
#
# Every row also reports the server's resident memory (sampled during the measured window:
# its peak, and before/after), and the RS256 row (a Cognito-shaped token verified against
# a local JWKS, host/examples/jwks_issuer.rs) is compared with the HS256 row it mirrors.
#
# Everything started here is stopped on exit; all traffic goes to 127.0.0.1.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

command -v jq >/dev/null || { echo "bench.sh: needs jq (apt-get install jq)" >&2; exit 1; }
table() { if command -v column >/dev/null; then column -t -s $'\t'; else cat; fi; }

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
MANY=${BENCH_MANY:-256}
THREADS=${BENCH_THREADS:-1}
ROUNDS=${BENCH_ROUNDS:-1}
mkdir -p target/bench
OUT=${BENCH_OUT:-$ROOT/target/bench/http-$(date +%Y%m%d-%H%M%S).jsonl}

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    echo "== building (release) =="
    cargo plugins
    cargo build --release --workspace --examples --bins
    # The Python and JavaScript rows; without componentize-py or npm they are skipped.
    plugins/examples/build.sh || echo "bench.sh: language examples not built; their rows are skipped" >&2
fi

BIN=$ROOT/target/release/mcp-prompts
BARE=$ROOT/target/release/examples/bare_responder
LOADGEN=$ROOT/target/release/examples/loadgen
ISSUER=$ROOT/target/release/examples/jwks_issuer
WASM=$ROOT/target/wasm32-wasip2/release
for f in "$BIN" "$BARE" "$LOADGEN" "$ISSUER" "$WASM/renderer.wasm" "$WASM/prompt_store.wasm" "$WASM/policy.wasm"; do
    [[ -e "$f" ]] || { echo "bench.sh: missing $f (run without BENCH_SKIP_BUILD=1)" >&2; exit 1; }
done
PY_POLICY=$ROOT/target/examples/python_policy.wasm
JS_RENDERER=$ROOT/target/examples/js_renderer.wasm
LANGS=1
for f in "$PY_POLICY" "$JS_RENDERER"; do
    [[ -e "$f" ]] || { echo "bench.sh: $f missing (plugins/examples/build.sh): language rows skipped" >&2; LANGS=0; }
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

# --- start a process and wait for its "listening on URL" line ----------------------------
# wait_for_url LOGFILE PREFIX PID -> prints the URL
wait_for_url() {
    local log=$1 prefix=$2 pid=$3 i line
    for ((i = 0; i < 1200; i++)); do
        line=$(grep -m1 "^$prefix" "$log" 2>/dev/null || true)
        if [[ -n "$line" ]]; then
            echo "${line#"$prefix"}"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench.sh: process $pid exited before listening" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "bench.sh: timed out waiting for '$prefix' in $log" >&2
    return 1
}

# --- a local Cognito stand-in: JWKS over HTTP on 127.0.0.1 and one RS256 access token ----
# (the repository's test-only key; `kid`, `token_use`, `client_id` and `iss` as Cognito
# writes them). Started first: its issuer URL goes into the config.
"$ISSUER" --key tests/fixtures/auth/rsa-a.pem --jwk tests/fixtures/auth/rsa-a.jwk.json \
    --sub bench-rs-user --client-id bench-client >"$TMP/issuer.out" 2>"$TMP/issuer.err" &
ISSUER_PID=$!
PIDS+=("$ISSUER_PID")
ISSUER_URL=$(wait_for_url "$TMP/issuer.out" "listening on " "$ISSUER_PID") || {
    cat "$TMP/issuer.err" >&2; exit 1;
}
RS_TOKEN=$(grep -m1 '^token ' "$TMP/issuer.out" | cut -d' ' -f2)

# --- configs: embedded store, ephemeral port, the release plugins, quiet logs ------------
# write_config FILE DATA_DIR WARM(0|1) TLS_LINES: the same plugins and routes for both
# servers; with WARM=1 every plugin keeps warm instances. Both servers share one dev-token
# secret (so one token serves both) and, through TLS_LINES, one certificate.
DEV_SECRET=$TMP/dev-jwt-secret
write_config() {
    local file=$1 data=$2 warm=$3 tls=$4
    cat >"$file" <<EOF
[server]
listen = "127.0.0.1:0"
mode = "tls"
$tls

[storage]
backend = "embedded"
data_dir = "$data"

[auth.dev]
secret_file = "$DEV_SECRET"
generate_if_missing = true

[[auth.oidc]]
issuer = "$ISSUER_URL"
client_ids = ["bench-client"]

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

[plugins.prompt-store]
path = "$WASM/prompt_store.wasm"
world = "prompt-handler"
memory_limit = "64MiB"
timeout = "5s"
kv = ["prompts"]
renderer = "renderer"

[plugins.prompt-store.config]
namespace = "prompts"

[plugins.policy]
path = "$WASM/policy.wasm"
world = "policy"
memory_limit = "16MiB"
timeout = "1s"

[plugins.policy.config]
anonymous_read = true
write_requires_auth = true
write_scopes = []

[[routes]]
path = "/v1/prompts"
handler = "prompt-store"
auth = "optional"
policies = ["policy"]

# The same store behind config/dev.toml's policy with rate limits on (its keys and window;
# budgets far too large to trip, so every request is counted and none refused).
[plugins.limited]
path = "$WASM/policy.wasm"
world = "policy"
memory_limit = "16MiB"
timeout = "1s"

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
    if [[ "$LANGS" == 1 ]]; then
        cat >>"$file" <<EOF

# The Python policy example in front of the Rust store (compare: "server GET prompt"), and
# the JavaScript renderer example behind a second store (compare: "server POST apply").
[plugins.py-policy]
path = "$PY_POLICY"
world = "policy"
memory_limit = "128MiB"
timeout = "5s"
kv = ["py-unused"]
stub_wasi = ["sockets"]

[[routes]]
path = "/v1/py"
handler = "prompt-store"
auth = "optional"
policies = ["py-policy"]

[plugins.js-renderer]
path = "$JS_RENDERER"
world = "renderer"
memory_limit = "128MiB"
timeout = "5s"
stub_wasi = ["http"]

[plugins.js-store]
path = "$WASM/prompt_store.wasm"
world = "prompt-handler"
memory_limit = "64MiB"
timeout = "10s"
kv = ["prompts"]
renderer = "js-renderer"

[plugins.js-store.config]
namespace = "prompts"

[[routes]]
path = "/v1/js"
handler = "js-store"
auth = "optional"
policies = ["policy"]
EOF
    fi
    if [[ "$warm" == 1 ]]; then
        local names=(renderer prompt-store policy limited)
        [[ "$LANGS" == 1 ]] && names+=(py-policy js-renderer js-store)
        for name in "${names[@]}"; do
            printf '\n[plugins.%s.warm]\nmax_calls = 1000\nmax_idle = 16\nidle_timeout = "60s"\n' "$name" >>"$file"
        done
    fi
}
DATA=$TMP/data
CONFIG=$TMP/config.toml
write_config "$CONFIG" "$DATA" 0 ""

# --- seed one prompt (import runs while the server is stopped: one writer) ---------------
PROMPT_ID=bench-greet
mkdir -p "$TMP/seed"
cat >"$TMP/seed/$PROMPT_ID.json" <<'EOF'
{
  "id": "bench-greet",
  "name": "Benchmark greeting",
  "description": "A small template used by scripts/bench.sh",
  "content": "Hello {{name}}, let us talk about {{topic}}.",
  "variables": ["name", "topic"],
  "tags": ["bench"]
}
EOF
# start_server CONFIG NAME -> prints "PID URL" (seeds the store first).
start_server() {
    local config=$1 name=$2 pid url
    "$BIN" import --config "$config" "$TMP/seed" >"$TMP/$name-import.out" 2>&1 || {
        echo "bench.sh: seeding failed:" >&2; cat "$TMP/$name-import.out" >&2; return 1;
    }
    "$BIN" serve --config "$config" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    pid=$!
    url=$(wait_for_url "$TMP/$name.out" "mcp-prompts listening on " "$pid") || {
        cat "$TMP/$name.err" >&2; kill "$pid" 2>/dev/null; return 1;
    }
    echo "$pid $url"
}

read -r SERVER_PID SERVER_URL < <(start_server "$CONFIG" server) || exit 1
PIDS+=("$SERVER_PID")

# The server generated its self-signed certificate into $DATA/tls on start-up; the bare
# responder and the warm server present the same one, so one CA file verifies all three.
CA=$DATA/tls/cert.pem
"$BARE" --listen 127.0.0.1:0 --cert "$CA" --key "$DATA/tls/key.pem" >"$TMP/bare.out" 2>"$TMP/bare.err" &
BARE_PID=$!
PIDS+=("$BARE_PID")
BARE_URL=$(wait_for_url "$TMP/bare.out" "listening on " "$BARE_PID") || {
    cat "$TMP/bare.err" >&2; exit 1;
}

WARM_CONFIG=$TMP/warm.toml
write_config "$WARM_CONFIG" "$TMP/data-warm" 1 "cert_file = \"$DATA/tls/cert.pem\"
key_file = \"$DATA/tls/key.pem\""
read -r WARM_PID WARM_URL < <(start_server "$WARM_CONFIG" warm) || exit 1
PIDS+=("$WARM_PID")

echo "== server $SERVER_URL (pid $SERVER_PID), warm server $WARM_URL (pid $WARM_PID), bare responder $BARE_URL (pid $BARE_PID)"
echo "== $CONNECTIONS connections, ${WARMUP} warm-up + ${DURATION} measured per run, loadgen threads $THREADS, $ROUNDS round(s), $(nproc) cores"
echo "== raw results: $OUT"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"

APPLY_BODY='{"variables":{"name":"Ada","topic":"benchmarks"}}'
# A development token (HS256, tier "free"), as an authenticated client sends it.
TOKEN=$("$BIN" token --config "$CONFIG" --sub bench-user)
AUTH="authorization: Bearer $TOKEN"
RS_AUTH="authorization: Bearer $RS_TOKEN"
# MCP prompts/get in the stateless 2026-07-28 revision (no session).
MCP_BODY='{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"bench-greet","arguments":{"name":"Ada","topic":"benchmarks"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}'

# MCP prompts/get in a 2025-11-25 session of the warm server (initialize, then
# notifications/initialized; the requests name the session instead of carrying _meta).
MCP_SESSION_BODY='{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"bench-greet","arguments":{"name":"Ada","topic":"benchmarks"}}}'
mcp_session() {
    local url=$1 sid
    sid=$(curl -sS --fail --cacert "$CA" -D - -o /dev/null -X POST "$url/mcp" -H "$AUTH" \
        -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
        --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
        | tr -d '\r' | awk -F': ' 'tolower($1) == "mcp-session-id" { print $2 }')
    [[ -n "$sid" ]] || { echo "bench.sh: initialize at $url/mcp returned no session" >&2; return 1; }
    curl -sS --fail --cacert "$CA" -o /dev/null -X POST "$url/mcp" -H "$AUTH" \
        -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
        -H "mcp-session-id: $sid" -H 'mcp-protocol-version: 2025-11-25' \
        --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    echo "$sid"
}
WARM_SESSION=$(mcp_session "$WARM_URL") || exit 1

# [CONNS=N] run LABEL PID URL [loadgen args...]
run() {
    local label=$1 pid=$2 url=$3
    shift 3
    if [[ -n "${BENCH_ROWS:-}" && "$label" != "bare GET" ]] && ! grep -Eq -- "$BENCH_ROWS" <<<"$label"; then
        return 0
    fi
    "$LOADGEN" --url "$url" --ca "$CA" --connections "${CONNS:-$CONNECTIONS}" --duration "$DURATION" \
        --warmup "$WARMUP" --threads "$THREADS" --watch-pid "$pid" --label "$label" "$@" \
        | tee -a "$OUT" >"$TMP/last.json"
    # Tag with the round so the table can pair each run with its own baseline.
    jq -c --argjson round "$ROUND" '. + {round: $round}' "$TMP/last.json" >>"$TMP/all.jsonl"
}

: >"$TMP/all.jsonl"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    echo "-- round $ROUND/$ROUNDS"
    run "bare GET" "$BARE_PID" "$BARE_URL/"
    run "server GET /health" "$SERVER_PID" "$SERVER_URL/health"
    run "server GET prompt" "$SERVER_PID" "$SERVER_URL/v1/prompts/$PROMPT_ID" \
        --expect-body "$PROMPT_ID"
    run "server POST apply" "$SERVER_PID" "$SERVER_URL/v1/prompts/$PROMPT_ID/apply" \
        --method POST --body "$APPLY_BODY" --expect-body "Hello Ada"
    run "auth+limits GET prompt" "$SERVER_PID" "$SERVER_URL/v1/limited/$PROMPT_ID" \
        --header "$AUTH" --expect-body "$PROMPT_ID"
    run "RS256 auth+limits GET prompt" "$SERVER_PID" "$SERVER_URL/v1/limited/$PROMPT_ID" \
        --header "$RS_AUTH" --expect-body "$PROMPT_ID"
    run "auth+limits POST apply" "$SERVER_PID" "$SERVER_URL/v1/limited/$PROMPT_ID/apply" \
        --header "$AUTH" --method POST --body "$APPLY_BODY" --expect-body "Hello Ada"
    run "auth+limits MCP prompts/get" "$SERVER_PID" "$SERVER_URL/mcp" \
        --header "$AUTH" --method POST --body "$MCP_BODY" --jsonrpc --expect-body "Hello Ada" \
        --header "accept: application/json, text/event-stream" \
        --header "mcp-protocol-version: 2026-07-28" \
        --header "mcp-method: prompts/get" --header "mcp-name: bench-greet"
    CONNS=$MANY run "auth+limits GET prompt, $MANY conns" "$SERVER_PID" \
        "$SERVER_URL/v1/limited/$PROMPT_ID" --header "$AUTH" --expect-body "$PROMPT_ID"
    # The same requests with warm instances ([plugins.NAME.warm] on every plugin).
    run "warm GET prompt" "$WARM_PID" "$WARM_URL/v1/prompts/$PROMPT_ID" --expect-body "$PROMPT_ID"
    run "warm POST apply" "$WARM_PID" "$WARM_URL/v1/prompts/$PROMPT_ID/apply" \
        --method POST --body "$APPLY_BODY" --expect-body "Hello Ada"
    run "warm auth+limits GET prompt" "$WARM_PID" "$WARM_URL/v1/limited/$PROMPT_ID" \
        --header "$AUTH" --expect-body "$PROMPT_ID"
    run "warm auth+limits POST apply" "$WARM_PID" "$WARM_URL/v1/limited/$PROMPT_ID/apply" \
        --header "$AUTH" --method POST --body "$APPLY_BODY" --expect-body "Hello Ada"
    run "warm auth+limits MCP prompts/get" "$WARM_PID" "$WARM_URL/mcp" \
        --header "$AUTH" --method POST --body "$MCP_BODY" --jsonrpc --expect-body "Hello Ada" \
        --header "accept: application/json, text/event-stream" \
        --header "mcp-protocol-version: 2026-07-28" \
        --header "mcp-method: prompts/get" --header "mcp-name: bench-greet"
    run "warm auth+limits MCP prompts/get, session" "$WARM_PID" "$WARM_URL/mcp" \
        --header "$AUTH" --method POST --body "$MCP_SESSION_BODY" --jsonrpc --expect-body "Hello Ada" \
        --header "accept: application/json, text/event-stream" \
        --header "mcp-protocol-version: 2025-11-25" --header "mcp-session-id: $WARM_SESSION"
    CONNS=$MANY run "warm auth+limits GET prompt, $MANY conns" "$WARM_PID" \
        "$WARM_URL/v1/limited/$PROMPT_ID" --header "$AUTH" --expect-body "$PROMPT_ID"
    if [[ "$LANGS" == 1 ]]; then
        # Per-request cost of a Python policy and a JavaScript renderer, fresh and warm,
        # against the Rust rows above ("server GET prompt", "server POST apply", "warm ...").
        run "python policy GET prompt" "$SERVER_PID" "$SERVER_URL/v1/py/$PROMPT_ID" \
            --expect-body "$PROMPT_ID"
        run "warm python policy GET prompt" "$WARM_PID" "$WARM_URL/v1/py/$PROMPT_ID" \
            --expect-body "$PROMPT_ID"
        run "js renderer POST apply" "$SERVER_PID" "$SERVER_URL/v1/js/$PROMPT_ID/apply" \
            --method POST --body "$APPLY_BODY" --expect-body "Hello Ada"
        run "warm js renderer POST apply" "$WARM_PID" "$WARM_URL/v1/js/$PROMPT_ID/apply" \
            --method POST --body "$APPLY_BODY" --expect-body "Hello Ada"
    fi
done

echo
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
jq -r -s '
  def r(x; n): if x == null then "-" else ((x * pow(10; n) | round) / pow(10; n) | tostring) end;
  def ms(x): if x == null then "-" else r(x / 1000; 2) end;
  def mib(x): if x == null then "-" else r(x / 1024; 1) end;
  (map(select(.label == "bare GET")) | map({key: (.round | tostring), value: .}) | from_entries) as $base
  |
  ["round", "target", "req/s", "p50 ms", "p99 ms", "errors", "429s", "srv CPU us/req",
     "req/s ratio", "p50 ratio", "p99 ratio", "CPU/req ratio", "RSS peak MiB", "RSS before>after MiB"],
    (.[] | . as $x | $base[($x.round | tostring)] as $b
      | [ ($x.round | tostring), $x.label, r($x.rps; 0), ms($x.p50_us), ms($x.p99_us),
          ($x.errors | tostring), (($x.status_429 // 0) | tostring), r($x.server_cpu_us_per_req; 1),
          r($x.rps / $b.rps; 3), r($x.p50_us / $b.p50_us; 2), r($x.p99_us / $b.p99_us; 2),
          (if $x.server_cpu_us_per_req == null or $b.server_cpu_us_per_req == null then "-"
           else r($x.server_cpu_us_per_req / $b.server_cpu_us_per_req; 2) end),
          mib($x.server_rss_peak_kib),
          "\(mib($x.server_rss_before_kib))>\(mib($x.server_rss_after_kib))" ])
  | @tsv' "$TMP/all.jsonl" | table

# The RS256 path against the HS256 row it mirrors (same route, policy and body), and the
# server's resident memory at the end of each round (growth across rounds is a leak).
echo
jq -r -s '
  def r(x; n): if x == null then "-" else ((x * pow(10; n) | round) / pow(10; n) | tostring) end;
  group_by(.round)[]
  | (map(select(.label == "auth+limits GET prompt"))[0]) as $hs
  | (map(select(.label == "RS256 auth+limits GET prompt"))[0]) as $rs
  | (map(select(.url | contains("/health") | not) | select(.label != "bare GET"))) as $all
  | ($all | map(select(.label | startswith("warm") | not))) as $fresh
  | ($all | map(select(.label | startswith("warm")))) as $warm
  | (map(select(.label == "warm auth+limits MCP prompts/get"))[0]) as $sl
  | (map(select(.label == "warm auth+limits MCP prompts/get, session"))[0]) as $se
  | def rss(s): if (s | length) == 0 then "-" else "after the round \(r((s | last | .server_rss_after_kib) / 1024; 1)) MiB, peak \(r((s | map(.server_rss_peak_kib // 0) | max) / 1024; 1)) MiB" end;
    "round \(.[0].round): MCP prompts/get CPU/req session / stateless \(if $sl == null or $se == null then "-" else r($se.server_cpu_us_per_req / $sl.server_cpu_us_per_req; 2) end)",
    "round \(.[0].round): RS256 / HS256 req/s \(if $rs == null or $hs == null then "-" else "\(r($rs.rps / $hs.rps; 3)), p50 \(r($rs.p50_us / $hs.p50_us; 2))" end); server RSS \(rss($fresh)); warm server RSS \(rss($warm))"
' "$TMP/all.jsonl"

# Per-request cost (server CPU per request) of the Python policy and the JavaScript renderer
# against the Rust plugin in the same place, fresh and warm (issue 12's target: within 3x).
if [[ "$LANGS" == 1 ]]; then
    jq -r -s '
      def r(x; n): if x == null then "-" else ((x * pow(10; n) | round) / pow(10; n) | tostring) end;
      def cpu(l): (map(select(.label == l))[0].server_cpu_us_per_req);
      def ratio(a; b): if a == null or b == null then "-" else r(a / b; 2) end;
      group_by(.round)[]
      | "round \(.[0].round): CPU/req python policy / rust policy: fresh \(ratio(cpu("python policy GET prompt"); cpu("server GET prompt"))), warm \(ratio(cpu("warm python policy GET prompt"); cpu("warm GET prompt"))); js renderer / rust renderer: fresh \(ratio(cpu("js renderer POST apply"); cpu("server POST apply"))), warm \(ratio(cpu("warm js renderer POST apply"); cpu("warm POST apply")))"
    ' "$TMP/all.jsonl"
fi

if jq -e -s 'map(.errors) | add > 0' "$TMP/all.jsonl" >/dev/null; then
    echo
    echo "bench.sh: some requests failed; first errors:" >&2
    jq -r 'select(.errors > 0) | "  \(.label): \(.errors) errors, e.g. \(.first_error)"' "$TMP/all.jsonl" >&2
    exit 1
fi
