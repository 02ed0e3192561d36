#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests and local hub replicas (Debian's postgresql package).
#   tools/postgres.sh start DIR PORT [DATABASE]
#       initializes DIR/data (once, from a template initdb made: trust authentication, superuser
#       `postgres`; PG_TEMPLATE names the template folder), starts the server on
#       127.0.0.1:PORT and on a Unix socket in DIR, waits until it accepts connections (pg_isready),
#       creates DATABASE (default continuum) if missing, and prints its connection URI.
#       Starting again after `stop` keeps the data.
#   tools/postgres.sh stop DIR      stops the server (fast shutdown); nothing to do if it is not running.
# Run as root, the server runs as the `postgres` user (PostgreSQL refuses root) and DIR is chowned to it.
# The server runs with fsync=off: it is for tests, whose data is thrown away (PG_FSYNC=on to change).
set -euo pipefail
BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

usage() { echo "usage: $0 start DIR PORT [DATABASE] | stop DIR" >&2; exit 2; }
as_server_user() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$(realpath -m "$2")
data=$dir/data
[[ -x $BIN/pg_ctl ]] || { echo "postgres.sh: $BIN/pg_ctl not found (apt-get install postgresql)" >&2; exit 3; }

case $cmd in
  start)
    [[ $# -ge 3 ]] || usage
    port=$3
    db=${4:-continuum}
    [[ $port =~ ^[0-9]+$ ]] || { echo "postgres.sh: PORT must be a number" >&2; exit 2; }
    [[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "postgres.sh: DATABASE must match [a-z_][a-z0-9_]*" >&2; exit 2; }
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$dir"; fi
    if [[ ! -f $data/PG_VERSION ]]; then
      # initdb runs once per user and machine into a template (under a lock: tests start servers in
      # parallel); each server starts from a copy of it, which takes a fraction of initdb's time.
      template=${PG_TEMPLATE:-${TMPDIR:-/tmp}/continuum-postgres-15-template-$(id -u)}
      (
        flock 9
        if [[ ! -f $template/PG_VERSION ]]; then
          rm -rf "$template.new"
          mkdir -p "$template.new"
          if [[ $(id -u) -eq 0 ]]; then chown postgres: "$template.new"; fi
          as_server_user "$BIN/initdb" -D "$template.new" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
          mv "$template.new" "$template"
        fi
      ) 9>"$template.lock"
      cp -a "$template" "$data"
    fi
    as_server_user "$BIN/pg_ctl" start -D "$data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off}" >/dev/null ||
      { tail -n 20 "$dir/server.log" >&2; exit 1; }
    for _ in $(seq 1 600); do
      "$BIN/pg_isready" -q -h "$dir" -p "$port" && break
      sleep 0.1
    done
    "$BIN/pg_isready" -q -h "$dir" -p "$port" || { echo "postgres.sh: server not ready" >&2; exit 1; }
    if [[ -z $("$BIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -tAc \
               "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
      "$BIN/createdb" -h "$dir" -p "$port" -U postgres "$db"
    fi
    echo "postgresql://postgres@127.0.0.1:$port/$db"
    ;;
  stop)
    if [[ -f $data/postmaster.pid ]]; then
      as_server_user "$BIN/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null
    fi
    ;;
  *) usage ;;
esac
