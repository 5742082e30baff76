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

render() {
  local i=$1 o=$(( ($1 - 1) * 1000 ))
  sed -e "s/@PG_PORT@/$PG_PORT/g" -e "s/@PG_PASSWORD@/$PG_PASSWORD/g" -e "s#@STATE@#$DIST_STATE#g" \
      -e "s/@P_FRONTEND@/$((B+o))/g" -e "s/@P_HISTORY@/$((B+o+1))/g" -e "s/@P_MATCHING@/$((B+o+2))/g" -e "s/@P_WORKER@/$((B+o+6))/g" \
      -e "s/@P_FRONTEND_HTTP@/$((B+o+10))/g" -e "s/@P_FRONTEND_M@/$((B+o-10300))/g" -e "s/@P_HISTORY_M@/$((B+o-10299))/g" \
      -e "s/@P_MATCHING_M@/$((B+o-10298))/g" -e "s/@P_WORKER_M@/$((B+o-10294))/g" -e "s/@P_METRICS@/$((B+o+20))/g" \
      -e "s/rpcAddress: \"127.0.0.1:$((B+o))\"/rpcAddress: \"127.0.0.1:$B\"/" \
      "$DIST_DIR/temporal-config.yaml.tmpl" > "$CONF_DIR/config-$i.yaml"
}

setup() {
  "$DIST_DIR/pg.sh" psql -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'temporal') THEN
    CREATE ROLE temporal LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  local schema; schema=$(moddir)/schema/postgresql/v12
  {
    for db in temporal temporal_visibility; do sqltool --db "$db" create-database || true; done
    # setup-schema -v 0.0 makes the version table (it refuses, harmlessly, once it exists); update-schema
    # then applies every versioned step up to the newest one shipped with the module.
    sqltool --db temporal setup-schema -v 0.0 || true
    sqltool --db temporal update-schema -d "$schema/temporal/versioned"
    sqltool --db temporal_visibility setup-schema -v 0.0 || true
    sqltool --db temporal_visibility update-schema -d "$schema/visibility/versioned"
  } > "$LOGS/temporal-setup.log" 2>&1 || { tail -20 "$LOGS/temporal-setup.log" >&2; exit 1; }
  render 1; render 2
  # As the CLI dev server has it: search attributes added over the operator API (layer1 up registers
  # its own) are usable at once, not after the frontend's cache refreshes within a minute.
  printf 'system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n' > "$CONF_DIR/dynamicconfig.yaml"
  echo "Temporal schemas at the newest version; configs in $CONF_DIR"
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
  status)
    for s in "${SERVICES[@]}"; do echo "$P-$s: $(server_pid "$P-$s" || echo down)"; done
    admin health "127.0.0.1:$((B+OFF))" 2 || true ;;
  *) sed -n 2,16p "$0"; exit 2 ;;
esac
