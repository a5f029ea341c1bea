import * as fs from "node:fs";
import * as path from "node:path";
import { type Lab, labsDir, type Side, type Target, treeDir } from "./labs";
import { buildResult, type CheckResult, checkId, type LabResult } from "./results";
import { ensureStubs, stubProblem, stubState } from "./stubs";
import { formatTypeError, type TypeError } from "./typecheck";
import { cachedTypeCheck } from "./typecheck-cache";
import { type JudgeProcess, noteRunLab, takeCheckWorker } from "./worker-process.cjs";
import { defaultSubjectMemoryMb, type PlannedCheck, type RunMessage, type WorkerMessage, type WorkerRequest } from "./worker-protocol";

/** How long one check may take before mocha fails it. Every RPC in a check has a shorter deadline. */
export const checkTimeoutMs = 5000;
/**
 * With no word from the judge for this long, something is wrong with the
 * checks themselves (the learner's code runs elsewhere and cannot block it).
 */
const silenceLimitMs = checkTimeoutMs + 5000;
/**
 * Loading the checks, before the worker sends its plan, can take seconds on a
 * loaded machine (a classroom laptop, a CI runner): give it longer.
 */
const loadLimitMs = 30000;
/** How long the worker may take to exit after its last check before it counts as leaking. */
const exitGraceMs = 1500;
const outputLimit = 2000;

export function checkFiles(lab: Lab): string[] {
  const dir = path.join(labsDir, lab.id, "checks");
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".check.ts"))
    .sort()
    .map((f) => path.join(dir, f));
}

function sideOf(lab: Lab, step: number): Side {
  return lab.steps.find((s) => s.step === step)?.side ?? "setup";
}

/** The number of the lab's stub step (the one whose side is "setup"). */
function stubStepOf(lab: Lab): number {
  return lab.steps.find((s) => s.side === "setup")?.step ?? 1;
}

function stubCheck(lab: Lab, problem: string | null): CheckResult {
  const step = stubStepOf(lab);
  const passed = problem === null;
  return {
    id: checkId(step, "stubs are generated and up to date"),
    name: "stubs are generated and up to date",
    step,
    side: "setup",
    status: passed ? "pass" : "fail",
    message: problem,
    output: null,
    duration_ms: 0,
    points: passed ? 1 : 0,
    max_points: 1,
  };
}

interface WorkerOutcome {
  checks: CheckResult[];
  warnings: string[];
}

const leakWarning =
  "Something your code started (a server, a channel or a timer) was still running after the checks: close it when you are done with it.";

/**
 * A judge kept alive between runs (watch mode): each run reloads the checks
 * in the same process, which saves starting Node, tsx, mocha and grpc-js
 * again; the code under test gets a fresh subject every run. A judge that
 * crashed or was stopped is not reused: `usable` turns false.
 */
export class CheckWorker {
  private child: JudgeProcess | undefined;

  /** The worker process, started now if there is none that can be reused. */
  process(): JudgeProcess {
    if (!this.usable) {
      this.stop();
      // The first one may have been started by scripts/lab.cjs already.
      this.child = takeCheckWorker();
    }
    return this.child!;
  }

  get usable(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null && this.child.connected;
  }

  /** Starts a new worker now if the last one cannot be reused, so the next run need not wait for it. */
  warm(): void {
    if (!this.usable) this.process();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  stop(): void {
    // SIGTERM: the judge removes the folder of the subject it started for the next run, and exits.
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    this.child = undefined;
  }
}

/** Runs the lab's checks in a worker process and turns what it reports into results. */
function runWorker(lab: Lab, request: WorkerRequest, blockedReason: string, kept?: CheckWorker, onResult?: (plan: PlannedCheck[], results: ReadonlyMap<string, CheckResult>) => void): Promise<WorkerOutcome> {
  // The warm judge started after this run warms up for this lab.
  noteRunLab(lab.id);
  const child = kept ? kept.process() : takeCheckWorker();
  const { listOnly } = request;

  const results = new Map<string, CheckResult>();
  const outputs = new Map<string, string>();
  let plan: PlannedCheck[] = [];
  /** The check begun last: what the judge itself prints is its. */
  let current: string | undefined;
  /** Checks begun and not yet reported (the judge runs several at once). */
  const inFlight = new Set<string>();
  let done = false;
  const warnings: string[] = [];
  let stderrOutsideChecks = "";
  let loadError: string | undefined;

  const keep = (id: string, chunk: string) => {
    const before = outputs.get(id) ?? "";
    if (before.length > outputLimit) return;
    const text = before + chunk;
    outputs.set(id, text.length > outputLimit ? `${text.slice(0, outputLimit)}\n[output truncated]` : text);
  };
  const capture = (chunk: Buffer) => {
    if (current) keep(current, chunk.toString());
    else stderrOutsideChecks += chunk.toString();
  };
  child.stdout!.on("data", capture);
  child.stderr!.on("data", capture);

  return new Promise((resolve) => {
    let silence: NodeJS.Timeout | undefined;
    let stopReason: string | undefined;
    const resetSilence = (limitMs = silenceLimitMs) => {
      clearTimeout(silence);
      silence = setTimeout(() => {
        stopReason =
          plan.length === 0
            ? `did not load within ${loadLimitMs / 1000} s: does a file run an endless loop when it is loaded?`
            : "did not finish: the checks stopped answering (is the machine very busy?)";
        child.kill("SIGKILL");
      }, limitMs);
    };

    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(silence);
      child.stdout!.off("data", capture);
      child.stderr!.off("data", capture);
      child.off("message", onMessage);
      child.off("exit", settle);
      child.off("error", onError);
      const unfinished =
        stopReason ??
        (done ? undefined : `the check process ended (${signal ?? `exit code ${code}`}) during this check`);
      const checks = plan.map((planned): CheckResult => {
        const result = results.get(planned.id);
        const output = outputs.get(planned.id)?.trim() || null;
        if (result) return { ...result, output };
        const message = listOnly
          ? blockedReason
          : inFlight.has(planned.id) && unfinished
            ? unfinished
            : "not run: an earlier check stopped the check process";
        return {
          id: planned.id,
          name: planned.name,
          step: planned.step,
          side: sideOf(lab, planned.step),
          status: "fail",
          message,
          output,
          duration_ms: 0,
          points: 0,
          max_points: 1,
        };
      });
      if (plan.length === 0) {
        const reason = loadError ?? stopReason ?? stderrOutsideChecks.trim().split("\n").find((l) => l.trim()) ?? (signal ? `stopped by ${signal}` : `exit code ${code}`);
        warnings.push(`The checks could not be loaded: ${reason}`);
      }
      resolve({ checks, warnings });
    };

    const onMessage = (message: WorkerMessage) => {
      resetSilence();
      switch (message.type) {
        case "plan":
          plan = message.checks;
          break;
        case "load-error":
          loadError = message.message;
          break;
        case "begin":
          current = message.id;
          inFlight.add(message.id);
          // A check run again (alone, after a fault it shared) keeps only what it prints this time.
          outputs.delete(message.id);
          break;
        case "output":
          if (message.id !== null) keep(message.id, message.text);
          else if (message.stream === "stderr") stderrOutsideChecks += message.text;
          break;
        case "result": {
          inFlight.delete(message.id);
          const planned = plan.find((p) => p.id === message.id);
          const previous = results.get(message.id);
          if (!planned || previous?.status === "fail") break;
          results.set(message.id, {
            id: message.id,
            name: planned.name,
            step: planned.step,
            side: sideOf(lab, planned.step),
            status: message.status,
            message: message.message,
            output: null,
            duration_ms: message.duration_ms,
            points: message.status === "pass" ? 1 : 0,
            max_points: 1,
            ...(message.wire ? { wire: message.wire } : {}),
          });
          onResult?.(plan, results);
          break;
        }
        case "done":
          done = true;
          current = undefined;
          clearTimeout(silence);
          if (message.open.length > 0) warnings.push(leakWarning);
          if (kept) {
            // A judge that leaves is not sent the next run.
            if (message.leaving) kept.stop();
            settle(null, null);
            break;
          }
          // The judge exits at once; one that does not is stopped.
          silence = setTimeout(() => child.kill("SIGKILL"), exitGraceMs);
          break;
      }
    };

    // A worker that died before it got the request: its exit settles the run.
    const onError = (error: Error) => (stderrOutsideChecks += `${error.message}\n`);
    child.on("message", onMessage);
    child.on("exit", settle);
    child.on("error", onError);
    resetSilence(loadLimitMs);
    child.send({ type: "run", request } satisfies RunMessage);
  });
}

/** A type error fails every check of the steps about that file, with file:line: message. */
function applyTypeErrors(lab: Lab, checks: CheckResult[], errors: TypeError[]): CheckResult[] {
  if (errors.length === 0) return checks;
  return checks.map((check) => {
    const files = lab.steps.find((s) => s.step === check.step)?.files ?? [];
    const relevant = errors.filter((e) => files.includes(e.file) || !lab.learnerFiles.includes(e.file));
    if (relevant.length === 0) return check;
    const first = relevant[0]!;
    // A syntax error is already reported, at the same line, by the check that could not load the file.
    if (check.status === "fail" && check.message?.includes(`${first.file}:${first.line}:`)) return check;
    const typeMessage = `type error: ${formatTypeError(first)}`;
    return {
      ...check,
      status: "fail",
      points: 0,
      message: check.status === "pass" ? typeMessage : `${typeMessage}; and: ${check.message}`,
    };
  });
}

export interface CheckOptions {
  target: Target;
  /** Check the code in this folder instead of the target's usual one (grading and the runner's own tests). */
  tree?: string;
  /** Run the checks in this kept-alive worker (watch mode) instead of a one-shot process. */
  worker?: CheckWorker;
  /** Run these check files instead of the lab's (the runner's own tests). */
  checkFiles?: string[];
  /** Stop the learner's code above this resident size (grading's --memory). */
  subjectMemoryMb?: number;
  /** How many subjects the checks share (grading: 1); the judge's default when absent. */
  subjects?: number;
  /** A graded run (WorkerRequest.graded). */
  graded?: boolean;
  /**
   * Called once, while the other checks still run, when the step the learner
   * is on is known to fail: every check of the steps before it passed (or,
   * not done yet, passed last time: passedLastTime), and one of its own
   * failed. The result holds the checks reported so far; the others are
   * "still running". Watch mode shows it at once.
   */
  onFirstFailingStep?: (result: LabResult, step: number) => void;
  /**
   * Watch mode: the checks that passed in the run before this one. A step
   * that fails is the step the learner is on when every step before it
   * passed then, so it is shown while those checks run again; the final
   * report has their verdict (a step before it may fail after all).
   */
  passedLastTime?: ReadonlySet<string>;
  /**
   * Called with the check results when they are ready before the type-check
   * (watch mode shows them at once); the returned result adds the type errors.
   */
  onChecksFirst?: (result: LabResult) => void;
}

/** The message of a check not reported yet, in an early result (onFirstFailingStep). */
export const stillRunning = "still running";

/** The ids of the checks that passed (the next watch run's passedLastTime). */
export const passedChecks = (result: LabResult): Set<string> => new Set(result.tests.filter((t) => t.status === "pass").map((t) => t.id));

/** Checks one lab: the stub step, then the learner's server and client, then types. */
export async function checkLab(lab: Lab, { target, tree = treeDir(lab, target), worker, checkFiles: files, onChecksFirst, onFirstFailingStep, passedLastTime, subjectMemoryMb = defaultSubjectMemoryMb, subjects, graded }: CheckOptions): Promise<LabResult> {
  const started = Date.now();
  // The reference solution is always checked with fresh stubs; a learner is told to run the stub step.
  if (target === "solution") ensureStubs(lab, tree);
  const state = stubState(lab, tree);
  const problem = state === "fresh" ? null : stubProblem(lab, tree, state);

  const types = problem ? Promise.resolve<TypeError[]>([]) : cachedTypeCheck(tree);
  const request: WorkerRequest = {
    checkFiles: files ?? checkFiles(lab),
    tree,
    lab: lab.number,
    labId: lab.id,
    checksDir: path.join(labsDir, lab.id, "checks"),
    sourceDirs: [...new Set([...lab.learnerFiles.map((file) => file.split("/")[0]!), "gen"])],
    subjectMemoryMb,
    listOnly: problem !== null,
    checkTimeoutMs,
    subjects: subjects ?? lab.subjects,
    graded,
    keepAlive: worker !== undefined,
  };
  let typesDone = false;
  void types.then(() => (typesDone = true));
  let earlyShown = false;
  const early = (plan: PlannedCheck[], results: ReadonlyMap<string, CheckResult>) => {
    if (earlyShown || !onFirstFailingStep) return;
    const failing = [...results.values()].filter((r) => r.status === "fail").map((r) => r.step);
    if (failing.length === 0) return;
    const step = Math.min(...failing);
    const passed = (id: string) => (results.has(id) ? results.get(id)!.status === "pass" : passedLastTime?.has(id) === true);
    if (!plan.filter((p) => p.step < step).every((p) => passed(p.id))) return;
    earlyShown = true;
    const checks = plan.map(
      (p): CheckResult =>
        results.get(p.id) ?? { id: p.id, name: p.name, step: p.step, side: sideOf(lab, p.step), status: "fail", message: stillRunning, output: null, duration_ms: 0, points: 0, max_points: 1 },
    );
    onFirstFailingStep(buildResult(lab, target, [stubCheck(lab, problem), ...checks], { type_errors: [], warnings: [], message: null, duration_ms: Date.now() - started }), step);
  };
  const outcome = await runWorker(lab, request, `not run until step ${stubStepOf(lab)} passes (the stubs)`, worker, early);
  const result = (typeErrors: TypeError[]) => {
    const built = buildResult(lab, target, [stubCheck(lab, problem), ...applyTypeErrors(lab, outcome.checks, typeErrors)], {
      type_errors: typeErrors,
      warnings: outcome.warnings,
      message: outcome.checks.length === 0 ? (outcome.warnings[0] ?? "no checks found") : null,
      duration_ms: Date.now() - started,
    });
    // Without its checks a lab cannot pass or fail: that is an error of the workshop, not of the learner.
    return outcome.checks.length === 0 ? { ...built, status: "error" as const } : built;
  };
  if (onChecksFirst && !typesDone) onChecksFirst(result([]));
  return result(await types);
}
