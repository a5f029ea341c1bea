/**
 * `npm run mutation -- [--labs 04,05] [--concurrency 1] [--score-only]`:
 * mutation testing of the labs (docs/mutation.md). For each lab, one at a
 * time, StrykerJS mutates the reference solution's learner files
 * (solutions/NN-name/src/...) and runs the lab's own checks against every
 * mutant with the command runner (`node scripts/lab.cjs NN --solution`). A
 * mutant the checks pass is a learner bug they let through, unless it is
 * listed in solutions/NN-name/mutation-equivalents.json as equivalent.
 *
 * Writes reports/mutation/NN/ (index.html, mutation.json, stryker.config.json)
 * and prints, per lab: killed, survived, timeout, no coverage, the score and
 * the score after equivalents, then the surviving mutants that are not listed.
 * --score-only recomputes the scores from the last reports without running
 * Stryker (after editing an equivalents file).
 *
 * Stryker is pinned to 9.x: 10.x requires Node 22, the workshop supports 20.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { findLab, type Lab, listLabs, workspaceRoot } from "./lib/labs";

export const reportsRoot = "reports/mutation";
export const tempDirName = ".stryker-tmp";
export const equivalentsFileName = "mutation-equivalents.json";

// ---------------------------------------------------------------------------
// Arguments

export interface MutationArgs {
  /** Lab queries as typed ("04", "4", "errors"); empty: every lab. */
  labs: string[];
  concurrency: number;
  scoreOnly: boolean;
}

export function parseMutationArgs(argv: string[]): MutationArgs {
  const args: MutationArgs = { labs: [], concurrency: 1, scoreOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (name === "--labs" || name === "--lab") {
      const values: string[] = inline !== undefined ? [inline] : [];
      while (inline === undefined && i + 1 < argv.length && !argv[i + 1]!.startsWith("-")) values.push(argv[++i]!);
      if (values.length === 0) throw new Error(`${name} needs lab numbers, e.g. --labs 04 or --labs 01,04`);
      args.labs.push(...values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean));
    } else if (name === "--concurrency") {
      const value = Number(inline ?? argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error("--concurrency needs a whole number of at least 1");
      args.concurrency = value;
    } else if (name === "--score-only") {
      args.scoreOnly = true;
    } else {
      throw new Error(`unknown argument ${arg}; usage: npm run mutation -- [--labs 04,05] [--concurrency 1] [--score-only]`);
    }
  }
  return args;
}

// ---------------------------------------------------------------------------
// Stryker's configuration for one lab

export function reportDir(lab: Pick<Lab, "number">): string {
  return `${reportsRoot}/${lab.number}`;
}

/**
 * The learner files the learner writes: those whose solution differs from the
 * starter. A file given complete (lab 02's store.ts, lab 04's warehouse.ts:
 * "read it, but do not change it") is the same in both and is not mutated:
 * its mutants are not bugs a learner would write.
 */
export function mutatedFiles(lab: Pick<Lab, "id" | "learnerFiles">, root = workspaceRoot): string[] {
  return lab.learnerFiles.filter((file) => {
    const solution = path.join(root, "solutions", lab.id, file);
    const starter = path.join(root, "labs", lab.id, "starter", file.replace(/^src\//, ""));
    return !fs.existsSync(starter) || !fs.readFileSync(solution).equals(fs.readFileSync(starter));
  });
}

/** The Stryker configuration (JSON, paths relative to the workspace root) that mutates `lab`'s solution with its checks. */
export function strykerConfig(lab: Pick<Lab, "id" | "number" | "learnerFiles">, concurrency = 1, files = mutatedFiles(lab)): Record<string, unknown> {
  const reports = reportDir(lab);
  return {
    testRunner: "command",
    // The lab runner on the solution: exit code 0 when every check passes.
    commandRunner: { command: `node scripts/lab.cjs ${lab.number} --solution` },
    // The command runner cannot tell which check covers a mutant.
    coverageAnalysis: "off",
    concurrency,
    mutate: files.map((file) => `solutions/${lab.id}/${file}`),
    // TypeScript 7 has no compiler API, which Stryker's tsconfig preprocessor
    // calls: naming a file that does not exist skips that preprocessor.
    tsconfigFile: "stryker-has-no-tsconfig.json",
    // Stryker adds `// @ts-nocheck` to the mutated files only when they match:
    // every mutant is in the file at once, and the lab's type-check must not see them.
    disableTypeChecks: "solutions/**/*.ts",
    // Added to 1.5 times the run's own time: a mutant that hangs past every
    // check's own time-out is a timeout (a detected mutant).
    timeoutMS: 20000,
    // What the sandbox need not copy: learners' working copies, earlier reports, other tools' output.
    ignorePatterns: ["labs/*/src", "progress.json", "reports", "grade-results", "backups", ".test-trees"],
    tempDirName,
    cleanTempDir: "always",
    reporters: ["json", "html", process.stdout.isTTY ? "progress" : "progress-append-only"],
    jsonReporter: { fileName: `${reports}/mutation.json` },
    htmlReporter: { fileName: `${reports}/index.html` },
    allowConsoleColors: Boolean(process.stdout.isTTY),
  };
}

// ---------------------------------------------------------------------------
// The report (mutation-testing-report-schema) and the equivalents

export interface Position {
  line: number;
  column: number;
}

export interface ReportMutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  location: { start: Position; end: Position };
  status: string;
  /** For a killed mutant, the command's output (the lab's report). */
  statusReason?: string;
}

export interface Report {
  files: Record<string, { source: string; mutants: ReportMutant[] }>;
}

/** One mutant with the text it replaced, its file relative to the lab's solution folder (e.g. "src/server.ts"). */
export interface Mutant {
  id: string;
  file: string;
  line: number;
  column: number;
  /** The source line the mutant starts on. */
  lineText: string;
  mutator: string;
  original: string;
  replacement: string;
  status: string;
  statusReason?: string;
}

/** An entry of solutions/NN-name/mutation-equivalents.json. */
export interface Equivalent {
  /** The mutated file, relative to the lab's solution folder: "src/server.ts". */
  file: string;
  /** Stryker's mutator name: "StringLiteral", "ConditionalExpression", ... */
  mutator: string;
  /** The code the mutant replaced and what it put instead (whitespace runs compare as one space). */
  original: string;
  replacement: string;
  /** Optional, when the same original occurs more than once: text the mutant's first source line contains. */
  context?: string;
  /** Optional, when it occurs more than once on one line: the code right before the mutant, on its line, ends with this. */
  before?: string;
  /** How many surviving mutants this entry is meant to match (default 1). */
  occurrences?: number;
  /** Why the mutant cannot change any behaviour the lab's README asks for: one sentence. */
  reason: string;
}

export interface EquivalentsFile {
  equivalents: Equivalent[];
}

/** The text between two positions of the report (lines and columns from 1, end exclusive). */
export function textAt(source: string, start: Position, end: Position): string {
  const lines = source.split("\n");
  if (start.line === end.line) return (lines[start.line - 1] ?? "").slice(start.column - 1, end.column - 1);
  const parts = [(lines[start.line - 1] ?? "").slice(start.column - 1)];
  for (let line = start.line + 1; line < end.line; line++) parts.push(lines[line - 1] ?? "");
  parts.push((lines[end.line - 1] ?? "").slice(0, end.column - 1));
  return parts.join("\n");
}

/** Every mutant of a report, with file paths relative to the lab's solution folder. */
export function mutantsOf(report: Report, lab: Pick<Lab, "id">): Mutant[] {
  const prefix = `solutions/${lab.id}/`;
  const mutants: Mutant[] = [];
  for (const [name, file] of Object.entries(report.files)) {
    const relative = name.split(path.sep).join("/");
    const local = relative.startsWith(prefix) ? relative.slice(prefix.length) : relative;
    const lines = file.source.split("\n");
    for (const m of file.mutants) {
      mutants.push({
        id: m.id,
        file: local,
        line: m.location.start.line,
        column: m.location.start.column,
        lineText: lines[m.location.start.line - 1] ?? "",
        mutator: m.mutatorName,
        original: textAt(file.source, m.location.start, m.location.end),
        replacement: m.replacement ?? "",
        status: m.status,
        ...(m.statusReason === undefined ? {} : { statusReason: m.statusReason }),
      });
    }
  }
  return mutants;
}

const squash = (text: string) => text.replace(/\s+/g, " ").trim();

/** Whether an equivalents entry names this mutant. */
export function matches(entry: Equivalent, mutant: Mutant): boolean {
  return (
    entry.file === mutant.file &&
    entry.mutator === mutant.mutator &&
    squash(entry.original) === squash(mutant.original) &&
    squash(entry.replacement) === squash(mutant.replacement) &&
    (entry.context === undefined || mutant.lineText.includes(entry.context)) &&
    (entry.before === undefined || mutant.lineText.slice(0, mutant.column - 1).trimEnd().endsWith(entry.before.trimEnd()))
  );
}

export const undetected = new Set(["Survived", "NoCoverage"]);

/** What the lab runner says when no check could run (scripts/lib/run-checks.ts): a kill by the machine, not by a check. */
export const runError = /The checks could not be loaded|The checks could not run/;

export interface EquivalentMatch {
  entry: Equivalent;
  /** Surviving mutants it matches. */
  mutants: Mutant[];
  /** Why the entry was not applied (matches no survivor, a killed mutant, or a number of survivors other than its occurrences), if so. */
  problem?: string;
}

/**
 * Matches the entries with the mutants. An entry applies only when it matches
 * exactly its `occurrences` (default 1) surviving mutants and no detected one:
 * an entry that has gone stale, or that would also hide another mutant with
 * the same text, never raises the score.
 */
export function matchEquivalents(entries: Equivalent[], mutants: Mutant[]): EquivalentMatch[] {
  return entries.map((entry) => {
    const all = mutants.filter((m) => matches(entry, m));
    const surviving = all.filter((m) => undetected.has(m.status));
    const expected = entry.occurrences ?? 1;
    let problem: string | undefined;
    if (all.length === 0) problem = "matches no mutant (stale: the code changed?)";
    else if (surviving.length !== all.length) problem = `matches ${all.length - surviving.length} detected mutant(s): remove or narrow it (context, before)`;
    else if (surviving.length !== expected) problem = `matches ${surviving.length} surviving mutants, expected ${expected}: add a context or before, or set occurrences`;
    return { entry, mutants: problem ? [] : surviving, problem };
  });
}

export interface Score {
  mutants: number;
  killed: number;
  survived: number;
  timeout: number;
  noCoverage: number;
  /** Compile and runtime errors, ignored mutants: not counted in the score. */
  invalid: number;
  /** Surviving mutants listed as equivalent. */
  equivalent: number;
  /** Detected / (detected + undetected), in percent; NaN without valid mutants. */
  score: number;
  /** The same with equivalent mutants taken out of the undetected ones. */
  scoreAfterEquivalents: number;
}

export function computeScore(mutants: Mutant[], equivalentIds: Set<string>): Score {
  const count = (status: string) => mutants.filter((m) => m.status === status).length;
  const killed = count("Killed");
  const survived = count("Survived");
  const timeout = count("Timeout");
  const noCoverage = count("NoCoverage");
  const equivalent = mutants.filter((m) => undetected.has(m.status) && equivalentIds.has(m.id)).length;
  const detected = killed + timeout;
  const valid = detected + survived + noCoverage;
  const percent = (n: number, d: number) => (d === 0 ? Number.NaN : (100 * n) / d);
  return {
    mutants: mutants.length,
    killed,
    survived,
    timeout,
    noCoverage,
    invalid: mutants.length - valid,
    equivalent,
    score: percent(detected, valid),
    scoreAfterEquivalents: percent(detected, valid - equivalent),
  };
}

export function readEquivalents(lab: Pick<Lab, "id">, root = workspaceRoot): Equivalent[] {
  const file = path.join(root, "solutions", lab.id, equivalentsFileName);
  if (!fs.existsSync(file)) return [];
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as EquivalentsFile;
  for (const [i, e] of parsed.equivalents.entries()) {
    for (const key of ["file", "mutator", "original", "replacement", "reason"] as const) {
      if (typeof e[key] !== "string") throw new Error(`solutions/${lab.id}/${equivalentsFileName}: entry ${i + 1} has no "${key}"`);
    }
  }
  return parsed.equivalents;
}

export interface LabOutcome {
  lab: string;
  score: Score;
  matches: EquivalentMatch[];
  /** Surviving mutants not listed as equivalent: the gaps for the checks to close. */
  gaps: Mutant[];
  /** Killed mutants whose lab run failed before any check could (it could not load its checks): worth a re-run. */
  suspectKills: Mutant[];
  seconds?: number;
}

/**
 * The score of one lab from its report and its equivalents, counting the
 * mutants of `files` only (the lab's mutated files, relative to its solution
 * folder; a report from before a file was given counts as if it had not been mutated).
 */
export function evaluate(report: Report, lab: Pick<Lab, "id">, entries: Equivalent[], files?: string[]): LabOutcome {
  const all = mutantsOf(report, lab);
  const mutants = files ? all.filter((m) => files.includes(m.file)) : all;
  const found = matchEquivalents(entries, mutants);
  const equivalentIds = new Set(found.flatMap((f) => f.mutants.map((m) => m.id)));
  const gaps = mutants.filter((m) => undetected.has(m.status) && !equivalentIds.has(m.id));
  const suspectKills = mutants.filter((m) => m.status === "Killed" && runError.test(m.statusReason ?? ""));
  return { lab: lab.id, score: computeScore(mutants, equivalentIds), matches: found, gaps, suspectKills };
}

// ---------------------------------------------------------------------------
// Printing

const pct = (n: number) => (Number.isNaN(n) ? "n/a" : `${n.toFixed(2)} %`);

export function formatOutcome(o: LabOutcome): string {
  const s = o.score;
  const lines = [
    `Lab ${o.lab}: ${s.mutants} mutants: ${s.killed} killed, ${s.survived} survived, ${s.timeout} timeout, ${s.noCoverage} no coverage` +
      (s.invalid ? `, ${s.invalid} invalid` : "") +
      `; score ${pct(s.score)}, after ${s.equivalent} equivalent(s) ${pct(s.scoreAfterEquivalents)}` +
      (o.seconds !== undefined ? ` (${Math.round(o.seconds)} s)` : ""),
  ];
  for (const m of o.matches.filter((f) => f.problem)) lines.push(`  equivalents entry not applied (${m.entry.file} ${m.entry.mutator} ${JSON.stringify(m.entry.original)}): ${m.problem}`);
  for (const m of o.suspectKills) lines.push(`  killed by a lab run that could not run its checks, not by a check (re-run to be sure): ${m.file}:${m.line} ${m.mutator}: ${squash(m.original).slice(0, 60)} -> ${squash(m.replacement)}`);
  if (o.gaps.length > 0) lines.push(`  surviving mutants not listed as equivalent (${o.gaps.length}):`);
  for (const m of o.gaps) {
    const original = squash(m.original);
    lines.push(`    ${m.file}:${m.line} ${m.mutator}${m.status === "NoCoverage" ? " (no coverage)" : ""}: ${original.length > 80 ? `${original.slice(0, 77)}...` : original} -> ${squash(m.replacement)}`);
  }
  return lines.join("\n");
}

export function markdownTable(outcomes: LabOutcome[]): string {
  const rows = outcomes.map((o) => {
    const s = o.score;
    return `| ${o.lab} | ${s.mutants} | ${s.killed} | ${s.survived} | ${s.timeout} | ${s.noCoverage} | ${pct(s.score)} | ${s.equivalent} | ${pct(s.scoreAfterEquivalents)} | ${o.seconds === undefined ? "" : `${Math.round(o.seconds)} s`} |`;
  });
  return ["| lab | mutants | killed | survived | timeout | no coverage | score | equivalent | score after equivalents | time |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", ...rows].join("\n");
}

// ---------------------------------------------------------------------------
// Running Stryker

/** The signal that stopped the run, if one did: no further lab starts. */
let interrupted: NodeJS.Signals | undefined;

/**
 * Runs Stryker with `configFile` in a process group of its own and, when it
 * ends, kills whatever is left in that group (a lab run Stryker stopped on a
 * timeout, a subject): a run leaves no processes behind. Ctrl-C or SIGTERM
 * stops the group (SIGTERM, then SIGKILL after 3 s) and removes the sandbox.
 */
function runStryker(configFile: string): Promise<number> {
  const bin = path.join(workspaceRoot, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
  const detached = process.platform !== "win32";
  // GRPC_LABS_BAIL: each lab run stops at its first failing check (scripts/lib/check-worker.ts); one is enough to kill a mutant.
  // No warm judge: every run has another active mutant, and a judge started before the run would not have it.
  const env = { ...process.env, GRPC_LABS_BAIL: "1", GRPC_LABS_WARM_JUDGE: "0" };
  const child = spawn(process.execPath, [bin, "run", configFile], { cwd: workspaceRoot, stdio: "inherit", detached, env });
  const stop = (signal: NodeJS.Signals) => {
    interrupted = signal;
    if (!detached) child.kill(signal);
    killGroup(child.pid, "SIGTERM");
    setTimeout(() => killGroup(child.pid, "SIGKILL"), 3000).unref();
  };
  process.on("SIGINT", stop).on("SIGTERM", stop);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      process.removeListener("SIGINT", stop).removeListener("SIGTERM", stop);
      if (detached && killGroup(child.pid, "SIGKILL")) console.warn("(killed processes the Stryker run left behind)");
      // Stryker removes its sandbox when it finishes (cleanTempDir), not when it is stopped.
      if (interrupted) fs.rmSync(path.join(workspaceRoot, tempDirName), { recursive: true, force: true });
      resolve(code ?? 1);
    });
  });
}

/** Signals a process group; true when it still had processes. */
function killGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined || process.platform === "win32") return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<number> {
  const args = parseMutationArgs(argv);
  const all = listLabs();
  const labs = args.labs.length > 0 ? args.labs.map((q) => findLab(q, all)) : all;
  const outcomes: LabOutcome[] = [];
  let failed = false;
  for (const lab of labs) {
    const dir = path.join(workspaceRoot, reportDir(lab));
    const reportFile = path.join(dir, "mutation.json");
    const runFile = path.join(dir, "run.json");
    let seconds = args.scoreOnly && fs.existsSync(runFile) ? (JSON.parse(fs.readFileSync(runFile, "utf8")) as { seconds?: number }).seconds : undefined;
    if (!args.scoreOnly) {
      fs.mkdirSync(dir, { recursive: true });
      fs.rmSync(reportFile, { force: true });
      const configFile = path.join(dir, "stryker.config.json");
      fs.writeFileSync(configFile, `${JSON.stringify(strykerConfig(lab, args.concurrency), null, 2)}\n`);
      console.log(`\nLab ${lab.id}: Stryker mutates ${mutatedFiles(lab).map((f) => `solutions/${lab.id}/${f}`).join(", ")}`);
      const started = Date.now();
      const code = await runStryker(configFile);
      seconds = (Date.now() - started) / 1000;
      fs.writeFileSync(runFile, `${JSON.stringify({ seconds, finished: new Date().toISOString(), node: process.version, exitCode: code })}\n`);
      if (interrupted) {
        console.error(`Lab ${lab.id}: stopped by ${interrupted}; no further lab runs.`);
        return interrupted === "SIGINT" ? 130 : 143;
      }
      if (code !== 0) {
        console.error(`Lab ${lab.id}: Stryker ended with exit code ${code}`);
        failed = true;
        continue;
      }
    }
    if (!fs.existsSync(reportFile)) {
      console.error(`Lab ${lab.id}: no report at ${reportDir(lab)}/mutation.json (run without --score-only first)`);
      failed = true;
      continue;
    }
    const report = JSON.parse(fs.readFileSync(reportFile, "utf8")) as Report;
    const outcome = { ...evaluate(report, lab, readEquivalents(lab), mutatedFiles(lab)), seconds };
    outcomes.push(outcome);
    console.log(`\n${formatOutcome(outcome)}`);
  }
  if (outcomes.length > 0) {
    console.log(`\nReports in ${reportsRoot}/NN/index.html.\n\n${markdownTable(outcomes)}`);
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(2);
    },
  );
}
