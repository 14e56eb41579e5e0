#!/usr/bin/env bash
# Post-deployment checks of a running mcp-prompts (docs/deploy.md#post-deployment-checks):
#
#   scripts/post_deploy_check.sh https://prompts.example.com
#
# Checks, each printed as `ok`, `FAIL` or `skip`:
#   - GET /health and GET /ready answer 200;
#   - plain HTTP answers 301 with Location on the HTTPS URL (same path and query);
#   - a CORS preflight from an origin that is not allowed gets no Access-Control-Allow-Origin
#     (and, with ORIGIN set, one from ORIGIN gets 204 and exactly that origin back);
#   - GET /users/me answers 401 with a Bearer challenge without a token, 200 with TOKEN;
#   - /metrics is not served to the internet (the ALB answers 404 for it);
#   - TLS: a TLS 1.2 handshake succeeds (and verifies, with CACERT or the system roots),
#     TLS 1.1 is refused.
#
# Environment:
#   TOKEN     an access token (Cognito, or `mcp-prompts token` on a dev config): enables the 200 check
#   ORIGIN    an origin listed in [cors] allowed_origins: enables the allowed-preflight check
#   HTTP_URL  where plain HTTP is answered (default: http://HOST, port 80)
#   CACERT    CA certificate file for a self-signed server (development)
#   CHECK_METRICS_HIDDEN=0  skip the /metrics check (a server that serves /metrics on purpose)
#
# Exit status: 0 when nothing failed, 1 otherwise. Needs curl and openssl.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 https://HOST[:PORT]" >&2
    exit 64
fi
URL=${1%/}
case "$URL" in
    https://*) ;;
    *) echo "$0: expected an https:// URL, got $URL" >&2; exit 64 ;;
esac
hostport=${URL#https://}
hostport=${hostport%%/*}
host=${hostport%%:*}
port=443
if [ "$hostport" != "$host" ]; then port=${hostport##*:}; fi
HTTP_URL=${HTTP_URL:-http://$host}
HTTP_URL=${HTTP_URL%/}

curl_opts=(-sS --max-time 15 -o /dev/null)
if [ -n "${CACERT:-}" ]; then curl_opts+=(--cacert "$CACERT"); fi

failed=0
ok() { echo "ok    $1"; }
fail() { echo "FAIL  $1: $2"; failed=$((failed + 1)); }
skip() { echo "skip  $1 ($2)"; }

# status URL [curl args...]: prints the HTTP status code (000 when no response).
status() {
    local url=$1
    shift
    curl "${curl_opts[@]}" -w '%{http_code}' "$@" "$url" 2>/dev/null || true
}

# header NAME: the value of response header NAME (case-insensitive) in a header dump on stdin.
header() {
    tr -d '\r' | awk -v name="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
        'tolower($1) == name { sub(/^[^:]*: /, ""); print; exit }'
}

dump() {
    local url=$1
    shift
    curl -sS --max-time 15 -o /dev/null -D - ${CACERT:+--cacert "$CACERT"} "$@" "$url" 2>/dev/null || true
}

# 1. health and readiness
for path in /health /ready; do
    s=$(status "$URL$path")
    if [ "$s" = 200 ]; then ok "GET $path is 200"; else fail "GET $path" "status $s"; fi
done

# 2. HTTP -> HTTPS
headers=$(dump "$HTTP_URL/v1/prompts?limit=1")
s=$(echo "$headers" | head -n1 | awk '{print $2}')
location=$(echo "$headers" | header location)
# An ALB writes the port into Location (https://HOST:443/...); both forms are the same URL.
if [ "$s" = 301 ] && { [ "$location" = "$URL/v1/prompts?limit=1" ] ||
    [ "$location" = "https://$host:$port/v1/prompts?limit=1" ]; }; then
    ok "HTTP answers 301 to $location"
else
    fail "HTTP redirect" "status ${s:-none}, Location ${location:-none} (expected 301 to $URL/v1/prompts?limit=1)"
fi

# 3. CORS preflight
preflight=(-X OPTIONS -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: authorization, content-type')
headers=$(dump "$URL/v1/prompts" "${preflight[@]}" -H 'Origin: https://post-deploy-check.invalid')
acao=$(echo "$headers" | header access-control-allow-origin)
if [ -z "$acao" ] && [ -n "$headers" ]; then
    ok "CORS preflight from a foreign origin gets no Access-Control-Allow-Origin"
else
    fail "CORS preflight from a foreign origin" "${headers:+Access-Control-Allow-Origin: $acao}${headers:-no response}"
fi
if [ -n "${ORIGIN:-}" ]; then
    headers=$(dump "$URL/v1/prompts" "${preflight[@]}" -H "Origin: $ORIGIN")
    s=$(echo "$headers" | head -n1 | awk '{print $2}')
    acao=$(echo "$headers" | header access-control-allow-origin)
    methods=$(echo "$headers" | header access-control-allow-methods)
    if [ "$s" = 204 ] && [ "$acao" = "$ORIGIN" ] && [ -n "$methods" ]; then
        ok "CORS preflight from $ORIGIN is 204 with Access-Control-Allow-Origin: $acao"
    else
        fail "CORS preflight from $ORIGIN" "status ${s:-none}, Access-Control-Allow-Origin ${acao:-none}"
    fi
else
    skip "CORS preflight from an allowed origin" "set ORIGIN"
fi

# 4. authentication
headers=$(dump "$URL/users/me")
s=$(echo "$headers" | head -n1 | awk '{print $2}')
challenge=$(echo "$headers" | header www-authenticate)
if [ "$s" = 401 ] && [[ "$challenge" == Bearer* ]]; then
    ok "GET /users/me without a token is 401 ($challenge)"
else
    fail "GET /users/me without a token" "status ${s:-none}, WWW-Authenticate ${challenge:-none}"
fi
if [ -n "${TOKEN:-}" ]; then
    body=$(curl -sS --max-time 15 ${CACERT:+--cacert "$CACERT"} -H "Authorization: Bearer $TOKEN" \
        -w '\n%{http_code}' "$URL/users/me" 2>/dev/null || true)
    s=$(echo "$body" | tail -n1)
    if [ "$s" = 200 ] && echo "$body" | head -n -1 | grep -q '"subject"'; then
        ok "GET /users/me with the token is 200"
    else
        fail "GET /users/me with the token" "status $s"
    fi
else
    skip "GET /users/me with a token" "set TOKEN"
fi

# 5. /metrics stays inside
if [ "${CHECK_METRICS_HIDDEN:-1}" = 1 ]; then
    s=$(status "$URL/metrics")
    if [ "$s" != 200 ] && [ "$s" != 000 ]; then
        ok "/metrics is not public (status $s)"
    else
        fail "/metrics" "status $s (it should not be reachable from outside)"
    fi
fi

# 6. TLS versions
tls() {
    local args=(-connect "$host:$port" -servername "$host" "$@")
    if [ -n "${CACERT:-}" ]; then args+=(-CAfile "$CACERT"); fi
    openssl s_client "${args[@]}" </dev/null 2>&1
}
# A handshake happened when a cipher was agreed ("Cipher is (NONE)" or 0000 otherwise), and
# the chain verified when OpenSSL says so; -verify_return_error aborts on a bad chain.
handshake() { echo "$1" | grep -q "Cipher is " && ! echo "$1" | grep -q "Cipher is (NONE)\|Cipher is 0000"; }
out=$(tls -tls1_2 -verify_return_error)
if handshake "$out" && echo "$out" | grep -q 'Protocol *: TLSv1.2' &&
    echo "$out" | grep -q 'Verify return code: 0 (ok)'; then
    ok "TLS 1.2 handshake verifies ($(echo "$out" | awk '/^ *Cipher *:/ {print $3; exit}'))"
else
    fail "TLS 1.2 handshake" "$(echo "$out" | grep -m1 -i 'verify error\|alert\|errno\|Cipher is' || echo 'no handshake')"
fi
# The client side allows TLS 1.1 (OpenSSL 3 needs security level 0 for it), so a failure
# here is the server refusing it.
out=$(tls -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
if handshake "$out" && echo "$out" | grep -q 'Protocol *: TLSv1.1'; then
    fail "TLS 1.1" "the server accepted a TLS 1.1 handshake"
else
    ok "TLS 1.1 is refused"
fi

if [ "$failed" -ne 0 ]; then
    echo "$failed check(s) failed"
    exit 1
fi
echo "all checks passed"
