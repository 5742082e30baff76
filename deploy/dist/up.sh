#!/usr/bin/env bash
# The distributed deployment, from the package registries only, then Layer 1 on it with the shipped config
# (deploy/dist/layer1.dist.yaml, no edits): PostgreSQL (Debian) -> the Temporal server (Go module proxy), its
# four services as processes of their own on PostgreSQL, on TEMPORAL_HOSTS hosts (2) -> FerretDB on
# PostgreSQL (Go module proxy) -> a 3-node NATS JetStream cluster (PyPI) -> Layer 1's bus users installed ->
# `layer1 up` -> `layer1 status`. Idempotent: what runs is left alone, what is built is reused (the cache,
# $LAYER1_DIST_CACHE). Each step's time is printed. Stop it all with down.sh. Env: see lib.sh.
#   up.sh [--no-layer1]     --no-layer1: the servers only
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T=$(date +%s)
step() { echo "== [$(( $(date +%s) - T )) s] $*"; }

step "Layer 1 build (this clone: $REPO)"
[ -d "$REPO/node_modules" ] || (cd "$REPO" && npm ci --no-audit --no-fund)
[ -f "$REPO/dist/deploy/dist/temporal-admin.js" ] || (cd "$REPO" && npm run build)

step "binaries (built once into $LAYER1_DIST_CACHE)"
"$DIST_DIR/pg.sh" install
"$DIST_DIR/temporal.sh" build
"$DIST_DIR/store.sh" build
"$DIST_DIR/nats.sh" install

step "PostgreSQL"
"$DIST_DIR/pg.sh" start

step "Temporal server $TEMPORAL_VERSION, ${TEMPORAL_HOSTS:-2} host(s)"
"$DIST_DIR/temporal.sh" setup
"$DIST_DIR/temporal.sh" start
for i in $(seq 2 "${TEMPORAL_HOSTS:-2}"); do TEMPORAL_INSTANCE=$i "$DIST_DIR/temporal.sh" start; done
"$DIST_DIR/temporal.sh" namespace default

step "FerretDB on PostgreSQL"
"$DIST_DIR/store.sh" setup
"$DIST_DIR/store.sh" start

step "NATS cluster"
"$DIST_DIR/nats.sh" start
"$DIST_DIR/acl.sh"

if [ "${1:-}" = --no-layer1 ]; then step "servers up"; exit 0; fi

step "layer1 up (--config $LAYER1_CONFIG, state in $LAYER1_STATE_DIR)"
layer1 up
step "layer1 status"
layer1 status
step "done"
