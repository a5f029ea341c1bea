/**
 * Grades one lab of one submission in isolation: a fresh temporary tree that
 * holds only the instructor's tsconfig, fresh stubs and the learner files,
 * checked by a child process (check-one.ts) in its own process group, with a
 * time limit, a heap limit, a memory limit for the whole run, capped output
 * and a minimal environment, inside its own namespaces where the OS allows
 * (contain.ts). A check process grades one run after another (a "slot", one
 * for each job), so its judge stays loaded; the learner's code runs only in
 * subjects, which end with their run. A run out of time or memory, or one
 * whose code ended the check process, takes the whole group with it: an
 * endless loop, process.exit(), a crash or a server left open end there, the
 * next run starts a new one, and the tree is removed either way.
 * The trees of one grading run live in one folder named after the grader's
 * process id (grpc-labs-grade-<pid>-*), so the next run removes what a
 * killed grader left behind.
 * The code still runs as the instructor's user (see docs/instructor-guide.md).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Lab, labsDir, protoDir, workspaceRoot } from "../lib/labs";
import { type Containment, hideable, probeContainment } from "./contain";
import { watchMemory } from "./watchdog";

export interface Limits {
  /** Wall time for one lab's checks, including type-checking. */
  timeoutMs: number;
  /** V8 heap limit of every Node process the checks start (--max-old-space-size). */
  memoryMb: number;
}

/** A result as the check process wrote it: the grader holds it to the lab's plan before using it. */
export type Outcome = { kind: "result"; result: unknown } | { kind: "failure"; message: string };

/** The memory limit of a whole lab run (every process it starts, resident memory). */
export const runMemoryMb = (limits: Limits) => limits.memoryMb * 3;

const stderrLimit = 16 * 1024;
/** What the checked code may see of the grader's environment: no tokens or credentials. */
const passedEnv = ["PATH", "Path", "PATHEXT", "SystemRoot", "SYSTEMROOT", "windir", "ComSpec", "TEMP", "TMP", "TMPDIR", "HOME", "USERPROFILE", "LANG", "LC_ALL", "TZ", "NO_COLOR", "CHROMIUM_PATH"];

function childEnv(limits: Limits): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of passedEnv) if (process.env[name] !== undefined) env[name] = process.env[name];
  return { ...env, NODE_OPTIONS: `--max-old-space-size=${limits.memoryMb}` };
}
const running = new Set<number>();

/** Kills a child and everything it started. */
function killTree(pid: number): void {
  if (process.platform === "win32") {
    spawnSync("taskkill", ["/pid", String(pid), "/T", "/F"], { windowsHide: true, stdio: "ignore" });
  } else {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // The group is already gone.
    }
  }
}

/** The folder of one grading run's trees, and how its lab runs are contained. */
export interface Run {
  dir: string;
  containment: Containment;
  /** Check processes waiting for their next lab run. */
  idle: Slot[];
  /** How many may wait: one for each job. */
  maxIdle: number;
}

/** A check process (check-one.ts) that grades lab runs one after another, and what it is doing. */
interface Slot {
  child: ChildProcess;
  /** Its temporary folder (the subjects' folders, tsx's cache), beside the trees. */
  temporary: string;
  memoryMb: number;
  /** What it wrote to stderr during the current run. */
  stderr: string;
  /** Called with the id of each run it reports done. */
  onDone: (id: number) => void;
  ended: Promise<[number | null, string | null]>;
  /** The memory the whole slot used when the watchdog stopped it, in MB. */
  memoryUsedMb: number | null;
  stopWatching: () => void;
}

const runPrefix = "grpc-labs-grade-";
const ownerFile = "grader.json";
const openRuns = new Set<string>();

interface Owner {
  pid: number;
  /** The PID namespace the pid is in (Linux), "" elsewhere. */
  pidNamespace: string;
  /** When the process started (Linux, clock ticks since boot): a reused pid is another process. */
  started: string | null;
}

function pidNamespace(): string {
  try {
    return fs.readlinkSync("/proc/self/ns/pid");
  } catch {
    return "";
  }
}

function startedAt(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(owner: Owner): boolean {
  // A grader in another PID namespace (another container) cannot be seen from here: leave its trees.
  if (owner.pidNamespace !== pidNamespace()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return owner.started === null || startedAt(owner.pid) === owner.started;
}

/** Removes a folder of trees; the node_modules links first, so nothing of the workspace is followed. */
function removeRunDir(dir: string): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    // Gone already.
  }
  for (const entry of entries) {
    try {
      fs.unlinkSync(path.join(dir, entry, "node_modules"));
    } catch {
      // Not a tree, or no link.
    }
  }
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Removes the tree folders of grading runs whose grader is gone (killed, or the machine stopped); returns them. */
export function removeStaleRuns(): string[] {
  const removed: string[] = [];
  const tmp = os.tmpdir();
  for (const name of fs.readdirSync(tmp)) {
    if (!new RegExp(`^${runPrefix}\\d+-`).test(name)) continue;
    const dir = path.join(tmp, name);
    let owner: Owner;
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, ownerFile), "utf8")) as Owner;
    } catch {
      // A run that is starting has no owner file for a moment: only an old one without it is left over.
      const stat = fs.statSync(dir, { throwIfNoEntry: false });
      if (!stat || Date.now() - stat.mtimeMs < 60 * 60 * 1000) continue;
      owner = { pid: -1, pidNamespace: pidNamespace(), started: null };
    }
    const ours = owner.pid === process.pid && owner.pidNamespace === pidNamespace();
    if (ours ? openRuns.has(dir) : owner.pid > 0 && isAlive(owner)) continue;
    removeRunDir(dir);
    removed.push(dir);
  }
  return removed;
}

/**
 * Starts a grading run: removes what killed runs left behind, makes this run's
 * folder and finds how lab runs can be contained here. `hide` are folders the
 * checked code has no business reading (the output folder, the submissions);
 * `limits` as for the lab runs, for the test run of the containment.
 */
export function openRun(hide: string[], limits: Limits, jobs = 1): Run {
  removeStaleRuns();
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `${runPrefix}${process.pid}-`)));
  openRuns.add(dir);
  const owner: Owner = { pid: process.pid, pidNamespace: pidNamespace(), started: startedAt(process.pid) };
  fs.writeFileSync(path.join(dir, ownerFile), `${JSON.stringify(owner)}\n`);
  const needed = [workspaceRoot, path.join(workspaceRoot, "node_modules"), os.tmpdir(), dir, path.dirname(process.execPath)];
  const candidates = [...hide, path.join(workspaceRoot, "solutions")];
  return { dir, containment: probeContainment(hideable(candidates, needed), childEnv(limits)), idle: [], maxIdle: jobs };
}

/** Ends a grading run: its check processes end and its folder goes. */
export function closeRun(run: Run): void {
  for (const slot of run.idle.splice(0)) endSlot(slot);
  removeRunDir(run.dir);
  openRuns.delete(run.dir);
}

/** Kills every grading child still running and removes the runs' folders (on Ctrl-C or exit). */
export function killAll(): void {
  for (const pid of running) killTree(pid);
  running.clear();
  for (const dir of openRuns) removeRunDir(dir);
  openRuns.clear();
}

/** A tree like labs/NN-x of a workspace: the lab's tsconfig (extending ../../tsconfig.json), learner files and stubs, with proto/ beside labs/. */
function buildTree(run: Run, lab: Lab, files: Map<string, Buffer>, stubs: string): { root: string; tree: string } {
  const root = fs.mkdtempSync(path.join(run.dir, `${lab.number}-`));
  fs.copyFileSync(path.join(workspaceRoot, "tsconfig.json"), path.join(root, "tsconfig.json"));
  // The instructor's dependencies, linked (a junction on Windows needs no privilege), never copied.
  fs.symlinkSync(path.join(workspaceRoot, "node_modules"), path.join(root, "node_modules"), "junction");
  // Learner code may read the .proto files at run time (lab 06 serves them by reflection), as from its workspace.
  fs.cpSync(protoDir, path.join(root, "proto"), { recursive: true });
  const tree = path.join(root, "labs", lab.id);
  fs.mkdirSync(tree, { recursive: true });
  fs.copyFileSync(path.join(labsDir, lab.id, "tsconfig.json"), path.join(tree, "tsconfig.json"));
  fs.cpSync(stubs, path.join(tree, "gen"), { recursive: true });
  for (const [file, content] of files) {
    const target = path.join(tree, ...file.split("/"));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
  return { root, tree };
}

/**
 * Where tsx keeps what it transpiled, in a temporary folder (its own rule:
 * os.tmpdir()/tsx-<user>). Each check process has a temporary folder of its
 * own, so without help each would transpile the judge's code again (scripts/
 * and the lab's checks: about 45 files, 0.4 to 0.8 s of CPU a lab). The
 * entries are named by a hash of what they hold, so the check processes of a
 * grading share one seed in the run's folder: each starts with a copy of it
 * and adds what it transpiled after each lab run. Only the instructor's code
 * (the judge, check-one) writes there; the learner's code runs in a subject
 * that may write its own folder only, and a copy keeps each process's writes
 * its own.
 */
const transpiledName = `tsx-${process.geteuid?.() ?? os.userInfo().username}`;
const transpiledSeedOf = (run: Run) => path.join(run.dir, "transpiled");

/** Gives a check process's temporary folder a copy of what the grading's earlier ones transpiled. */
export function seedTranspiled(run: Run, temporary: string): void {
  const seed = transpiledSeedOf(run);
  if (fs.existsSync(seed)) fs.cpSync(seed, path.join(temporary, transpiledName), { recursive: true });
}

/** Adds what a check process transpiled to the seed, each entry whole, none replaced. */
export function keepTranspiled(run: Run, temporary: string): void {
  const seed = transpiledSeedOf(run);
  const made = path.join(temporary, transpiledName);
  let names: string[];
  try {
    names = fs.readdirSync(made);
  } catch {
    return;
  }
  fs.mkdirSync(seed, { recursive: true });
  for (const name of names) {
    const target = path.join(seed, name);
    if (fs.existsSync(target)) continue;
    // Whole or not at all: another job may be copying the seed right now.
    const partial = `${target}.${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      fs.copyFileSync(path.join(made, name), partial);
      fs.renameSync(partial, target);
    } catch {
      fs.rmSync(partial, { force: true });
    }
  }
}

function removeTree(root: string): void {
  try {
    fs.unlinkSync(path.join(root, "node_modules"));
  } catch {
    // Already gone.
  }
  fs.rmSync(root, { recursive: true, force: true, maxRetries: 3 });
}

interface Ending {
  timedOut: boolean;
  /** The memory the whole run used when the watchdog stopped it, in MB. */
  memoryMb: number | null;
  code: number | null;
  signal: string | null;
  stderr: string;
}

function failureMessage(lab: Lab, limits: Limits, { timedOut, memoryMb, code, signal, stderr }: Ending): string {
  if (timedOut) return `timed out after ${limits.timeoutMs / 1000} s: the checks of lab ${lab.number} did not finish (an endless loop, or a call that never returns?)`;
  if (memoryMb !== null) return `ran out of memory: the checks of lab ${lab.number} used more than ${runMemoryMb(limits)} MB of memory (${memoryMb} MB, counting every process they started)`;
  if (/heap out of memory|Reached heap limit/.test(stderr)) return `ran out of memory: the checks of lab ${lab.number} used more than ${limits.memoryMb} MB`;
  const last = stderr.trim().split("\n").filter((l) => l.trim()).pop() ?? "";
  return `the checks of lab ${lab.number} stopped (${signal ?? `exit code ${code}`}) before they finished${last ? `: ${last.slice(0, 300)}` : ""}`;
}

/** The signal a contained run died of: PID 1 of its namespaces reports it as 128 + its number. */
function signalOf(code: number | null): string | null {
  if (code === null || code <= 128) return null;
  return Object.entries(os.constants.signals).find(([, number]) => number === code - 128)?.[0] ?? null;
}

let slotsStarted = 0;

/** Starts a check process for the run's lab runs, with its own temporary folder and a memory watchdog over all it starts. */
function startSlot(run: Run, limits: Limits): Slot {
  const { containment } = run;
  const checkOne = [process.execPath, "--require", require.resolve("tsx/cjs"), path.join(__dirname, "check-one.ts"), String(limits.memoryMb)];
  const command = containment.setup ? [...containment.prefix, ...checkOne, JSON.stringify(containment.setup)] : checkOne;
  // The subjects' folders go here; beside the trees, since a sandboxed subject may not look into a
  // tree's node_modules link when it resolves packages.
  const temporary = path.join(run.dir, `slot-${++slotsStarted}-tmp`);
  fs.mkdirSync(temporary);
  seedTranspiled(run, temporary);
  const child = spawn(command[0]!, command.slice(1), {
    cwd: run.dir,
    // Its own process group on POSIX, so one kill reaches everything it started.
    detached: process.platform !== "win32",
    windowsHide: true,
    // Requests go in on standard input; check-one ends when it closes, that is when the grader is gone.
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...childEnv(limits), TMPDIR: temporary, TMP: temporary, TEMP: temporary },
  });
  if (child.pid !== undefined) running.add(child.pid);
  child.stdin!.on("error", () => undefined);
  const ended = new Promise<[number | null, string | null]>((resolve) => {
    child.on("error", () => resolve([null, "could not start"]));
    child.on("exit", (code, signal) => resolve([code, signal]));
  });
  const slot: Slot = { child, temporary, memoryMb: limits.memoryMb, stderr: "", onDone: () => undefined, ended, memoryUsedMb: null, stopWatching: () => undefined };
  let pending = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split("\n");
    pending = lines.pop()!.slice(0, 1000);
    for (const line of lines) {
      const id = (() => {
        try {
          return (JSON.parse(line) as { done?: unknown }).done;
        } catch {
          return undefined;
        }
      })();
      if (typeof id === "number") slot.onDone(id);
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    if (slot.stderr.length < stderrLimit) slot.stderr += chunk.toString().slice(0, stderrLimit - slot.stderr.length);
  });
  if (child.pid !== undefined) {
    slot.stopWatching = watchMemory(child.pid, runMemoryMb(limits), (used) => {
      slot.memoryUsedMb = used;
      killTree(child.pid!);
    });
  }
  return slot;
}

/** Ends a check process with everything it started, and removes its temporary folder. */
function endSlot(slot: Slot): void {
  slot.stopWatching();
  slot.child.stdin!.destroy();
  if (slot.child.pid !== undefined) {
    killTree(slot.child.pid);
    running.delete(slot.child.pid);
  }
  fs.rmSync(slot.temporary, { recursive: true, force: true, maxRetries: 3 });
}

const isRunning = (slot: Slot) => slot.child.exitCode === null && slot.child.signalCode === null;

/** A waiting check process with these limits, or a new one. */
function takeSlot(run: Run, limits: Limits): Slot {
  for (;;) {
    const slot = run.idle.pop();
    if (!slot) return startSlot(run, limits);
    if (isRunning(slot) && slot.memoryMb === limits.memoryMb) return slot;
    endSlot(slot);
  }
}

/** A check process whose run is over waits for the next, unless enough already wait. */
function releaseSlot(run: Run, slot: Slot): void {
  if (run.idle.length < run.maxIdle && isRunning(slot) && openRuns.has(run.dir)) run.idle.push(slot);
  else endSlot(slot);
}

let requests = 0;

/** Runs the instructor's checks of one lab against the given learner files. */
export async function gradeIsolated(lab: Lab, files: Map<string, Buffer>, stubs: string, limits: Limits, run: Run): Promise<Outcome> {
  const { root, tree } = buildTree(run, lab, files, stubs);
  const resultFile = path.join(root, "result.json");
  try {
    const slot = takeSlot(run, limits);
    const id = ++requests;
    slot.stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (slot.child.pid !== undefined) killTree(slot.child.pid);
    }, limits.timeoutMs);
    const done = await new Promise<boolean>((resolve) => {
      slot.onDone = (doneId) => doneId === id && resolve(true);
      void slot.ended.then(() => resolve(false));
      slot.child.stdin!.write(`${JSON.stringify({ id, labId: lab.id, tree, resultFile })}\n`);
    });
    clearTimeout(timer);
    slot.onDone = () => undefined;
    keepTranspiled(run, slot.temporary);
    if (done) {
      releaseSlot(run, slot);
      try {
        return { kind: "result", result: JSON.parse(fs.readFileSync(resultFile, "utf8")) as unknown };
      } catch (error) {
        const last = slot.stderr.trim().split("\n").pop() || (error as Error).message;
        return { kind: "failure", message: `the result of lab ${lab.number} could not be read: ${last.slice(0, 300)}` };
      }
    }
    endSlot(slot);
    const [code, signal] = await slot.ended;
    const ending = { timedOut, memoryMb: slot.memoryUsedMb, code, signal: signal ?? (run.containment.setup ? signalOf(code) : null), stderr: slot.stderr };
    return { kind: "failure", message: failureMessage(lab, limits, ending) };
  } finally {
    removeTree(root);
  }
}
