/**
 * The warm judge: a judge (check-worker.ts) started before the run that will
 * use it, so that `npm run lab` finds Node, tsx, mocha, grpc-js, check-kit and
 * the run's first subject already loaded instead of loading them on the same
 * cores as the runner and tsc. Started detached, with `--listen <socket>`, by
 * the first run that found none (worker-process.cjs); it waits on a local
 * socket for one run. The run that connects with its token claims it: it
 * stops listening, serves that run (or, in watch mode, every run of it) as a
 * judge started by the runner would, and when the runner hangs up it starts
 * its successor, which loads while the learner reads the report, and ends.
 *
 * Who can use it: the socket lives in a folder only this user can enter, and
 * beside it a file only this user can read holds this process's id and a
 * random token, which a runner must send first (compared in constant time).
 * The learner's code runs as the same user and could reach the socket (Node's
 * permission model does not cover sockets) but cannot read the file.
 *
 * One JSON object a line each way: from the runner {token}, then {message};
 * to the runner {pid} once the token matched, then {message}, {stdout},
 * {stderr}, and {exit: [code, signal]} when the run is over; or {declined}
 * instead of {pid} when it warmed up for another lab than the runner's.
 *
 * It ends, removing its socket and token, after 15 minutes unclaimed
 * (GRPC_LABS_WARM_JUDGE_IDLE_MS), and within 30 s of being out of date (the
 * judge's code, Node or the environment changed: its socket's name no longer
 * matches, see worker-process.cjs).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { identityFile, startWarmJudge, warmJudgeIdentity, warmJudgeSocket, workspacePrefix } from "./worker-process.cjs";
import type { RunMessage, WorkerMessage } from "./worker-protocol";

/** How the judge talks to the runner it works for. */
export interface RunnerChannel {
  readonly connected: boolean;
  send(message: WorkerMessage, then?: () => void): void;
  /** The run is over: the judge ends (a warm judge once its runner has hung up). */
  leave(code: number): void;
}

export interface WarmJudgeHooks {
  /** The claiming runner's channel, from now on. */
  claim(channel: RunnerChannel): void;
  /** A message from the claiming runner. */
  receive(message: RunMessage): void;
  /** Start the next run's first subject, while waiting. */
  prepare(): void;
  /** End the judge's subjects and remove their folders. */
  stopSubjects(): Promise<void>;
  /** The lab of the run it served ("10-grpc-web"), for its successor to warm up for. */
  servedLab(): string | undefined;
  /**
   * A runner claims it for this lab as typed ("11"), if it said: whether it
   * serves that run. One that warmed up for another lab lets the run start a
   * judge of its own, and ends.
   */
  claimedFor(labQuery: string | undefined): boolean;
}

const idleMs = Number(process.env.GRPC_LABS_WARM_JUDGE_IDLE_MS) || 15 * 60 * 1000;
const staleCheckMs = 30_000;
/** After its run, the successor starts once the runner's own processes (npm) have ended: it does not compete with them. */
const successorDelayMs = 100;

export function listenWarm(socketPath: string, hooks: WarmJudgeHooks): void {
  const token = randomBytes(24).toString("hex");
  const ownsFiles = () => fs.readFileSync(identityFile(socketPath), "utf8").endsWith(` ${token}`);
  const removeFiles = () => {
    try {
      if (!ownsFiles()) return;
      fs.rmSync(socketPath, { force: true });
      fs.rmSync(identityFile(socketPath), { force: true });
    } catch {
      // Already gone, or a successor's.
    }
  };
  /** Ends the judge and its subjects; a claimed one starts its successor, a moment after its runner has gone. */
  let ending = false;
  const end = (successor: boolean) => {
    if (ending) return;
    ending = true;
    removeFiles();
    const leave = () => {
      if (successor) startWarmJudge(socketPath, hooks.servedLab());
      process.exit(0);
    };
    void hooks.stopSubjects().finally(() => setTimeout(leave, successorDelayMs));
    setTimeout(leave, 1000 + successorDelayMs).unref();
  };

  /** The runner that claimed this judge, if one has. */
  let claimedBy: net.Socket | undefined;
  /** Whether it sent a run: a runner that hangs up without one (a command that checked nothing) leaves the judge waiting. */
  let used = false;

  const server = net.createServer((socket) => {
    let buffered = "";
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      if (buffered.length > 1024 && claimedBy !== socket && !buffered.includes("\n")) return void socket.destroy();
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let frame: { token?: unknown; quit?: unknown; lab?: unknown; message?: RunMessage };
        try {
          frame = JSON.parse(line) as typeof frame;
        } catch {
          return void socket.destroy();
        }
        if (claimedBy === socket) {
          if (frame.message) receive(frame.message);
        } else if (claimedBy === undefined && !used && tokenMatches(frame.token, token)) {
          // A newer warm judge of this workspace (for runs with another environment) asks it to make room.
          if (frame.quit === true) return end(false);
          if (!hooks.claimedFor(typeof frame.lab === "string" ? frame.lab : undefined)) {
            socket.end(`${JSON.stringify({ declined: true })}\n`);
            return end(false);
          }
          claim(socket);
        } else return void socket.destroy();
      }
    });
  });

  const receive = (message: RunMessage) => {
    if (!used) {
      // One run: the next one finds the successor (or, until it listens, starts a judge of its own).
      used = true;
      server.close();
    }
    hooks.receive(message);
  };

  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  const claim = (socket: net.Socket) => {
    claimedBy = socket;
    clearTimeout(idle);
    const write = (frame: object, then?: () => void) => {
      if (socket.writable) socket.write(`${JSON.stringify(frame)}\n`, then ? () => then() : undefined);
      else then?.();
    };
    // What the judge itself prints goes to the runner, as a child's output would.
    for (const stream of ["stdout", "stderr"] as const) {
      process[stream].write = ((text: string | Uint8Array, ...rest: unknown[]) => {
        const done = rest.find((arg): arg is () => void => typeof arg === "function");
        write({ [stream]: typeof text === "string" ? text : Buffer.from(text).toString() }, done);
        return true;
      }) as typeof process.stdout.write;
    }
    hooks.claim({
      get connected() {
        return socket.writable;
      },
      send: (message, then) => write({ message }, then),
      // The runner hangs up when it exits: the successor then loads while the learner reads the report.
      leave: (code) => write({ exit: [code, null] }),
    });
    socket.on("close", () => {
      if (used) return end(true);
      // Claimed and let go unused: it waits for the next run, as before.
      claimedBy = undefined;
      Object.assign(process.stdout, { write: writes.stdout });
      Object.assign(process.stderr, { write: writes.stderr });
      idle = setTimeout(() => end(false), idleMs);
    });
    write({ pid: process.pid });
  };

  let idle = setTimeout(() => end(false), idleMs);
  const stale = setInterval(() => {
    if (claimedBy === undefined && (warmJudgeSocket() !== socketPath || !fs.existsSync(socketPath))) end(false);
  }, staleCheckMs);
  stale.unref();

  const listen = (retry: boolean) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EADDRINUSE" || !retry) return process.exit(1);
      // Another warm judge may be listening there; if none answers, the socket is stale.
      const probe = net.connect(socketPath);
      probe.on("connect", () => {
        probe.destroy();
        process.exit(0);
      });
      probe.on("error", () => {
        fs.rmSync(socketPath, { force: true });
        listen(false);
      });
    });
    server.listen(socketPath, () => {
      fs.chmodSync(socketPath, 0o600);
      fs.writeFileSync(identityFile(socketPath), `${process.pid} ${token}`, { mode: 0o600 });
      retireOthers(socketPath);
      hooks.prepare();
    });
  };
  process.on("SIGTERM", () => end(false));
  listen(true);
}

/**
 * Asks the other warm judges of this workspace, waiting for runs with another
 * environment, to end: one waits per workspace, however often the
 * environment changes (a claimed one ends with its run anyway).
 */
function retireOthers(socketPath: string): void {
  const dir = path.dirname(socketPath);
  for (const name of fs.readdirSync(dir)) {
    const other = path.join(dir, name);
    if (!name.startsWith(workspacePrefix()) || !name.endsWith(".sock") || other === socketPath) continue;
    const identity = warmJudgeIdentity(other);
    if (!identity) continue;
    const socket = net.connect(other, () => socket.end(`${JSON.stringify({ token: identity.token, quit: true })}\n`));
    socket.on("error", () => undefined);
  }
}

/** Whether a runner's token is this warm judge's, compared in constant time. */
function tokenMatches(offered: unknown, token: string): boolean {
  const given = Buffer.from(typeof offered === "string" ? offered : "");
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
