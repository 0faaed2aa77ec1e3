#!/usr/bin/env bash
# whoami_wrk.sh BIN_A BIN_B — whoami throughput of two builds of the server,
# alternating: three rounds each of 2 s warm-up and 5 s measured, 64
# connections, one wrk thread, a fresh server and database per round (cheap
# argon2, no rate limits; one registered user). Prints "A req/s" and "B
# req/s" per round; take the medians. Needs wrk (Debian package).
set -euo pipefail
run() {
  local bin="$1" dir; dir=$(mktemp -d)
  printf '[passwords]\nmemory_kib = 256\niterations = 1\nparallelism = 1\n' > "$dir/c.toml"
  "$bin" --listen 127.0.0.1:18555 --config "$dir/c.toml" --database "$dir/a.db" --no-rate-limits >"$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18555/_matrix/client/versions && break; sleep 0.1; done
  local token
  token=$(curl -s -X POST -H 'Content-Type: application/json' --data '{"username":"bench","password":"pw-bench-1","auth":{"type":"m.login.dummy"}}' http://127.0.0.1:18555/_matrix/client/v3/register | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
  wrk -t1 -c64 -d2s -H "Authorization: Bearer $token" http://127.0.0.1:18555/_matrix/client/v3/account/whoami >/dev/null
  wrk -t1 -c64 -d5s -H "Authorization: Bearer $token" http://127.0.0.1:18555/_matrix/client/v3/account/whoami | awk '/Requests\/sec/{print $2}'
  kill $pid; wait $pid 2>/dev/null || true; rm -rf "$dir"
}
for round in 1 2 3; do
  echo "A $(run "$1")"
  echo "B $(run "$2")"
done
