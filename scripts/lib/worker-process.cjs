// Starts check workers (scripts/lib/check-worker.ts). Plain JavaScript, so
// scripts/lab.cjs can start one before it loads anything else: the worker
// then loads mocha, grpc-js and check-kit while the runner is still starting.
//
// A run of `npm run lab` takes a warm judge when there is one (warm-judge.ts:
// a judge started before the run, waiting on a socket only this user can
// use), and otherwise starts a judge itself and a warm judge for the next run.
"use strict";
const { spawn } = require("node:child_process");
const crypto = require("node:crypto");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { PassThrough } = require("node:stream");

const workspaceRoot = path.resolve(__dirname, "..", "..");

/** A worker waiting for its request over IPC (or, with `--listen <socket>`, a warm judge: warm-judge.ts). */
function spawnCheckWorker(args = [], options = { stdio: ["ignore", "pipe", "pipe", "ipc"] }) {
  // --expose-gc: the worker collects garbage between checks when it has grown (check-worker.ts).
  // --max-semi-space-size=2 (MB): V8's young generation stays small, so short-lived garbage is
  // collected before it grows the process (lab 03's whole tree: about 400 MB at its peak before, 360 after).
  // judge-preload.cjs: mocha and grpc-js load before tsx, which slows every later require.
  const preload = ["--require", path.join(__dirname, "judge-preload.cjs"), "--require", require.resolve("tsx/cjs")];
  return spawn(process.execPath, ["--expose-gc", "--max-semi-space-size=2", ...preload, path.join(__dirname, "check-worker.ts"), ...args], { cwd: workspaceRoot, ...options });
}

/** Every file of scripts/ (the judge's code), for the warm judge's key. */
function scriptFiles(dir = path.join(workspaceRoot, "scripts")) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    return entry.isDirectory() ? scriptFiles(file) : [file];
  });
}

/**
 * What a warm judge must have been started with to serve a run: this
 * workspace, this Node, the judge's code as it is now (scripts/ and the
 * installed packages, by size and time) and the environment it passes on
 * (the judge's settings, the browser lab 10 uses, the subject's locale).
 * A change to any of them names another warm judge; the old one notices and
 * ends (warm-judge.ts).
 */
function warmJudgeKey(env) {
  const hash = crypto.createHash("sha256");
  hash.update(`${workspaceRoot}\0${process.execPath}\0${process.version}\0`);
  for (const name of Object.keys(env).sort()) {
    if (/^(GRPC_|NODE_|UV_)|^(CHROMIUM_PATH|TZ|LANG|LC_ALL|NO_COLOR|SystemRoot|__STRYKER_ACTIVE_MUTANT__)$/.test(name)) hash.update(`${name}=${env[name]}\0`);
  }
  for (const file of [...scriptFiles(), path.join(workspaceRoot, "node_modules", ".package-lock.json")]) {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    hash.update(`${file}\0${stat?.size}\0${stat?.mtimeMs}\0`);
  }
  return hash.digest("hex").slice(0, 16);
}

/** How the sockets of this workspace's warm judges begin: one for each environment runs are started with. */
function workspacePrefix() {
  return `judge-${crypto.createHash("sha256").update(workspaceRoot).digest("hex").slice(0, 8)}-`;
}

/**
 * Where the warm judge for a run with this environment listens, or undefined
 * where there is none: on Windows (a named pipe's default access lets other
 * users in), with GRPC_LABS_WARM_JUDGE=0, when the folder for it is not
 * this user's alone (0700, owned by this user, not a link), and when its path
 * is too long for a socket.
 */
function warmJudgeSocket(env = process.env) {
  if (process.platform === "win32" || env.GRPC_LABS_WARM_JUDGE === "0") return undefined;
  const uid = process.getuid();
  const dir = path.join(os.tmpdir(), `grpc-labs-${uid}`);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if (error.code !== "EEXIST") return undefined;
  }
  const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!stat?.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) return undefined;
  const socket = path.join(dir, `${workspacePrefix()}${warmJudgeKey(env)}.sock`);
  // A socket's path has room for 104 bytes on macOS (108 on Linux): a longer temporary folder means no warm judge.
  return Buffer.byteLength(socket) < 104 ? socket : undefined;
}

/**
 * The file beside the socket where the warm judge writes its process id and
 * a random token. A runner proves with the token that it may use the judge:
 * the folder keeps other users out, and the token keeps out the learner's
 * code, which runs as this user but cannot read the file (its subject's
 * permissions), though it could reach the socket.
 */
const identityFile = (socket) => socket.replace(/\.sock$/, ".id");

/** The warm judge listening at `socket`: its process id and token, or undefined if it has written none. */
function warmJudgeIdentity(socket) {
  try {
    const [pid, token] = fs.readFileSync(identityFile(socket), "utf8").split(" ");
    return { pid: Number(pid), token };
  } catch {
    return undefined;
  }
}

/**
 * Starts a warm judge for the next run: it outlives this run and ends when
 * idle (warm-judge.ts). `afterLab`, the lab this run checked ("10-grpc-web"),
 * lets it warm up what that lab's checks need (lab.json's judgeWarmUp).
 */
function startWarmJudge(socket, afterLab) {
  try {
    spawnCheckWorker(["--listen", socket, ...(afterLab ? [afterLab] : [])], { detached: true, stdio: "ignore" }).unref();
  } catch {
    // Without one, the next run starts its own judge, as this one did.
  }
}

/** The lab this run checks (noteRunLab), for the warm judge started after it. */
let runLab;
function noteRunLab(labId) {
  runLab = labId;
}

/** Starts a warm judge once this run is over: loading it now would take CPU from this run. */
function startWarmJudgeAfterRun(socket) {
  process.once("exit", () => startWarmJudge(socket, runLab));
}

/**
 * A warm judge, reached over its socket, that looks like a ChildProcess to
 * the runner (run-checks.ts): messages, output, exit and kill go one JSON line
 * each (warm-judge.ts). If the warm judge does not serve it (gone, claimed by
 * another run, or it refused the token), it starts a judge of its own and
 * relays that one.
 */
class RemoteJudge extends EventEmitter {
  constructor(socketPath, token) {
    super();
    this.stdout = new PassThrough();
    this.stderr = new PassThrough();
    this.exitCode = null;
    this.signalCode = null;
    this.connected = true;
    this.pid = undefined;
    /** Messages for the judge, sent once the warm judge has answered the token. */
    this.pending = [];
    this.served = false;
    this.declined = false;
    this.socket = net.connect(socketPath);
    let buffered = "";
    let reached = false;
    this.socket.on("connect", () => {
      reached = true;
      // The lab the runner was asked for ("11"), as typed: a judge warmed up for another lab declines the run.
      this.socket.write(`${JSON.stringify({ token, lab: process.argv[2] })}\n`);
    });
    this.socket.on("data", (chunk) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        this.receive(JSON.parse(buffered.slice(0, newline)));
        buffered = buffered.slice(newline + 1);
      }
    });
    this.socket.on("error", () => undefined);
    this.socket.on("close", () => {
      if (this.served || this.exitCode !== null || this.signalCode !== null) return this.exited(null, "SIGKILL");
      // Not served: a judge of its own, as without a warm judge; and a new warm judge if none listens (or this one
      // declined the run: it warmed up for another lab, and ends).
      if (!reached || this.declined) startWarmJudgeAfterRun(socketPath);
      this.adopt(spawnCheckWorker());
    });
  }

  receive(frame) {
    if (frame.declined) this.declined = true;
    else if (frame.pid !== undefined) {
      this.pid = frame.pid;
      this.served = true;
      this.flush();
    } else if (frame.message !== undefined) this.emit("message", frame.message);
    else if (frame.stdout !== undefined) this.stdout.write(frame.stdout);
    else if (frame.stderr !== undefined) this.stderr.write(frame.stderr);
    else if (frame.exit !== undefined) this.exited(frame.exit[0], frame.exit[1]);
  }

  /** Relays a judge started here instead. */
  adopt(child) {
    this.local = child;
    this.pid = child.pid;
    child.stdout.pipe(this.stdout);
    child.stderr.pipe(this.stderr);
    child.on("message", (message) => this.emit("message", message));
    child.on("error", (error) => this.emit("error", error));
    child.on("exit", (code, signal) => this.exited(code, signal));
    this.flush();
  }

  exited(code, signal) {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = code === null ? signal : null;
    this.connected = false;
    // Open until this process exits: the warm judge then starts its successor, once the run is fully over.
    this.socket.unref();
    this.emit("exit", this.exitCode, this.signalCode);
  }

  send(message) {
    this.pending.push(message);
    this.flush();
    return true;
  }

  flush() {
    if (this.local) for (const message of this.pending.splice(0)) this.local.send(message);
    else if (this.served) for (const message of this.pending.splice(0)) this.socket.write(`${JSON.stringify({ message })}\n`);
  }

  kill(signal = "SIGTERM") {
    if (this.local) return this.local.kill(signal);
    // A warm judge ends when its runner hangs up.
    this.exited(null, signal);
    this.socket.destroy();
    return true;
  }
}

let prestarted;

/** Starts a worker now, or reaches the warm judge, for the check this run is about to make. */
function prestartCheckWorker() {
  if (prestarted) return;
  const socket = warmJudgeSocket();
  const identity = socket && warmJudgeIdentity(socket);
  if (identity) {
    prestarted = new RemoteJudge(socket, identity.token);
    return;
  }
  prestarted = spawnCheckWorker();
  if (socket) startWarmJudgeAfterRun(socket);
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

module.exports = { spawnCheckWorker, prestartCheckWorker, takeCheckWorker, discardPrestartedWorker, noteRunLab, warmJudgeSocket, warmJudgeIdentity, identityFile, startWarmJudge, workspacePrefix };
