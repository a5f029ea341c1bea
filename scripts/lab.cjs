#!/usr/bin/env node
// Entry point of `npm run lab`. The runner is TypeScript: tsx's CommonJS hook
// (fast, cached, no type-checking) loads it; type errors in lab code are
// reported by the runner itself with TypeScript's native compiler.
"use strict";
const args = process.argv.slice(2);

// A command that checks a lab starts its check worker first of all, so the
// worker's start (Node, tsx, mocha, grpc-js) overlaps the runner's own.
const lightCommands = new Set(["gen", "serve", "client", "reset", "restore", "diff", "solution"]);
const positional = args.filter((a) => !a.startsWith("-"));
if (positional.length > 0 && !lightCommands.has(positional[0]) && !lightCommands.has(positional[1]) && !args.includes("--help") && !args.includes("-h")) {
  require("./lib/worker-process.cjs").prestartCheckWorker();
}

require("tsx/cjs");
require("./lib/cli.ts").main(args);
