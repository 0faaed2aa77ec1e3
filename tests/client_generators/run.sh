#!/usr/bin/env bash
# The published document as client authors meet it: linted, and turned
# into clients by four generators that then drive a real server.
#
#   - Redocly CLI (recommended rules) and Spectral (spectral:oas): 0 errors;
#   - openapi-python-client (--fail-on-warning)        → python_session.py
#   - openapi-typescript + openapi-fetch, `tsc --strict` → session.ts
#   - OpenAPI Generator `-g python` (PyPI openapi-generator-cli, which
#     bundles the jar; needs Java), no warning but two known ones, the
#     package installed into the venv   → openapi_generator_session.py
#   - @hey-api/openapi-ts, fetch client, `tsc --strict` → heyapi_session.ts
#
# Each session registers (UIA, m.login.dummy), logs in, asks whoami,
# refreshes, logs out, and treats a status its operation does not declare
# as a failure. Tools are pinned (requirements.txt, package-lock.json) and
# installed under target/client_generators/ (ignored by git; reinstalled
# only when the pins change). The server is the release binary (built if
# needed; MATRIX_ACCOUNTS_BINARY overrides), on a free 127.0.0.1 port with
# a temporary database, cheap argon2 and no rate limits.
#
#   tests/client_generators/run.sh

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$ROOT/target/client_generators"
DOCUMENT="$ROOT/generated/openapi.json"
mkdir -p "$WORK"

step() { printf '\n== %s\n' "$*"; }

if [ -n "${MATRIX_ACCOUNTS_BINARY:-}" ]; then
    BINARY="$MATRIX_ACCOUNTS_BINARY"
else
    BINARY="$ROOT/target/release/matrix-accounts"
    step "building the release binary"
    (cd "$ROOT" && cargo build --release --quiet --bin matrix-accounts)
fi

step "openapi-python-client, OpenAPI Generator (target/client_generators/venv)"
if ! cmp -s "$HERE/requirements.txt" "$WORK/venv/requirements.txt" 2>/dev/null; then
    rm -rf "$WORK/venv"
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$WORK/venv/requirements.txt"
fi

step "openapi-typescript, openapi-fetch, @hey-api/openapi-ts, TypeScript, Redocly CLI, Spectral (target/client_generators/js)"
JS="$WORK/js"
mkdir -p "$JS"
if ! cmp -s "$HERE/package-lock.json" "$JS/package-lock.json" 2>/dev/null || [ ! -d "$JS/node_modules" ]; then
    cp "$HERE/package.json" "$HERE/package-lock.json" "$JS/"
    (cd "$JS" && npm ci --no-audit --no-fund --loglevel=error)
fi

FAILED=()
run() {
    local name="$1"
    shift
    step "$name"
    if "$@"; then echo "PASS $name"; else echo "FAIL $name"; FAILED+=("$name"); fi
}

# Linters: any error fails; warnings are shown.
run "Redocly CLI, recommended rules" "$JS/node_modules/.bin/redocly" lint --extends=recommended --format=stylish "$DOCUMENT"
run "Spectral, spectral:oas" "$JS/node_modules/.bin/spectral" lint --ruleset "$HERE/spectral.yaml" --fail-severity=error "$DOCUMENT"

# Generators: a warning is a failure, and so is a client that does not
# type-check.
PY="$WORK/py"
generate_python() {
    rm -rf "$PY"
    mkdir -p "$PY"
    # The generator formats its output with ruff, which it finds on PATH.
    PATH="$WORK/venv/bin:$PATH" "$WORK/venv/bin/openapi-python-client" generate --path "$DOCUMENT" \
        --output-path "$PY/matrix_accounts_client" --meta none --fail-on-warning
}
generate_typescript() {
    cp "$HERE/session.ts" "$HERE/tsconfig.json" "$JS/"
    # --default-non-nullable=false: openapi-typescript 7 otherwise makes a
    # property with a `default` required, in request bodies too (register's
    # `inhibit_login`, login's `refresh_token`), where the default is what
    # the server assumes when the client leaves it out.
    "$JS/node_modules/.bin/openapi-typescript" "$DOCUMENT" --default-non-nullable=false --output "$JS/schema.d.ts" &&
        (cd "$JS" && node_modules/.bin/tsc --project tsconfig.json)
}
# OpenAPI Generator has no --fail-on-warning: its log is read instead, and
# any WARN or ERROR fails but these three, the first two of which OpenAPI
# Generator 7.26.0 prints for a one-operation document of the same shapes
# too:
#   - "Failed to get the schema name: null", once per run;
#   - "Codegen property is null (e.g. map/dict of undefined type). Default
#     to typing.Any.", once per request or response body that is a bare
#     `type: object` (the Matrix `{}` of logout, logout/all, 3pid/add and
#     account/password), which becomes Dict[str, Any], as it should;
#   - "From (reserved word) cannot be used as model name. Renamed to
#     ModelFrom": the `from` query parameter of Synapse's admin user list,
#     a Python keyword, which the client renames (`var_from`); the name is
#     Synapse's and stays.
OG="$WORK/openapi_generator"
generate_openapi_generator() {
    rm -rf "$OG"
    "$WORK/venv/bin/pip" uninstall --quiet --disable-pip-version-check --yes matrix-accounts-openapi-generator 2>/dev/null || true
    mkdir -p "$OG"
    # The machine image has Java 17; anywhere else: apt-get install default-jre-headless.
    command -v java >/dev/null || { echo "OpenAPI Generator needs Java (apt-get install default-jre-headless)"; return 1; }
    "$WORK/venv/bin/openapi-generator-cli" generate --input-spec "$DOCUMENT" --generator-name python \
        --output "$OG/client" --package-name matrix_accounts_openapi_generator \
        --additional-properties=projectName=matrix-accounts-openapi-generator \
        --global-property=apiTests=false,modelTests=false,apiDocs=false,modelDocs=false \
        >"$OG/generate.log" 2>&1 || { cat "$OG/generate.log"; return 1; }
    local unexpected
    unexpected="$(grep -E 'WARN|ERROR' "$OG/generate.log" |
        grep -v -F -e 'Failed to get the schema name: null' \
            -e 'Codegen property is null (e.g. map/dict of undefined type). Default to typing.Any.' \
            -e 'From (reserved word) cannot be used as model name. Renamed to ModelFrom' || true)"
    if [ -n "$unexpected" ]; then
        echo "$unexpected"
        return 1
    fi
    # Its own dependencies are pinned in requirements.txt; `pip check`
    # says whether the pins satisfy what the generated package asks for.
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall "$OG/client" &&
        "$WORK/venv/bin/pip" check --disable-pip-version-check
}
generate_heyapi() {
    rm -f "$JS/heyapi_session.js"
    cp "$HERE/heyapi_session.ts" "$HERE/tsconfig.json" "$HERE/tsconfig.heyapi.json" "$HERE/openapi-ts.config.js" "$JS/"
    # It prints its warnings (console.warn) on stderr: any fails, as an
    # error does.
    (cd "$JS" && node_modules/.bin/openapi-ts --file openapi-ts.config.js --input "$DOCUMENT" --no-log-file \
        >heyapi.log 2>heyapi.warnings) || { cat "$JS/heyapi.log" "$JS/heyapi.warnings"; return 1; }
    if [ -s "$JS/heyapi.warnings" ]; then cat "$JS/heyapi.warnings"; return 1; fi
    (cd "$JS" && node_modules/.bin/tsc --project tsconfig.heyapi.json)
}
run "openapi-python-client generates a client" generate_python
run "openapi-typescript generates types that session.ts type-checks against (tsc --strict)" generate_typescript
run "OpenAPI Generator (python) generates a client, installed into the venv" generate_openapi_generator
run "@hey-api/openapi-ts generates a fetch client that heyapi_session.ts type-checks against (tsc --strict)" generate_heyapi

step "starting the server"
. "$ROOT/tests/server.sh"
{
    echo 'log = "warn,matrix_accounts=info"'
    cat "$ROOT/tests/fixtures/test_server.toml"
} >"$RUN/config.toml"
start_server "$BINARY" --no-rate-limits

if [ -d "$PY/matrix_accounts_client" ]; then
    run "the generated Python client drives a session" \
        env PYTHONPATH="$PY" "$WORK/venv/bin/python" "$HERE/python_session.py" "$BASE"
fi
if [ -f "$JS/session.js" ]; then
    run "the generated TypeScript client drives a session" node "$JS/session.js" "$BASE"
fi
if "$WORK/venv/bin/python" -c 'import matrix_accounts_openapi_generator' 2>/dev/null; then
    run "the OpenAPI Generator Python client drives a session" \
        "$WORK/venv/bin/python" "$HERE/openapi_generator_session.py" "$BASE"
fi
if [ -f "$JS/heyapi_session.js" ]; then
    run "the @hey-api/openapi-ts client drives a session" node "$JS/heyapi_session.js" "$BASE"
fi

if [ "${#FAILED[@]}" -gt 0 ]; then
    step "server log"
    cat "$RUN/server.log"
    echo
    echo "FAILED: ${FAILED[*]}"
    exit 1
fi
echo
echo "every generator and linter passed"
