#!/usr/bin/env bash
# Builds the component @NAME@.wasm with componentize-js (pinned by package-lock.json).
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
echo "built @NAME@.wasm ($(stat -c %s @NAME@.wasm) bytes)"
