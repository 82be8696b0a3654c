#!/usr/bin/env node
// Thin launcher: the compiled entry lives in dist/ (built by `npm ci` through the prepare script).
import('../dist/main.js').then((m) => m.main(process.argv.slice(2)));
