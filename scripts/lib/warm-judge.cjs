// The warm judge: keeps one judge (check-worker.ts) loaded between runs of
// `npm run lab`, so that a run finds Node, tsx, mocha, grpc-js and check-kit
// already loaded instead of loading them on the same cores as the runner and
// tsc. Every run still gets a judge of its own, used once: the kept one is
// handed to the next run that connects, and another is loaded once that run
// is over. Started by worker-process.cjs, detached; ends after 15 minutes
// without a run, or as soon as it is out of date (the judge's code, Node or
// the environment changed: its socket's name no longer matches).
//
// Usage: warm-judge.cjs <socket path>. The socket lives in a folder only this
// user can enter; beside it, a file only this user can read holds this
// process's id and a random token (worker-process.cjs). One JSON object a
// line each way: from the runner {token} first, then {message} for the judge;
// to the runner {pid} once the token matched, then {message}, {stdout},
// {stderr} and {exit: [code, signal]}. Hanging up stops that run's judge.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { identityFile, spawnCheckWorker, warmJudgeSocket } = require("./worker-process.cjs");

const socketPath = process.argv[2];
const token = crypto.randomBytes(24).toString("hex");
const idleMs = Number(process.env.GRPC_LABS_WARM_JUDGE_IDLE_MS) || 15 * 60 * 1000;
/** After a run, the next judge loads a moment later: the runner is still printing and tsc may be running. */
const refillDelayMs = 300;

let spare;
let clients = 0;
let idle;
let stopping = false;

const alive = (judge) => judge.exitCode === null && judge.signalCode === null && judge.connected;

/** Stops a judge: SIGTERM lets it remove the folder of the subject it started; SIGKILL if it has not ended 2 s later. */
function end(judge) {
  judge.kill("SIGTERM");
  setTimeout(() => judge.exitCode === null && judge.signalCode === null && judge.kill("SIGKILL"), 2000).unref();
}

function newJudge() {
  const judge = spawnCheckWorker();
  // A message to a judge that has just ended is lost, not an error of this process.
  judge.on("error", () => undefined);
  return judge;
}

function refill() {
  if (stopping || (spare && alive(spare))) return;
  const judge = newJudge();
  judge.once("exit", () => {
    if (spare === judge) spare = undefined;
  });
  // It starts the run's first subject too (check-worker.ts): the run adds only the code under test.
  judge.send({ type: "prepare" });
  spare = judge;
}

function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  if (spare && alive(spare)) spare.kill("SIGTERM");
  for (const file of [socketPath, identityFile(socketPath)]) fs.rmSync(file, { force: true });
  process.exit(0);
}

function resetIdle() {
  clearTimeout(idle);
  if (clients === 0) idle = setTimeout(stop, idleMs);
}

/** Whether a runner's token is this warm judge's, compared in constant time. */
function tokenMatches(offered) {
  const given = Buffer.from(typeof offered === "string" ? offered : "");
  const expected = Buffer.from(token);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/** A connection: served once its first line carries the token, closed otherwise. */
function admit(socket) {
  let buffered = "";
  const onData = (chunk) => {
    buffered += chunk.toString();
    const newline = buffered.indexOf("\n");
    if (newline < 0) {
      if (buffered.length > 1024) socket.destroy();
      return;
    }
    socket.off("data", onData);
    let frame;
    try {
      frame = JSON.parse(buffered.slice(0, newline));
    } catch {
      frame = {};
    }
    if (!tokenMatches(frame.token)) return void socket.destroy();
    serve(socket, buffered.slice(newline + 1));
  };
  socket.on("data", onData);
  socket.on("error", () => undefined);
}

/** One run: the kept judge (or a new one if it is gone) relayed to the runner on the socket. */
function serve(socket, rest) {
  clients++;
  clearTimeout(idle);
  const judge = spare && alive(spare) ? spare : newJudge();
  spare = undefined;
  /** Whether the runner sent the judge anything: one that got nothing is kept for the next run. */
  let used = false;
  const write = (frame) => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(frame)}\n`);
  };
  const onStdout = (chunk) => write({ stdout: chunk.toString() });
  const onStderr = (chunk) => write({ stderr: chunk.toString() });
  const onMessage = (message) => write({ message });
  const onExit = (code, signal) => {
    write({ exit: [code, signal] });
    socket.end();
  };
  judge.stdout.on("data", onStdout);
  judge.stderr.on("data", onStderr);
  judge.on("message", onMessage);
  judge.on("exit", onExit);
  write({ pid: judge.pid });

  let buffered = rest;
  const onData = (chunk) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      let frame;
      try {
        frame = JSON.parse(buffered.slice(0, newline));
      } catch {
        return void socket.destroy();
      }
      buffered = buffered.slice(newline + 1);
      if (frame.message !== undefined && alive(judge)) {
        used = true;
        judge.send(frame.message);
      }
    }
  };
  socket.on("data", onData);
  onData("");
  socket.on("close", () => {
    judge.stdout.off("data", onStdout);
    judge.stderr.off("data", onStderr);
    judge.off("message", onMessage);
    judge.off("exit", onExit);
    if (!used && alive(judge) && !spare) spare = judge;
    else if (alive(judge)) end(judge);
    clients--;
    setTimeout(refill, refillDelayMs);
    resetIdle();
  });
}

const server = net.createServer(admit);

function listen(retry) {
  server.once("error", (error) => {
    if (error.code !== "EADDRINUSE" || !retry) process.exit(1);
    // Another warm judge may be listening there already; if none answers, the socket is stale.
    const probe = net.connect(socketPath);
    probe.on("connect", () => process.exit(0));
    probe.on("error", () => {
      fs.rmSync(socketPath, { force: true });
      listen(false);
    });
  });
  server.listen(socketPath, () => {
    fs.chmodSync(socketPath, 0o600);
    fs.writeFileSync(identityFile(socketPath), `${process.pid} ${token}`, { mode: 0o600 });
    refill();
    resetIdle();
  });
}

// Out of date (the judge's code, Node or the environment changed) or its socket removed: end once no run is using it.
setInterval(() => {
  if (clients === 0 && (warmJudgeSocket() !== socketPath || !fs.existsSync(socketPath))) stop();
}, 30000).unref();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Whatever goes wrong here, the runs fall back to judges of their own: leave no socket behind.
process.on("uncaughtException", stop);
process.chdir(path.resolve(__dirname, "..", ".."));
listen(true);
