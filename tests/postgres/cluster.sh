#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests: initdb into a directory of
# its own, its own port, trust authentication on loopback only.
#
#   tests/postgres/cluster.sh start [DIR] [PORT]   prints the URL to export as
#                                                   MATRIX_ACCOUNTS_TEST_POSTGRES
#   tests/postgres/cluster.sh stop  [DIR]
#   tests/postgres/cluster.sh restart [DIR]         (the fault tests use pg_ctl directly)
#
# Installs the Debian `postgresql` package when no initdb is found. initdb
# refuses to run as root, so as root the cluster belongs to the
# `postgres` system user (created by the package).
set -euo pipefail

action="${1:?usage: cluster.sh start|stop [DIR] [PORT]}"
dir="${2:-${TMPDIR:-/tmp}/matrix-accounts-pg}"
port="${3:-55432}"

bin_dir() {
  local initdb
  initdb="$(command -v initdb || true)"
  if [ -z "$initdb" ]; then
    initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)"
  fi
  if [ -z "$initdb" ]; then
    echo "no PostgreSQL found: installing the Debian package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"
  fi
  dirname "$(readlink -f "$initdb")"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

bin="$(bin_dir)"
case "$action" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres "$dir"
      as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
      cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
fsync = on
log_min_messages = warning
EOF
    fi
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$dir" -m fast -w restart -l "$dir/server.log" >/dev/null
    ;;
  *)
    echo "unknown action $action" >&2
    exit 2
    ;;
esac
