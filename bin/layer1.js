#!/usr/bin/env node
// Thin launcher: the CLI is compiled by `npm install` (the `prepare` script) into dist/.
require('../dist/cli/layer1.js');
