// Starts check workers (scripts/lib/check-worker.ts). Plain JavaScript, so
// scripts/lab.cjs can start one before it loads anything else: the worker
// then loads mocha, grpc-js and check-kit while the runner is still starting.
"use strict";
const { spawn } = require("node:child_process");
const path = require("node:path");

const workspaceRoot = path.resolve(__dirname, "..", "..");

/** A worker waiting for its request over IPC. */
function spawnCheckWorker() {
  // --expose-gc: the worker collects garbage between checks when it has grown (check-worker.ts).
  // --max-semi-space-size=2 (MB): V8's young generation stays small, so short-lived garbage is
  // collected before it grows the process (lab 03's whole tree: about 400 MB at its peak before, 360 after).
  // judge-preload.cjs: mocha and grpc-js load before tsx, which slows every later require.
  const preload = ["--require", path.join(__dirname, "judge-preload.cjs"), "--require", require.resolve("tsx/cjs")];
  return spawn(process.execPath, ["--expose-gc", "--max-semi-space-size=2", ...preload, path.join(__dirname, "check-worker.ts")], {
    cwd: workspaceRoot,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
}

let prestarted;

/** Starts a worker now, for the check this run is about to make. */
function prestartCheckWorker() {
  prestarted ??= spawnCheckWorker();
}

/** The prestarted worker if it is still there, or a new one. */
function takeCheckWorker() {
  const worker = prestarted;
  prestarted = undefined;
  return worker && worker.exitCode === null && worker.connected ? worker : spawnCheckWorker();
}

/** Stops a prestarted worker the run did not need (it would keep the runner alive). */
function discardPrestartedWorker() {
  prestarted?.kill();
  prestarted = undefined;
}

module.exports = { spawnCheckWorker, prestartCheckWorker, takeCheckWorker, discardPrestartedWorker };
