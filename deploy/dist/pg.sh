#!/usr/bin/env bash
# PostgreSQL (Debian's `postgresql` package) as a cluster of its own in $DIST_STATE/pg, on 127.0.0.1:$PG_PORT,
# run as the `postgres` user when this runs as root. It holds Temporal's two databases and FerretDB's.
#   pg.sh install | start | stop | status | psql [ARGS]
# Not supervised: PostgreSQL's postmaster restarts its own backends, and a dead postmaster is the store
# drill's subject only through FerretDB (see docs/deploy.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DATA=$DIST_STATE/pg/data
pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-}" in
  install)
    if [ -z "$(pgbin)" ]; then
      [ "$(id -u)" = 0 ] || { echo "PostgreSQL is not installed: apt-get install postgresql (as root)" >&2; exit 4; }
      apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
    fi
    echo "PostgreSQL $("$(pgbin)/postgres" --version | awk '{print $3}') in $(pgbin)" ;;
  start)
    BIN=$(pgbin); [ -n "$BIN" ] || { echo "no PostgreSQL: $0 install" >&2; exit 4; }
    mkdir -p "$DIST_STATE/pg"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIST_STATE/pg"
    chmod 700 "$DIST_STATE/pg"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      pwfile=$(mktemp); echo "$PG_PASSWORD" > "$pwfile"; [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
      as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" -E UTF8 >/dev/null
      rm -f "$pwfile"
      cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIST_STATE/pg'
max_connections = 300
shared_buffers = 256MB
CONF
    fi
    as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 \
      || as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIST_STATE/pg/postgres.log" -w -t 60 start >/dev/null
    head -1 "$DATA/postmaster.pid" > "$RUN/postgres.pid"
    echo "postgres up on 127.0.0.1:$PG_PORT (pid $(cat "$RUN/postgres.pid"))" ;;
  stop)
    BIN=$(pgbin)
    if [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ]; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || true; fi
    rm -f "$RUN/postgres.pid"; echo "stopped postgres" ;;
  status)
    as_pg "$(pgbin)/pg_ctl" -D "$DATA" status ;;
  psql)
    shift; as_pg "$(pgbin)/psql" -h "$DIST_STATE/pg" -p "$PG_PORT" -U postgres "$@" ;;
  *) sed -n 2,6p "$0"; exit 2 ;;
esac
