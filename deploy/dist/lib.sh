# Shared by the deploy/dist scripts (sourced, not run). Loopback only; every process is started and
# stopped through its pid file under $RUN, never by name.
#
# Env (all optional):
#   DIST_STATE        state of this deployment (databases, JetStream, logs, pid files, Layer 1's state dir):
#                     default <clone>/.layer1-dist (git-ignored)
#   LAYER1_DIST_CACHE built binaries, reused by every clone: default ${LAYER1_CACHE_DIR:-~/.cache/layer1}/dist
#   DIST_RESTART      always (default): a server process that dies is started again after DIST_RESTART_SEC
#                     (5 s: long enough for Layer 1 to see the outage, two probes 1 s apart), as systemd's
#                     Restart=always would; no: it stays dead
#   PG_PORT 25432, PG_PASSWORD temporal, FERRET_PASSWORD ferretdb, STORE_PORT 25018,
#   TEMPORAL_VERSION v1.32.1, TEMPORAL_BASE_PORT 21233, NATS_BASE_PORT 25222, NATS_MONITOR_BASE 25322,
#   NATS_ROUTE_BASE 25422
# Every port is below 32768: the Temporal schema keeps membership ports as smallint, and a listener in the
# ephemeral range (32768-60999) may find its port held by a busy loopback client's source port on restart.
DIST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$DIST_DIR/../.." && pwd)
export DIST_STATE=${DIST_STATE:-$REPO/.layer1-dist}
export LAYER1_DIST_CACHE=${LAYER1_DIST_CACHE:-${LAYER1_CACHE_DIR:-$HOME/.cache/layer1}/dist}
RUN=$DIST_STATE/run
LOGS=$DIST_STATE/logs
mkdir -p "$RUN" "$LOGS"

PG_PORT=${PG_PORT:-25432}
PG_PASSWORD=${PG_PASSWORD:-temporal}
FERRET_PASSWORD=${FERRET_PASSWORD:-ferretdb}
STORE_PORT=${STORE_PORT:-25018}
TEMPORAL_VERSION=${TEMPORAL_VERSION:-v1.32.1}
TEMPORAL_BASE_PORT=${TEMPORAL_BASE_PORT:-21233}
NATS_BASE_PORT=${NATS_BASE_PORT:-25222}
NATS_MONITOR_BASE=${NATS_MONITOR_BASE:-25322}
NATS_ROUTE_BASE=${NATS_ROUTE_BASE:-25422}
DIST_RESTART=${DIST_RESTART:-always}
DIST_RESTART_SEC=${DIST_RESTART_SEC:-5}

# The shipped Layer 1 config, and its state dir inside this deployment's.
LAYER1_CONFIG=${LAYER1_CONFIG:-$DIST_DIR/layer1.dist.yaml}
export LAYER1_STATE_DIR=${LAYER1_STATE_DIR:-$DIST_STATE/layer1}

# The pid of NAME's server process (run/NAME.pid), if it is alive.
server_pid() {
  local f=$RUN/$1.pid
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}
# Whether NAME runs: its supervisor (run/NAME.sup.pid) or, with DIST_RESTART=no, its server.
alive() {
  local f=$RUN/$1.sup.pid
  if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then return 0; fi
  server_pid "$1" >/dev/null
}

# start_server NAME LOG CMD... : CMD in its own session, its pid in run/NAME.pid; with DIST_RESTART=always
# under supervise.sh (run/NAME.sup.pid), which starts it again when it dies.
start_server() {
  local name=$1 log=$2; shift 2
  if alive "$name"; then echo "$name already running (pid $(cat "$RUN/$name.pid" 2>/dev/null || echo '?'))"; return 0; fi
  if [ "$DIST_RESTART" = always ]; then
    setsid "$DIST_DIR/supervise.sh" "$RUN/$name.pid" "$DIST_RESTART_SEC" "$@" >> "$log" 2>&1 < /dev/null &
    echo $! > "$RUN/$name.sup.pid"
    for _ in $(seq 1 50); do [ -f "$RUN/$name.pid" ] && break; sleep 0.1; done
  else
    setsid "$@" >> "$log" 2>&1 < /dev/null &
    echo $! > "$RUN/$name.pid"
  fi
  echo "$name started (pid $(cat "$RUN/$name.pid"), log $log)"
}

# stop_server NAME: TERM its supervisor (which stops the server) or the server, KILL after 10 s.
stop_server() {
  local name=$1 f pid stopped=
  for f in "$RUN/$name.sup.pid" "$RUN/$name.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
      stopped=1
    fi
    rm -f "$f"
  done
  if [ -n "$stopped" ]; then echo "stopped $name"; fi
}

# kill9 NAME: a crash of NAME's server process (its supervisor, if any, starts it again).
kill9() {
  local pid
  pid=$(server_pid "$1") || { echo "$1 is not running" >&2; return 1; }
  kill -9 "$pid"
  echo "killed -9 $1 (pid $pid)"
}

# Wait until a TCP port accepts connections (up to $2 seconds, default 20).
wait_port() {
  local port=$1 t=${2:-20}
  for _ in $(seq 1 $((t * 10))); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing answers on 127.0.0.1:$port after $t s" >&2
  return 1
}

# Layer 1's CLI from this clone, on the shipped config.
layer1() { (cd "$REPO" && node bin/layer1.js --config "$LAYER1_CONFIG" "$@"); }
