#!/usr/bin/env bash
# Start-up time to /ready, cold (empty compiled-plugin cache) versus warm (cache filled by
# the previous start), measured in the same run and reported as a ratio (docs/benchmarks.md).
#
#   ./scripts/startup.sh            # 5 rounds, release build
#   STARTUP_ROUNDS=10 ./scripts/startup.sh
#
# Everything started here is stopped on exit; the server binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${STARTUP_ROUNDS:-5}
BIN=$ROOT/target/release/mcp-prompts
if [ "${STARTUP_SKIP_BUILD:-0}" != 1 ]; then
  cargo plugins >/dev/null
  cargo build --release -p mcp-prompts --bin mcp-prompts >/dev/null
fi
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

plugins=$ROOT/target/wasm32-wasip2/release
write_config() {
  sed -e "s#^data_dir = .*#data_dir = \"$1\"#" \
      -e "s#^listen = .*#listen = \"127.0.0.1:0\"#" \
      -e "s#^mode = .*#mode = \"plain\"#" \
      -e "s#^watch = .*#watch = false#" \
      -e "s#^level = .*#level = \"warn\"#" \
      -e "s#\.\./target/wasm32-wasip2/release#$plugins#" \
      -e "s#^secret_file = .*#secret_file = \"$1/dev-secret\"#" \
      "$ROOT/config/dev.toml" > "$2"
}

# Milliseconds from spawn to the first 200 from /ready.
time_to_ready() {
  local config=$1 out=$WORK/out
  local start; start=$(date +%s%N)
  "$BIN" serve --config "$config" >"$out" 2>"$WORK/err" &
  PID=$!
  local url=""
  while [ -z "$url" ]; do
    url=$(sed -n 's/^mcp-prompts listening on //p' "$out")
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/err" >&2; exit 1; }
  done
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/ready")" = 200 ]; do
    sleep 0.005
  done
  local end; end=$(date +%s%N)
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo $(( (end - start) / 1000000 ))
}

cold=(); warm=()
for i in $(seq "$ROUNDS"); do
  data=$WORK/data-$i; mkdir -p "$data"
  write_config "$data" "$WORK/config-$i.toml"
  cold+=("$(time_to_ready "$WORK/config-$i.toml")")
  warm+=("$(time_to_ready "$WORK/config-$i.toml")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
c=$(median "${cold[@]}"); w=$(median "${warm[@]}")
echo "start-up to /ready over $ROUNDS rounds (median): cold ${c} ms, warm ${w} ms, cold/warm ratio $(awk -v c="$c" -v w="$w" 'BEGIN {printf "%.1f", c / (w > 0 ? w : 1)}')"
echo "cold: ${cold[*]}"
echo "warm: ${warm[*]}"
