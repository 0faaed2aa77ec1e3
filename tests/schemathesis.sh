#!/usr/bin/env bash
# Property-based run of schemathesis against a fresh server's published
# document: the examples, coverage and fuzzing phases, checking that no
# answer is a server error and that every documented answer matches its
# schema. Run twice: anonymously over every operation, then with a real
# access token over the authenticated ones (logout, which would revoke
# that token mid-run, is left to the anonymous pass).
#
# Usage: tests/schemathesis.sh [MAX_EXAMPLES]   (needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples="${1:-50}"
venv=target/venv-schemathesis
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi

work=$(mktemp -d)
server=""
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
{
  echo "database = \"$work/accounts.db\""
  cat tests/fixtures/test_server.toml
  printf '[registration]\nguest_access = true\n'
} > "$work/config.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"${MATRIX_ACCOUNTS_BINARY:-target/release/matrix-accounts}" --listen "127.0.0.1:$port" --config "$work/config.toml" > "$work/server.log" 2>&1 &
server=$!
answering=""
for _ in $(seq 100); do
  if curl -fs "$base/_matrix/client/versions" > /dev/null; then answering=yes; break; fi
  sleep 0.1
done
if [ -z "$answering" ]; then
  echo "the server did not answer within 10 s:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

run() {
  "$venv/bin/st" run "$base/openapi.json" --url "$base" \
    --phases examples,coverage,fuzzing \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "$max_examples" --seed 20261127 --generation-database none --no-color "$@"
}

echo "-- schemathesis, anonymous, every operation"
run

token=$(curl -fs -X POST "$base/_matrix/client/v3/register" \
  -d '{"username": "schemathesis", "password": "fuzz-me-please", "auth": {"type": "m.login.dummy"}}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
echo "-- schemathesis, with an access token, authenticated operations but logout"
run -H "Authorization: Bearer $token" --exclude-path-regex '/logout'
