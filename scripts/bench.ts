/**
 * `npm run bench`: how long `npm run lab NN` takes for every lab in every
 * state a learner's code goes through, against the physical limit of that
 * lab and state: the longest single wait one of its checks needs (a deadline,
 * a retry, a grace period), which no runner can shorten.
 *
 * States (built from the solution and the starter):
 *   solution         the reference solution, as the learner's files
 *   starter          the starter, as after `npm run lab NN -- gen`
 *   server-done      the solution's server with the starter's client
 *   client-done      the solution's client with the starter's server
 *   never-answers    the solution, but no handler ever answers
 *   stream-not-ended the solution, but no handler ends its stream (call.end() does nothing)
 *   endless-loop     the solution, but the first handler of each server loops forever
 *   syntax-error     the solution, with a syntax error in src/server.ts
 *
 * Each run writes the state into the learner's folder (labs/NN-x/src) and
 * runs `npm run -s lab NN -- --json` there, as a learner does after a save
 * (tsc runs every time: GRPC_LABS_NO_CACHE=1); the learner's own files are
 * backed up first and restored at the end (and, after a bench that was
 * killed, at the start of the next); stubs the learner had not generated are
 * generated for the bench and removed again. Runs are interleaved (every lab and
 * state once a round) so that load from other processes hits them alike;
 * the figures are medians. Options: --runs N (default 5), --labs 01,02,
 * --states solution,starter, --lanes 1,3 (compare the judge's lane counts,
 * interleaved: before and after; the targets apply to the last), --again
 * (each measured run right after an unmeasured one of the same state, as a
 * learner runs the lab again after a small edit: the judge then starts the
 * checks that waited in that state first; without it, each run follows one
 * of another state, as after a change of state), --no-watch,
 * --no-loop (only watch mode and grading), --grade (also time
 * `npm run grade -- --submissions` on a class of --students N, default 30,
 * every lab each, built from the states, held to the target's time per lab
 * run; --grade-jobs N passes --jobs N).
 *
 * Memory is sampled every 10 ms from /proc (Linux): the largest single
 * process of the command's tree (resident size), and the whole tree at its
 * largest (npm, the runner, tsc, the judge and its subjects) as the sum of
 * proportional set sizes, which counts a page the processes share once (the
 * target's), and as the sum of resident sizes, which counts Node's code once
 * a process. The limit is the longest check of the state, each check taken
 * at its fastest over the runs.
 *
 * Then watch mode: a kept judge checks a copy of each state; each save
 * changes a learner file, timed until the step the learner is on (the first
 * failing one) is reported, or until the results when every step passes.
 *
 * Exits 1 when a target is missed.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { parseArgs } from "node:util";
import * as path from "node:path";
import { allStates, type State, stateApplies, stateFiles, unsteadyVerdicts } from "./bench-states";
import { type Lab, labsDir, listLabs, protoDir, treeDir, workspaceRoot } from "./lib/labs";
import type { LabResult } from "./lib/results";
import { CheckWorker, checkLab, passedChecks } from "./lib/run-checks";
import { ensureStubs, genDir } from "./lib/stubs";
import { warmJudgeIdentity, warmJudgeSocket } from "./lib/worker-process.cjs";
import { Watcher } from "./lib/watch";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    labs: { type: "string" },
    states: { type: "string" },
    "no-watch": { type: "boolean", default: false },
    "no-loop": { type: "boolean", default: false },
    grade: { type: "boolean", default: false },
    students: { type: "string", default: "30" },
    "grade-jobs": { type: "string" },
    lanes: { type: "string" },
    again: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const wanted = values.labs?.split(",").map((n) => n.padStart(2, "0"));
const labs = listLabs().filter((lab) => !wanted || wanted.includes(lab.number));
const states = (values.states?.split(",") ?? allStates).filter((s): s is State => (allStates as readonly string[]).includes(s));
/** Lane counts to compare (GRPC_LABS_LANES), e.g. --lanes 1,3 for before and after; the targets apply to the last. */
const laneConfigs: Array<number | undefined> = values.lanes ? values.lanes.split(",").map(Number) : [undefined];
const targetMs = 2500;
const targetProcessMb = 150;
/** What the whole tree takes from the machine: its proportional set sizes summed (pssMb). */
const targetTreeMb = 400;
const targetWatchMs = 1000;
/** Grading 30 students × 7 labs in 3 minutes: a class of another size gets the same time per lab run. */
const targetGradeMs = 180_000;
const targetGradeRuns = 30 * 7;
const procfs = process.platform === "linux" && fs.existsSync("/proc/self/task");
const scratch = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", "bench");
const backupDir = path.join(scratch, "learner-backup");
/** The labs whose stubs the bench generated in the learner's folder, to remove at the end. */
const generatedList = path.join(backupDir, "generated-stubs.json");
/** The learner files that did not exist before the bench (a fresh clone), to remove at the end. */
const absentList = path.join(backupDir, "absent-files.json");

function writeState(tree: string, files: Map<string, string>): void {
  for (const [file, content] of files) {
    const full = path.join(tree, ...file.split("/"));
    if (fs.existsSync(full) && fs.readFileSync(full, "utf8") === content) continue;
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, content);
  }
}

/** Backs up the learner's files before the bench writes states into labs/NN-x (restores a backup a killed bench left first). */
function backUpLearnerFiles(): void {
  restoreLearnerFiles();
  fs.mkdirSync(backupDir, { recursive: true });
  // Files the learner does not have yet (a fresh clone, before `gen`) are removed again at the end.
  const absent: string[] = [];
  for (const lab of listLabs()) {
    for (const file of lab.learnerFiles) {
      const from = path.join(treeDir(lab, "learner"), ...file.split("/"));
      if (!fs.existsSync(from)) {
        absent.push(from);
        continue;
      }
      const to = path.join(backupDir, lab.id, ...file.split("/"));
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(from, to);
    }
  }
  fs.writeFileSync(absentList, JSON.stringify(absent));
  fs.writeFileSync(path.join(backupDir, ".complete"), "");
  // The states are as after the stub step: a lab whose stubs the learner has not generated yet gets them for the bench, and loses them after.
  const missing = labs.filter((lab) => !fs.existsSync(genDir(treeDir(lab, "learner"))));
  fs.writeFileSync(generatedList, JSON.stringify(missing.map((lab) => lab.id)));
  for (const lab of missing) ensureStubs(lab, treeDir(lab, "learner"));
}

function restoreLearnerFiles(): void {
  if (fs.existsSync(generatedList)) {
    for (const id of JSON.parse(fs.readFileSync(generatedList, "utf8")) as string[]) fs.rmSync(genDir(path.join(labsDir, id)), { recursive: true, force: true });
  }
  if (!fs.existsSync(path.join(backupDir, ".complete"))) return fs.rmSync(backupDir, { recursive: true, force: true });
  for (const lab of listLabs()) {
    for (const file of lab.learnerFiles) {
      const from = path.join(backupDir, lab.id, ...file.split("/"));
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(treeDir(lab, "learner"), ...file.split("/")));
    }
  }
  const absent = fs.existsSync(absentList) ? (JSON.parse(fs.readFileSync(absentList, "utf8")) as string[]) : [];
  for (const file of absent) {
    fs.rmSync(file, { force: true });
    // The folder the bench made for it, if nothing else is in it.
    const dir = path.dirname(file);
    if (fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  }
  fs.rmSync(backupDir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Measuring

interface Sample {
  wallMs: number;
  cpuMs: number | null;
  /** Peak memory (procfs only). */
  peak: MemoryPeak | null;
  /** Each check's duration, by id. */
  checks: Map<string, number>;
  status: string;
  /** The failing checks' messages, by id: verdicts, compared between runs of the same code. */
  failing: Map<string, string>;
}

/** CPU time of the children this process has waited for, from /proc/self/stat (in ms). */
function childrenCpuMs(): number | null {
  if (!procfs) return null;
  const fields = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** CPU time of a process, its live descendants and the children they have waited for, from /proc (in ms). */
function treeCpuMs(pid: number): number {
  return descendants(pid).reduce((sum, each) => {
    try {
      const fields = fs.readFileSync(`/proc/${each}/stat`, "utf8").split(") ")[1]!.split(" ");
      return sum + (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10;
    } catch {
      return sum;
    }
  }, 0);
}

/**
 * The warm judge waiting for a run with this environment (scripts/lib/warm-judge.ts), if one is:
 * it will judge the run, and it and its subjects are not npm's children, but count with the run.
 */
function warmJudgePid(env: NodeJS.ProcessEnv): number | undefined {
  const socket = warmJudgeSocket(env);
  return socket === undefined ? undefined : warmJudgeIdentity(socket)?.pid;
}

/**
 * Waits (at most 3 s) until the warm judge for this environment waits with its subject started, as
 * it does by the time a learner has read a report: a run right after another finds none yet, and
 * starts cold (docs/performance.md gives both).
 */
async function warmJudgeReady(env: NodeJS.ProcessEnv): Promise<void> {
  if (!procfs || warmJudgeSocket(env) === undefined) return;
  const end = Date.now() + 3000;
  while (Date.now() < end) {
    const warm = warmJudgePid(env);
    if (warm !== undefined && descendants(warm).length > 1) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * A process's proportional set size: its resident pages, each page it shares
 * divided by the number of processes that map it. Summed over a tree, it is
 * what the tree takes from the machine; resident sizes summed count Node's
 * code once per process (about 30 MB each). Its resident size where the
 * kernel has no smaps_rollup (before Linux 4.14).
 */
function pssMb(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // Gone, or no smaps_rollup.
  }
  return rssMb(pid);
}

/** Peak memory of a process tree: the largest process (resident), and the tree's proportional and resident sums. */
interface MemoryPeak {
  processMb: number;
  treeMb: number;
  treeRssMb: number;
}

/**
 * Samples the memory of a tree (`own`) and of the tree with `more` processes
 * every `everyMs`; proportional sizes every `pssEveryMs`, since reading
 * smaps_rollup costs about 0.15 ms a process (0.01 ms for status): grading's
 * tree of 20 processes would cost the machine it measures a tenth of a core.
 */
function sampleMemory(pids: () => { own: number[]; more: number[] }, everyMs: number, pssEveryMs = 50): { own: MemoryPeak; all: MemoryPeak; stop(): void } {
  const own: MemoryPeak = { processMb: 0, treeMb: 0, treeRssMb: 0 };
  const all: MemoryPeak = { ...own };
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  let tick = 0;
  const timer = setInterval(() => {
    const tree = pids();
    const withPss = tick++ % Math.max(1, Math.round(pssEveryMs / everyMs)) === 0;
    const measured = [tree.own, tree.more].map((group) => ({ rss: group.map(rssMb), pss: withPss ? group.map(pssMb) : [] }));
    const note = (peak: MemoryPeak, parts: typeof measured) => {
      const rss = parts.flatMap((part) => part.rss);
      peak.processMb = Math.max(peak.processMb, ...rss);
      peak.treeRssMb = Math.max(peak.treeRssMb, sum(rss));
      if (withPss) peak.treeMb = Math.max(peak.treeMb, sum(parts.flatMap((part) => part.pss)));
    };
    note(own, measured.slice(0, 1));
    note(all, measured);
  }, everyMs);
  return { own, all, stop: () => clearInterval(timer) };
}

/** Whether a process runs: an ended one stays a zombie until its parent (init, for a warm judge) reaps it. */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // The process has just exited.
  }
  return [pid, ...children.flatMap(descendants)];
}

function npmCommand(args: string[]): { command: string; args: string[] } {
  // Through npm, as a learner runs it; npm_execpath is npm itself when this runs as `npm run bench`.
  const npm = process.env.npm_execpath;
  if (npm && /\.c?js$/.test(npm)) return { command: process.execPath, args: [npm, ...args] };
  return { command: process.platform === "win32" ? "npm.cmd" : "npm", args };
}

function stopProcess(pid: number): void {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // Already gone.
  }
}

/** A measured run's environment: tsc every time, progress kept apart from the learner's. */
function runEnv(lanes: number | undefined): NodeJS.ProcessEnv {
  return { ...process.env, GRPC_LABS_NO_CACHE: "1", GRPC_LABS_PROGRESS_FILE: path.join(scratch, "progress.json"), ...(lanes ? { GRPC_LABS_LANES: String(lanes) } : {}) };
}

function measure(lab: Lab, lanes: number | undefined): Promise<Sample> {
  const { command, args } = npmCommand(["run", "-s", "lab", lab.number, "--", "--json"]);
  return new Promise((resolve, reject) => {
    const env = runEnv(lanes);
    // A warm judge loaded before the run: that CPU is not the run's (docs/performance.md), what it uses from now on is.
    // It ends after the run, so its CPU is the last read while it was there.
    const warm = procfs ? warmJudgePid(env) : undefined;
    const warmCpu = () => (warm === undefined ? 0 : treeCpuMs(warm));
    const warmBefore = warmCpu();
    let warmLast = warmBefore;
    const cpuBefore = childrenCpuMs();
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { cwd: workspaceRoot, env, stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    // Peaks with and without the warm judge: one that declines the run (it warmed up for another lab) ends at once,
    // and is not the run's. One that serves it ends only after the runner has gone.
    const memory = procfs ? sampleMemory(() => ({ own: descendants(child.pid!), more: warm === undefined ? [] : descendants(warm) }), 10) : undefined;
    const cpuSampler = procfs ? setInterval(() => (warmLast = Math.max(warmLast, warmCpu())), 10) : undefined;
    child.on("exit", () => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      memory?.stop();
      clearInterval(cpuSampler);
      const served = warm !== undefined && running(warm);
      const cpuAfter = childrenCpuMs();
      const warmAfter = served ? Math.max(warmLast, warmCpu()) : warmBefore;
      let result: LabResult;
      try {
        result = JSON.parse(stdout) as LabResult;
      } catch {
        return reject(new Error(`npm run lab ${lab.number} printed no result: ${stdout.slice(0, 300)}`));
      }
      resolve({
        wallMs,
        cpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore + Math.max(0, warmAfter - warmBefore),
        peak: memory ? (served ? memory.all : memory.own) : null,
        checks: new Map(result.tests.map((t) => [t.id, t.duration_ms])),
        status: `${result.score}/${result.max_score}`,
        failing: new Map(result.tests.filter((t) => t.status !== "pass").map((t) => [t.id, t.message ?? ""])),
      });
    });
  });
}

/**
 * Watch mode as a learner uses it, on a copy of the state: each round changes
 * a learner file and times the save until the step the learner is on is
 * reported (the first failing one), or the results when every step passes.
 */
async function watchFirstStep(lab: Lab, state: State): Promise<number[]> {
  // Laid out like a workspace (labs/<tree>, proto/ beside labs/): learner code may read the .proto files.
  const tree = path.join(scratch, "labs", `watch-${lab.id}`);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.cpSync(path.join(treeDir(lab, "solution"), "gen"), path.join(tree, "gen"), { recursive: true });
  fs.cpSync(protoDir, path.join(scratch, "proto"), { recursive: true });
  writeState(tree, stateFiles(lab, state));
  fs.writeFileSync(path.join(tree, "tsconfig.json"), JSON.stringify({ extends: path.join(workspaceRoot, "tsconfig.json"), include: ["src", "gen"] }));
  const files = lab.learnerFiles.map((file) => path.join(tree, ...file.split("/")));
  const worker = new CheckWorker();
  let checked: (() => void) | undefined;
  let reported = 0;
  // As watch mode does (cli.ts): what passed in the last run lets the next show the step the learner is on sooner.
  let passedLastTime = new Set<string>();
  const watcher = new Watcher({
    files,
    check: async () => {
      const result = await checkLab(lab, { target: "learner", tree, worker, passedLastTime, onFirstFailingStep: () => (reported ||= performance.now()), onChecksFirst: () => (reported ||= performance.now()) });
      passedLastTime = passedChecks(result);
      reported ||= performance.now();
      checked?.();
    },
  });
  await watcher.start();
  const times: number[] = [];
  for (let round = 0; round <= runs; round++) {
    const done = new Promise<void>((resolve) => (checked = resolve));
    reported = 0;
    const started = performance.now();
    fs.appendFileSync(files[0]!, `\n// edit ${round}\n`);
    await done;
    if (round > 0) times.push(reported - started);
    worker.warm();
    // A learner types between saves.
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  watcher.close();
  worker.stop();
  fs.rmSync(tree, { recursive: true, force: true });
  return times;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const max = (values: Array<number | null>) => (values.some((v) => v === null) ? null : Math.max(...(values as number[])));
const fmt = (value: number | null, digits = 0) => (value === null ? "n/a" : value.toFixed(digits));

async function main(): Promise<void> {
  const [load1, load5] = os.loadavg();
  console.log(
    `grpc-labs bench: ${runs} interleaved runs of npm run lab NN per lab and state${values.again ? ", each right after an unmeasured run of the same state" : ""}, after one warm-up round; Node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()}, load average ${fmt(load1!, 1)} (1 min) ${fmt(load5!, 1)} (5 min).`,
  );
  fs.mkdirSync(scratch, { recursive: true });
  for (const lab of labs) ensureStubs(lab, treeDir(lab, "solution"));
  const samples = new Map<string, Sample[]>();
  const key = (lab: Lab, state: State, lanes: number | undefined) => `${lab.number} ${state} ${lanes}`;
  backUpLearnerFiles();
  const restore = () => {
    restoreLearnerFiles();
    process.exit(130);
  };
  process.once("SIGINT", restore);
  process.once("SIGTERM", restore);
  try {
    for (let round = 0; round <= (values["no-loop"] ? -1 : runs); round++) {
      for (const lab of labs) {
        for (const state of states.filter((s) => stateApplies(lab, s))) {
          writeState(treeDir(lab, "learner"), stateFiles(lab, state));
          for (const lanes of laneConfigs) {
            if (values.again && round > 0) {
              // A run of the same state first, not measured: the judge then knows how long each check took in it.
              await warmJudgeReady(runEnv(lanes));
              await measure(lab, lanes);
            }
            await warmJudgeReady(runEnv(lanes));
            const sample = await measure(lab, lanes);
            if (round > 0) samples.set(key(lab, state, lanes), [...(samples.get(key(lab, state, lanes)) ?? []), sample]);
          }
        }
      }
      process.stdout.write(round === 0 ? "warm-up done; measuring" : ".");
    }
  } finally {
    restoreLearnerFiles();
    // The bench's warm judges (its environment is not the learner's) end with it: SIGTERM, and they remove their files.
    for (const lanes of laneConfigs) {
      const warm = warmJudgePid(runEnv(lanes));
      if (warm !== undefined) stopProcess(warm);
    }
    process.off("SIGINT", restore);
    process.off("SIGTERM", restore);
  }
  console.log("\n");
  if (values["no-loop"]) return finishWatchAndGrade([]);

  const header = ["lab", "state", "median s", "limit s", "× limit", "CPU s", "peak MB (process / tree / tree RSS)", "score"];
  const rows: string[][] = [];
  const missed: string[] = [];
  const unsteady: string[] = [];
  for (const lab of labs) {
    for (const state of states) for (const lanes of laneConfigs) {
      const own = samples.get(key(lab, state, lanes));
      if (!own) {
        rows.push([lab.number, state, "does not apply", "", "", "", "", ""]);
        continue;
      }
      const judged = lanes === laneConfigs[laneConfigs.length - 1];
      const wall = median(own.map((s) => s.wallMs));
      const cpus = own.map((s) => s.cpuMs);
      const cpu = cpus.includes(null) ? null : median(cpus as number[]);
      const peakOf = (key: keyof MemoryPeak) => max(own.map((s) => s.peak?.[key] ?? null));
      const [peakProcess, peakTree, peakTreeRss] = [peakOf("processMb"), peakOf("treeMb"), peakOf("treeRssMb")];
      const fastest = new Map<string, number>();
      for (const sample of own) for (const [id, ms] of sample.checks) fastest.set(id, Math.min(fastest.get(id) ?? Infinity, ms));
      const limit = Math.max(0, ...fastest.values());
      if (judged && wall > targetMs) missed.push(`${lab.number} ${state}: ${fmt(wall / 1000, 2)} s`);
      if (judged && (peakProcess ?? 0) > targetProcessMb) missed.push(`${lab.number} ${state}: ${fmt(peakProcess)} MB in one process`);
      if (judged && (peakTree ?? 0) > targetTreeMb) missed.push(`${lab.number} ${state}: ${fmt(peakTree)} MB in the tree`);
      unsteady.push(...unsteadyVerdicts(`${lab.number} ${state}${lanes === undefined ? "" : ` (lanes ${lanes})`}`, state, own.map((sample) => sample.failing)));
      const statuses = [...new Set(own.map((s) => s.status))].join(" ");
      rows.push([lab.number, lanes === undefined ? state : `${state} (lanes ${lanes})`, fmt(wall / 1000, 2), fmt(limit / 1000, 2), fmt(wall / Math.max(limit, 1), 1), cpu === null ? "n/a" : fmt(cpu / 1000, 2), `${fmt(peakProcess)} / ${fmt(peakTree)} / ${fmt(peakTreeRss)}`, statuses]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log(
    `\nTargets: at most ${targetMs / 1000} s (median) for every lab and state, ${targetProcessMb} MB in any one process and ${targetTreeMb} MB for the tree: ${missed.length === 0 ? "met" : `NOT met (${missed.join("; ")})`}.`,
  );
  if (unsteady.length > 0) {
    // Not a speed figure: a check that fails the reference solution, or changes its verdict on the same code, is a fault of the checks.
    console.log(`\nVerdicts NOT steady (a check failed the solution, or changed its verdict between runs of the same code):\n${unsteady.map((u) => `  ${u}`).join("\n")}`);
    missed.push(`${unsteady.length} unsteady verdict${unsteady.length === 1 ? "" : "s"}`);
  }
  return finishWatchAndGrade(missed);
}

async function finishWatchAndGrade(missed: string[]): Promise<void> {
  const watchMissed: string[] = [];
  if (!values["no-watch"]) {
    const watchStates = states.filter((s) => ["solution", "starter", "server-done", "never-answers"].includes(s));
    console.log(`\nWatch mode, from saving a learner file until the step the learner is on (the first failing one) is reported, or the results when every step passes; median (min-max) of ${runs}:`);
    for (const lab of labs) {
      const cells: string[] = [];
      for (const state of watchStates.filter((s) => stateApplies(lab, s))) {
        const times = await watchFirstStep(lab, state);
        if (median(times) > targetWatchMs) watchMissed.push(`${lab.number} ${state}`);
        cells.push(`${state} ${fmt(median(times))} ms (${fmt(Math.min(...times))}-${fmt(Math.max(...times))})`);
      }
      console.log(`  ${lab.number}  ${cells.join(", ")}`);
    }
    console.log(`Target: under ${targetWatchMs} ms: ${watchMissed.length === 0 ? "met" : `NOT met (${watchMissed.join(", ")})`}.`);
  }
  let gradeOk = true;
  if (values.grade) gradeOk = await benchGrading();
  const [after1] = os.loadavg();
  console.log(`Load average at the end: ${fmt(after1!, 1)}.`);
  process.exitCode = missed.length === 0 && watchMissed.length === 0 && gradeOk ? 0 : 1;
}

/** The states a class hands in, one student after another: mostly solutions, some half done, some with a fault. */
const classStates: State[] = ["solution", "solution", "solution", "server-done", "client-done", "never-answers", "solution", "syntax-error", "solution", "stream-not-ended"];

/** `npm run grade -- --submissions` on a class of --students students, every lab each; timed, with its peak memory. */
async function benchGrading(): Promise<boolean> {
  const students = Number(values.students);
  const classDir = path.join(scratch, "class");
  const outDir = path.join(scratch, "class-results");
  fs.rmSync(classDir, { recursive: true, force: true });
  fs.rmSync(outDir, { recursive: true, force: true });
  for (let i = 0; i < students; i++) {
    const dir = path.join(classDir, `student-${String(i + 1).padStart(2, "0")}`);
    labs.forEach((lab, l) => {
      const wanted = classStates[(i + l) % classStates.length]!;
      const state = stateApplies(lab, wanted) ? wanted : "solution";
      for (const [file, content] of stateFiles(lab, state)) {
        const full = path.join(dir, lab.id, ...file.split("/"));
        fs.mkdirSync(path.dirname(full), { recursive: true });
        fs.writeFileSync(full, content);
      }
    });
  }
  const jobs = values["grade-jobs"];
  const { command, args } = npmCommand(["run", "-s", "grade", "--", "--submissions", classDir, "--out", outDir, "--labs", labs.map((l) => l.number).join(","), ...(jobs ? ["--jobs", jobs] : [])]);
  const sample = await new Promise<{ wallMs: number; peak: MemoryPeak; code: number | null }>((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: workspaceRoot, stdio: "ignore" });
    const memory = procfs ? sampleMemory(() => ({ own: descendants(child.pid!), more: [] }), 50, 500) : undefined;
    child.on("exit", (code) => {
      memory?.stop();
      resolve({ wallMs: performance.now() - started, peak: memory?.own ?? { processMb: 0, treeMb: 0, treeRssMb: 0 }, code });
    });
  });
  const runs = students * labs.length;
  const targetMs = (targetGradeMs * runs) / targetGradeRuns;
  const scaled = runs === targetGradeRuns ? "" : ` (${targetGradeMs / 1000} s for 30 × 7, scaled to ${runs} lab runs)`;
  const ok = sample.wallMs <= targetMs;
  console.log(
    `\nGrading ${students} students × ${labs.length} labs (npm run grade -- --submissions${jobs ? ` --jobs ${jobs}` : ""}, ${os.cpus().length} cores): ${fmt(sample.wallMs / 1000, 1)} s, exit code ${sample.code}, peak ${fmt(sample.peak.processMb)} MB in one process, ${fmt(sample.peak.treeMb)} MB for the tree (${fmt(sample.peak.treeRssMb)} MB as a sum of resident sizes). Target: under ${fmt(targetMs / 1000, 1)} s${scaled}: ${ok ? "met" : "NOT met"}.`,
  );
  fs.rmSync(classDir, { recursive: true, force: true });
  return ok;
}

main().catch((error: unknown) => {
  restoreLearnerFiles();
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 2;
});
