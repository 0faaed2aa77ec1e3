#!/usr/bin/env bash
# make_fixture.sh — a Synapse database made by a real Synapse, for the
# importer's tests (tests/it/import.rs), and a synthetic one of any size in
# Synapse's real schema, for measuring the import.
#
#   tests/synapse/make_fixture.sh real [OUT_DIR]
#       throwaway venv + matrix-synapse, started once on SQLite on 127.0.0.1
#       (server name test.local, bcrypt_rounds 4, a pepper), users made the
#       way an operator and clients make them (register_new_matrix_user,
#       POST /register, the admin API for an e-mail and a deactivation,
#       logins with and without refresh tokens), then stopped. Writes
#       OUT_DIR/synapse.db and OUT_DIR/fixture.json (passwords, tokens).
#   tests/synapse/make_fixture.sh synthetic N [OUT_DIR]
#       copies the real fixture (made first if missing), empties the tables
#       the import reads and fills them with N users, each with an e-mail, a
#       device and an access token: Synapse's own schema, at any size.
#       Writes OUT_DIR/synthetic-N.db.
#   tests/synapse/make_fixture.sh postgres URL [OUT_DIR]
#       the real fixture (made first if missing) moved to PostgreSQL by
#       Synapse's own synapse_port_db, into a new database on the server URL
#       points to (its user may create databases); prints that database's
#       URL, for MATRIX_ACCOUNTS_SYNAPSE_POSTGRES. The fixture's Synapse ran
#       for seconds, so its background updates (index builds over nearly
#       empty tables) are still pending, which synapse_port_db refuses: the
#       copy it ports has them marked done.
#   tests/synapse/make_fixture.sh venv
#       only installs matrix-synapse into the venv, and prints its path
#       (tests/synapse/register_new_matrix_user.sh uses its script).
#
# Then: MATRIX_ACCOUNTS_SYNAPSE_FIXTURE=OUT_DIR/synapse.db cargo test --test it import::
#
# OUT_DIR defaults to target/synapse-fixture. Environment: WORK_DIR (venv and
# Synapse's data) default /tmp/matrix-accounts-synapse; SYNAPSE_VERSION
# default 1.163.2; SYNAPSE_PORT default 18448. Nothing listens beyond
# 127.0.0.1, and the Synapse started here is stopped by its pid.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK_DIR="${WORK_DIR:-/tmp/matrix-accounts-synapse}"
SYNAPSE_VERSION="${SYNAPSE_VERSION:-1.163.2}"
PORT="${SYNAPSE_PORT:-18448}"
SERVER_NAME=test.local
# Synapse hashes password + pepper: the test gives our server the same one.
PEPPER="fixture-pepper"
VENV="$WORK_DIR/venv"
PY="$VENV/bin/python"
BASE="http://127.0.0.1:$PORT"

log() { echo "[make_fixture] $*" >&2; }

install_synapse() {
  if [[ ! -x "$PY" ]]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV"
  fi
  if ! "$PY" -c "import synapse,sys; sys.exit(synapse.__version__ != '$SYNAPSE_VERSION')" 2>/dev/null; then
    log "pip install matrix-synapse==$SYNAPSE_VERSION"
    "$VENV/bin/pip" install -q "matrix-synapse==$SYNAPSE_VERSION"
  fi
}

# POST/PUT JSON to Synapse; prints the body, fails on a non-2xx status.
api() {
  local method="$1" path="$2" body="$3" token="${4:-}"
  local auth=()
  [[ -n "$token" ]] && auth=(-H "Authorization: Bearer $token")
  curl -fsS -m 30 -X "$method" "${auth[@]}" -H 'Content-Type: application/json' \
    --data "$body" "$BASE$path"
}

json_field() { "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

login() { # user password device_id display_name [refresh]
  api POST /_matrix/client/v3/login "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"$1\"},\"password\":\"$2\",\"device_id\":\"$3\",\"initial_device_display_name\":\"$4\"${5:+,\"refresh_token\":true}}"
}

make_real() {
  local out="$1"
  install_synapse
  local data="$WORK_DIR/data"
  rm -rf "$data"; mkdir -p "$data" "$out"
  (cd "$data" && "$PY" -m synapse.app.homeserver --server-name "$SERVER_NAME" \
      --config-path "$data/homeserver.yaml" --generate-config \
      --report-stats=no --data-directory "$data" >/dev/null)
  cat > "$data/fixture.yaml" <<YAML
listeners:
  - port: $PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    resources:
      - names: [client]
        compress: false
enable_registration: true
enable_registration_without_verification: true
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
bcrypt_rounds: 4
password_config:
  pepper: "$PEPPER"
rc_login: {address: {per_second: 1000, burst_count: 1000}, account: {per_second: 1000, burst_count: 1000}, failed_attempts: {per_second: 1000, burst_count: 1000}}
rc_registration: {per_second: 1000, burst_count: 1000}
YAML
  local cfg=(-c "$data/homeserver.yaml" -c "$data/fixture.yaml")
  if curl -fsS -m 2 "$BASE/_matrix/client/versions" >/dev/null 2>&1; then
    log "something already answers on $BASE; set SYNAPSE_PORT"; exit 1
  fi
  (cd "$data" && "$PY" -m synapse.app.homeserver "${cfg[@]}" --daemonize)
  # Stopped by its pid however this script ends.
  trap 'if [[ -n "${SYNAPSE_PID:-}" ]]; then kill "$SYNAPSE_PID" 2>/dev/null || true; fi' EXIT
  for _ in $(seq 1 600); do
    curl -fsS -m 2 "$BASE/_matrix/client/versions" >/dev/null 2>&1 && break
    sleep 0.1
  done
  SYNAPSE_PID="$(cat "$data/homeserver.pid")"
  log "synapse $("$PY" -c 'import synapse;print(synapse.__version__)') answers (pid $SYNAPSE_PID)"

  local reg="$VENV/bin/register_new_matrix_user"
  "$reg" -c "$data/homeserver.yaml" -u admin -p 'admin-password' -a "$BASE" >/dev/null
  "$reg" -c "$data/homeserver.yaml" -u alice -p 'alice-password' --no-admin "$BASE" >/dev/null
  "$reg" -c "$data/homeserver.yaml" -u bob -p 'bob-pässword' --no-admin "$BASE" >/dev/null
  "$reg" -c "$data/homeserver.yaml" -u carol -p 'carol-password' --no-admin "$BASE" >/dev/null

  # dave registers as a client does: POST /register, then the dummy stage.
  local session dave
  session="$(curl -sS -m 30 -X POST -H 'Content-Type: application/json' \
    --data '{"username":"dave","password":"dave-password"}' "$BASE/_matrix/client/v3/register" | json_field session)"
  dave="$(api POST /_matrix/client/v3/register "{\"username\":\"dave\",\"password\":\"dave-password\",\"device_id\":\"DAVETAB\",\"initial_device_display_name\":\"Dave tablet\",\"auth\":{\"type\":\"m.login.dummy\",\"session\":\"$session\"}}")"

  local admin_token alice alice_token alice_refresh bob_token
  admin_token="$(login admin admin-password ADMINDEV 'Admin laptop' | json_field access_token)"
  alice="$(login alice alice-password ALICEPHONE 'Alice phone' refresh)"
  alice_token="$(echo "$alice" | json_field access_token)"
  alice_refresh="$(echo "$alice" | json_field refresh_token)"
  bob_token="$(login bob 'bob-pässword' BOBDESK 'Bob desktop' | json_field access_token)"
  # An e-mail added through the admin API (validated now), and carol deactivated.
  api PUT "/_synapse/admin/v2/users/@alice:$SERVER_NAME" \
    '{"threepids":[{"medium":"email","address":"alice@example.org"}]}' "$admin_token" >/dev/null
  api POST "/_synapse/admin/v1/deactivate/@carol:$SERVER_NAME" '{"erase":false}' "$admin_token" >/dev/null

  kill "$SYNAPSE_PID"
  for _ in $(seq 1 100); do kill -0 "$SYNAPSE_PID" 2>/dev/null || break; sleep 0.1; done
  SYNAPSE_PID=""
  cp "$data/homeserver.db" "$out/synapse.db"
  cat > "$out/fixture.json" <<JSON
{
  "synapse_version": "$("$PY" -c 'import synapse;print(synapse.__version__)')",
  "server_name": "$SERVER_NAME",
  "pepper": "$PEPPER",
  "users": {
    "admin": {"password": "admin-password", "admin": true, "access_token": "$admin_token", "device_id": "ADMINDEV"},
    "alice": {"password": "alice-password", "email": "alice@example.org", "access_token": "$alice_token", "refresh_token": "$alice_refresh", "device_id": "ALICEPHONE"},
    "bob": {"password": "bob-pässword", "access_token": "$bob_token", "device_id": "BOBDESK"},
    "carol": {"password": "carol-password", "deactivated": true},
    "dave": {"password": "dave-password", "access_token": "$(echo "$dave" | json_field access_token)", "device_id": "DAVETAB"}
  }
}
JSON
  log "wrote $out/synapse.db and $out/fixture.json"
}

make_synthetic() {
  local n="$1" out="$2"
  [[ -f "$out/synapse.db" ]] || make_real "$out"
  local db="$out/synthetic-$n.db"
  rm -f "$db"
  # Synapse's own database (schema, schema_version, its FTS tables) with
  # the rows of the tables the import reads emptied.
  cp "$out/synapse.db" "$db"
  local hash
  hash="$(sqlite3 "$db" "SELECT password_hash FROM users WHERE name = '@alice:$SERVER_NAME'")"
  sqlite3 "$db" <<SQL
DELETE FROM access_tokens; DELETE FROM refresh_tokens; DELETE FROM devices;
DELETE FROM user_threepids; DELETE FROM users;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO users (name, password_hash, creation_ts, admin, is_guest, deactivated, approved)
  SELECT printf('@user%07d:$SERVER_NAME', i), '$hash', 1700000000 + i, 0, 0, 0, 1 FROM n;
INSERT INTO user_threepids (user_id, medium, address, validated_at, added_at)
  SELECT name, 'email', substr(name, 2, 11) || '@example.org', 1700000000000, 1700000000000 FROM users;
INSERT INTO devices (user_id, device_id, display_name, hidden)
  SELECT name, 'DEV' || substr(name, 6, 7), 'Phone', 0 FROM users;
INSERT INTO access_tokens (id, user_id, device_id, token)
  SELECT rowid, name, 'DEV' || substr(name, 6, 7), 'syt_' || substr(name, 2, 11) || '_synthetic' FROM users;
SQL
  log "wrote $db ($n users, with an e-mail, a device and an access token each)"
}

make_postgres() {
  local url="$1" out="$2"
  [[ -f "$out/synapse.db" ]] || make_real "$out"
  install_synapse
  "$VENV/bin/pip" install -q psycopg2-binary
  local name="synapse_fixture_$$_$RANDOM" copy="$WORK_DIR/port-source.db"
  # Synapse wants C collation (it refuses others).
  psql -q "$url" -c "CREATE DATABASE $name TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'" >&2
  rm -f "$copy"
  "$PY" - "$out/synapse.db" "$copy" <<'PY'
import sqlite3, sys
source, copy = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
source.backup(copy)
copy.execute("DELETE FROM background_updates")
copy.commit()
PY
  local host port user
  host="$("$PY" -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).hostname or "127.0.0.1")' "$url")"
  port="$("$PY" -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).port or 5432)' "$url")"
  user="$("$PY" -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).username or "postgres")' "$url")"
  cat > "$WORK_DIR/port.yaml" <<YAML
server_name: $SERVER_NAME
report_stats: false
signing_key_path: $WORK_DIR/port.signing.key
database:
  name: psycopg2
  args: {user: $user, host: $host, port: $port, database: $name}
YAML
  [[ -f "$WORK_DIR/port.signing.key" ]] || "$VENV/bin/generate_signing_key" -o "$WORK_DIR/port.signing.key"
  log "synapse_port_db into $name"
  (cd "$WORK_DIR" && "$VENV/bin/synapse_port_db" --sqlite-database "$copy" --postgres-config "$WORK_DIR/port.yaml" \
    >"$WORK_DIR/port.log" 2>&1) || { tail -n 20 "$WORK_DIR/port.log" >&2; exit 1; }
  echo "${url%/*}/$name"
}

mode="${1:-}"; shift || true
case "$mode" in
  real) make_real "${1:-$ROOT/target/synapse-fixture}" ;;
  venv) install_synapse; echo "$VENV" ;;
  synthetic) make_synthetic "${1:?N}" "${2:-$ROOT/target/synapse-fixture}" ;;
  postgres) make_postgres "${1:?URL}" "${2:-$ROOT/target/synapse-fixture}" ;;
  *) sed -n '2,30p' "$0"; exit 2 ;;
esac
