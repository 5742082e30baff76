#!/usr/bin/env bash
# A real Temporal server (go.temporal.io/server, not the CLI dev server): its four services as separate
# processes on the PostgreSQL of pg.sh, postgres12 persistence and visibility.
#   temporal.sh build                 go install temporal-server and temporal-sql-tool $TEMPORAL_VERSION into the
#                                     cache ($LAYER1_DIST_CACHE/temporal-$TEMPORAL_VERSION; about 9 minutes on
#                                     2 cores, at nice 15), unless they are there
#   temporal.sh setup                 role, databases, schemas (temporal-sql-tool), configs, dynamic config
#   temporal.sh start [SERVICE..]     one process per service (default: frontend history matching worker)
#   temporal.sh stop [SERVICE..]      by pid file
#   temporal.sh kill9 SERVICE         kill -9 one service's process (a crash; DIST_RESTART=always starts it again)
#   temporal.sh namespace [NS]        register NS (default "default") over the project's SDK
#   temporal.sh status
#   temporal.sh tls-setup | tls-start | tls-stop
#                                     a Temporal server with TLS on its frontend, for the TLS test of test/dist:
#                                     a cluster of its own (databases temporal_tls*), one process, frontend
#                                     127.0.0.1:$TEMPORAL_TLS_PORT (23233), certificate for temporal.dist signed by
#                                     the CA in $DIST_STATE/temporal/tls/ca.pem (made with openssl)
# TEMPORAL_INSTANCE=N (1): host N, a second set of the same services joining the cluster through the
# database (every port +1000, names temporal2-*). Ports of host 1 (B = TEMPORAL_BASE_PORT, 21233): frontend B,
# history B+1, matching B+2, worker B+6, frontend HTTP B+10, metrics B+20, membership B-10300..B-10294.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
B=$TEMPORAL_BASE_PORT
INST=${TEMPORAL_INSTANCE:-1}
P=temporal; [ "$INST" = 1 ] || P=temporal$INST
OFF=$(( (INST - 1) * 1000 ))
BIN=$LAYER1_DIST_CACHE/temporal-$TEMPORAL_VERSION
CONF_DIR=$DIST_STATE/temporal
SERVICES=(frontend history matching worker)
TLS_B=${TEMPORAL_TLS_PORT:-23233}
TLS_NAME=temporal.dist
mkdir -p "$CONF_DIR"

moddir() { go mod download -json "go.temporal.io/server@$TEMPORAL_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
sqltool() { "$BIN/temporal-sql-tool" --plugin postgres12 --ep 127.0.0.1 -p "$PG_PORT" -u temporal --pw "$PG_PASSWORD" "$@"; }
admin() { (cd "$REPO" && node dist/deploy/dist/temporal-admin.js "$@"); }

build() {
  if [ -x "$BIN/temporal-server" ] && [ -x "$BIN/temporal-sql-tool" ]; then echo "temporal-server $TEMPORAL_VERSION cached in $BIN"; return; fi
  command -v go >/dev/null || { echo "Go is needed to build the Temporal server (go install from the Go module proxy)" >&2; exit 4; }
  local tmp=$BIN.tmp-$$ t0; t0=$(date +%s)
  mkdir -p "$tmp"
  echo "building temporal-server and temporal-sql-tool $TEMPORAL_VERSION into $BIN (about 9 minutes on 2 cores)"
  GOBIN=$tmp nice -n 15 go install "go.temporal.io/server/cmd/server@$TEMPORAL_VERSION" "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_VERSION"
  mv "$tmp/server" "$tmp/temporal-server"; mv "$tmp/sql" "$tmp/temporal-sql-tool"
  rm -rf "$BIN"; mv "$tmp" "$BIN"
  echo "built in $(( $(date +%s) - t0 )) s"
}

# render FILE BASE DB DB_VIS RPC [TLS_DIR]: the config of one host (or of the TLS server, with TLS_DIR).
render() {
  local file=$1 b=$2 db=$3 dbvis=$4 rpc=$5 tls=${6:-} block=
  if [ -n "$tls" ]; then
    block="  tls:\n    frontend:\n      server:\n        certFile: $tls/server.pem\n        keyFile: $tls/server.key\n        requireClientAuth: false\n      client:\n        serverName: $TLS_NAME\n        rootCaFiles: [$tls/ca.pem]"
  fi
  sed -e "s/@PG_PORT@/$PG_PORT/g" -e "s/@PG_PASSWORD@/$PG_PASSWORD/g" -e "s#@STATE@#$DIST_STATE#g" -e "s/@DB@/$db/" -e "s/@DB_VIS@/$dbvis/" \
      -e "s/@P_FRONTEND@/$b/g" -e "s/@P_HISTORY@/$((b+1))/g" -e "s/@P_MATCHING@/$((b+2))/g" -e "s/@P_WORKER@/$((b+6))/g" \
      -e "s/@P_FRONTEND_HTTP@/$((b+10))/g" -e "s/@P_FRONTEND_M@/$((b-10300))/g" -e "s/@P_HISTORY_M@/$((b-10299))/g" \
      -e "s/@P_MATCHING_M@/$((b-10298))/g" -e "s/@P_WORKER_M@/$((b-10294))/g" -e "s/@P_METRICS@/$((b+20))/g" \
      -e "s/@RPC@/$rpc/" -e "s#^@GLOBAL_TLS@\$#$block#" \
      "$DIST_DIR/temporal-config.yaml.tmpl" | sed '/^$/d' > "$file"
}

# Databases and schemas for DB and DB_VIS (idempotent).
schemas() {
  local schema; schema=$(moddir)/schema/postgresql/v12
  {
    for db in "$1" "$2"; do sqltool --db "$db" create-database || true; done
    # setup-schema -v 0.0 makes the version table (it refuses, harmlessly, once it exists); update-schema
    # then applies every versioned step up to the newest one shipped with the module.
    sqltool --db "$1" setup-schema -v 0.0 || true
    sqltool --db "$1" update-schema -d "$schema/temporal/versioned"
    sqltool --db "$2" setup-schema -v 0.0 || true
    sqltool --db "$2" update-schema -d "$schema/visibility/versioned"
  } > "$LOGS/temporal-setup-$1.log" 2>&1 || { tail -20 "$LOGS/temporal-setup-$1.log" >&2; exit 1; }
}

role() {
  "$DIST_DIR/pg.sh" psql -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'temporal') THEN
    CREATE ROLE temporal LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  # As the CLI dev server has it: search attributes added over the operator API (layer1 up registers
  # its own) are usable at once, not after the frontend's cache refreshes within a minute.
  printf 'system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n' > "$CONF_DIR/dynamicconfig.yaml"
}

setup() {
  role
  schemas temporal temporal_visibility
  render "$CONF_DIR/config-1.yaml" "$B" temporal temporal_visibility "127.0.0.1:$B"
  render "$CONF_DIR/config-2.yaml" "$((B+1000))" temporal temporal_visibility "127.0.0.1:$B"
  echo "Temporal schemas at the newest version; configs in $CONF_DIR"
}

# A CA and the frontend's certificate for $TLS_NAME and 127.0.0.1, made once with openssl.
certs() {
  local d=$CONF_DIR/tls
  [ -f "$d/server.pem" ] && return
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj "/CN=layer1 dist CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=$TLS_NAME" 2>/dev/null
    printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$TLS_NAME" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3650 -extfile server.ext 2>/dev/null
    chmod 600 ca.key server.key
  )
}

# The TLS server: a cluster of its own (databases temporal_tls*), its four services in one process,
# TLS on its frontend (TEMPORAL_TLS_PORT, 23233) with the CA of certs().
tls_setup() {
  role
  certs
  schemas temporal_tls temporal_tls_visibility
  render "$CONF_DIR/config-tls.yaml" "$TLS_B" temporal_tls temporal_tls_visibility "127.0.0.1:$TLS_B" "$CONF_DIR/tls"
  echo "TLS server configured: $CONF_DIR/config-tls.yaml, CA $CONF_DIR/tls/ca.pem, server name $TLS_NAME"
}

tls_start() {
  start_server temporal-tls "$LOGS/temporal-tls.log" "$BIN/temporal-server" --config-file "$CONF_DIR/config-tls.yaml" --allow-no-auth start \
    --service frontend --service history --service matching --service worker
  TEMPORAL_TLS_CA=$CONF_DIR/tls/ca.pem TEMPORAL_TLS_SERVER_NAME=$TLS_NAME admin health "127.0.0.1:$TLS_B" 60
  TEMPORAL_TLS_CA=$CONF_DIR/tls/ca.pem TEMPORAL_TLS_SERVER_NAME=$TLS_NAME admin namespace "127.0.0.1:$TLS_B" default
}

cluster_written() { [ "$("$DIST_DIR/pg.sh" psql -d temporal -tAc 'SELECT count(*) FROM cluster_metadata_info')" != 0 ]; }

start() {
  [ $# -gt 0 ] || set -- "${SERVICES[@]}"
  local s first=
  for s in "$@"; do
    if alive "$P-$s"; then echo "$P-$s already running"; continue; fi
    start_server "$P-$s" "$LOGS/$P-$s.log" "$BIN/temporal-server" --config-file "$CONF_DIR/config-$INST.yaml" --allow-no-auth start --service "$s"
    # On a fresh database the services race to write the cluster metadata and all but one die: the
    # first one started writes it before the others start.
    if [ -z "$first" ]; then
      first=1
      for _ in $(seq 1 100); do cluster_written && break; sleep 0.2; done
    fi
  done
  admin health "127.0.0.1:$((B+OFF))" 60
}

case "${1:-}" in
  build) build ;;
  setup) setup ;;
  start) shift; start "$@" ;;
  stop) shift; [ $# -gt 0 ] || set -- "${SERVICES[@]}"; for s in "$@"; do stop_server "$P-$s"; done ;;
  kill9) kill9 "$P-${2:?service}" ;;
  namespace) admin namespace "127.0.0.1:$B" "${2:-default}" ;;
  tls-setup) tls_setup ;;
  tls-start) tls_start ;;
  tls-stop) stop_server temporal-tls ;;
  status)
    for s in "${SERVICES[@]}"; do echo "$P-$s: $(server_pid "$P-$s" || echo down)"; done
    admin health "127.0.0.1:$((B+OFF))" 2 || true ;;
  *) sed -n 2,21p "$0"; exit 2 ;;
esac
