/**
 * The judge: runs one lab's mocha checks in a child process of the runner and
 * reports each check over IPC. It never loads a learner file: the code under
 * test runs in a subject process that the judge starts and talks to
 * (check-kit/subject.ts), so nothing the learner's code does can change a
 * verdict, the plan or the score. A subject that crashes, exits, blocks or
 * outgrows its memory fails the check it was in; the next check gets a fresh
 * one.
 *
 * The runner starts the judge before it knows what to check (scripts/lab.cjs
 * does so first thing), so loading mocha, grpc-js and check-kit overlaps the
 * runner's own start; the request then comes over IPC. In watch mode one
 * judge serves many requests: each run reloads the lab's checks and gets a
 * fresh subject.
 */
import type MochaType from "mocha";
import * as path from "node:path";
import { CheckFailure, within } from "../check-kit/assert";
import { explainMessage } from "../check-kit/explain";
import { closeAll } from "../check-kit/resources";
import { stepOf } from "../check-kit/steps";
import { beginCheck, blockedReason, type CheckEvents, checkEvents, configureSubject, runningSubject, stopSubject } from "../check-kit/subject";
import { learnerLocation } from "../check-kit/target";
import { workspaceRoot } from "./labs";
import { checkId } from "./results";
import type { PlannedCheck, RunMessage, WorkerMessage, WorkerRequest } from "./worker-protocol";

const Mocha = require("mocha/lib/mocha.cjs") as typeof MochaType;
// Every lab's checks use these: load them while the runner is still starting.
require("../check-kit");

/** The runner's own code and check-kit stay loaded between runs; everything else is reloaded. */
const scriptsDir = path.resolve(__dirname, "..");
const kept = (file: string) => file.includes(`${path.sep}node_modules${path.sep}`) || file.startsWith(scriptsDir + path.sep);

function send(message: WorkerMessage, then?: () => void): void {
  if (!process.connected) return;
  if (then) process.send?.(message, then);
  else process.send?.(message);
}

function describeFailure(error: unknown, timeoutMs: number, { handlerErrors, uncaught, fault }: CheckEvents): string {
  // The subject stopped during the check: that is the cause, whatever the check saw next.
  if (fault) return fault;
  if (uncaught.length > 0 && handlerErrors.length === 0) return uncaught[0]!;
  let message: string;
  if (error instanceof CheckFailure) {
    message = error.message;
  } else if (error instanceof Error && /^Timeout of \d+ms exceeded/.test(error.message)) {
    message = `did not finish within ${timeoutMs / 1000} s: is a promise never resolved or a stream never ended?`;
  } else {
    // A raw grpc-js text ("UNAVAILABLE: No connection established ...") gets a sentence about what to check.
    const text = explainMessage(error instanceof Error ? error.message : String(error));
    const where = learnerLocation(error);
    message = `${text}${where ? ` (at ${where})` : ""}`;
  }
  return handlerErrors.length > 0 ? `${handlerErrors[0]}; so: ${message}` : message;
}

function plannedCheck(test: MochaType.Test): PlannedCheck {
  const step = stepOf(test) ?? 0;
  return { id: checkId(step, test.title), name: test.title, step };
}

function allTests(suite: MochaType.Suite): MochaType.Test[] {
  return [...suite.tests, ...suite.suites.flatMap(allTests)];
}

/** What the code under test left open (servers, sockets, timers), once it had `ms` to close it. */
async function openHandles(ms: number): Promise<string[]> {
  const subject = runningSubject();
  if (!subject) return [];
  try {
    const open = await within(subject.driver.openHandles!(ms), ms + 1000, "listing what is still open");
    return Array.isArray(open) ? open.map(String) : [];
  } catch {
    return [];
  }
}

/** One line for a check file that does not load: "labs/04-x/checks/a.check.ts:12: syntax error: ...". */
function describeCheckLoadError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // tsx (esbuild) reports syntax errors as "<abs path>:<line>:<col>: ERROR: <message>".
  const syntax = /^(.+\.ts):(\d+):\d+: ERROR: (.*)$/m.exec(message);
  if (syntax) return `${path.relative(workspaceRoot, syntax[1]!).split(path.sep).join("/")}:${syntax[2]}: syntax error: ${syntax[3]}`;
  return message.split("\n")[0]!;
}

/**
 * Streaming checks (lab 03's slow reader) leave megabytes of garbage behind: a
 * learner's laptop should not see the checks take more memory than they need.
 * Collecting after every check would cost seconds, so the worker collects only
 * when it has grown by this much since the last time.
 */
const collectAfterGrowthBytes = 32 * 1024 * 1024;
let collectAboveBytes = 100 * 1024 * 1024;

/**
 * Results of the check that just ended, sent once afterCheck's round trip to
 * the subject is over: what the learner's code reported over IPC (a handler
 * that threw) can arrive after the gRPC answer it caused, which travels on
 * TCP, and so after mocha has already failed the check.
 */
let unsentResults: Array<() => void> = [];

function sendResults(): void {
  for (const sendResult of unsentResults.splice(0)) sendResult();
}

/** After each check: close what it and the code under test opened, and keep memory in bounds. */
async function afterCheck(): Promise<void> {
  closeAll();
  const subject = runningSubject();
  if (subject) {
    try {
      await within(subject.driver.endCheck!(), 1000, "closing what the check opened");
    } catch {
      // A subject that cannot close what it opened is replaced before the next check; a silent one is blocked.
      subject.stop(subject.silentMs >= 900 ? blockedReason : "your code did not let the check close its servers and clients");
    }
  }
  sendResults();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || process.memoryUsage.rss() <= collectAboveBytes) return;
  gc();
  collectAboveBytes = process.memoryUsage.rss() + collectAfterGrowthBytes;
}

let runs = 0;
let busy = false;

function run(request: WorkerRequest): void {
  busy = true;
  // A fresh copy of the checks and of the code under test for every run.
  if (runs++ > 0) for (const file of Object.keys(require.cache)) if (!kept(file)) delete require.cache[file];
  process.env.GRPC_LABS_TARGET_DIR = request.tree;
  process.env.GRPC_LABS_LAB = request.lab;
  if (!request.listOnly) configureSubject({ tree: request.tree, labId: request.labId, checksDir: request.checksDir, sourceDirs: request.sourceDirs, memoryMb: request.subjectMemoryMb });
  const timeoutMs = request.checkTimeoutMs;

  class IpcReporter {
    constructor(runner: MochaType.Runner) {
      let current: MochaType.Test | undefined;
      let started = 0;
      runner.on("test", (test: MochaType.Test) => {
        sendResults();
        current = test;
        started = Date.now();
        beginCheck();
        send({ type: "begin", id: plannedCheck(test).id });
      });
      runner.on("pass", (test: MochaType.Test) => {
        // What the check asserted held, but an exception nobody caught or a crash of the code under test still fails it.
        const events = checkEvents();
        const duration = Date.now() - started;
        unsentResults.push(() => {
          const failure = events.fault ?? events.uncaught[0] ?? null;
          send({ type: "result", id: plannedCheck(test).id, status: failure ? "fail" : "pass", message: failure, duration_ms: duration });
        });
      });
      runner.on("fail", (runnable: MochaType.Runnable, error: unknown) => {
        // A failing hook counts against the check it ran for.
        const test = runnable instanceof Mocha.Test ? runnable : current;
        if (!test) return;
        const events = checkEvents();
        const duration = Date.now() - started;
        unsentResults.push(() => send({ type: "result", id: plannedCheck(test).id, status: "fail", message: describeFailure(error, timeoutMs, events), duration_ms: duration }));
      });
    }
  }

  const mocha = new Mocha({ timeout: timeoutMs, reporter: IpcReporter as never, rootHooks: { afterEach: afterCheck } });
  for (const file of request.checkFiles) mocha.addFile(file);
  // Loading before run() lets the plan list every check, even those a crash would stop
  // (loadFiles is public in mocha, though its type declarations mark it protected).
  try {
    (mocha as unknown as { loadFiles(): void }).loadFiles();
  } catch (error) {
    send({ type: "load-error", message: describeCheckLoadError(error) });
    return void finish(request, mocha);
  }
  // Run the steps in order, whatever order the check files load in.
  mocha.suite.suites.sort((a, b) => (stepOf(a) ?? 0) - (stepOf(b) ?? 0));
  send({ type: "plan", checks: allTests(mocha.suite).map(plannedCheck) });
  if (request.listOnly) return void finish(request, mocha);
  mocha.run(() => void finish(request, mocha));
}

async function finish(request: WorkerRequest, mocha: MochaType): Promise<void> {
  sendResults();
  closeAll();
  const open = request.listOnly ? [] : await openHandles(300);
  await stopSubject();
  if (!request.keepAlive) {
    send({ type: "done", open }, () => process.exit(0));
    return;
  }
  mocha.dispose();
  busy = false;
  send({ type: "done", open });
}

if (process.argv[2]) {
  run(JSON.parse(process.argv[2]) as WorkerRequest);
} else {
  process.on("message", (message: RunMessage) => {
    if (message.type === "run" && !busy) run(message.request);
  });
  // The runner went away (or did not need this worker): leave, unless a one-shot run is finishing.
  process.on("disconnect", () => {
    if (!busy) process.exit(0);
  });
}
