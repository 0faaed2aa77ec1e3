#!/usr/bin/env bash
# Validates the published document, generated/openapi.json, with
# openapi-spec-validator (PyPI) against the OpenAPI 3.0 schema, so that client
# authors' tools accept it. Exits non-zero with the validator's message when
# the document is invalid.
#
# The validator lives in a venv under target/ (ignored by git), made on the
# first run and reused while it holds the pinned version.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="0.9.0"
venv="$root/target/venv-openapi"
document="${1:-$root/generated/openapi.json}"   # another file may be named, e.g. to try the script

installed="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null || true)"
if [ "$installed" != "$version" ]; then
    echo "validate_openapi: installing openapi-spec-validator $version into ${venv#"$root"/}"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openapi-spec-validator==$version"
fi

# --schema 3.0: the document says `openapi: 3.0.x`, and must be valid as such.
"$venv/bin/openapi-spec-validator" --schema 3.0 --validation-errors all "$document"
