#!/usr/bin/env bash
# Builds the component @NAME@.wasm with componentize-py (pip install componentize-py==0.25.1).
set -euo pipefail
cd "$(dirname "$0")"
componentize-py -d wit -w @WORLD@ componentize -p src app -o @NAME@.wasm.tmp
mv @NAME@.wasm.tmp @NAME@.wasm
echo "built @NAME@.wasm ($(stat -c %s @NAME@.wasm) bytes)"
