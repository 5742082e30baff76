#!/usr/bin/env bash
# The whole suite against the real servers: build, obtain the servers if needed, start the suite's
# own stack (test/layer1.test.yaml: its own ports and state dir), run mocha, stop the stack —
# also on failure or interruption.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent build
npm run --silent lint
node bin/layer1.js setup

cleanup() {
  node bin/layer1.js --config test/layer1.test.yaml down >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

npx mocha "$@"
