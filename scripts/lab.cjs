#!/usr/bin/env node
// Entry point of `npm run lab`. The runner is TypeScript: tsx's CommonJS hook
// (fast, cached, no type-checking) loads it; type errors in lab code are
// reported by the runner itself with TypeScript's native compiler.
require("tsx/cjs");
require("./lib/cli.ts").main(process.argv.slice(2));
