/**
 * Grading a set of submissions: for each student and lab, take the learner
 * files (submission.ts), run the instructor's checks on them in isolation
 * (sandbox.ts) and keep the result in the runner's LabResult format.
 * Labs that were not handed in, or are the unchanged starter, score 0 without
 * running. A lab job never throws: every problem becomes that lab's result.
 * Points come from the instructor's plan of each lab (its checks, listed by
 * the grader before any learner code runs): whatever a check process writes
 * is held to that plan, so no submission can add checks, points or
 * max_score.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../lib/errors";
import { type Lab, starterFile } from "../lib/labs";
import { buildResult, type CheckResult, type LabResult } from "../lib/results";
import { checkLab } from "../lib/run-checks";
import { generateStubs, genDir } from "../lib/stubs";
import type { Differences, Manifest } from "./manifest";
import { closeRun, gradeIsolated, type Limits, openRun, type Run } from "./sandbox";
import { extractLab, FileProblem, type LabSubmission, locateLabs, maxListedFiles, openSubmission, tampering } from "./submission";

export interface StudentResult {
  version: 1;
  student: string;
  /** The folder or zip graded, relative to the submissions folder. */
  source: string;
  /** A hash of what was graded and how: --resume regrades a student only when it changes. */
  key: string;
  score: number;
  max_score: number;
  /** Problems with the submission as a whole (unreadable zip, unsafe entries). */
  notes: string[];
  /** Files grading depends on that the submission changed or added (ignored by grading), or null if it is not a workspace clone. */
  tampered: Differences | null;
  labs: LabResult[];
}

export interface Submission {
  student: string;
  /** Absolute path of the folder or .zip. */
  entry: string;
}

export interface Progress {
  done: number;
  total: number;
  running: number;
}

export interface GradeOptions {
  labs: Lab[];
  limits: Limits;
  jobs: number;
  pristine: Manifest;
  /** Folders the checked code must not read (the output folder, the submissions), hidden where namespaces work. */
  hide?: string[];
  /** A finished result kept for this student and key (--resume), if any: used only if it matches the plans. */
  reuse?: (student: string, key: string) => unknown;
  /** A finished lab result kept for this student and lab key (a run that was stopped), if any: used only if it matches the plan. */
  reuseLab?: (student: string, lab: Lab, key: string) => unknown;
  /** Called with each lab result that ran as soon as it is known, to be saved. */
  onLab?: (student: string, lab: Lab, key: string, result: LabResult) => void;
  onStudent?: (result: StudentResult) => void;
  onProgress?: (progress: Progress) => void;
}

/** A lab's plan: its checks, as listed by the grader, each failing, with its points. */
export type Plans = Map<string, CheckResult[]>;

export interface Graded {
  students: StudentResult[];
  plans: Plans;
  /** How lab runs were contained ("user+pid+net namespaces", ...), and why something is missing. */
  isolation: string;
  isolationNotes: string[];
}

/** What every job of a run shares: the instructor's fresh stubs, each lab's list of checks, the run's folder. */
interface Context {
  stubs: Map<string, string>;
  plans: Plans;
  run: Run;
}

const messageLimit = 1000;

function cut(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit)} [cut]` : text;
}

/** Bounds every string a learner's code can influence, so one result cannot swamp the outputs. */
function bounded(result: LabResult): LabResult {
  return {
    ...result,
    message: result.message === null ? null : cut(result.message, messageLimit),
    tests: result.tests.map((t) => ({ ...t, message: t.message === null ? null : cut(t.message, messageLimit), output: t.output === null ? null : cut(t.output, 2100) })),
    type_errors: result.type_errors.slice(0, 20).map((e) => ({ ...e, message: cut(e.message, 500) })),
    warnings: result.warnings.slice(0, 20).map((w) => cut(w, messageLimit)),
  };
}

const outOfMemory = /Reached heap limit|heap out of memory/;

/** A check process killed by V8's heap limit (--memory) says so, instead of "ended (SIGABRT)". */
function namingMemory(result: LabResult, limits: Limits): LabResult {
  const tests = result.tests.map((t): CheckResult =>
    t.status === "fail" && outOfMemory.test(t.output ?? "") ? { ...t, message: `ran out of memory: the code used more than ${limits.memoryMb} MB during this check` } : t,
  );
  return { ...result, tests };
}

/** A result for a lab whose checks did not run (or did not finish): every check fails with the reason. */
function synthesized(lab: Lab, plan: CheckResult[], message: string, warnings: string[] = []): LabResult {
  const tests = plan.map((t): CheckResult => ({ ...t, status: "fail", message, output: null, duration_ms: 0, points: 0 }));
  return buildResult(lab, "learner", tests, { type_errors: [], warnings, message, duration_ms: 0 });
}

/** Checks about a file that could not be used fail with the reason, whatever the starter standing in for it did. */
function withProblems(lab: Lab, result: LabResult, problems: Map<string, string>, warnings: string[]): LabResult {
  const tests = result.tests.map((t): CheckResult => {
    const file = lab.steps.find((s) => s.step === t.step)?.files.find((f) => problems.has(f));
    return file ? { ...t, status: "fail", points: 0, message: `not graded: ${file} ${problems.get(file)}` } : t;
  });
  return buildResult(lab, "learner", tests, { type_errors: result.type_errors, warnings: [...result.warnings, ...warnings], message: result.message, duration_ms: result.duration_ms });
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const textOrNull = (value: unknown): string | null => (typeof value === "string" ? value : null);
const amount = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : 0);
const sum = (values: number[]) => values.reduce((total, n) => total + n, 0);

/** A plan from a result the grader trusts (a run of the instructor's starter): its checks, each failing. */
function planOf(lab: Lab, raw: unknown): CheckResult[] {
  const tests = isRecord(raw) && Array.isArray(raw.tests) ? raw.tests.filter(isRecord) : [];
  return tests.map((t) => {
    const step = typeof t.step === "number" ? t.step : 0;
    const max = typeof t.max_points === "number" && Number.isInteger(t.max_points) && t.max_points > 0 ? t.max_points : 1;
    const side = lab.steps.find((s) => s.step === step)?.side ?? "setup";
    return { id: String(t.id), name: String(t.name), step, side, status: "fail", message: null, output: null, duration_ms: 0, points: 0, max_points: max };
  });
}

/**
 * A lab result as a check process wrote it, held to the lab's plan: exactly
 * the planned checks, in order, with their names, steps and points; a check
 * earns its points only by passing; checks the plan lacks are dropped and a
 * planned check with no result fails. Score and max_score are computed here.
 */
export function conformed(lab: Lab, plan: CheckResult[], raw: unknown): LabResult {
  const given = isRecord(raw) ? raw : {};
  const reported = new Map<string, Record<string, unknown>>();
  for (const t of Array.isArray(given.tests) ? given.tests : []) if (isRecord(t) && typeof t.id === "string" && !reported.has(t.id)) reported.set(t.id, t);
  const message = isRecord(raw) ? textOrNull(given.message) : "the check process wrote no result";
  const tests = plan.map((planned): CheckResult => {
    const t = reported.get(planned.id);
    if (!t) return { ...planned, status: "fail", message: message ?? "not run: the check process did not report it", output: null, duration_ms: 0, points: 0 };
    const passed = t.status === "pass";
    return { ...planned, status: passed ? "pass" : "fail", message: textOrNull(t.message), output: textOrNull(t.output), duration_ms: amount(t.duration_ms), points: passed ? planned.max_points : 0 };
  });
  const planned = new Set(plan.map((p) => p.id));
  const unplanned = [...reported.keys()].filter((id) => !planned.has(id));
  const warnings = (Array.isArray(given.warnings) ? given.warnings : []).filter((w): w is string => typeof w === "string");
  if (unplanned.length > 0) warnings.push(`ignored results for ${unplanned.length} checks that lab ${lab.number} does not have`);
  const typeErrors = (Array.isArray(given.type_errors) ? given.type_errors : [])
    .filter(isRecord)
    .map((e) => ({ file: String(e.file), line: amount(e.line), column: amount(e.column), message: String(e.message) }));
  const result = buildResult(lab, "learner", tests, { type_errors: typeErrors, warnings, message, duration_ms: amount(given.duration_ms) });
  // The checks could not run at all (an error of the workshop, not of the learner): said as the runner says it.
  return given.status === "error" && result.status !== "pass" ? { ...result, status: "error" } : result;
}

/** Whether a kept lab result is one this grader wrote for this plan: same checks and points, consistent scores. */
export function labMatches(value: unknown, lab: Lab, plan: CheckResult[]): value is LabResult {
  if (!isRecord(value) || value.lab !== lab.id || !Array.isArray(value.tests) || value.tests.length !== plan.length) return false;
  if (!Array.isArray(value.steps) || !Array.isArray(value.type_errors) || !Array.isArray(value.warnings)) return false;
  const tests = value.tests as unknown[];
  const consistent = plan.every((planned, i) => {
    const t = tests[i];
    return (
      isRecord(t) &&
      t.id === planned.id &&
      t.name === planned.name &&
      t.step === planned.step &&
      t.max_points === planned.max_points &&
      (t.status === "pass" || t.status === "fail") &&
      t.points === (t.status === "pass" ? planned.max_points : 0)
    );
  });
  return consistent && value.score === sum(tests.map((t) => (t as CheckResult).points)) && value.max_score === sum(plan.map((p) => p.max_points));
}

/** Whether a kept student result is this grader's for this student, key, labs and plans. */
export function studentMatches(value: unknown, student: string, key: string, labs: Lab[], plans: Plans): value is StudentResult {
  if (!isRecord(value) || value.version !== 1 || value.student !== student || value.key !== key) return false;
  if (!Array.isArray(value.labs) || value.labs.length !== labs.length || !Array.isArray(value.notes) || typeof value.source !== "string") return false;
  const results = value.labs as unknown[];
  if (!labs.every((lab, i) => labMatches(results[i], lab, plans.get(lab.id) ?? []))) return false;
  const graded = results as LabResult[];
  return value.score === sum(graded.map((l) => l.score)) && value.max_score === sum(graded.map((l) => l.max_score));
}

/** Every check of a lab, without running them: checkLab on a tree with no stubs only lists them. */
export async function listChecks(lab: Lab, scratch: string): Promise<CheckResult[]> {
  return (await checkLab(lab, { target: "learner", tree: path.join(scratch, "no-stubs", lab.id) })).tests;
}

async function prepare(labs: Lab[], limits: Limits, hide: string[], jobs: number): Promise<{ context: Context; dispose: () => void }> {
  const run = openRun(hide, limits, jobs);
  const root = path.join(run.dir, "stubs");
  const context: Context = { stubs: new Map(), plans: new Map(), run };
  try {
    await Promise.all(
      labs.map(async (lab) => {
        const tree = path.join(root, lab.id);
        generateStubs(lab, tree);
        context.stubs.set(lab.id, genDir(tree));
        let plan = await listChecks(lab, root);
        if (plan.length <= 1) {
          // Checks that load learner code while loading can only be listed by running them once on the starter.
          const starter = new Map(lab.learnerFiles.map((f) => [f, fs.readFileSync(starterFile(lab, f))]));
          const outcome = await gradeIsolated(lab, starter, genDir(tree), limits, run);
          if (outcome.kind === "result") plan = planOf(lab, outcome.result);
        }
        // Points come from the plan: without one, every student would be graded on the stub step alone.
        if (plan.length <= 1) throw new UserError(`The checks of lab ${lab.number} could not be listed, so it cannot be graded: \`npm run lab ${lab.number} -- --solution\` shows why.`);
        context.plans.set(lab.id, plan);
      }),
    );
  } catch (error) {
    closeRun(run);
    throw error;
  }
  return { context, dispose: () => closeRun(run) };
}

function keyOf(options: GradeOptions, extracted: LabSubmission[], notes: string[]): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ pristine: options.pristine.hash, limits: options.limits, notes }));
  for (const lab of extracted) {
    hash.update(`\n${lab.lab.id} ${lab.submitted} ${JSON.stringify([...lab.problems])}`);
    for (const [file, content] of lab.files) hash.update(`\n${file} `).update(content);
  }
  return hash.digest("hex");
}

/** A hash of what one lab run depends on: the instructor's files, the limits and this lab's learner files. */
function labKeyOf(options: GradeOptions, part: LabSubmission): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ pristine: options.pristine.hash, limits: options.limits, lab: part.lab.id, problems: [...part.problems] }));
  for (const [file, content] of part.files) hash.update(`\n${file} `).update(content);
  return hash.digest("hex");
}

/** A first-come, first-served limit on how many lab jobs run at once. */
function semaphore(size: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active >= size) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export async function gradeSubmissions(submissions: Submission[], options: GradeOptions): Promise<Graded> {
  const jobs = Math.max(1, options.jobs);
  const { context, dispose } = await prepare(options.labs, options.limits, options.hide ?? [], jobs);
  const limit = semaphore(jobs);
  const progress: Progress = { done: 0, total: 0, running: 0 };
  const report = () => options.onProgress?.({ ...progress });
  try {
    const students = await Promise.all(
      submissions.map(async (submission) => {
        const result = await gradeStudent(submission, options, context, limit, progress, report);
        options.onStudent?.(result);
        return result;
      }),
    );
    const { isolation, notes } = context.run.containment;
    return { students, plans: context.plans, isolation, isolationNotes: notes };
  } finally {
    dispose();
  }
}

function notSubmittedMessage(lab: Lab): string {
  return `not submitted: the submission has none of ${lab.learnerFiles.map((f) => `labs/${lab.id}/${f}`).join(", ")}`;
}

async function gradeStudent(
  submission: Submission,
  options: GradeOptions,
  context: Context,
  limit: ReturnType<typeof semaphore>,
  progress: Progress,
  report: () => void,
): Promise<StudentResult> {
  const notes: string[] = [];
  let extracted: LabSubmission[] = [];
  let tampered: Differences | null = null;
  let unreadable: string | null = null;
  try {
    const source = openSubmission(submission.entry);
    try {
      const layout = locateLabs(source.paths(), options.labs);
      if (source.paths().length >= maxListedFiles) notes.push(`the submission has more than ${maxListedFiles} files: only the first ${maxListedFiles} were looked at`);
      extracted = options.labs.map((lab) => extractLab(source, layout, lab));
      tampered = tampering(source, layout, options.pristine);
      if (source.unsafe.length > 0) notes.push(`ignored ${source.unsafe.length} unsafe entries (absolute paths or ".."): ${source.unsafe.slice(0, 3).join(", ")}`);
    } finally {
      source.close();
    }
  } catch (error) {
    unreadable = error instanceof FileProblem ? `${path.basename(submission.entry)} ${error.message}` : `${path.basename(submission.entry)} could not be read: ${(error as Error).message}`;
    notes.push(unreadable);
  }
  const key = keyOf(options, extracted, notes);
  const reused = options.reuse?.(submission.student, key);
  if (reused !== undefined && studentMatches(reused, submission.student, key, options.labs, context.plans)) return reused;

  const jobs = options.labs.map(async (lab, index): Promise<LabResult> => {
    const plan = context.plans.get(lab.id) ?? [];
    const part = extracted[index];
    if (unreadable !== null || !part) return synthesized(lab, plan, `not graded: ${unreadable}`);
    const warnings = part.ignored.map((f) => `ignored ${f}: only ${lab.learnerFiles.join(", ")} are graded`);
    const problems = [...part.problems].map(([file, why]) => `${file} ${why}`);
    if (!part.submitted) return synthesized(lab, plan, notSubmittedMessage(lab));
    if (part.unchanged) {
      return synthesized(lab, plan, problems.length > 0 ? `not graded: ${problems.join("; ")}` : "not started: the files are the unchanged starter", warnings);
    }
    const labKey = labKeyOf(options, part);
    const kept = options.reuseLab?.(submission.student, lab, labKey);
    if (kept !== undefined && labMatches(kept, lab, plan)) return kept;
    progress.total++;
    report();
    const outcome = await limit(async () => {
      progress.running++;
      report();
      try {
        return await gradeIsolated(lab, part.files, context.stubs.get(lab.id)!, options.limits, context.run);
      } finally {
        progress.running--;
        progress.done++;
        report();
      }
    });
    const result = outcome.kind === "result" ? bounded(namingMemory(conformed(lab, plan, outcome.result), options.limits)) : synthesized(lab, plan, outcome.message);
    const final = withProblems(lab, result, part.problems, warnings);
    options.onLab?.(submission.student, lab, labKey, final);
    return final;
  });
  const labs = await Promise.all(jobs);
  return {
    version: 1,
    student: submission.student,
    source: path.basename(submission.entry),
    key,
    score: labs.reduce((sum, l) => sum + l.score, 0),
    max_score: labs.reduce((sum, l) => sum + l.max_score, 0),
    notes,
    tampered,
    labs,
  };
}
