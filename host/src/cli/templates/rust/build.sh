#!/usr/bin/env bash
# Builds the component: target/wasm32-wasip2/release/@SNAKE@.wasm (or under
# $CARGO_TARGET_DIR). Needs the wasm32-wasip2 target: rustup target add wasm32-wasip2
set -euo pipefail
cd "$(dirname "$0")"
cargo build --target wasm32-wasip2 --release "$@"
out="${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/@SNAKE@.wasm"
echo "built $out ($(stat -c %s "$out") bytes)"
