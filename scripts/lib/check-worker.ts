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
 * runner's own start; the request then comes over IPC. Or the judge was
 * started before the run, with `--listen`, and the run claims it over a
 * socket (warm-judge.ts). In watch mode one judge serves many requests: each
 * run reloads the lab's checks and gets a fresh subject.
 */
import type MochaType from "mocha";
import * as path from "node:path";
import { CheckFailure, within } from "../check-kit/assert";
import { cleanDetails, explainMessage } from "../check-kit/explain";
import { closeAll } from "../check-kit/resources";
import { checkScope } from "../check-kit/scope";
import { ownSubjectSuites, serialSuites, stepOf, timedSuites } from "../check-kit/steps";
import { allHosts, allLanes, beginCheck, type CheckEvents, checkEvents, configureSubject, currentLane, discardPreparedSubject, type Host, hostReady, Lane, linuxCpuMs, type OutputSink, prepareSubject, replaceSubject, requiredPackages, runningSubject, stopSubject, type Subject, unfinishedLoads } from "../check-kit/subject";
import { learnerLocation, loadedFiles, loading } from "../check-kit/target";
import { checkOutputLimit } from "../subject/codec";
import { expectedDurations, lanesWanted, lastDurations, longestFirst, recordDurations } from "./check-durations";
import type { JudgeWarmUp } from "./lab-hooks";
import { kept, keptModules, notedPackages, noteLabModules, preloadLabModules } from "./judge-modules";
import { findLab, labsDir, loadLab, type Side, workspaceRoot } from "./labs";
import { checkId } from "./results";
import { listenWarm, type RunnerChannel } from "./warm-judge";
import { defaultSubjectMemoryMb, type PlannedCheck, type RunMessage, type WorkerMessage, type WorkerRequest } from "./worker-protocol";

const Mocha = require("mocha/lib/mocha.cjs") as typeof MochaType;
// Every lab's checks use these: load them while the runner is still starting.
require("../check-kit");


/** The runner this judge works for: its parent, over IPC, or the run that claimed a warm judge (warm-judge.ts). */
let runner: RunnerChannel = {
  get connected() {
    return process.connected;
  },
  send: (message, then) => (then ? process.send?.(message, then) : process.send?.(message)),
  leave: (code) => process.exit(code),
};

function send(message: WorkerMessage, then?: () => void): void {
  // With the runner gone there is no one to tell; a one-shot judge still ends (then: leave).
  if (!runner.connected) return void then?.();
  runner.send(message, then);
}

/** The sides of the steps of the lab this run checks: step number → "server" or "client". */
let stepSides = new Map<number, Side>();

/**
 * A call error a server check let through: the check's own call to the learner's server failed (a failed
 * call of the learner's client is a client check's). Said so, never as the learner's unhandled client error.
 */
function checksCallFailed(error: unknown): string | undefined {
  // grpc-js words a failed call's error "4 DEADLINE_EXCEEDED: details", and gives it the status's code and details.
  const [, name, details] = /^\d+ ([A-Z_]+): ([\s\S]*)$/.exec(error instanceof Error ? error.message : "") ?? [];
  if (!name || typeof (error as { code?: unknown }).code !== "number") return undefined;
  const advice = name === "DEADLINE_EXCEEDED" ? ": your server gave no complete answer in time; does every path call callback() or end the stream?" : "";
  // grpc-js's timings of a passed deadline ("...after 2.001s,name resolution: 0.001s,LB pick: ...") tell a learner nothing.
  const said = cleanDetails((details ?? "").replace(/,name resolution:[\s\S]*$/, ""));
  return `the check's call to your server ended with ${name}: ${said || "(no details)"}${advice}`;
}

function describeFailure(error: unknown, timeoutMs: number, { handlerErrors, uncaught, fault, wire }: CheckEvents, side?: Side): string {
  // The subject stopped during the check: that is the cause, whatever the check saw next.
  if (fault) return fault;
  if (uncaught.length > 0 && handlerErrors.length === 0) return uncaught[0]!;
  const checksCall = side === "server" ? checksCallFailed(error) : undefined;
  let message: string;
  if (error instanceof CheckFailure) {
    // What the check asserted on a recording the learner's function did not wait for is not the story: that is.
    message = wire.resolvedTooEarly() ?? error.message;
  } else if (error instanceof Error && /^Timeout of (\d+)ms exceeded/.test(error.message)) {
    // The run's limit, or the check's own (this.timeout()).
    const ms = Number(/^Timeout of (\d+)ms/.exec(error.message)?.[1] ?? timeoutMs);
    message = `did not finish within ${ms / 1000} s: is a promise never resolved or a stream never ended?`;
  } else if (checksCall) {
    message = checksCall;
  } else {
    // A raw grpc-js text ("UNAVAILABLE: No connection established ...") gets a sentence about what to check.
    const text = explainMessage(error instanceof Error ? error.message : String(error));
    const where = learnerLocation(error);
    message = `${text}${where ? ` (at ${where})` : ""}`;
  }
  return handlerErrors.length > 0 ? `${handlerErrors[0]}; so: ${message}` : message;
}

/** A failing check's wire transcript, when it made or received a call. */
function wireOf(failed: unknown, events: CheckEvents): { wire?: string[] } {
  const wire = failed ? events.wire.transcript() : null;
  return wire ? { wire } : {};
}

function plannedCheck(test: MochaType.Test): PlannedCheck {
  const step = stepOf(test) ?? 0;
  return { id: checkId(step, test.title), name: test.title, step };
}

function allTests(suite: MochaType.Suite): MochaType.Test[] {
  return [...suite.tests, ...suite.suites.flatMap(allTests)];
}

/** What the code under test left open (servers, sockets, timers) in every subject, once it had `ms` to close it. */
async function openHandles(ms: number): Promise<string[]> {
  const lists = await Promise.all(
    allHosts().map(async (host) => {
      const subject = host.running;
      if (!subject) return [];
      try {
        const open = await within(subject.driver.openHandles!(ms), ms + 1000, "listing what is still open");
        return Array.isArray(open) ? open.map(String) : [];
      } catch {
        return [];
      }
    }),
  );
  return lists.flat();
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
 * How many checks run at once. Checks mostly wait (deadlines, retries,
 * grace periods): a lab whose handlers never answer has a dozen checks that
 * each wait out a 2 s deadline, and only running them at once brings it near
 * that limit. Lanes open only while the checks wait (below), so checks that
 * compute do not crowd each other. GRPC_LABS_LANES overrides it (1: one
 * check after another, on mocha's runner).
 */
export const defaultLanes = 32;
/**
 * How many subjects the lanes share (about 55 MB each). One would do for
 * checks that wait; a second lets two checks compute at once on two cores
 * and keeps a fault from stopping every check. GRPC_LABS_SUBJECTS overrides it.
 */
export const defaultHosts = 2;
/**
 * Subjects a learner's run may add for checks declared ownSubject() or
 * timed(), beside the ones the other checks share. Such checks mostly wait (lab 09's
 * backends stopped, killed and silenced, its keepalive pings, grpc-js's 1 s
 * reconnect backoff: 3.7 s of waiting in 9 checks) and each needs a subject
 * to itself: in two subjects they queued behind each other, 3.1 s for the
 * solution against 2.2 s with two more. A subject adds about 40 MB to what
 * the tree takes from the machine (its proportional set size: the pages of
 * Node's code are shared). Not when grading, which runs labs side by side.
 */
export const ownSubjectHosts = 2;

/** A check that has run this long is waiting (a deadline, a retry): time to open another lane. */
const laneAfterMs = 100;
/**
 * The run's first check loads the code under test first: it counts as
 * waiting once that load is over and it has run laneAfterMs, or after this
 * long if it is still loading or has loaded nothing (with the judge and
 * subjects idle either way). A handler that never answers keeps it waiting
 * for its whole deadline. (At a fixed 250 ms the other checks of lab 02's
 * never-answers started about 100 ms later: the load takes about 60 ms.)
 */
const firstLaneAfterMs = 250;

function laneCount(): number {
  const wanted = Number(process.env.GRPC_LABS_LANES);
  return Number.isInteger(wanted) && wanted >= 1 && wanted <= 64 ? wanted : defaultLanes;
}

function hostCount(request: WorkerRequest): number {
  const wanted = Number(request.subjects ?? process.env.GRPC_LABS_SUBJECTS);
  return Number.isInteger(wanted) && wanted >= 1 && wanted <= 8 ? wanted : defaultHosts;
}

/** The subjects only checks declared ownSubject() or timed() use, after the shared ones (ownSubjectHosts). */
const ownSubjectHostCount = (request: WorkerRequest) => (request.graded || hostCount(request) === 1 ? 0 : ownSubjectHosts);

/**
 * After each check, in its lane: close what it and the code under test
 * opened, and keep memory in bounds. The check's result is sent only after
 * this round trip to the subject: what the learner's code reported over IPC
 * (a handler that threw) can arrive after the gRPC answer it caused, which
 * travels on TCP, and so after the check has already failed.
 */
/** How long a failed check waits for a call its learner's function did not wait for (wire.ts settle()). */
const settleMs = 500;

async function afterCheck(lane: Lane, failed: boolean): Promise<void> {
  if (failed) await lane.events.wire.settle(settleMs);
  lane.events.wire.end();
  closeAll();
  const subject = runningSubject(lane);
  if (subject) await endCheckIn(subject);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || process.memoryUsage.rss() <= collectAboveBytes) return;
  gc();
  collectAboveBytes = process.memoryUsage.rss() + collectAfterGrowthBytes;
}

/**
 * Has the subject close what the check opened. One that still beats and has
 * not within 1 s is held up by the learner's code, and is replaced before
 * the next check; a silent one is left to the silence rule, which tells a
 * blocked event loop from a subject waiting for a CPU (Subject).
 */
async function endCheckIn(subject: Subject): Promise<void> {
  const ended = subject.driver.endCheck!().then(
    () => true,
    () => true,
  );
  const heldAfter = Date.now() + 1000;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([ended, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 100)))]);
    clearTimeout(timer);
    if (done || !subject.alive) return;
    if (Date.now() >= heldAfter && subject.silentMs < 900) return subject.stop("your code did not let the check close its servers and clients");
  }
}

function inSuiteOf(test: MochaType.Test, suites: WeakSet<MochaType.Suite>): boolean {
  for (let suite: MochaType.Suite | undefined = test.parent; suite; suite = suite.parent) if (suites.has(suite)) return true;
  return false;
}

/** A check marked serial() runs alone, so no other check's load skews what it measures. */
const isSerial = (test: MochaType.Test) => inSuiteOf(test, serialSuites);
/** A check marked timed() runs beside others while the judge keeps time (timedLagMs). */
const isTimed = (test: MochaType.Test) => inSuiteOf(test, timedSuites);

/**
 * How late the judge's event loop may run while a timed() check runs, for
 * its verdict to stand. A judge late by this much records a wait of the
 * learner's code at most this much longer: lab 06's backoff check accepts
 * waits of 80, 160 and 320 ms for 100, 200 and 400, so only a backoff within
 * 40 ms of all three could pass (one that starts at 70 ms and doubles);
 * one that starts at 50 ms, never doubles or never waits still fails. At
 * 20 ms, the judge starting lab 06's other checks beside it was too late in
 * about a third of the runs (traced: 16 to 27 ms).
 */
const timedLagMs = 40;

/** Starts watching how late the judge's event loop runs; the function returned stops and gives the most, in ms. */
function watchJudgeLag(): () => number {
  const tickMs = 5;
  let last = performance.now();
  let most = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    most = Math.max(most, now - last - tickMs);
    last = now;
  }, tickMs);
  return () => {
    clearInterval(timer);
    return Math.max(most, performance.now() - last - tickMs);
  };
}

/** Whether the check files declare hooks of their own (before, afterEach...): then mocha's runner runs them, one check after another. */
function hasOwnHooks(suite: MochaType.Suite): boolean {
  const own = suite as unknown as Record<"_beforeAll" | "_beforeEach" | "_afterAll" | "_afterEach", unknown[]>;
  return own._beforeAll.length + own._beforeEach.length + own._afterAll.length + own._afterEach.length > 0 || suite.suites.some(hasOwnHooks);
}

/** Below this share of one core (the judge and its subjects together), the checks are mostly waiting. */
const idleBelow = 0.6;

/**
 * How busy the judge and the subjects were over the last 200 ms, as a share
 * of one core. The subjects are measured on Linux only; elsewhere the judge
 * alone tells.
 */
class LoadWindow {
  private readonly samples: Array<{ at: number; cpuMs: number }> = [];
  private readonly subjectCpu = new Map<number, number>();
  private subjectTotal = 0;

  constructor(private readonly hosts: () => readonly Host[]) {}

  sample(): number {
    const at = performance.now();
    const own = process.cpuUsage();
    for (const host of this.hosts()) {
      const pid = host.current?.pid;
      const cpu = linuxCpuMs(pid);
      if (pid === undefined || cpu === undefined) continue;
      this.subjectTotal += Math.max(0, cpu - (this.subjectCpu.get(pid) ?? cpu));
      this.subjectCpu.set(pid, cpu);
    }
    this.samples.push({ at, cpuMs: (own.user + own.system) / 1000 + this.subjectTotal });
    while (this.samples.length > 2 && at - this.samples[1]!.at >= 200) this.samples.shift();
    const first = this.samples[0]!;
    return at - first.at < 100 ? 1 : (this.samples[this.samples.length - 1]!.cpuMs - first.cpuMs) / (at - first.at);
  }
}

interface Queued {
  test: MochaType.Test;
  /**
   * Run alone in a subject: the check declared ownSubject(), or it failed on
   * a fault it shared with other checks there, and this run tells whose it was.
   */
  alone: boolean;
  /** This run is the second, after a first that failed while its subject stalled: its verdict stands. */
  again?: boolean;
  /** A timed() check whose run the judge could not time (its event loop ran late): it runs again as serial() checks do. */
  serial?: boolean;
  /**
   * Runs again after another check's code looped beside it, having passed
   * meanwhile, so it was not waiting on the loop: it may share a subject even
   * in a step where a check looped. Only where it runs depends on this; if
   * its code loops after all, that fails it alone, as any loop does.
   */
  loopFree?: boolean;
}

/**
 * A check that fails while its subject stalled this long (Subject.stalledMs:
 * its beats came late, summed), and for at least this share of the check's
 * time, did not get the time its waits assumed: a deadline of 2 s that the
 * learner's code had only 1 s of. It runs again, alone in a subject, and that
 * run is its verdict. Code that never answers leaves its subject idle, beating
 * on time: its checks fail once, at the same speed as before. Below 1.5 s, a
 * stall still leaves the code under test a quarter of a 2 s deadline, many
 * times what correct code needs, and it is what an ordinary run's start can
 * do to a subject on two cores (npm, tsc, the judge, the subjects and lab
 * 10's browser starting at once: gaps of 0.3 to 1.3 s without CPU here).
 * With 400 ms, every failing check of lab 10's starter often ran twice, and
 * the run took 11 to 14 s instead of 4 to 6; the overloads this rule is for
 * stalled subjects 1.9 to 2.5 s (docs/performance.md).
 */
const stalledRerunMs = 1500;
const stalledRerunShare = 0.2;

interface Running {
  test: MochaType.Test;
  lane: Lane;
}

/**
 * Runs the checks in up to `lanes.length` lanes at once, in step order: each
 * lane takes the next check it can place when its last one has ended (and
 * its result is sent), in the subject (host) with the fewest checks. Each
 * check runs in a check scope of its own (check-kit/scope.ts), so its
 * subject, events and resources are its own. A check marked serial() waits
 * for every lane to be idle and runs alone. One marked ownSubject() or
 * timed() runs alone in a subject, the extra ones first (ownSubjectHosts),
 * and a timed() one whose judge ran late meanwhile runs again as a serial()
 * one (timedLagMs). A check that failed on a fault
 * of a subject it shared (it crashed, blocked, or something nobody caught
 * came from no known check) runs again, alone in a subject, and that run is
 * its verdict. A loop the judge can tie to a check (Subject.busy) fails
 * that check alone: the checks held up beside it run again, and the other
 * checks of its step run alone in their subjects. An exception the judge
 * did not catch fails the check whose code threw it (by its async context),
 * or, when that cannot be told, every check running at the time.
 * `durationsOf`: the lab whose checks' durations in its last run order this
 * run (check-durations.ts) and are updated by it; none for a graded run.
 */
async function runInLanes(tests: MochaType.Test[], lanes: readonly Lane[], hosts: readonly Host[], sharedHosts: number, timeoutMs: number, durationsOf: string | undefined): Promise<void> {
  // The checks that may take longest (expectedDurations) start first; the others in step order. A serial() check runs
  // last: it runs alone, so started first it would hold back every other check, the first steps' too.
  const last = durationsOf === undefined ? new Map<string, number>() : lastDurations(durationsOf);
  const order = durationsOf === undefined ? new Map<string, number>() : expectedDurations(durationsOf);
  const ordered = longestFirst(tests, (test) => plannedCheck(test).id, order);
  // A timed() check runs beside others in a subject of its own, one of the extra ones; where there are none (a
  // graded run: labs already run side by side, and a busy judge would make it run twice), it is a serial() one.
  const timedBeside = hosts.length > sharedHosts;
  const runsSerial = (test: MochaType.Test) => isSerial(test) || (isTimed(test) && !timedBeside);
  const queue: Queued[] = [...ordered.filter((test) => !runsSerial(test)), ...ordered.filter(runsSerial)].map((test) => ({ test, alone: inSuiteOf(test, ownSubjectSuites) || isTimed(test) }));
  const serialNow = (item: Queued) => item.serial === true || runsSerial(item.test);
  const durations = new Map<string, number>();
  const passedDurations = new Map<string, number>();
  const running = new Set<Running>();
  const active = new Map<Host, number>(hosts.map((host) => [host, 0]));
  /** Hosts whose subject has started and loaded what the checks load. */
  const ready: Host[] = [];
  let hostsOpened = 0;
  let serialRunning = false;
  let wake: (() => void) | undefined;
  const changed = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };

  const onUncaught = (error: unknown) => {
    const lane = checkScope.getStore()?.lane as Lane | undefined;
    const owners = [...running].filter((r) => lane === undefined || r.lane === lane);
    for (const { test } of owners) (test as unknown as { callback?: (error: unknown) => void }).callback?.(error instanceof Error ? error : new Error(String(error)));
  };
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);

  /** Loads what the checks have loaded so far into the host's subject, for no check, so that its next check starts warm. */
  const warm = async (host: Host): Promise<void> => {
    const subject = host.running;
    if (!subject) return;
    // A lane of its own with no check, so that the loading is nobody's in the subject.
    await checkScope.run({ lane: new Lane(-1, host), resources: [] }, async () => {
      for (const file of loadedFiles) if (!unfinishedLoads.has(file)) await within(subject.driver.load!(file), 2000, "loading").catch(() => undefined);
    });
  };

  /** A subject stopped under its checks (an endless loop): the next one starts now, warm, not when the host's next check asks. */
  const rewarm = (host: Host): void => {
    const starting = queue.length > 0 ? replaceSubject(host) : undefined;
    if (starting) void starting.then(() => warm(host), () => undefined);
  };

  /** A new host's subject loads what the checks have loaded so far before its first check, so that it starts warm. */
  const openHost = (host: Host): void => {
    hostsOpened++;
    void hostReady(host)
      .then(() => (host.index === 0 ? undefined : warm(host)))
      .then(() => {
        ready.push(host);
        changed();
      });
  };

  /**
   * Steps a check of which looped (its code kept the event loop busy). The
   * step's other checks likely call the same code: each runs alone in its
   * subject, since a loop stops every check beside it, which then runs again
   * (but a check that passed beside the loop: Queued.loopFree).
   */
  const loopedSteps = new Set<number>();
  const alone = (item: Queued): boolean => item.alone || (!item.loopFree && loopedSteps.has(plannedCheck(item.test).step));
  /** Declared ownSubject() or timed(): it may also run in the hosts after the shared ones (ownSubjectHosts). */
  const declaredAlone = (item: Queued): boolean => !item.serial && (inSuiteOf(item.test, ownSubjectSuites) || isTimed(item.test));

  /** Where `item` can run now, if anywhere: the ready host with the fewest checks that it may join. */
  const place = (item: Queued): Host | undefined => {
    if (serialRunning) return undefined;
    const serial = serialNow(item);
    if (serial && running.size > 0) return undefined;
    // Checks declared alone take the hosts after the shared ones first, and a shared one only once all of those are open.
    const mayUse = (host: Host) => (declaredAlone(item) ? host.index >= sharedHosts || hostsOpened === hosts.length : host.index < sharedHosts);
    const open = ready.filter((host) => !host.exclusive && mayUse(host) && (!(serial || alone(item)) || active.get(host) === 0));
    return open.sort((a, b) => active.get(a)! - active.get(b)! || a.index - b.index)[0];
  };

  const startedAt = new Map<Running, number>();
  /** The run's first check: it loads the code under test before it waits. */
  let first: Running | undefined;
  const runOne = async (lane: Lane, item: Queued, host: Host): Promise<void> => {
    const { test } = item;
    const serial = serialNow(item);
    const entry = { test, lane };
    first ??= entry;
    running.add(entry);
    startedAt.set(entry, Date.now());
    active.set(host, active.get(host)! + 1);
    const exclusive = serial || alone(item);
    if (exclusive) host.exclusive = true;
    if (serial) serialRunning = true;
    lane.host = host;
    const id = plannedCheck(test).id;
    const subject = host.running;
    const stalledBefore = subject?.stalledMs ?? 0;
    try {
      await checkScope.run({ lane, resources: [] }, async () => {
        beginCheck(id);
        send({ type: "begin", id });
        const started = Date.now();
        // A context of its own, so this.timeout() in one check does not reach another running beside it.
        test.ctx = Object.create(test.parent!.ctx!) as MochaType.Context;
        test.on("error", () => undefined);
        const judgeLag = isTimed(test) && !serial ? watchJudgeLag() : undefined;
        const error = await new Promise<unknown>((resolve) => test.run((failure?: unknown) => resolve(failure)));
        const lateMs = judgeLag?.() ?? 0;
        const duration = Date.now() - started;
        durations.set(id, duration);
        const events = checkEvents();
        if (lane.looped) loopedSteps.add(plannedCheck(test).step);
        await afterCheck(lane, Boolean(error));
        // What the check asserted held, but an exception nobody caught or a crash of the code under test still fails it.
        const failure = error ? describeFailure(error, timeoutMs, events, stepSides.get(plannedCheck(test).step)) : (events.fault ?? events.uncaught[0] ?? null);
        const stalled = subject?.alive ? subject.stalledMs - stalledBefore : 0;
        if (failure && !item.again && stalled >= stalledRerunMs && stalled >= duration * stalledRerunShare) {
          // Its subject did not get the time the check's waits assumed (a machine running more than it has cores for).
          queue.unshift({ test: test.clone(), alone: true, again: true });
        } else if (failure && lane.shared && !item.alone) {
          // The fault was the subject's, shared with other checks: this check runs again, alone, to tell whose it was.
          queue.unshift({ test: test.clone(), alone: true });
        } else if (lane.disturbed) {
          // Another check's code looped beside it: whatever it saw meanwhile tells nothing; it runs again.
          queue.unshift({ test: test.clone(), alone: false, loopFree: !error });
        } else if (lateMs > timedLagMs) {
          // A timed() check, and the judge ran late meanwhile: what it recorded of the learner's timing may be late too.
          // It runs again as a serial() check, among them in step order.
          const step = plannedCheck(test).step;
          const before = queue.findIndex((queued) => serialNow(queued) && plannedCheck(queued.test).step > step);
          queue.splice(before < 0 ? queue.length : before, 0, { test: test.clone(), alone: true, serial: true });
        } else {
          send({ type: "result", id, status: failure ? "fail" : "pass", message: failure, duration_ms: duration, ...wireOf(failure, events) });
          if (!failure) passedDurations.set(id, duration);
          // GRPC_LABS_BAIL=1 (set by `npm run mutation` only): one failing check is enough to kill a mutant; the rest are not run.
          if (failure && process.env.GRPC_LABS_BAIL === "1") queue.length = 0;
        }
        lane.begin(undefined);
      });
    } finally {
      running.delete(entry);
      startedAt.delete(entry);
      rewarm(host);
      active.set(host, active.get(host)! - 1);
      if (exclusive) host.exclusive = false;
      if (serial) serialRunning = false;
      changed();
    }
  };

  const laneLoop = async (lane: Lane): Promise<void> => {
    for (;;) {
      if (queue.length === 0) return;
      const index = queue.findIndex((item) => place(item) !== undefined);
      const host = index < 0 ? undefined : place(queue[index]!);
      if (!host) {
        // Nothing can run now (a serial check waits for the others, a check to run alone for an idle subject): wait for a change.
        await new Promise<void>((resolve) => {
          const previous = wake;
          wake = () => {
            previous?.();
            resolve();
          };
        });
        continue;
      }
      const [item] = queue.splice(index, 1);
      await runOne(lane, item!, host);
    }
  };

  // Lanes open as checks wait: the first at once (its subject started while the checks loaded), the others once
  // every open lane has a check running longer than laneAfterMs and the judge and its subjects have been mostly
  // idle meanwhile (waiting on deadlines, retries, grace periods); then nine times as many as are open, so that
  // a dozen checks that wait out a deadline all wait at once. Checks that compute (lab 03's fan-out to 50 members)
  // stay in one lane: beside each other they would only share the same CPU. Checks that waited a second or more
  // last time (they start first) get a lane each as soon as the first check waits, however busy the judge is
  // (lanesWanted). Each lane opened after the first also opens the next host (a subject), while there are hosts
  // left to open.
  const loops: Array<Promise<void>> = [];
  const open = (lane: Lane) => {
    if (hostsOpened < sharedHosts && loops.length > 0) openHost(hosts[hostsOpened]!);
    loops.push(laneLoop(lane));
  };
  openHost(hosts[0]!);
  open(lanes[0]!);
  const load = new LoadWindow(() => hosts.slice(0, hostsOpened));
  const grow = setInterval(() => {
    const busy = load.sample();
    // Alone checks need an idle subject: a host not yet opened is one. Checks declared alone (ownSubject(), timed())
    // open the hosts after the shared ones, one at a time, while more of them wait than those hosts have idle.
    if (queue.some(alone) && hostsOpened < sharedHosts) openHost(hosts[hostsOpened]!);
    else if (hostsOpened >= sharedHosts && hostsOpened < hosts.length) {
      const idle = hosts.slice(sharedHosts, hostsOpened).filter((host) => active.get(host) === 0).length;
      if (queue.filter(declaredAlone).length > idle) openHost(hosts[hostsOpened]!);
    }
    if (loops.length >= lanes.length || queue.length === 0 || serialRunning) return;
    const now = Date.now();
    // The run's first check is loading before it waits (the code under test, grpc-js's first calls).
    const waiting = [...running].filter((r) => {
      const ms = now - (startedAt.get(r) ?? now);
      return ms >= (r === first && (loadedFiles.size === 0 || loading()) ? firstLaneAfterMs : laneAfterMs);
    });
    if (waiting.length < running.size || running.size < loops.length) return;
    const lastMs = queue.map((item) => last.get(plannedCheck(item.test).id) ?? 0);
    const wanted = lanesWanted(loops.length, lanes.length, lastMs, busy <= idleBelow);
    while (loops.length < wanted) open(lanes[loops.length]!);
  }, 25);
  try {
    // Loops are added while others run: wait until every opened one has ended.
    for (let seen = 0; seen < loops.length; ) {
      seen = loops.length;
      await Promise.all(loops);
    }
    if (durationsOf !== undefined) recordDurations(durationsOf, durations, passedDurations);
  } finally {
    clearInterval(grow);
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUncaught);
  }
}

/** What the judge passes on of a check's output (codec.ts: the runner keeps 2000 characters and says it truncated). */
const outputForwardLimit = checkOutputLimit;

let runs = 0;
/** The modules kept between runs that were loaded when this run began (judge-modules.ts). */
let keptBeforeRun = new Set<string>();
/** What this warm judge loaded for the lab of the run before it, while it waited (judge-modules.ts). */
let preloaded: { labId: string; files: string[] } | undefined;
let busy = false;
/** The lab of the run this judge served last ("10-grpc-web"). */
let servedLab: string | undefined;

/** What a warm judge started, while it waited, for a run of this lab (lab.json's judgeWarmUp). */
let warmedUp: { labId: string; module: JudgeWarmUp } | undefined;

/** A warm judge started after a run of `labId` warms up what that lab's checks need: the next run is likely of the same lab. */
function warmUpFor(labId: string | undefined): void {
  try {
    const lab = labId === undefined ? undefined : loadLab(labId);
    if (!lab?.judgeWarmUp) return;
    const module = require(path.join(labsDir, lab.id, lab.judgeWarmUp)) as JudgeWarmUp;
    module.warmUp();
    warmedUp = { labId: lab.id, module };
  } catch {
    // Nothing warmed up: the run starts what it needs, as without a warm judge.
  }
}

/** Lets go of what was warmed up unless it is for `labId`: for another lab it would only take memory from the run. */
function releaseWarmUp(labId: string | undefined): void {
  if (!warmedUp || warmedUp.labId === labId) return;
  void warmedUp.module.release().catch(() => undefined);
  warmedUp = undefined;
}

function run(request: WorkerRequest): void {
  busy = true;
  servedLab = request.labId;
  releaseWarmUp(request.labId);
  warmedUp = undefined;
  // A fresh copy of the checks and of the code under test for every run.
  if (runs++ > 0) for (const file of Object.keys(require.cache)) if (!kept(file)) delete require.cache[file];
  keptBeforeRun = new Set(keptModules());
  process.env.GRPC_LABS_TARGET_DIR = request.tree;
  process.env.GRPC_LABS_LAB = request.lab;
  stepSides = new Map(loadLab(request.labId).steps.map((step) => [step.step, step.side]));
  loadedFiles.clear();
  unfinishedLoads.clear();
  const lanes = request.lanes ?? laneCount();
  // What the learner's code prints goes to the runner tagged with the lane's check, not through this process's stdout.
  // The runner keeps 2000 characters a check: megabytes of output stop here, not on the IPC channel.
  const forwarded = new Map<string | null, number>();
  const output: OutputSink = (lane, stream, text) => {
    const id = lane?.checkId ?? null;
    const before = forwarded.get(id) ?? 0;
    if (before > outputForwardLimit) return;
    forwarded.set(id, before + text.length);
    send({ type: "output", id, stream, text: text.slice(0, outputForwardLimit + 1 - before) });
  };
  if (!request.listOnly) configureSubject({ tree: request.tree, labId: request.labId, checksDir: request.checksDir, sourceDirs: request.sourceDirs, memoryMb: request.subjectMemoryMb }, { lanes, hosts: hostCount(request) + ownSubjectHostCount(request), output });
  const timeoutMs = request.checkTimeoutMs;

  const mocha = new Mocha({ timeout: timeoutMs, reporter: SerialReporter as never });
  for (const file of request.checkFiles) mocha.addFile(file);
  // Loading before running lets the plan list every check, even those a crash would stop
  // (loadFiles is public in mocha, though its type declarations mark it protected).
  try {
    (mocha as unknown as { loadFiles(): void }).loadFiles();
  } catch (error) {
    send({ type: "load-error", message: describeCheckLoadError(error) });
    return void finish(request, mocha);
  }
  // Run the steps in order, whatever order the check files load in.
  mocha.suite.suites.sort((a, b) => (stepOf(a) ?? 0) - (stepOf(b) ?? 0));
  const tests = allTests(mocha.suite);
  send({ type: "plan", checks: tests.map(plannedCheck) });
  if (request.listOnly) return void finish(request, mocha);
  if (lanes > 1 && !hasOwnHooks(mocha.suite)) {
    void runInLanes(tests, allLanes(), allHosts(), Math.min(hostCount(request), allHosts().length), timeoutMs, request.graded ? undefined : request.labId).finally(() => void finish(request, mocha));
    return;
  }
  serialTimeoutMs = timeoutMs;
  mocha.suite.afterEach(function () {
    return afterCheck(currentLane(), this.currentTest?.state === "failed");
  });
  mocha.run(() => void finish(request, mocha));
}

let serialTimeoutMs = 5000;

/** Mocha's own runner, one check after another (one lane, or check files with hooks of their own). */
class SerialReporter {
  constructor(runner: MochaType.Runner) {
    let current: MochaType.Test | undefined;
    let started = 0;
    let events: CheckEvents | undefined;
    let failure: unknown;
    const report = () => {
      if (!current || !events) return;
      const id = plannedCheck(current).id;
      const duration = Date.now() - started;
      if (failure !== undefined) send({ type: "result", id, status: "fail", message: describeFailure(failure, serialTimeoutMs, events, stepSides.get(plannedCheck(current).step)), duration_ms: duration, ...wireOf(true, events) });
      else {
        const fault = events.fault ?? events.uncaught[0] ?? null;
        send({ type: "result", id, status: fault ? "fail" : "pass", message: fault, duration_ms: duration, ...wireOf(fault, events) });
      }
      current = undefined;
    };
    runner.on("test", (test: MochaType.Test) => {
      report();
      current = test;
      failure = undefined;
      started = Date.now();
      const id = plannedCheck(test).id;
      beginCheck(id);
      events = checkEvents();
      send({ type: "begin", id });
    });
    // The result waits for the root afterEach hook (afterCheck's round trip to the subject): sent at the next check or at the end.
    runner.on("fail", (runnable: MochaType.Runnable, error: unknown) => {
      // A failing hook counts against the check it ran for.
      if (runnable instanceof Mocha.Test && runnable !== current) return;
      if (failure === undefined) failure = error;
    });
    runner.on("end", report);
  }
}

/** How long after a kept-alive run the judge starts the next run's subject. */
const prepareDelayMs = 300;
/**
 * A kept-alive judge grows with the runs it serves (each loads the checks
 * afresh; lab 03's fan-out leaves pages behind). Resident size alone is a poor
 * sign of that: it moves with the allocator and the machine (a tiny check run
 * 200 times: +8 MB here, and once more than +24 MB on CI's machine; its live
 * data grows by about 2 MB here). So once the judge is keptGrowthLimitBytes
 * above its first run's resident size, it collects its garbage and looks at
 * what is live: it leaves when its live data (V8's heap and buffers) has
 * grown by that much too, or when it is still above the per-process budget,
 * and the next run starts a fresh judge. (Relative, since Node 26's judge
 * starts about 20 MB larger than Node 20's.)
 */
const keptGrowthLimitBytes = 24 * 1024 * 1024;
/** The memory budget of any one process (issue 12: 150 MB). */
const processBudgetBytes = 150 * 1024 * 1024;
/** What the judge held after its first run (kept-alive judges): resident, and live after collecting. */
let firstRun: { residentBytes: number; liveBytes: number } | undefined;

/** V8's live heap and the buffers it tracks, after a collection. */
function collectedLiveBytes(): number {
  global.gc?.();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

/** Whether the judge has grown too much since `first` to serve another run. Collects its garbage only when it may have. */
function grownTooMuch(first: { residentBytes: number; liveBytes: number }): boolean {
  if (process.memoryUsage.rss() <= first.residentBytes + keptGrowthLimitBytes) return false;
  return collectedLiveBytes() > first.liveBytes + keptGrowthLimitBytes || process.memoryUsage.rss() > processBudgetBytes;
}

async function finish(request: WorkerRequest, mocha: MochaType): Promise<void> {
  closeAll();
  const packages = request.listOnly ? [] : await requiredPackages();
  // What this lab's checks loaded, for the warm judge of its next run (judge-modules.ts); a judge's later runs load nothing new.
  if (runs === 1 && !request.graded) noteLabModules(request.labId, [...(preloaded?.labId === request.labId ? preloaded.files : []), ...keptModules().filter((file) => !keptBeforeRun.has(file))], packages);
  const open = request.listOnly ? [] : await openHandles(300);
  await stopSubject();
  // A kept-alive judge whose runner has gone has no next run.
  if (!request.keepAlive || !runner.connected) {
    send({ type: "done", open }, () => runner.leave(0));
    return;
  }
  firstRun ??= { residentBytes: process.memoryUsage.rss(), liveBytes: collectedLiveBytes() };
  if (grownTooMuch(firstRun)) {
    send({ type: "done", open, leaving: true }, () => runner.leave(0));
    return;
  }
  mocha.dispose();
  busy = false;
  send({ type: "done", open });
  // Watch mode: the next save's first subject starts a moment later, once the runner has shown this run. The
  // run's garbage goes then too, while the judge has nothing else to do: V8 would otherwise grow the heap run
  // after run (a tiny check 200 times: +24 MB resident, against +5 MB collecting after each run), and the
  // growth above would look real. (Grading sends the next run at once: no time to spare there.)
  setTimeout(() => {
    if (busy) return;
    global.gc?.();
    void prepareSubject(request.subjectMemoryMb, packages);
  }, prepareDelayMs).unref();
}

function receive(message: RunMessage): void {
  if (message.type === "run" && !busy) run(message.request);
}

if (process.argv[2] === "--listen") {
  listenWarm(process.argv[3]!, {
    claim: (channel) => (runner = channel),
    receive,
    prepare: () => {
      const labId = process.argv[4];
      void prepareSubject(defaultSubjectMemoryMb, labId === undefined ? [] : notedPackages(labId));
      warmUpFor(labId);
      if (labId !== undefined) preloaded = { labId, files: preloadLabModules(labId) };
    },
    servedLab: () => servedLab,
    // The runner says which lab it was asked for as it claims the judge, before its request. A judge that warmed up
    // for another lab (lab 10's browser) lets that run have a judge of its own: closing the browser while the run
    // started, and carrying what it loaded, put 160 MB in this process and 700 MB in the run's tree (lab 11 after
    // lab 10). A lab it cannot name (a command, a typo) is served, and the request releases what does not apply.
    claimedFor: (labQuery) => {
      try {
        return labQuery === undefined || !warmedUp || warmedUp.labId === findLab(labQuery).id;
      } catch {
        return true;
      }
    },
    // What a warm-up started (lab 10's browser) ends with this process: Playwright kills the browsers it launched on exit.
    stopSubjects: async () => {
      discardPreparedSubject();
      await stopSubject();
    },
  });
} else if (process.argv[2]) {
  run(JSON.parse(process.argv[2]) as WorkerRequest);
} else {
  process.on("message", receive);
  // The runner went away (or did not need this worker): leave, unless a one-shot run is finishing.
  process.on("disconnect", () => {
    if (busy) return;
    discardPreparedSubject();
    process.exit(0);
  });
  // Stopped (watch mode ends): its subjects end and their folders go, within a second.
  process.on("SIGTERM", () => {
    setTimeout(() => process.exit(143), 1000).unref();
    discardPreparedSubject();
    void stopSubject().finally(() => process.exit(143));
  });
}
