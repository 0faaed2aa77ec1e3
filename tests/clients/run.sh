#!/usr/bin/env bash
# Real Matrix clients against a freshly started server:
#   - matrix-nio (PyPI, pinned in requirements.txt)      → nio_session.py
#   - matrix-js-sdk (npm, pinned in package-lock.json)    → js_sdk_session.mjs
#     and, reading real mail from aiosmtpd (PyPI)        → js_sdk_email.mjs
#   - headless Chromium via playwright-core (if Chromium is installed, or
#     can be installed with apt-get)                      → browser_cors.mjs
#
# Builds the release binary if needed; installs the clients under
# target/clients/ (ignored by git; reinstalled only when the pins change);
# starts the server on a free 127.0.0.1 port with a temporary database,
# cheap argon2, no rate limits and access tokens living a few seconds (so
# the js-sdk can show it refreshes an expired one by itself); runs every
# script; stops the server. Exits non-zero if any script failed.
#
#   tests/clients/run.sh                 # everything
#   CLIENTS_SKIP_BROWSER=1 tests/clients/run.sh
#   CLIENTS_NO_APT=1 tests/clients/run.sh  # never apt-get install chromium

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$ROOT/target/clients"
# MATRIX_ACCOUNTS_BINARY: another build to try (no release build then).
BINARY="${MATRIX_ACCOUNTS_BINARY:-$ROOT/target/release/matrix-accounts}"
mkdir -p "$WORK"

step() { printf '\n== %s\n' "$*"; }

if [ -z "${MATRIX_ACCOUNTS_BINARY:-}" ]; then
    step "building the release binary"
    (cd "$ROOT" && cargo build --release --quiet --bin matrix-accounts)
fi

step "matrix-nio (target/clients/venv)"
if ! cmp -s "$HERE/requirements.txt" "$WORK/venv/requirements.txt" 2>/dev/null; then
    rm -rf "$WORK/venv"
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$WORK/venv/requirements.txt"
fi

step "matrix-js-sdk and playwright-core (target/clients/js)"
mkdir -p "$WORK/js"
if ! cmp -s "$HERE/package-lock.json" "$WORK/js/package-lock.json" 2>/dev/null || [ ! -d "$WORK/js/node_modules" ]; then
    cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/js/"
    (cd "$WORK/js" && npm ci --no-audit --no-fund --loglevel=error)
fi
# ES modules resolve packages from their own folder: run copies from there.
cp "$HERE"/*.mjs "$WORK/js/"

CHROMIUM=""
if [ -z "${CLIENTS_SKIP_BROWSER:-}" ]; then
    if ! command -v chromium >/dev/null && [ -z "${CLIENTS_NO_APT:-}" ] && command -v apt-get >/dev/null \
        && [ "$(id -u)" = 0 ]; then
        step "installing Debian's chromium"
        (apt-get install -y -qq chromium >/dev/null 2>&1 \
            || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) \
            || echo "could not install chromium"
    fi
    CHROMIUM="$(command -v chromium || true)"
fi

step "an SMTP server for the mail the server sends (aiosmtpd, into a Maildir)"
. "$ROOT/tests/server.sh"
MAILDIR="$RUN/maildir"
SMTP_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$WORK/venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" &
SMTP_PID=$!
trap 'stop_server; kill "$SMTP_PID" 2>/dev/null; rm -rf "$RUN"' EXIT
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && break
    sleep 0.1
done
echo "SMTP at 127.0.0.1:$SMTP_PORT, mail into $MAILDIR"

step "starting the server"
{
    echo 'log = "warn,matrix_accounts=info"'
    cat "$ROOT/tests/fixtures/test_server.toml"
    # Short-lived access tokens: the js-sdk must refresh by itself.
    printf '[tokens]\naccess_token_lifetime = 4000\n'
    printf '[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = %s\ntls = "none"\nfrom = "Matrix <noreply@example.org>"\n' "$SMTP_PORT"
} >"$RUN/config.toml"
start_server "$BINARY" --no-rate-limits

FAILED=()
run() {
    local name="$1"
    shift
    step "$name"
    if "$@"; then echo "PASS $name"; else echo "FAIL $name"; FAILED+=("$name"); fi
}

run "matrix-nio" "$WORK/venv/bin/python" "$HERE/nio_session.py" "$BASE"
run "matrix-js-sdk" node "$WORK/js/js_sdk_session.mjs" "$BASE"
run "matrix-js-sdk, with the mail the server sends" node "$WORK/js/js_sdk_email.mjs" "$BASE" "$MAILDIR"
if [ -n "$CHROMIUM" ]; then
    run "browser CORS" node "$WORK/js/browser_cors.mjs" "$BASE" "$CHROMIUM"
    # The screenshot stays under target/ as a CI artefact.
    run "reference page" node "$WORK/js/docs_page.mjs" "$BASE" "$CHROMIUM" "$WORK/docs_page.png"
elif [ -z "${CLIENTS_SKIP_BROWSER:-}" ]; then
    step "browser CORS"
    echo "SKIP: no chromium (install Debian's chromium to run the browser check)"
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
    step "server log"
    cat "$RUN/server.log"
    echo
    echo "FAILED: ${FAILED[*]}"
    exit 1
fi
echo
echo "every client passed"
