/**
 * `npm run grade`: grades this workspace, a class of submissions
 * (--submissions), or writes the GitHub Classroom workflow. See
 * docs/instructor-guide.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { UserError } from "../lib/errors";
import { findLab, type Lab, listLabs, workspaceRoot } from "../lib/labs";
import { classroomReport, classroomResult, classroomWorkflow } from "./classroom";
import { gradeSubmissions, listChecks, type Progress, type StudentResult, type Submission } from "./grader";
import { compareManifests, computeManifest, manifestFile, readManifest, writeManifest } from "./manifest";
import {
  classResults,
  feedbackMarkdown,
  fileNameOf,
  gradesCsv,
  type Integrity,
  integrityLine,
  junitXml,
  labTrouble,
  markdownSummary,
  scoreTable,
  writeAtomic,
} from "./outputs";
import { reportHtml } from "./report-html";
import { killAll, type Limits } from "./sandbox";
import { ResultStore } from "./store";

/**
 * One lab run more than there are cores: each run waits part of the time (deadlines, a student's
 * hanging handler), and the extra one uses a core meanwhile (docs/performance.md, "Grading").
 */
const defaultJobs = (os.availableParallelism?.() ?? os.cpus().length) + 1;

export const usage = `Usage (npm passes everything after -- to the grader):
  npm run grade                                   grade this workspace: every lab, as an instructor would
  npm run grade -- --labs 01,03                   only these labs
  npm run grade -- --submissions DIR --out DIR2   grade a class: DIR holds a folder or .zip a student
  npm run grade -- --github-classroom             write .github/workflows/classroom.yml
  npm run grade -- --write-manifest               record the pristine checks, runner, tests and solutions
Options:
  --out DIR          where results go (default: grade-results/ for this workspace)
  --jobs N           labs graded at once (default: one more than the cores, ${defaultJobs} here)
  --timeout S        time limit a lab, in seconds (default 60)
  --memory MB        heap limit of each check process (default 512)
  --resume           keep the results of students already graded in DIR2
  --classroom-result also write the result for GitHub Classroom's reporter to $GITHUB_OUTPUT
  --classroom-report lab-01,lab-02   sum up those results for GitHub Classroom (the workflow's last step)`;

interface Options {
  labs: Lab[];
  out?: string;
  submissions?: string;
  jobs: number;
  limits: Limits;
  resume: boolean;
  classroomResult: boolean;
}

function positiveNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new UserError(`${name} takes a positive number, not "${value}".`);
  return number;
}

function selectLabs(list: string | undefined): Lab[] {
  const all = listLabs();
  if (!list) return all;
  return list
    .split(",")
    .filter((s) => s.trim())
    .map((query) => findLab(query, all));
}

const elapsed = (ms: number) => (ms >= 60_000 ? `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s` : `${(ms / 1000).toFixed(1)}s`);

/** A one-line progress bar with an estimate, only on a terminal. */
function progressBar(): { update: (p: Progress) => void; clear: () => void } {
  if (!process.stdout.isTTY) return { update: () => undefined, clear: () => undefined };
  const started = Date.now();
  let shown = false;
  return {
    update: ({ done, total, running }) => {
      const width = 24;
      const filled = total === 0 ? 0 : Math.round((width * done) / total);
      const spent = Date.now() - started;
      const eta = done === 0 ? "estimating" : `about ${elapsed((spent / done) * (total - done))} left`;
      process.stdout.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} labs checked, ${running} running, ${eta}   `);
      shown = true;
    },
    clear: () => {
      if (shown) process.stdout.write("\r\u001b[2K");
    },
  };
}

function integrityOf(): Integrity {
  const actual = computeManifest();
  const expected = readManifest();
  const differences = expected ? compareManifests(expected, actual) : { changed: [], added: [], missing: [] };
  return { pristine: expected !== null && expected.hash === actual.hash, hash: actual.hash, expected: expected?.hash ?? null, differences };
}

/** The entries of a submissions folder: one folder or .zip a student. */
function listSubmissions(dir: string, out: string): { submissions: Submission[]; skipped: string[] } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`--submissions ${dir} is not a folder.`);
  const skipped: string[] = [];
  const found: Array<{ name: string; entry: string }> = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const entry = path.join(dir, name);
    // Hidden files, and the output folder when it is inside the submissions folder, are no student.
    if (name.startsWith(".") || entry === out) continue;
    const stat = fs.statSync(entry, { throwIfNoEntry: false });
    if (stat?.isDirectory()) found.push({ name, entry });
    else if (stat?.isFile() && /\.zip$/i.test(name)) found.push({ name: name.replace(/\.zip$/i, ""), entry });
    else skipped.push(name);
  }
  const counts = new Map<string, number>();
  for (const f of found) counts.set(f.name, (counts.get(f.name) ?? 0) + 1);
  // alice/ and alice.zip both: keep both, under their full entry names.
  const files = new Set<string>();
  const submissions = found.map((f) => {
    let student = counts.get(f.name)! > 1 ? path.basename(f.entry) : f.name;
    // Names that differ only in characters a file name cannot hold get a number.
    for (let n = 2; files.has(fileNameOf(student)); n++) student = `${f.name}-${n}`;
    files.add(fileNameOf(student));
    return { student, entry: f.entry };
  });
  return { submissions, skipped };
}

async function gradeClass(options: Options): Promise<number> {
  const source = path.resolve(options.submissions!);
  if (!options.out) throw new UserError("Say where the results go: --out DIR2.");
  const out = path.resolve(options.out);
  const { submissions, skipped } = listSubmissions(source, out);
  if (submissions.length === 0) throw new UserError(`${source} holds no student folder or .zip file.`);
  const integrity = integrityOf();
  if (!integrity.pristine) console.error(`Note: ${integrityLine(integrity)} Students are graded with this workspace's files as they are.`);
  const store = new ResultStore(out);
  if (!options.resume) store.clear();
  store.tidy();
  const finished = new Map<string, StudentResult>();
  const kept = new Set<StudentResult>();
  const unverified: string[] = [];
  const order = new Map(submissions.map((s, i) => [s.student, i]));
  const inOrder = () => [...finished.values()].sort((a, b) => order.get(a.student)! - order.get(b.student)!);
  const bar = progressBar();
  const started = Date.now();
  const graded = await gradeSubmissions(submissions, {
    labs: options.labs,
    limits: options.limits,
    jobs: options.jobs,
    pristine: computeManifest(),
    hide: [out, source],
    reuse: (student) => {
      if (!options.resume) return undefined;
      const saved = store.student(student);
      if (saved === undefined && store.hasStudent(student)) unverified.push(student);
      if (saved !== undefined) kept.add(saved as StudentResult);
      return saved;
    },
    reuseLab: (student, lab, key) => store.lab(student, lab, key),
    // Each lab as soon as it is known, each student as soon as all its labs are: a killed run loses nothing finished (--resume).
    onLab: (student, lab, key, result) => store.saveLab(student, lab, key, result),
    onStudent: (result) => {
      store.saveStudent(result);
      finished.set(result.student, result);
      writeAtomic(path.join(out, "grades.csv"), gradesCsv(options.labs, inOrder()));
    },
    onProgress: bar.update,
  });
  bar.clear();
  store.finish();
  // Every aggregate is written again from the results of this run or verified ones, whatever the folder held.
  const results = inOrder();
  writeAtomic(path.join(out, "grades.csv"), gradesCsv(options.labs, results));
  writeAtomic(path.join(out, "results.json"), `${JSON.stringify(classResults(options.labs, results, graded.plans, graded.isolation), null, 2)}\n`);
  writeAtomic(path.join(out, "report.html"), reportHtml(options.labs, results, undefined, graded.isolation));
  writeFeedback(path.join(out, "feedback"), options.labs, results);

  const reused = results.filter((r) => kept.has(r)).length;
  const max = results[0]?.max_score ?? 0;
  const mean = results.reduce((s, r) => s + r.score, 0) / results.length;
  console.log(
    `Graded ${results.length} ${results.length === 1 ? "student" : "students"} × ${options.labs.length} ${options.labs.length === 1 ? "lab" : "labs"} in ${elapsed(Date.now() - started)}${reused ? ` (${reused} kept from the earlier run)` : ""}; mean ${mean.toFixed(1)} / ${max}.`,
  );
  if (unverified.length) console.log(`Graded again, their saved results did not verify: ${unverified.join(", ")}.`);
  console.log(`Isolation of each lab run: ${graded.isolation}${graded.isolationNotes.length ? ` (${graded.isolationNotes.join("; ")})` : ""}.`);
  for (const r of results) {
    const troubles = r.labs.filter(labTrouble).map((l) => `lab ${l.number}: ${labTrouble(l)}`);
    const edited = r.tampered ? r.tampered.changed.length + r.tampered.added.length : 0;
    if (troubles.length || edited || r.notes.length) {
      console.log(`  ${r.student}: ${[...r.notes, ...troubles, ...(edited ? [`edited ${edited} files grading ignores`] : [])].join("; ")}`);
    }
  }
  if (skipped.length) console.log(`Skipped (not a folder or .zip): ${skipped.join(", ")}.`);
  console.log(`Wrote ${["grades.csv", "results.json", "report.html", "feedback/", "students/"].map((f) => path.join(out, f)).join(", ")}.`);
  return 0;
}

/** One feedback file a student, and none for anyone else. */
function writeFeedback(dir: string, labs: Lab[], results: StudentResult[]): void {
  const names = new Set<string>();
  for (const result of results) {
    const name = `${fileNameOf(result.student)}.md`;
    names.add(name);
    writeAtomic(path.join(dir, name), feedbackMarkdown(labs, result));
  }
  for (const name of fs.readdirSync(dir)) if (!names.has(name)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

async function gradeWorkspace(options: Options): Promise<number> {
  const out = path.resolve(options.out ?? "grade-results");
  const bar = progressBar();
  const graded = await gradeSubmissions([{ student: "workspace", entry: workspaceRoot }], {
    labs: options.labs,
    limits: options.limits,
    jobs: options.jobs,
    pristine: computeManifest(),
    hide: [out],
    onProgress: bar.update,
  });
  const student = graded.students[0];
  bar.clear();
  const results = student!.labs;
  const integrity = integrityOf();
  const summary = markdownSummary(results, integrity);
  const score = results.reduce((s, r) => s + r.score, 0);
  const max = results.reduce((s, r) => s + r.max_score, 0);
  writeAtomic(path.join(out, "results.json"), `${JSON.stringify({ version: 1, workspace: integrity, isolation: graded.isolation, score, max_score: max, labs: results }, null, 2)}\n`);
  writeAtomic(path.join(out, "junit.xml"), junitXml(results));
  writeAtomic(path.join(out, "summary.md"), summary);
  if (process.env.GITHUB_STEP_SUMMARY) fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, `${summary}\n`);
  console.log(scoreTable(results));
  console.log("");
  console.log(integrityLine(integrity));
  for (const r of results) if (labTrouble(r)) console.log(`Lab ${r.number}: ${labTrouble(r)}`);
  console.log(`Wrote ${["results.json", "junit.xml", "summary.md"].map((f) => path.join(out, f)).join(", ")}; \`npm run lab NN\` shows what failed and why.`);
  if (options.classroomResult) {
    const line = `result=${classroomResult(results)}\n`;
    if (process.env.GITHUB_OUTPUT) fs.appendFileSync(process.env.GITHUB_OUTPUT, line);
    else console.log(line.trim());
    // The points are in the result: the step itself succeeds so the next lab's step runs.
    return 0;
  }
  return results.every((r) => r.status === "pass") ? 0 : 1;
}

async function writeClassroomWorkflow(options: Options): Promise<number> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-classroom-"));
  try {
    const labs = await Promise.all(options.labs.map(async (lab) => ({ lab, points: (await listChecks(lab, scratch)).length })));
    const file = path.join(workspaceRoot, ".github", "workflows", "classroom.yml");
    writeAtomic(file, classroomWorkflow(labs, options.limits.timeoutMs / 1000));
    console.log(`Wrote ${path.relative(workspaceRoot, file)}: one step a lab (${labs.map((l) => `${l.lab.number}: ${l.points} points`).join(", ")}). Commit it to the assignment's template repository.`);
    return 0;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        submissions: { type: "string" },
        out: { type: "string" },
        labs: { type: "string" },
        jobs: { type: "string" },
        timeout: { type: "string" },
        memory: { type: "string" },
        resume: { type: "boolean" },
        "github-classroom": { type: "boolean" },
        "write-manifest": { type: "boolean" },
        "classroom-result": { type: "boolean" },
        "classroom-report": { type: "string" },
        debug: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    throw new UserError(`${(error as Error).message.split("\n")[0]!.split(". ")[0]!.replace(/\.?$/, ".")} Run \`npm run grade -- --help\` to see the options.`);
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (values["classroom-report"] !== undefined) {
    const { lines, exitCode } = classroomReport(values["classroom-report"].split(",").map((r) => r.trim()).filter(Boolean), process.env);
    for (const line of lines) console.log(line);
    return exitCode;
  }
  if (values["write-manifest"]) {
    const manifest = writeManifest();
    console.log(`Wrote ${path.relative(workspaceRoot, manifestFile)}: ${Object.keys(manifest.files).length} files, hash ${manifest.hash.slice(0, 12)}.`);
    return 0;
  }
  const options: Options = {
    labs: selectLabs(values.labs),
    out: values.out,
    submissions: values.submissions,
    jobs: Math.floor(positiveNumber(values.jobs, "--jobs", defaultJobs)),
    limits: { timeoutMs: positiveNumber(values.timeout, "--timeout", 60) * 1000, memoryMb: Math.floor(positiveNumber(values.memory, "--memory", 512)) },
    resume: values.resume === true,
    classroomResult: values["classroom-result"] === true,
  };
  if (values["github-classroom"]) return writeClassroomWorkflow(options);
  if (options.submissions) return gradeClass(options);
  return gradeWorkspace(options);
}

/** Entry point of `npm run grade`. */
export function main(argv: string[]): void {
  const stop = (signal: NodeJS.Signals) => {
    killAll();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.on("exit", killAll);
  run(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (error instanceof UserError) console.error(error.message);
      else console.error(argv.includes("--debug") ? error : `Grading failed: ${error instanceof Error ? error.message : String(error)} (add --debug for details).`);
      process.exitCode = 2;
    },
  );
}
