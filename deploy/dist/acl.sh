#!/usr/bin/env bash
# Installs Layer 1's bus users in the NATS cluster of nats.sh: the `authorization` block that
# `layer1 bus render-acl` prints (rendered from kernels/message-bus/acl-policy.yaml, passwords kept in Layer 1's
# state dir, $LAYER1_STATE_DIR/bus/credentials.json), written to $DIST_STATE/nats/auth.conf (0600), and every
# live node reloaded. Idempotent: the passwords are generated once and kept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
out=$(layer1 bus render-acl)
block=$(printf '%s\n' "$out" | sed -n '/^authorization *{/,/^}/p')
[ -n "$block" ] || { echo "layer1 bus render-acl printed no authorization block:" >&2; printf '%s\n' "$out" | head -5 >&2; exit 1; }
umask 077
printf '%s\n' "$block" > "$DIST_STATE/nats/auth.conf.tmp" && mv "$DIST_STATE/nats/auth.conf.tmp" "$DIST_STATE/nats/auth.conf"
echo "installed $(grep -c 'user:' "$DIST_STATE/nats/auth.conf") users into $DIST_STATE/nats/auth.conf"
"$DIST_DIR/nats.sh" reload
