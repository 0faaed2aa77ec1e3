# Sourced by the scripts under tests/ that drive a running server (the
# client scripts, the client generators, the hostile-input suite):
#
#   . "$ROOT/tests/server.sh"        # makes $RUN, removed on exit with the server
#   start_server BINARY [ARGS...]    # config from $RUN/config.toml; sets SERVER_PID, BASE, PORT
#
# The server listens on a free 127.0.0.1 port with a fresh database in
# $RUN, its output in $RUN/server.log. A server that does not start has its
# log printed and fails the script.

RUN="$(mktemp -d)"
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap 'stop_server; rm -rf "$RUN"' EXIT

start_server() {
    local binary="$1"
    shift
    : >"$RUN/server.log"
    rm -f "$RUN/accounts.db"*
    NO_COLOR=1 "$binary" --listen 127.0.0.1:0 --config "$RUN/config.toml" --database "$RUN/accounts.db" "$@" \
        >"$RUN/server.log" 2>&1 &
    SERVER_PID=$!
    BASE=""
    for _ in $(seq 100); do
        local address
        address="$(sed -n 's/.*address=\([0-9.:]*\).*/\1/p' "$RUN/server.log" | head -n 1)"
        if [ -n "$address" ]; then
            BASE="http://$address"
            PORT="${address##*:}"
            echo "server at $BASE"
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$RUN/server.log"
    echo "FAIL: the server did not start"
    exit 1
}
