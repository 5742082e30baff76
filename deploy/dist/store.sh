#!/usr/bin/env bash
# The document store: FerretDB v1.24 on the PostgreSQL of pg.sh (ferretdb-pg/, the library with its
# `postgresql` handler in a small Go main), on 127.0.0.1:$STORE_PORT.
#   store.sh build | setup | start | stop | kill9 | uri
# build: go build into the cache ($LAYER1_DIST_CACHE/ferretdb-pg-<hash of ferretdb-pg/>), unless it is there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SRC=$DIST_DIR/ferretdb-pg
BIN=$LAYER1_DIST_CACHE/ferretdb-pg-$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-12)
case "${1:-}" in
  build)
    if [ -x "$BIN" ]; then echo "ferretdb-pg cached at $BIN"; exit 0; fi
    command -v go >/dev/null || { echo "Go is needed to build ferretdb-pg (from the Go module proxy)" >&2; exit 4; }
    mkdir -p "$LAYER1_DIST_CACHE"; t0=$(date +%s)
    (cd "$SRC" && CGO_ENABLED=0 nice -n 15 go build -trimpath -o "$BIN.tmp-$$" .) && mv "$BIN.tmp-$$" "$BIN"
    echo "built ferretdb-pg in $(( $(date +%s) - t0 )) s" ;;
  setup)
    "$DIST_DIR/pg.sh" psql -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ferretdb') THEN
    CREATE ROLE ferretdb LOGIN PASSWORD '$FERRET_PASSWORD';
  END IF;
END \$\$;
SQL
    "$DIST_DIR/pg.sh" psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferretdb'" | grep -q 1 \
      || "$DIST_DIR/pg.sh" psql -q -c "CREATE DATABASE ferretdb OWNER ferretdb"
    echo "database ferretdb ready" ;;
  start)
    [ -x "$BIN" ] || { echo "ferretdb-pg is not built: $0 build" >&2; exit 4; }
    export FERRETDB_POSTGRESQL_URL="postgres://ferretdb:$FERRET_PASSWORD@127.0.0.1:$PG_PORT/ferretdb"
    start_server store "$LOGS/store.log" "$BIN" --listen "127.0.0.1:$STORE_PORT"
    wait_port "$STORE_PORT" ;;
  stop) stop_server store ;;
  kill9) kill9 store ;;
  uri) echo "mongodb://127.0.0.1:$STORE_PORT/?retryWrites=false" ;;
  *) sed -n 2,5p "$0"; exit 2 ;;
esac
