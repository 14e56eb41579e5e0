#!/usr/bin/env bash
# GET /v1/prompts/ID on the aws backend (DynamoDB + S3 in a local moto_server) against the
# embedded backend as the baseline, in the same run (docs/benchmarks.md). Moto is a Python
# server, so the aws figures measure the host's SDK path plus moto, not AWS itself; the
# number worth watching is the server's CPU per request next to the embedded one.
# Settings: BENCH_DURATION (5s), BENCH_CONNECTIONS (4), BENCH_ROUNDS (2), PROFILE (debug).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROFILE=${PROFILE:-debug}
BIN=$ROOT/target/$PROFILE/mcp-prompts
LOADGEN=$ROOT/target/$PROFILE/examples/loadgen
[[ -x "$BIN" && -x "$LOADGEN" ]] || { echo "build first: cargo build -p mcp-prompts --bins --examples" >&2; exit 1; }
WASM=$ROOT/target/wasm32-wasip2/release
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p $PORT >/dev/null 2>&1 & PIDS+=($!)
for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$PORT/moto-api/ && break; sleep 0.2; done
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cfg() { # $1 dir, $2 storage section
cat <<C
[server]
listen = "127.0.0.1:0"
mode = "tls"
$2
[auth.dev]
secret_file = "$1/dev-secret"
generate_if_missing = true
[logging]
format = "human"
level = "warn"
[plugins.renderer]
path = "$WASM/renderer.wasm"
world = "renderer"
[plugins.prompt-store]
path = "$WASM/prompt_store.wasm"
world = "prompt-handler"
kv = ["prompts"]
renderer = "renderer"
timeout = "5s"
[[routes]]
path = "/v1/prompts"
handler = "prompt-store"
auth = "optional"
C
}
mkdir -p $T/e $T/a
cfg $T/e "[storage]
data_dir = \"$T/e\"" > $T/e/c.toml
cfg $T/a "[storage]
backend = \"aws\"
data_dir = \"$T/a\"
[storage.aws]
force_path_style = true
default_bucket = \"bench-bucket\"" > $T/a/c.toml
$BIN aws bootstrap --config $T/a/c.toml >/dev/null
for b in e a; do
  $BIN serve --config $T/$b/c.toml > $T/$b/out 2>$T/$b/err & PIDS+=($!); echo $! > $T/$b/pid
done
for b in e a; do
  for i in $(seq 1 300); do grep -q "listening on" $T/$b/out && break; sleep 0.2; done
  URL=$(sed -n 's/mcp-prompts listening on //p' $T/$b/out)
  for i in $(seq 1 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert $T/$b/tls/cert.pem $URL/ready)" = 200 ] && break; sleep 0.2; done
  TOKEN=$($BIN token --config $T/$b/c.toml --sub bench --scope prompts:write)
  curl -s -o /dev/null --cacert $T/$b/tls/cert.pem -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"id":"greet","name":"Greeting","content":"Hello {{name}}!","variables":["name"]}' $URL/v1/prompts
  echo "$URL" > $T/$b/url
done
for round in $(seq 1 "${BENCH_ROUNDS:-2}"); do
  for b in e a; do
    $LOADGEN --url "$(cat $T/$b/url)/v1/prompts/greet" --ca $T/$b/tls/cert.pem --connections "${BENCH_CONNECTIONS:-4}" --duration "${BENCH_DURATION:-5s}" --warmup 1s --label "$([ $b = e ] && echo embedded || echo aws)" --watch-pid $(cat $T/$b/pid)
  done
done
