#!/usr/bin/env bash
# Builds the example plugins written in other languages into target/examples/*.wasm,
# where tests/lang_*.rs look for them. Needs componentize-py (PyPI) on PATH and npm (the
# JavaScript example installs componentize-js from its package-lock.json); scripts/test.sh
# installs componentize-py. A component is rebuilt only when its sources or wit/plugin.wit are newer.
#
#   plugins/examples/build.sh           # every example
#   plugins/examples/build.sh python    # only the Python ones
#   plugins/examples/build.sh js        # only the JavaScript ones
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/target/examples"
wit="$root/wit"
mkdir -p "$out"
want="${1:-all}"

# fresh OUTPUT SOURCE...: true when OUTPUT exists and is newer than every SOURCE.
fresh() {
    local o="$1"
    shift
    [ -f "$o" ] || return 1
    for s in "$@"; do
        [ "$s" -nt "$o" ] && return 1
    done
    return 0
}

# py WORLD DIR MODULE OUTPUT: one componentize-py build.
py() {
    local world="$1" dir="$2" module="$3" output="$4"
    if fresh "$output" "$dir/$module.py" "$wit/plugin.wit"; then
        return
    fi
    local started=$SECONDS
    # Into a temporary file first, so an interrupted build never leaves a half component.
    componentize-py -d "$wit" -w "$world" componentize -p "$dir" "$module" -o "$output.tmp"
    mv "$output.tmp" "$output"
    echo "built $output ($(stat -c %s "$output") bytes, $((SECONDS - started)) s)"
}

if [ "$want" = all ] || [ "$want" = python ]; then
    if ! command -v componentize-py >/dev/null 2>&1; then
        echo "plugins/examples/build.sh: componentize-py is not installed (pip install componentize-py==0.25.1)" >&2
        exit 1
    fi
    d="$root/plugins/examples/python-policy"
    py policy "$d" app "$out/python_policy.wasm"
    py policy "$d" hostile "$out/python_hostile.wasm"
fi

# js WORLD SOURCE OUTPUT: one componentize-js build, with the componentize-js that
# js-renderer's package-lock.json pins (one npm install serves every JavaScript example).
js() {
    local world="$1" source="$2" output="$3"
    local d="$root/plugins/examples/js-renderer"
    if fresh "$output" "$source" "$d/package-lock.json" "$wit/plugin.wit"; then
        return
    fi
    # componentize-js, not `jco componentize` (which fails on paths with `failed to get
    # path metadata`).
    fresh "$d/node_modules/.package-lock.json" "$d/package-lock.json" \
        || npm ci --prefix "$d" --no-audit --no-fund --silent
    local started=$SECONDS
    (cd "$(dirname "$source")" && "$d/node_modules/.bin/componentize-js" --wit "$wit" \
        --world-name "$world" -o "$output.tmp" "$(basename "$source")")
    mv "$output.tmp" "$output"
    echo "built $output ($(stat -c %s "$output") bytes, $((SECONDS - started)) s)"
}

if [ "$want" = all ] || [ "$want" = js ]; then
    js renderer "$root/plugins/examples/js-renderer/renderer.js" "$out/js_renderer.wasm"
    js policy "$root/plugins/examples/js-hostile/hostile.js" "$out/js_hostile.wasm"
fi

if [ "$want" = all ] || [ "$want" = js ]; then
    # A wasi:http/proxy component (a `fetch` event handler), built against the standard
    # proxy world kept in the example's wit/ (componentize-js needs one).
    d="$root/plugins/examples/js-http-route"
    if ! fresh "$out/js_http_route.wasm" "$d/route.js" "$d/package-lock.json" "$d/wit/world.wit"; then
        npm ci --prefix "$d" --no-audit --no-fund --silent
        started=$SECONDS
        (cd "$d" && ./node_modules/.bin/componentize-js --wit wit --world-name route \
            -o "$out/js_http_route.wasm.tmp" route.js)
        mv "$out/js_http_route.wasm.tmp" "$out/js_http_route.wasm"
        echo "built $out/js_http_route.wasm ($(stat -c %s "$out/js_http_route.wasm") bytes, $((SECONDS - started)) s)"
    fi
fi
