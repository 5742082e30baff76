#!/usr/bin/env bash
# supervise.sh PIDFILE RESTART_SEC CMD... : runs CMD, writes its pid to PIDFILE, and starts it again
# RESTART_SEC seconds after it dies, however it died (systemd's Restart=always). TERM or INT stops CMD
# (TERM, then KILL after 10 s) and this loop. Started by lib.sh's start_server, its own pid in NAME.sup.pid.
set -uo pipefail
pidfile=$1 delay=$2; shift 2
child=
stopping=
stop() {
  stopping=1
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill "$child" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$child" 2>/dev/null
  fi
  rm -f "$pidfile"
  exit 0
}
trap stop TERM INT
while [ -z "$stopping" ]; do
  "$@" &
  child=$!
  echo "$child" > "$pidfile"
  wait "$child"
  code=$?
  # wait returns early when a trapped signal arrives: the trap has run and exited by then.
  [ -n "$stopping" ] && break
  echo "supervise: $(basename "$1") (pid $child) exited with $code; starting it again in $delay s" >&2
  sleep "$delay" &
  wait $!
done
