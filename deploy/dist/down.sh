#!/usr/bin/env bash
# Stops what up.sh started, each by its pid file (never by name): Layer 1 (`layer1 down`), Temporal (every
# host), FerretDB, NATS, PostgreSQL. --purge then removes the deployment's state (databases, JetStream,
# logs, Layer 1's state dir); the built binaries in $LAYER1_DIST_CACHE are kept.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
if [ -f "$REPO/dist/cli/layer1.js" ] && [ -d "$LAYER1_STATE_DIR/run" ]; then layer1 down; fi
for i in 2 1; do TEMPORAL_INSTANCE=$i "$DIST_DIR/temporal.sh" stop; done
"$DIST_DIR/store.sh" stop
"$DIST_DIR/nats.sh" stop
"$DIST_DIR/pg.sh" stop
if [ "${1:-}" = --purge ]; then
  rm -rf "$DIST_STATE"
  echo "removed $DIST_STATE (binaries kept in $LAYER1_DIST_CACHE)"
fi
