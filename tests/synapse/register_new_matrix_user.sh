#!/usr/bin/env bash
# Synapse's own register_new_matrix_user, unchanged, against this server:
# it must create the first admin through shared-secret registration, as
# operators do with Synapse. Then the admin API answers that admin, and a
# wrong secret is refused.
#
#   tests/synapse/register_new_matrix_user.sh      (MATRIX_ACCOUNTS_BINARY: a build to use)
#
# The script comes from the matrix-synapse package, in the throwaway venv
# tests/synapse/make_fixture.sh makes.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BINARY="${MATRIX_ACCOUNTS_BINARY:-$ROOT/target/release/matrix-accounts}"
[ -n "${MATRIX_ACCOUNTS_BINARY:-}" ] || (cd "$ROOT" && cargo build --release --quiet --bin matrix-accounts)
VENV="$(bash "$HERE/make_fixture.sh" venv | tail -n 1)"
REGISTER="$VENV/bin/register_new_matrix_user"
SECRET="shared-$(date +%s%N)"

. "$ROOT/tests/server.sh"
{
    cat "$ROOT/tests/fixtures/test_server.toml"
    printf '[admin]\nregistration_shared_secret = "%s"\n' "$SECRET"
} >"$RUN/config.toml"
start_server "$BINARY"

fail() { echo "FAIL $*"; cat "$RUN/server.log"; exit 1; }

# 1. The first admin, exactly as an operator makes one on Synapse.
"$REGISTER" -u root -p 'root-password-1' -a -k "$SECRET" "$BASE" || fail "register_new_matrix_user -a"
echo "PASS register_new_matrix_user created @root (admin)"
"$REGISTER" -u plain -p 'plain-password-1' --no-admin -k "$SECRET" "$BASE" || fail "register_new_matrix_user --no-admin"
echo "PASS register_new_matrix_user created @plain (not admin)"

# 2. They log in; the admin API knows which one is the admin.
login() {
    curl -fsS -X POST -H 'Content-Type: application/json' \
        --data "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"$1\"},\"password\":\"$2\"}" \
        "$BASE/_matrix/client/v3/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
root="$(login root root-password-1)" || fail "root logs in"
plain="$(login plain plain-password-1)" || fail "plain logs in"
status() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$BASE$2"; }
[ "$(status "$root" /_synapse/admin/v1/users/@root:localhost/admin)" = 200 ] || fail "root is not an admin"
[ "$(status "$plain" /_synapse/admin/v1/users/@root:localhost/admin)" = 403 ] || fail "plain is an admin"
admin_flag="$(curl -fsS -H "Authorization: Bearer $root" "$BASE/_synapse/admin/v1/users/@plain:localhost/admin")"
[ "$admin_flag" = '{"admin":false}' ] || fail "plain's admin flag: $admin_flag"
echo "PASS the admin API answers @root and refuses @plain"

# 3. A wrong shared secret creates nothing.
if "$REGISTER" -u intruder -p 'intruder-password-1' -a -k "wrong-$SECRET" "$BASE" >/dev/null 2>&1; then
    fail "a wrong shared secret registered @intruder"
fi
[ "$(status "$root" /_synapse/admin/v2/users/@intruder:localhost)" = 404 ] || fail "@intruder exists"
echo "PASS a wrong shared secret is refused"
echo "Synapse's register_new_matrix_user works against this server"
