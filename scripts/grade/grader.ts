/**
 * Grading a set of submissions: for each student and lab, take the learner
 * files (submission.ts), run the instructor's checks on them in isolation
 * (sandbox.ts) and keep the result in the runner's LabResult format.
 * Labs that were not handed in, or are the unchanged starter, score 0 without
 * running. A lab job never throws: every problem becomes that lab's result.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Lab, starterFile } from "../lib/labs";
import { buildResult, type CheckResult, type LabResult } from "../lib/results";
import { checkLab } from "../lib/run-checks";
import { generateStubs, genDir } from "../lib/stubs";
import type { Differences, Manifest } from "./manifest";
import { gradeIsolated, type Limits } from "./sandbox";
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
  /** A finished result to reuse for this student and key (--resume), if any. */
  reuse?: (student: string, key: string) => StudentResult | undefined;
  onStudent?: (result: StudentResult) => void;
  onProgress?: (progress: Progress) => void;
}

/** What every job of a run shares: the instructor's fresh stubs and each lab's list of checks. */
interface Context {
  stubs: Map<string, string>;
  plans: Map<string, CheckResult[]>;
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

/** Every check of a lab, without running them: checkLab on a tree with no stubs only lists them. */
export async function listChecks(lab: Lab, scratch: string): Promise<CheckResult[]> {
  return (await checkLab(lab, { target: "learner", tree: path.join(scratch, "no-stubs", lab.id) })).tests;
}

async function prepare(labs: Lab[], limits: Limits): Promise<{ context: Context; dispose: () => void }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-stubs-"));
  const context: Context = { stubs: new Map(), plans: new Map() };
  await Promise.all(
    labs.map(async (lab) => {
      const tree = path.join(root, lab.id);
      generateStubs(lab, tree);
      context.stubs.set(lab.id, genDir(tree));
      let plan = await listChecks(lab, root);
      if (plan.length <= 1) {
        // Checks that load learner code while loading can only be listed by running them once on the starter.
        const starter = new Map(lab.learnerFiles.map((f) => [f, fs.readFileSync(starterFile(lab, f))]));
        const outcome = await gradeIsolated(lab, starter, genDir(tree), limits);
        if (outcome.kind === "result") plan = outcome.result.tests;
      }
      context.plans.set(lab.id, plan);
    }),
  );
  return { context, dispose: () => fs.rmSync(root, { recursive: true, force: true }) };
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

export async function gradeSubmissions(submissions: Submission[], options: GradeOptions): Promise<StudentResult[]> {
  const { context, dispose } = await prepare(options.labs, options.limits);
  const limit = semaphore(Math.max(1, options.jobs));
  const progress: Progress = { done: 0, total: 0, running: 0 };
  const report = () => options.onProgress?.({ ...progress });
  try {
    return await Promise.all(
      submissions.map(async (submission) => {
        const result = await gradeStudent(submission, options, context, limit, progress, report);
        options.onStudent?.(result);
        return result;
      }),
    );
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
  if (reused) return reused;

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
    progress.total++;
    report();
    const outcome = await limit(async () => {
      progress.running++;
      report();
      try {
        return await gradeIsolated(lab, part.files, context.stubs.get(lab.id)!, options.limits);
      } finally {
        progress.running--;
        progress.done++;
        report();
      }
    });
    const result = outcome.kind === "result" ? bounded(namingMemory(outcome.result, options.limits)) : synthesized(lab, plan, outcome.message);
    return withProblems(lab, result, part.problems, warnings);
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
