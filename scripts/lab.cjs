#!/usr/bin/env node
// Entry point of `npm run lab`. The runner is TypeScript: tsx's CommonJS hook
// (fast, cached, no type-checking) loads it; type errors in lab code are
// reported by the runner itself with TypeScript's native compiler.
"use strict";
// The processes that started the runner (its parent and, on Linux, the
// parent's parent), noted before anything slow: `serve` stops when they end,
// even while the runner is still loading (scripts/lib/stop.ts).
globalThis.grpcLabsStartedBy = { parent: process.ppid, grandparent: parentOf(process.ppid) };

function parentOf(pid) {
  try {
    const stat = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}
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
