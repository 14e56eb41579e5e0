#!/usr/bin/env bash
# Soak run (issue 15; not a CI test, see docs/operations.md "Soak run"): two servers on
# the same moto data under mixed REST/MCP load for SOAK_SECONDS (default 600), with
# config reloads every 20 s, a plugin swap, a moto outage and restart, the hostile test
# plugin in the mix and one kill -9 of a server. Reports errors by class, acknowledged
# writes lost (must be 0) and each server's RSS at start and end.
#
#   SOAK_SECONDS=180 scripts/soak.sh
#   SOAK_BIN=target/debug/mcp-prompts SOAK_SECONDS=180 scripts/soak.sh   # without a release build
#
# Needs: python3 with moto[server]; builds the release binary and plugins if missing.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_TOTAL="${SOAK_SECONDS:-600}"
# SOAK_BIN runs another build (e.g. target/debug/mcp-prompts) instead of the release one.
BIN="${SOAK_BIN:-$ROOT/target/release/mcp-prompts}"
WASM="$ROOT/target/wasm32-wasip2/release"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcp-soak.XXXXXX")"
PIDS=()

log() { printf '[soak %(%H:%M:%S)T] %s\n' -1 "$*"; }

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true
    [ -n "${S1_PID:-}" ] && kill "$S1_PID" 2>/dev/null || true
    [ -n "${S2_PID:-}" ] && kill "$S2_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    log "work directory (logs, ledger): $WORK"
}
trap cleanup EXIT

cd "$ROOT"
if [ -z "${SOAK_BIN:-}" ] && { [ ! -x "$BIN" ] || [ -n "$(find host/src -newer "$BIN" -name '*.rs' -print -quit)" ]; }; then
    log "building release"
    cargo build --release --workspace
fi
for p in renderer prompt_store policy test_hostile; do
    [ -f "$WASM/$p.wasm" ] || { log "building plugins"; cargo plugins; break; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MOTO_PORT="$(free_port)"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent

# moto served one request at a time (as tests/common/moto.rs does: its threaded server
# lets two conditional writes both pass).
start_moto() {
    python3 -c "import sys
from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False)" \
        "$MOTO_PORT" >>"$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    for _ in $(seq 1 600); do
        curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" && return 0
        sleep 0.1
    done
    log "moto did not start"; exit 1
}

# Plugins are copies, so the swap below replaces a file the servers load.
mkdir -p "$WORK/plugins" "$WORK/data"
cp "$WASM"/{renderer,prompt_store,policy,test_hostile}.wasm "$WORK/plugins/"

write_config() { # $1 = name, $2 = port
    cat >"$WORK/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$2"
mode = "tls"

[storage]
backend = "aws"
data_dir = "$WORK/data-$1"

[storage.aws]
force_path_style = true
default_table = "soak-prompts"
default_bucket = "soak-user-prompts"
connect_timeout = "500ms"
attempt_timeout = "2s"
operation_timeout = "5s"
max_attempts = 3

[storage.aws.namespaces.prompts]
table = "soak-prompts"
[storage.aws.namespaces.users]
table = "soak-users"
[storage.aws.namespaces.mcp-sessions]
table = "soak-sessions"
ttl = "1h"
[storage.aws.namespaces.ratelimits]
table = "soak-sessions"
ttl = "1h"
[storage.aws.namespaces.scratch]
table = "soak-sessions"
ttl = "1h"

[auth.dev]
secret_file = "$WORK/data/dev-secret"
generate_if_missing = true

[logging]
format = "json"
level = "warn"

[plugins.renderer]
path = "$WORK/plugins/renderer.wasm"
world = "renderer"

[plugins.prompt-store]
path = "$WORK/plugins/prompt_store.wasm"
world = "prompt-handler"
kv = ["prompts"]
renderer = "renderer"
timeout = "5s"

[plugins.policy]
path = "$WORK/plugins/policy.wasm"
world = "policy"
kv = ["ratelimits"]

[plugins.hostile]
path = "$WORK/plugins/test_hostile.wasm"
world = "prompt-handler"
memory_limit = "32MiB"
timeout = "1s"
kv = ["scratch"]

[[routes]]
path = "/v1/prompts"
handler = "prompt-store"
auth = "optional"
policies = ["policy"]

[[routes]]
path = "/v1/hostile"
handler = "hostile"
auth = "none"
EOF
}

P1="$(free_port)"; P2="$(free_port)"
write_config s1 "$P1"; write_config s2 "$P2"

start_moto
log "moto on $MOTO_PORT; bootstrapping"
bootstrap() { "$BIN" aws bootstrap --config "$WORK/s1.toml" >>"$WORK/bootstrap.log" 2>&1; }
bootstrap

start_server() { # $1 = name; sets ${1^^}_PID
    "$BIN" serve --config "$WORK/$1.toml" >>"$WORK/$1.out" 2>>"$WORK/$1.log" &
    local pid=$!
    local port; port="$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$WORK/$1.toml")"
    for _ in $(seq 1 600); do
        curl -sk -o /dev/null "https://127.0.0.1:$port/health" && break
        sleep 0.1
    done
    eval "${1^^}_PID=$pid"
}
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status" 2>/dev/null || echo "gone"; }

start_server s1; start_server s2
TOKEN="$("$BIN" token --config "$WORK/s1.toml" --sub soak-writer)"
URLS="https://127.0.0.1:$P1,https://127.0.0.1:$P2"
echo 0 >"$WORK/epoch"
sleep 2
RSS1_START="$(rss "$S1_PID")"; RSS2_START="$(rss "$S2_PID")"
log "servers up: s1 pid $S1_PID ($RSS1_START), s2 pid $S2_PID ($RSS2_START); load for ${SECONDS_TOTAL}s"

python3 "$ROOT/scripts/soak_load.py" run --urls "$URLS" --token "$TOKEN" --seconds "$SECONDS_TOTAL" \
    --ledger "$WORK/ledger.json" --epoch-file "$WORK/epoch" >"$WORK/load.out" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

START=$(date +%s)
at() { [ "$(( $(date +%s) - START ))" -ge "$(( SECONDS_TOTAL * $1 / 100 ))" ]; }
swapped=0 outage=0 killed=0 reloads=0 next_reload=20 S2_RSS_RESTART=""
# RSS once a minute: start and end alone cannot tell warm-up from a leak.
next_sample=60 RSS1_SAMPLES="" RSS2_SAMPLES=""
while kill -0 "$LOAD_PID" 2>/dev/null; do
    now=$(( $(date +%s) - START ))
    if [ "$now" -ge "$next_reload" ]; then
        touch "$WORK/s1.toml" "$WORK/s2.toml"
        kill -HUP "$S1_PID" "$S2_PID" 2>/dev/null || true
        reloads=$((reloads + 1)); next_reload=$((next_reload + 20))
    fi
    if [ "$now" -ge "$next_sample" ]; then
        RSS1_SAMPLES="$RSS1_SAMPLES $(rss "$S1_PID" | cut -d' ' -f1)"
        RSS2_SAMPLES="$RSS2_SAMPLES $(rss "$S2_PID" | cut -d' ' -f1)"
        next_sample=$((next_sample + 60))
    fi
    if [ "$swapped" = 0 ] && at 25; then
        log "plugin swap: renderer.wasm replaced (rename over the loaded file), SIGHUP"
        cp "$WASM/renderer.wasm" "$WORK/plugins/renderer.wasm.new"
        mv "$WORK/plugins/renderer.wasm.new" "$WORK/plugins/renderer.wasm"
        kill -HUP "$S1_PID" "$S2_PID" 2>/dev/null || true
        swapped=1
    fi
    if [ "$outage" = 0 ] && at 40; then
        log "moto outage: kill -9 moto_server, down 10 s, restart, bootstrap again"
        kill -9 "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
        echo 1 >"$WORK/epoch"   # writes acknowledged before this were in moto's memory
        sleep 10
        start_moto; bootstrap
        outage=1
    fi
    if [ "$killed" = 0 ] && at 65; then
        log "kill -9 of s2 (pid $S2_PID), restart in 3 s"
        kill -9 "$S2_PID"; wait "$S2_PID" 2>/dev/null || true
        sleep 3
        start_server s2
        S2_RSS_RESTART="$(rss "$S2_PID")"
        log "s2 restarted: pid $S2_PID ($S2_RSS_RESTART)"
        killed=1
    fi
    sleep 1
done
wait "$LOAD_PID" || true
RSS1_END="$(rss "$S1_PID")"; RSS2_END="$(rss "$S2_PID")"

echo
echo "== soak: ${SECONDS_TOTAL}s, $reloads reloads, plugin swap $swapped, moto outage $outage, kill -9 $killed"
cat "$WORK/load.out"
echo "== verification through s1 (the surviving server)"
set +e
python3 "$ROOT/scripts/soak_load.py" verify --url "https://127.0.0.1:$P1" --token "$TOKEN" \
    --ledger "$WORK/ledger.json" --epoch-file "$WORK/epoch"
RC=$?
set -e
echo "== RSS"
echo "  s1: start $RSS1_START, end $RSS1_END"
echo "  s2: start $RSS2_START, after kill -9 restart $S2_RSS_RESTART, end $RSS2_END"
echo "  per minute (kB): s1$RSS1_SAMPLES; s2$RSS2_SAMPLES"
echo "== server log lines at error level: s1 $(grep -c '"level":"ERROR"' "$WORK/s1.log" || true), s2 $(grep -c '"level":"ERROR"' "$WORK/s2.log" || true)"
exit "$RC"
