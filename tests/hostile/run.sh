#!/usr/bin/env bash
# The hostile-input suite against a freshly started release server: hostile
# bodies on every operation of the served /openapi.json, unknown paths and
# wrong methods, a hostile identity server, slow clients and connection
# floods (tests/hostile/suite.py says which rule each check enforces).
# Python standard library only; everything on 127.0.0.1.
#
#   tests/hostile/run.sh
#   tests/hostile/run.sh --only bodies,paths   # some groups (bodies, paths,
#                                              # identity, slow, flood)
#
# The server runs with small [http] limits (below), so the slow-client
# checks run fast. A keep-alive connection waiting for its next request is
# waiting for headers: the header timeout is also its idle limit.
#
# Builds the release binary if needed (cargo build --release). Exits
# non-zero if any check failed; the last line is `N passed, N failed`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# MATRIX_ACCOUNTS_BINARY: another build to try (no release build then).
BINARY="${MATRIX_ACCOUNTS_BINARY:-${CARGO_TARGET_DIR:-$ROOT/target}/release/matrix-accounts}"

suite_args=("$@")

# The suite's [http] values: small, so the slow-client checks run fast.
HEADER_TIMEOUT=2000
BODY_TIMEOUT=3000
# Below what the flood opens within one header timeout, so the cap is met.
MAX_CONNECTIONS=500

if [ -z "${MATRIX_ACCOUNTS_BINARY:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin matrix-accounts)
fi

. "$ROOT/tests/server.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ID_PORT="$(free_port)"
EVIL_PORT="$(free_port)"
while [ "$EVIL_PORT" = "$ID_PORT" ]; do EVIL_PORT="$(free_port)"; done

write_config() {
    {
        echo 'log = "info"'
        # Large enough that 100k nested `[` (200 KB) reach the JSON parser.
        echo 'max_body_bytes = 262144'
        cat "$ROOT/tests/fixtures/test_server.toml"
        printf '[identity]\ntrusted_servers = ["127.0.0.1:%s"]\ninsecure_http = true\n' "$ID_PORT"
        printf 'threepid_delegate = "127.0.0.1:%s"\ntimeout = 3000\n' "$ID_PORT"
        printf '[http]\nmax_connections = %s\nheader_timeout = %s\nbody_timeout = %s\n' \
            "$MAX_CONNECTIONS" "$HEADER_TIMEOUT" "$BODY_TIMEOUT"
    } >"$RUN/config.toml"
}

# More descriptors than max_connections + the flood's extra, so that the cap,
# not the descriptor limit, is what the flood meets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true


write_config
start_server "$BINARY"

set +e
python3 "$HERE/suite.py" --port "$PORT" --pid "$SERVER_PID" --config "$RUN/config.toml" \
    --database "$RUN/accounts.db" --log "$RUN/server.log" --id-port "$ID_PORT" --evil-port "$EVIL_PORT" \
    --header-timeout "$HEADER_TIMEOUT" --body-timeout "$BODY_TIMEOUT" --idle-timeout "$HEADER_TIMEOUT" \
    --max-connections "$MAX_CONNECTIONS" ${suite_args[@]+"${suite_args[@]}"} | tee "$RUN/suite.out"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo
    echo "== the server log, warnings and errors (last 20 lines)"
    grep -v ' INFO ' "$RUN/server.log" | tail -n 20 || true
    # The suite's summary stays the last line.
    tail -n 1 "$RUN/suite.out"
fi
exit "$status"
