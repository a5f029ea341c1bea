/**
 * The judge's side of the subject: the process that runs the learner's code.
 *
 * The judge (mocha, check-kit and the lab's checks) never loads a learner
 * file. It transpiles them to JavaScript in a folder of their own, starts a
 * subject there under Node's permission model (reads: that folder and the
 * dependencies; writes: a scratch folder; no child processes, workers or
 * addons; an empty environment), and talks to it over IPC. A learner's module
 * arrives as data with stand-ins for its functions: calling one runs it in
 * the subject and resolves with how it settled. A learner's server is a
 * stand-in too, which `listen()` binds there and the judge calls over a real
 * connection.
 *
 * A subject that crashes, calls process.exit(), blocks its event loop or
 * outgrows its memory fails the check it was in, with the cause; the next
 * check gets a fresh subject.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { isBuiltin } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { beatMs, decode, encode, type FromSubject, type References, runningCheckFile, type Side, type Tagged, type ToSubject } from "../subject/codec";
import { CheckFailure } from "./assert";
import { esbuildVersion, withEsbuild } from "./esbuild";
import { checkScope } from "./scope";
import { setWireSource, Wire } from "./wire";

export interface SubjectConfig {
  /** The lab folder of the code under test (labs/NN-x, solutions/NN-x or a grading tree). */
  tree: string;
  /** The lab's folder name, e.g. "01-route-guide". */
  labId: string;
  /** The lab's checks folder, where fixtures (*.fixture.ts) live. */
  checksDir: string;
  /** The folders of the tree the subject gets: those of the learner files, and the stubs (gen). */
  sourceDirs: string[];
  /** Kill the subject above this resident size (the heap limit is set from it too). */
  memoryMb: number;
}

/** Why the subject stopped, in one sentence about the learner's code. */
export class SubjectFault extends CheckFailure {}

const workspaceRoot = path.resolve(__dirname, "..", "..");
const nodeModules = path.join(workspaceRoot, "node_modules");
/**
 * Where the subject finds the installed packages: node_modules at its real
 * place. Stryker's sandbox (docs/mutation.md) links the workspace's
 * node_modules; Node's permission model would refuse the subject the link
 * itself (only the packages below it are readable), so the subject never
 * goes through it.
 */
const packagesDir = fs.realpathSync(nodeModules);
/** A gap between two messages of the subject longer than this (2.5 beats) is a stall (Subject.stalledMs). */
const stallAfterMs = beatMs * 2.5;
/** Without a word from the subject for this long (it beats every beatMs), its event loop is blocked. */
const silenceMs = 2000;
export const blockedReason = `your code blocked the event loop for more than ${silenceMs / 1000} s (an endless loop, or a long synchronous computation?)`;
const loadBlockedReason = (file: string) =>
  `your code blocked the event loop for more than ${silenceMs / 1000} s while ${file} loaded: code at the top level of that file (outside any function), or of a file it imports, did not finish (an endless loop, or a long synchronous computation?)`;
/**
 * Files of the code under test whose loading computed through a silence, with
 * why: loading one again, in a fresh subject, would only compute as long
 * again, so the checks that load it later in the run fail at once with the
 * same reason (loadTarget) instead of waiting out the silence one by one
 * (lab 01: about 40 s). Only where the subject's CPU time showed it
 * computing (Linux): a machine too loaded to load a module in time is not
 * the file's fault.
 */
export const unfinishedLoads = new Map<string, string>();
/**
 * Without a beat for this long while the subject keeps a core busy (at least
 * busyCpuShare of it), its code does not yield: an endless loop, or close to
 * one. The check whose code runs is known (codec.ts, runningCheckFile), so
 * it fails alone, at once. A subject that waits for the CPU (a busy machine)
 * is not busy itself: then, and where a process's CPU time cannot be read
 * (Windows), the silence rule decides.
 */
const busyMs = 300;
const busyCpuShare = 0.8;
/**
 * A silent subject that was mostly runnable (state R, Linux) but computed
 * less than busyCpuShare of its silence was waiting for a CPU: a machine
 * running more than it has cores for, or a module loading slowly on one.
 * The silence rule waits on for it, until it has computed that much (then
 * its code is blocking) or until starvedLimitMs, when the checks running in
 * it fail with starvedReason, which is what happened.
 */
const starvedLimitMs = 8000;
const starvedReason = (ms: number, cpuMs: number) =>
  `the process that runs your code waited for a CPU: in ${(ms / 1000).toFixed(1)} s it got ${(cpuMs / 1000).toFixed(1)} s of one, too little to answer. The machine is overloaded: close other programs or run fewer labs at once, then run the checks again`;
const busyReason = (ms: number) => `your code blocked the event loop: it had computed for ${(ms / 1000).toFixed(1)} s without a break when the judge stopped it (an endless loop, or a long synchronous computation?)`;
/** What the checks beside a looping one are told, before they run again in a fresh subject. */
const disturbedReason = "another check's code blocked the event loop of the process this check ran in";
const readyMs = 15000;

// ---------------------------------------------------------------------------
// The subject's folder: the learner's files as JavaScript, proto/, the driver

/** A syntax error, as the module that stands for the file: loading it throws "src/x.ts:12: syntax error: ...". */
function syntaxErrorModule(relative: string, error: unknown): string {
  const first = (error as { errors?: Array<{ text: string; location?: { line: number } | null }> }).errors?.[0];
  const message = first ? `${relative}:${first.location?.line ?? 1}: syntax error: ${first.text}` : `${relative}: ${String(error)}`;
  return `throw Object.assign(new SyntaxError(${JSON.stringify(message)}), { learnerSyntaxError: ${JSON.stringify(message)} });\n`;
}

/**
 * Transpiled files are kept by a hash of their path and contents, so a run
 * transpiles only what changed (the stubs never do). In node_modules/.cache,
 * which no subject may read.
 */
const cacheDir = path.join(nodeModules, ".cache", "grpc-labs", "subject");
const hash = (...parts: string[]) => createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 32);

/** A learner saves many versions of a file: the cache keeps the newest thousand files or so. */
const cacheLimit = 1500;

function pruneCache(): void {
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir);
  } catch {
    return;
  }
  if (names.length <= cacheLimit) return;
  const files = names.map((name) => path.join(cacheDir, name)).map((file) => ({ file, time: fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0 }));
  files.sort((a, b) => a.time - b.time);
  for (const { file } of files.slice(0, files.length - cacheLimit / 2)) fs.rmSync(file, { force: true });
}

/** Writes through a temporary file, so a concurrent run (grading several students) never reads half a file. */
async function writeAtomically(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.promises.writeFile(temporary, content);
  await fs.promises.rename(temporary, file);
}

/** Transpiles one TypeScript file to CommonJS with an inline source map, so stack traces point at the .ts file. */
async function transpileFile(source: string, target: string, root: string): Promise<void> {
  const code = await fs.promises.readFile(source, "utf8");
  const output = target.replace(/\.ts$/, ".js");
  const cached = path.join(cacheDir, `${hash(esbuildVersion(), source, code)}.js`);
  try {
    return await fs.promises.copyFile(cached, output);
  } catch {
    // Not transpiled yet.
  }
  let transpiled: string;
  try {
    transpiled = (await withEsbuild((esbuild) => esbuild.transform(code, { loader: "ts", format: "cjs", platform: "node", target: "node20", sourcemap: "inline", sourcefile: source }))).code;
  } catch (error) {
    transpiled = syntaxErrorModule(path.relative(root, source).split(path.sep).join("/"), error);
  }
  await fs.promises.writeFile(output, transpiled);
  await fs.promises.mkdir(cacheDir, { recursive: true });
  await writeAtomically(cached, transpiled);
}

/** Mirrors the folder `from` into `to`: TypeScript transpiled, everything else copied. */
async function transpileTree(from: string, to: string, root: string): Promise<void> {
  const jobs: Array<Promise<void>> = [];
  const walk = (dir: string) => {
    fs.mkdirSync(path.join(to, path.relative(from, dir)), { recursive: true });
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const source = path.join(dir, entry.name);
      const target = path.join(to, path.relative(from, source));
      if (entry.isDirectory()) walk(source);
      else if (entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) jobs.push(transpileFile(source, target, root));
      else if (entry.isFile()) jobs.push(fs.promises.copyFile(source, target));
    }
  };
  walk(from);
  await Promise.all(jobs);
}

/** The driver and what it imports, bundled into one file once per change of their sources. */
const driverSources = ["subject/driver.ts", "subject/codec.ts", "subject/location.ts", "check-kit/handler-errors.ts"].map((file) => path.join(__dirname, "..", file));

async function driverBundle(): Promise<string> {
  const cached = path.join(cacheDir, `driver-${hash(esbuildVersion(), ...driverSources.map((file) => fs.readFileSync(file, "utf8")))}.js`);
  if (fs.existsSync(cached)) return cached;
  const result = await withEsbuild((esbuild) =>
    esbuild.build({
      entryPoints: [driverSources[0]!],
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      external: ["@grpc/grpc-js"],
      write: false,
      logLevel: "silent",
    }),
  );
  await fs.promises.mkdir(cacheDir, { recursive: true });
  await writeAtomically(cached, result.outputFiles[0]!.text);
  return cached;
}

/** The proto/ folder beside the tree's labs/ (a grading tree has its own copy), or the workspace's. */
function protoDirFor(tree: string): string {
  const beside = path.resolve(tree, "..", "..", "proto");
  return fs.existsSync(beside) ? beside : path.join(workspaceRoot, "proto");
}

/**
 * Each run's subject folders are removed when the run ends. Folders that a
 * killed judge left behind are removed by a later judge once they are an hour
 * old: by age, not by process id, since judges in PID namespaces (grading,
 * containers sharing the temporary folder) share process ids. Each PID
 * namespace has a folder of its own besides.
 */
function pidNamespace(): string {
  // Not a number: judges of earlier versions take a folder named like "<pid>-..." for one of theirs.
  try {
    return `ns-${fs.readlinkSync("/proc/self/ns/pid").replace(/\D/g, "") || "default"}`;
  } catch {
    return "ns-default";
  }
}
const foldersRoot = path.join(os.tmpdir(), "grpc-labs-subjects", pidNamespace());
const staleAfterMs = 60 * 60 * 1000;

function removeStaleFolders(): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(foldersRoot);
  } catch {
    return;
  }
  for (const name of entries) {
    const folder = path.join(foldersRoot, name);
    const modified = fs.statSync(folder, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
    if (Date.now() - modified > staleAfterMs) fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** A subject folder before its run is known: the driver and an empty scratch folder. */
interface Folder {
  root: string;
  fixtures: string;
  scratch: string;
}

/** A subject folder for a run: the code under test goes in beside the driver. */
interface RunFolder extends Folder {
  labDir: string;
  /** Resolves once the code under test is transpiled into the folder (the subject may start before). */
  filled: Promise<void>;
}

/** A fresh subject folder, empty for now. */
function newFolder(): Folder {
  fs.mkdirSync(foldersRoot, { recursive: true });
  const root = fs.realpathSync(fs.mkdtempSync(path.join(foldersRoot, `${process.pid}-`)));
  const fixtures = path.join(root, "fixtures");
  const scratch = path.join(root, "scratch");
  for (const dir of [scratch, fixtures]) fs.mkdirSync(dir, { recursive: true });
  return { root, fixtures, scratch };
}

/** Puts the driver into the folder: a subject can start there once it is in. */
async function addDriver(folder: Folder): Promise<Folder> {
  await fs.promises.copyFile(await driverBundle(), path.join(folder.root, "driver.js"));
  return folder;
}

/** Transpiles and copies the learner's files, proto/ and the fixtures of `config` into the folder (`filled`). */
function fillFolder(folder: Folder, config: SubjectConfig): RunFolder {
  const labDir = path.join(folder.root, "labs", config.labId);
  const jobs = config.sourceDirs.filter((dir) => fs.statSync(path.join(config.tree, dir), { throwIfNoEntry: false })?.isDirectory()).map((dir) => transpileTree(path.join(config.tree, dir), path.join(labDir, dir), config.tree));
  jobs.push(fs.promises.cp(protoDirFor(config.tree), path.join(folder.root, "proto"), { recursive: true }));
  const fixtureFiles = fs.existsSync(config.checksDir) ? fs.readdirSync(config.checksDir).filter((f) => f.endsWith(".fixture.ts")) : [];
  for (const file of fixtureFiles) jobs.push(transpileFile(path.join(config.checksDir, file), path.join(folder.fixtures, file), config.checksDir));
  const filled = Promise.all(jobs).then(() => undefined);
  filled.catch(() => undefined);
  return { ...folder, labDir, filled };
}

// ---------------------------------------------------------------------------
// The process

/** What the subject may read: its folder and each installed package (not node_modules/.cache, where other runs keep things). */
function readablePaths(folder: Folder): string[] {
  const packages = fs
    .readdirSync(packagesDir)
    .filter((name) => !name.startsWith("."))
    .map((name) => path.join(packagesDir, name));
  return [folder.root, ...packages];
}

function permissionFlags(folder: Folder, scratch: string): string[] {
  const major = Number(process.versions.node.split(".")[0]);
  // Node 26's permission model also covers the network; the learner's servers and clients need it (on loopback, in the checks).
  const network = process.allowedNodeEnvironmentFlags.has("--allow-net") ? ["--allow-net"] : [];
  return [major >= 22 ? "--permission" : "--experimental-permission", ...network, ...readablePaths(folder).map((p) => `--allow-fs-read=${p}`), `--allow-fs-write=${scratch}`];
}

/** The subject's whole environment: nothing of the judge's, the learner's or the instructor's. */
function subjectEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NODE_PATH: packagesDir };
  for (const name of ["TZ", "LANG", "NO_COLOR", "SystemRoot", "__STRYKER_ACTIVE_MUTANT__"]) if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

/**
 * Resident memory of a process in MB: from /proc on Linux, from `ps` on macOS
 * and the BSDs; undefined where neither tells (Windows, where only the heap
 * limit applies).
 */
async function residentMb(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  if (process.platform === "linux") {
    try {
      const pages = Number(fs.readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
      return (pages * 4096) / (1024 * 1024);
    } catch {
      return undefined;
    }
  }
  if (process.platform === "win32") return undefined;
  const kb = Number((await psColumn(pid, "rss")) ?? Number.NaN);
  return !Number.isFinite(kb) || kb === 0 ? undefined : kb / 1024;
}

/** One column of `ps` for a process (macOS and the BSDs), as text; undefined if ps could not tell. */
function psColumn(pid: number, column: "rss" | "time"): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile("ps", ["-o", `${column}=`, "-p", String(pid)], { timeout: 1000 }, (error, stdout) => resolve(error ? undefined : stdout.trim()));
  });
}

/** CPU time a process has used, in ms, from /proc (Linux); undefined elsewhere or once it has gone. */
export function linuxCpuMs(pid: number | undefined): number | undefined {
  return linuxStat(pid)?.cpuMs;
}

/** A silence of the subject: how long, and (Linux) what the samples taken during it saw. */
export interface Silence {
  ms: number;
  /** Samples of its state, and how many found it runnable (running or waiting for a CPU). */
  samples?: number;
  runnable?: number;
  /** Over the sampled part of the silence: how long, and the CPU time it used. */
  sampledMs?: number;
  cpuMs?: number;
}

/**
 * Whether a subject silent for at least silenceMs is blocked, waited for a
 * CPU long enough (starved), or should be given more time: runnable in most
 * samples and computing less than busyCpuShare of the time, it is waiting
 * for a CPU, not blocking it (starvedLimitMs). Asleep without a beat (a
 * synchronous wait), or computing, it is blocked; without samples, the
 * silence alone decides, as on Windows.
 */
export function silenceVerdict(silence: Silence): "blocked" | "wait" | "starved" {
  const { ms, samples = 0, runnable = 0, sampledMs = 0, cpuMs = 0 } = silence;
  if (samples < 3 || runnable < samples / 2 || cpuMs >= sampledMs * busyCpuShare) return "blocked";
  return ms < starvedLimitMs ? "wait" : "starved";
}

/** A process's CPU time (ms) and whether it is running or waiting for a CPU (state R), from /proc on Linux; undefined elsewhere. */
function linuxStat(pid: number | undefined): { cpuMs: number; runnable: boolean } | undefined {
  if (pid === undefined || process.platform !== "linux") return undefined;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    // The state, then utime and stime in clock ticks of 10 ms.
    return { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, runnable: fields[0] === "R" };
  } catch {
    return undefined;
  }
}

/**
 * CPU time a process has used, in ms: from /proc on Linux, from `ps` on macOS
 * and the BSDs (to the hundredth of a second); undefined where neither tells
 * (Windows), or once the process has gone.
 */
async function processCpuMs(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined || process.platform === "win32") return undefined;
  if (process.platform === "linux") return linuxCpuMs(pid);
  const time = await psColumn(pid, "time");
  return time === undefined ? undefined : psTimeMs(time);
}

/** `ps -o time` as ms: "[[dd-]hh:]mm:ss.cc". */
export function psTimeMs(text: string): number | undefined {
  const match = /^(?:(?:(\d+)-)?(\d+):)?(\d+):(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!match) return undefined;
  const [, days = "0", hours = "0", minutes, seconds] = match;
  return Math.round((((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000);
}

/** Node's own warnings that the permission model (Node 20) or its --allow-net (Node 26) is experimental are not the learner's output. */
const permissionWarning = /ExperimentalWarning: (Permission is an experimental feature|The flag --allow-net is under experimental phase)|Use `node --trace-warnings \.\.\.` to show where the warning was created/;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What happened in the learner's code during the current check. */
export interface CheckEvents {
  handlerErrors: string[];
  /** An exception nobody caught, or process.exit(): fails the check. */
  uncaught: string[];
  /** Why the subject stopped during the check, if it did. */
  fault: string | undefined;
  /** What the check's reference clients and recording servers sent and received (wire.ts). */
  wire: Wire;
}

/** Where what the learner's code prints goes, with the lane of the check it printed for (undefined: none running). */
export type OutputSink = (lane: Lane | undefined, stream: "stdout" | "stderr", text: string) => void;

const toOwnOutput: OutputSink = (_lane, stream, text) => void (stream === "stdout" ? process.stdout : process.stderr).write(text);

/**
 * A subject process and the lanes whose checks run in it now. Several checks
 * share one subject: each request names its check, and the subject runs it,
 * and the handlers of the servers the check binds, in that check's async
 * context, so what the learner's code does is told apart by check. A fault
 * that cannot be told apart (the subject crashed, blocked its event loop, an
 * exception nobody caught came from no known check) fails every check
 * running in it; those that shared it are run again, alone (check-worker.ts).
 */
export class Host {
  current: Subject | undefined;
  starting: Promise<Subject> | undefined;
  /** The lanes with a check running in this host's subject. */
  readonly lanes = new Set<Lane>();
  /** A check runs here alone (serial(), or again after a fault it shared): no other joins it. */
  exclusive = false;

  constructor(readonly index: number) {}

  /** The host's subject, if one is running. */
  get running(): Subject | undefined {
    return this.current?.alive ? this.current : undefined;
  }

  /** The lane whose check is `checkId`, if it runs here. */
  laneOf(checkId: string | undefined): Lane | undefined {
    if (checkId === undefined) return undefined;
    for (const lane of this.lanes) if (lane.checkId === checkId) return lane;
    return undefined;
  }

  /** Fails the check of `culprit` with `reason`; the others running here were held up by it, and run again. */
  faultOne(culprit: Lane, reason: string): void {
    culprit.events.fault ??= reason;
    culprit.looped = true;
    this.disturbAll(culprit);
  }

  /** Code not theirs stopped the subject under the checks running here (but `culprit`): they run again. */
  disturbAll(culprit?: Lane): void {
    for (const lane of this.lanes) {
      if (lane === culprit) continue;
      lane.events.fault ??= disturbedReason;
      lane.disturbed = true;
    }
  }

  /** Fails every check running here with `reason`; when several were, none can be told the cause: they run again, alone. */
  faultAll(reason: string): void {
    for (const lane of this.lanes) {
      lane.events.fault ??= reason;
      if (this.lanes.size > 1) lane.shared = true;
    }
  }
}

/**
 * One lane of the judge: checks run in it one after another, while other
 * lanes run other checks, in a subject it shares with some of them (its
 * host, chosen for each check). A fault of the subject (a crash, a blocked
 * event loop, too much memory) fails the checks running in it; the next
 * check gets a fresh subject.
 */
export class Lane {
  /** What the learner's code did during the lane's current check. */
  events: CheckEvents = { handlerErrors: [], uncaught: [], fault: undefined, wire: new Wire() };
  /** The id of the lane's current check, for the output the judge passes on. */
  checkId: string | undefined;
  /** The fault that failed the current check was one it shared with other checks in its subject. */
  shared = false;
  /** Another check's code stopped the subject while this one ran: its run tells nothing, and it runs again. */
  disturbed = false;
  /** This check's code kept the subject's event loop busy, and it was stopped for it. */
  looped = false;

  constructor(
    readonly index: number,
    public host: Host,
  ) {}

  /** Starts a check (in its host, which the judge chose): what the learner's code does from now on is the new check's. */
  begin(checkId?: string): void {
    if (checkId === undefined) this.host.lanes.delete(this);
    else this.host.lanes.add(this);
    this.checkId = checkId;
    this.shared = false;
    this.disturbed = false;
    this.looped = false;
    this.events = { handlerErrors: [], uncaught: [], fault: undefined, wire: new Wire() };
  }
}

/** Starts a check in the current lane: what the learner's code does from now on is the new check's. */
export function beginCheck(checkId?: string): void {
  currentLane().begin(checkId);
}

/** What the learner's code did during the current check. */
export function checkEvents(): CheckEvents {
  return currentLane().events;
}

/** A subject process, and when it has loaded the driver (its first message) or could not. */
interface StartedProcess {
  child: ChildProcess;
  ready: Promise<void>;
}

/** Each host's subject writes to a scratch folder of its own. */
function scratchOf(folder: Folder, hostIndex: number): string {
  const scratch = path.join(folder.scratch, String(hostIndex));
  fs.mkdirSync(scratch, { recursive: true });
  return scratch;
}

/** Starts the driver in `folder` for host `hostIndex`: it loads, says it is ready, and waits for its run (configure). */
function startProcess(folder: Folder, hostIndex: number, memoryMb: number): StartedProcess {
  const heapMb = Math.max(64, Math.floor(memoryMb * 0.75));
  const scratch = scratchOf(folder, hostIndex);
  // A small young generation, as for the judge (worker-process.cjs): less memory, no time lost.
  const child = spawn(process.execPath, [...permissionFlags(folder, scratch), "--enable-source-maps", "--max-semi-space-size=2", `--max-old-space-size=${heapMb}`, path.join(folder.root, "driver.js")], {
    cwd: scratch,
    env: subjectEnv(),
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced",
    windowsHide: true,
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", () => reject(new Error("exited")));
  });
  ready.catch(() => undefined);
  return { child, ready };
}

export class Subject {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextCall = 0;
  private readonly exported = new Map<string, object>();
  private readonly exportIds = new WeakMap<object, string>();
  private nextExport = 0;
  private readonly standIns = new WeakMap<object, { owner: Side; id: string }>();
  private readonly standInsById = new Map<string, WeakRef<object>>();
  private silence: NodeJS.Timeout | undefined;
  private readonly busyWatch: NodeJS.Timeout;
  private readonly memoryMb: number;
  /** The subject's CPU time when its current silence was first measured. */
  private silentFrom: { heard: number; at: number; cpuMs: number; switches: string } | undefined;
  /** Samples of the subject's state during its current silence (Linux), each beat: whether it could run. */
  private silentStates: { heard: number; at: number; cpuMs: number; samples: number; runnable: number } | undefined;
  /** Where the subject names the check whose code runs (codec.ts). */
  private readonly runningCheckPath: string;
  private lastHeard = Date.now();
  /** The time, summed, that the subject's beats came late (stalledMs). */
  private stalledBefore = 0;
  /** When the last beat came, and the subject's CPU time then. */
  private lastBeat: { at: number; cpuMs: number | undefined } | undefined;
  private readonly memoryWatch: NodeJS.Timeout;
  private exitText: string | undefined;
  private faultReason: string | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  /** The driver's functions (scripts/subject/driver.ts). */
  readonly driver: Record<string, (...args: unknown[]) => Promise<unknown>>;

  constructor(
    private readonly folder: RunFolder,
    config: SubjectConfig,
    private readonly host: Host,
    private readonly output: OutputSink,
    started: StartedProcess = startProcess(folder, host.index, config.memoryMb),
  ) {
    this.child = started.child;
    this.runningCheckPath = path.join(scratchOf(folder, host.index), runningCheckFile);
    this.child.send({ t: "configure", options: { root: config.tree, mirror: folder.labDir, fixtures: folder.fixtures } } satisfies ToSubject);
    // What the code prints for no check it could tell (a timer set when a module loaded) goes with the check that runs longest here.
    this.child.stdout!.on("data", (chunk: Buffer) => output(this.host.lanes.values().next().value, "stdout", chunk.toString()));
    this.child.stderr!.on("data", (chunk: Buffer) => {
      const text = chunk
        .toString()
        .split("\n")
        .filter((line) => !permissionWarning.test(line) && !/^\(node:\d+\) $/.test(line))
        .join("\n");
      if (text.trim()) output(this.host.lanes.values().next().value, "stderr", text);
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const reason = `the process that runs your code did not start within ${readyMs / 1000} s`;
        reject(new SubjectFault(reason));
        this.stop(reason);
      }, readyMs);
      started.ready.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        () => {
          clearTimeout(timer);
          reject(new SubjectFault(this.faultReason ?? "the process that runs your code could not start"));
        },
      );
    });
    this.ready.catch(() => undefined);
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    this.child.on("message", (message: FromSubject) => this.onMessage(message));
    this.child.on("exit", (code, signal) => this.onExit(code, signal));
    this.child.on("error", () => undefined);
    // Silence counts from the first message (ready): starting Node on a busy machine can take seconds, and readyMs covers it.
    this.memoryMb = config.memoryMb;
    this.memoryWatch = setInterval(() => void this.checkMemory(), process.platform === "linux" ? 200 : 500);
    this.memoryWatch.unref();
    this.busyWatch = setInterval(() => {
      this.sampleSilence();
      void this.probeBusy();
    }, beatMs);
    this.busyWatch.unref();
    const refs = this.references();
    this.driver = new Proxy({} as Record<string, (...args: unknown[]) => Promise<unknown>>, {
      get: (_t, method) => (typeof method === "string" ? (...args: unknown[]) => this.request({ t: "call", id: 0, target: "driver", method, args: args.map((a) => encode(a, refs)) }) : undefined),
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.faultReason === undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Milliseconds since the subject last said anything (it beats every beatMs while its event loop turns). */
  get silentMs(): number {
    return Date.now() - this.lastHeard;
  }

  /**
   * How long, summed over its life so far, the subject could not be heard
   * though it should have been: each gap between two of its beats longer
   * than stallAfterMs counts, less one beat and less the CPU time the subject
   * used meanwhile (onBeat). A subject that waits idle beats on time; one
   * starved of CPU (a machine running more than it has cores for) beats late
   * without computing, and so does any subject of a judge that was starved
   * itself (it reads the beats late). A silence going on now counts whole.
   */
  get stalledMs(): number {
    const silent = Date.now() - (this.lastBeat?.at ?? this.lastHeard);
    return this.stalledBefore + (silent > stallAfterMs ? silent - beatMs : 0);
  }

  /** Stops the subject; `reason` fails whatever was waiting on it, and the checks running in it. */
  stop(reason = "stopped by the judge"): void {
    if (this.faultReason === undefined) {
      this.faultReason = reason;
      this.host.faultAll(reason);
    }
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  /**
   * Busy: silent for busyMs while it used most of a core. The first look at a
   * silence notes the subject's CPU time, a later one compares. The verdict
   * waits for the poll phase, where beats the judge had no time to read (it
   * was busy itself) are read: a subject that beat meanwhile is not busy.
   */
  private async probeBusy(): Promise<void> {
    const heard = this.lastHeard;
    const silent = Date.now() - heard;
    if (!this.alive || silent < busyMs / 2) return void (this.silentFrom = undefined);
    const cpuMs = await processCpuMs(this.child.pid);
    if (cpuMs === undefined || this.lastHeard !== heard) return;
    const at = Date.now();
    const { switches } = this.runningCheck();
    // The subject switched between checks meanwhile: their work, not one check's loop; look again from now.
    if (this.silentFrom?.heard !== heard || this.silentFrom.switches !== switches) return void (this.silentFrom = { heard, at, cpuMs, switches });
    const span = at - this.silentFrom.at;
    if (at - heard < busyMs + beatMs || span < busyMs / 2 || cpuMs - this.silentFrom.cpuMs < span * busyCpuShare) return;
    // Filling memory keeps a core busy too: when that is the cause, the memory rule says so.
    if (await this.checkMemory()) return;
    setImmediate(() => {
      if (this.lastHeard === heard && this.alive) this.busy(Date.now() - heard);
    });
  }

  /** Notes, during a silence (Linux), whether the subject could run: state R, running or waiting for a CPU. */
  private sampleSilence(): void {
    const heard = this.lastHeard;
    if (Date.now() - heard < busyMs / 2) return void (this.silentStates = undefined);
    const stat = linuxStat(this.child.pid);
    if (!stat) return;
    if (this.silentStates?.heard !== heard) this.silentStates = { heard, at: Date.now(), cpuMs: stat.cpuMs, samples: 0, runnable: 0 };
    this.silentStates.samples++;
    if (stat.runnable) this.silentStates.runnable++;
  }

  /** What is known of the current silence: its length, and from the samples (Linux) how often the subject could run and what it computed. */
  private silenceNow(): Silence {
    // One more sample, now: a judge that was starved itself sampled seldom.
    this.sampleSilence();
    const ms = Date.now() - this.lastHeard;
    const states = this.silentStates;
    const stat = linuxStat(this.child.pid);
    if (!states || !stat || states.heard !== this.lastHeard) return { ms };
    return { ms, samples: states.samples, runnable: states.runnable, sampledMs: Date.now() - states.at, cpuMs: stat.cpuMs - states.cpuMs };
  }

  /** Stops the subject if it uses more memory than it may; whether it did. */
  private async checkMemory(): Promise<boolean> {
    const rss = await residentMb(this.child.pid);
    if (rss === undefined || rss <= this.memoryMb || !this.alive) return false;
    this.stop(`your code used more than ${this.memoryMb} MB of memory (it had ${Math.round(rss)} MB): is something growing without bound?`);
    return true;
  }

  /**
   * The code of the check named in the running-check file kept the event loop
   * busy for `ms`: that check fails, the subject stops, and the checks beside
   * it run again. When the code was a check's that has ended, the checks
   * running here run again and none fails for it; when it was no check's (a
   * timer set when a module loaded), the fault is every check's here, as with
   * a silent subject; while a module loads, nothing is decided here.
   */
  private busy(ms: number): void {
    const { check, loading } = this.runningCheck();
    // Loading a module takes as long as its top-level code: the silence rule decides.
    if (loading) return;
    if (!check) return this.stop(busyReason(ms));
    this.faultReason = busyReason(ms);
    const culprit = this.host.laneOf(check);
    if (culprit) this.host.faultOne(culprit, this.faultReason);
    // A check that has ended (a timer its handler set, a call still on its way): the checks
    // running now only shared the subject with its code, so none is blamed, and they run again.
    else this.host.disturbAll();
    this.child.kill("SIGKILL");
  }

  /** What the running-check file says (codec.ts): no name when there is none, nobody's code; the file loading, if one is. */
  private runningCheck(): { check: string; loading: string; switches: string } {
    try {
      const [check = "", loading = "", switches = ""] = fs.readFileSync(this.runningCheckPath, "utf8").split("\n");
      return { check, loading, switches };
    } catch {
      return { check: "", loading: "", switches: "" };
    }
  }

  /** Ends the subject. */
  async dispose(): Promise<void> {
    this.stop();
    clearInterval(this.memoryWatch);
    clearInterval(this.busyWatch);
    clearTimeout(this.silence);
    await this.exited;
  }

  private watchSilence(): void {
    this.lastHeard = Date.now();
    this.armSilence(silenceMs);
  }

  /**
   * A beat came: a gap since the last one longer than stallAfterMs is a
   * stall (stalledMs), less one beat and less what the subject computed
   * meanwhile (its CPU time, which the beat carries). Loading a module, or
   * the learner's code computing, holds the beats back too, but that is the
   * subject's own work, which the silence and busy rules judge; a stall is
   * time it could not run.
   */
  private onBeat(cpuMs: number | undefined): void {
    const now = Date.now();
    const last = this.lastBeat;
    this.lastBeat = { at: now, cpuMs };
    if (!last || now - last.at <= stallAfterMs) return;
    // Without the CPU time at the gap's start (it began at the subject's first message), all of it counts.
    const computed = cpuMs === undefined || last.cpuMs === undefined ? 0 : Math.max(0, cpuMs - last.cpuMs);
    this.stalledBefore += Math.max(0, now - last.at - beatMs - computed);
  }

  /**
   * The subject is blocked when it said nothing for silenceMs. But the judge
   * itself may have been busy (loading the checks is synchronous, and other
   * lanes' subjects start meanwhile): what the subject sent then is still
   * queued. So the verdict waits for the poll phase, where queued messages
   * are read, and a timer that fired late gives the subject another round.
   * A subject that was waiting for a CPU, not blocking, gets more (starved()).
   */
  private armSilence(ms: number): void {
    clearTimeout(this.silence);
    const due = Date.now() + ms;
    this.silence = setTimeout(() => {
      const late = Date.now() - due;
      setImmediate(() => {
        if (!this.alive) return;
        const silent = this.silentMs;
        if (silent < silenceMs) return this.armSilence(silenceMs - silent);
        if (late > 250) return this.armSilence(500);
        const silence = this.silenceNow();
        const verdict = silenceVerdict(silence);
        if (verdict === "wait") return this.armSilence(250);
        if (verdict === "starved") return this.stop(starvedReason(silence.ms, silence.cpuMs ?? 0));
        const { loading } = this.runningCheck();
        if (!loading) return this.stop(blockedReason);
        const reason = loadBlockedReason(loading);
        if (silence.sampledMs && (silence.cpuMs ?? 0) >= silence.sampledMs * busyCpuShare) unfinishedLoads.set(loading, reason);
        this.stop(reason);
      });
    }, ms);
    this.silence.unref();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(this.silence);
    clearInterval(this.memoryWatch);
    clearInterval(this.busyWatch);
    if (this.faultReason === undefined) {
      // It ended on its own, during the current check (a judge's stop has already said why, in the check it stopped).
      this.faultReason = this.exitText ?? `the process that runs your code ended (${signal ?? `exit code ${code}`}): did it crash?`;
      this.host.faultAll(this.faultReason);
    }
    for (const pending of this.pending.values()) pending.reject(new SubjectFault(this.faultReason));
    this.pending.clear();
  }

  private onMessage(message: FromSubject): void {
    this.watchSilence();
    // A gap before the first beat counts too (a subject stopped as it started).
    if (!this.lastBeat && message.t !== "beat") this.lastBeat = { at: Date.now(), cpuMs: undefined };
    const refs = this.references();
    switch (message.t) {
      case "beat":
        return this.onBeat(Number(message.cpuMs) || 0);
      case "reply": {
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        const value = decode(message.value, refs);
        if (message.ok) pending.resolve(value);
        else pending.reject(value);
        return;
      }
      case "call":
        return void this.answer(message.id, message.target, message.args, message.wantsReply);
      case "event": {
        if (message.kind === "exit") return void (this.exitText = String(message.text));
        // The check the code worked for (nobody's, if that check has ended); when the subject cannot tell, every check running here.
        const known = typeof message.check === "string";
        const own = known ? this.host.laneOf(String(message.check)) : undefined;
        const lanes = own ? [own] : known ? [] : [...this.host.lanes];
        for (const lane of lanes) {
          (message.kind === "handler-error" ? lane.events.handlerErrors : lane.events.uncaught).push(String(message.text));
          if (lanes.length > 1) lane.shared = true;
        }
        return;
      }
      case "output": {
        const lane = this.host.laneOf(String(message.check));
        if (lane) this.output(lane, message.stream === "stderr" ? "stderr" : "stdout", String(message.text));
        return;
      }
      default:
        return;
    }
  }

  /** The learner's code called a function a check passed it. */
  private async answer(id: number, target: string, args: unknown[], wantsReply: boolean): Promise<void> {
    const refs = this.references();
    let reply: ToSubject;
    try {
      const local = this.exported.get(String(target));
      const decoded = (Array.isArray(args) ? args : []).map((a) => decode(a as never, refs));
      let value: unknown;
      if (typeof local === "function") value = await (local as (...a: unknown[]) => unknown)(...decoded);
      else if (local && typeof decoded[0] === "string") value = await (local as Record<string, (...a: unknown[]) => unknown>)[decoded[0]]?.(...decoded.slice(1));
      else throw new Error("no such function");
      reply = { t: "reply", id, ok: true, value: encode(value, refs) };
    } catch (error) {
      reply = { t: "reply", id, ok: false, value: encode(error, refs) };
    }
    if (wantsReply) this.send(reply);
  }

  private send(message: ToSubject): void {
    if (this.child.connected) this.child.send(message, (error) => error && undefined);
  }

  /** Sends a request for the current check and resolves with the subject's answer; rejects with a SubjectFault if the subject stops first. */
  request(message: Extract<ToSubject, { id: number }>): Promise<unknown> {
    if (!this.alive) return Promise.reject(new SubjectFault(this.faultReason ?? "the process that runs your code has stopped"));
    const id = ++this.nextCall;
    const check = currentLane().checkId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ ...message, id, ...(check === undefined ? {} : { check }) });
    });
  }

  private referencesCache: References | undefined;
  references(): References {
    this.referencesCache ??= {
      side: "judge",
      export: (value) => {
        let id = this.exportIds.get(value);
        if (id === undefined) {
          id = `j${++this.nextExport}`;
          this.exportIds.set(value, id);
          this.exported.set(id, value);
          if (value instanceof AbortSignal) {
            const signal = value;
            signal.addEventListener("abort", () => this.send({ t: "abort", signal: id!, reason: encode(signal.reason, this.references()) }), { once: true });
          }
        }
        return id;
      },
      local: (id) => this.exported.get(id),
      remoteId: (value) => ((typeof value === "object" || typeof value === "function") && value !== null ? this.standIns.get(value) : undefined),
      stand: (tag) => this.standIn(tag),
    };
    return this.referencesCache;
  }

  /** A stand-in for one of the subject's functions or objects: calling it, or its methods, runs them there. */
  private standIn(tag: Extract<Tagged, { $: "f" | "r" }>): object {
    const id = String(tag.id);
    const known = this.standInsById.get(id)?.deref();
    if (known) return known;
    const refs = this.references();
    const call = (method: string | null, args: unknown[]) => this.request({ t: "call", id: 0, target: id, method, args: args.map((a) => encode(a, refs)) });
    let standIn: object;
    if (tag.$ === "f") {
      const fn = function (...args: unknown[]) {
        return call(null, args);
      };
      Object.defineProperty(fn, "name", { value: String(tag.name) });
      standIn = new Proxy(fn, {
        construct: () => {
          throw new CheckFailure("a check constructed a class of the code under test with `new`: use check-kit's construct()");
        },
      });
    } else {
      const methods = new Set((Array.isArray(tag.methods) ? tag.methods : []).map(String));
      standIn = new Proxy(
        {},
        {
          get: (_target, property) => {
            if (typeof property !== "string" || property === "then") return undefined;
            if (methods.has(property)) return (...args: unknown[]) => call(property, args);
            // Anything else is a property of the learner's object, read when asked.
            return this.request({ t: "get", id: 0, target: id, property });
          },
        },
      );
    }
    this.standIns.set(standIn, { owner: "subject", id });
    this.standInsById.set(id, new WeakRef(standIn));
    return standIn;
  }

  /** Constructs a class of the code under test in the subject. */
  construct(Class: unknown, args: unknown[]): Promise<unknown> {
    const remote = this.standIns.get(Class as object);
    if (!remote) return Promise.reject(new CheckFailure("construct() takes a class from the code under test"));
    const refs = this.references();
    return this.request({ t: "construct", id: 0, target: remote.id, args: args.map((a) => encode(a, refs)) });
  }

  isStandIn(value: unknown): boolean {
    return (typeof value === "object" || typeof value === "function") && value !== null && this.standIns.has(value);
  }

  /** Starts a subject in `folder` for `host` (or takes one started before) and waits until it is ready. */
  static async start(folder: RunFolder, config: SubjectConfig, host: Host, output: OutputSink, started?: StartedProcess): Promise<Subject> {
    const subject = new Subject(folder, config, host, output, started);
    await subject.ready;
    return subject;
  }
}

// ---------------------------------------------------------------------------
// The lanes, and the current check's subject, for check-kit's helpers

/** The next run's first subject, started before the run is known (prepareSubject). */
interface Prepared {
  /** Made at once, so that a judge that leaves while the driver is copied in removes it. */
  folder: Folder;
  memoryMb: number;
  /** Once the driver is in. */
  started?: StartedProcess;
}

let config: SubjectConfig | undefined;
let folder: Promise<RunFolder> | undefined;
let prepared: Prepared | undefined;
let output: OutputSink = toOwnOutput;
let hosts: Host[] = [new Host(0)];
let lanes: Lane[] = [new Lane(0, hosts[0]!)];
setWireSource(() => currentLane().events.wire);

/** The lane of the check this code works for; outside a check, the first. */
export function currentLane(): Lane {
  return (checkScope.getStore()?.lane as Lane | undefined) ?? lanes[0]!;
}

/** The run's lanes (configureSubject makes them). */
export function allLanes(): readonly Lane[] {
  return lanes;
}

/** The run's hosts, each for one subject at a time (configureSubject makes them). */
export function allHosts(): readonly Host[] {
  return hosts;
}

function startSubject(host: Host, early?: StartedProcess): Promise<Subject> {
  const use = config!;
  const starting = folder!.then((built) => Promise.all([Subject.start(built, use, host, output, early), built.filled])).then(([started]) => (host.current = started));
  host.starting = starting;
  // A start that failed fails the check that waited for it; the host's next check tries again.
  starting.catch(() => {
    if (host.starting === starting) host.starting = undefined;
  });
  return starting;
}

export interface LaneOptions {
  /** How many checks run at once (default 1). */
  lanes?: number;
  /** How many subjects they share (default 1, at most one a lane). */
  hosts?: number;
  /** Where the subjects' output goes (default: this process's stdout and stderr). */
  output?: OutputSink;
}

/**
 * Sets what the subjects of the next run execute (the judge does it before
 * each run): transpiles the code under test once, into one folder that every
 * subject reads, and starts the first host's subject now, while the checks
 * load.
 */
export function configureSubject(next: SubjectConfig, options: LaneOptions = {}): void {
  config = next;
  removeStaleFolders();
  pruneCache();
  const early = takePrepared(next.memoryMb);
  folder = early ? Promise.resolve(fillFolder(early.folder, next)) : addDriver(newFolder()).then((empty) => fillFolder(empty, next));
  folder.catch(() => undefined);
  output = options.output ?? toOwnOutput;
  const laneCount = Math.max(1, Math.floor(options.lanes ?? 1));
  hosts = Array.from({ length: Math.min(laneCount, Math.max(1, Math.floor(options.hosts ?? 1))) }, (_, index) => new Host(index));
  lanes = Array.from({ length: laneCount }, (_, index) => new Lane(index, hosts[index % hosts.length]!));
  // The first host's subject starts now, while the checks load (or started before the run); the judge starts the others when checks wait (hostReady).
  void startSubject(hosts[0]!, early?.started);
}

/**
 * Starts the next run's first subject now, before the run is known: a warm
 * judge's (warm-judge.ts) and watch mode's between saves. It loads Node, the
 * driver and `packages` (the installed packages the code under test required
 * last run: requiredPackages), and the run finds it ready: it only adds the
 * code under test.
 */
export async function prepareSubject(memoryMb: number, packages: readonly string[] = []): Promise<void> {
  if (prepared) return;
  const next: Prepared = { folder: newFolder(), memoryMb };
  prepared = next;
  const copied = await addDriver(next.folder).then(() => true, () => false);
  // Discarded while the driver was copied in: its folder may have been removed before the copy ended.
  if (prepared !== next) return removeFolder(next.folder);
  if (!copied) return;
  const started = startProcess(next.folder, 0, memoryMb);
  next.started = started;
  const named = packages.filter(isPackageSpecifier);
  if (named.length > 0) void started.ready.then(() => started.child.connected && started.child.send({ t: "preload", packages: named } satisfies ToSubject), () => undefined);
}

/** A bare specifier of an installed package ("jose", "@opentelemetry/api", "@bufbuild/protobuf/wire"), not of Node's own modules. */
export function isPackageSpecifier(specifier: unknown): specifier is string {
  return typeof specifier === "string" && /^(@[\w.-]+\/)?[\w-][\w.-]*(\/(?!\.\.?(\/|$))[\w.-]+)*$/.test(specifier) && !isBuiltin(specifier);
}

/**
 * The installed packages the code under test of this run requires, as it
 * names them: read from its transpiled files (type-only imports are gone
 * there). For the next run's prepared subject (prepareSubject).
 */
export async function requiredPackages(): Promise<string[]> {
  const built = await folder?.catch(() => undefined);
  if (!built || !(await built.filled.then(() => true, () => false))) return [];
  const found = new Set<string>();
  const read = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) read(file);
      else if (entry.name.endsWith(".js")) for (const [, specifier] of fs.readFileSync(file, "utf8").matchAll(/\brequire\("([^"]+)"\)/g)) if (isPackageSpecifier(specifier)) found.add(specifier);
    }
  };
  try {
    read(built.labDir);
  } catch {
    return [];
  }
  return [...found];
}

/** The prepared subject if it has started and can serve a run with this memory limit (else it is discarded). */
function takePrepared(memoryMb: number): { folder: Folder; started: StartedProcess } | undefined {
  const taken = prepared;
  prepared = undefined;
  if (!taken) return undefined;
  const child = taken.started?.child;
  // Its folder may have been removed as stale by another judge, had it waited for an hour.
  const usable = taken.memoryMb === memoryMb && child?.exitCode === null && child.signalCode === null && fs.existsSync(path.join(taken.folder.root, "driver.js"));
  if (usable) return { folder: taken.folder, started: taken.started! };
  discard(taken);
  return undefined;
}

function discard(taken: Prepared): void {
  taken.started?.child.kill("SIGKILL");
  removeFolder(taken.folder);
}

function removeFolder(folder: Folder): void {
  try {
    fs.rmSync(folder.root, { recursive: true, force: true });
  } catch {
    // A file written into it meanwhile (the driver, being copied): prepareSubject removes it again, or it goes as stale.
  }
}

/** Stops the prepared subject and removes its folder (the judge is leaving). */
export function discardPreparedSubject(): void {
  if (prepared) discard(prepared);
  prepared = undefined;
}

/**
 * Starts the host's subject if it has none yet (after the first host's, so
 * that the first check need not share the CPU with starting subjects), and
 * resolves once it has started or failed to.
 */
export async function hostReady(host: Host): Promise<void> {
  if (host.index > 0 && !host.starting) await hosts[0]!.starting?.catch(() => undefined);
  if (!hosts.includes(host)) return;
  await (host.starting ?? startSubject(host)).catch(() => undefined);
}

/** Whether checks run the code under test in a subject (in the judge), or in this process (`serve`, `client`). */
export function subjectConfigured(): boolean {
  return config !== undefined;
}

/**
 * The current check's subject: its host's, or a fresh one if the last
 * stopped (a crash fails the checks it was running, not the rest). A check
 * whose subject stopped under it gets that fault, not a new subject.
 */
export async function subject(): Promise<Subject> {
  const lane = currentLane();
  const host = lane.host;
  if (host.running) return host.running;
  if (lane.events.fault !== undefined && lane.checkId !== undefined) throw new SubjectFault(lane.events.fault);
  if (!config || !folder) throw new Error("no subject configured: checks run through `npm run lab`");
  return replaceSubject(host) ?? host.starting!;
}

/** Starts a fresh subject for the host if its last one stopped and none is starting yet; undefined if one runs or starts. */
export function replaceSubject(host: Host): Promise<Subject> | undefined {
  if (host.running || (host.starting && !host.current) || !config || !folder) return undefined;
  const previous = host.current;
  host.current = undefined;
  if (previous) void previous.dispose();
  return startSubject(host);
}

/** The current lane's subject if one is running, without starting one. */
export function runningSubject(lane = currentLane()): Subject | undefined {
  return lane.host.running;
}

/** Ends the run's subjects and removes their folder. */
export async function stopSubject(): Promise<void> {
  const ending = await Promise.all(hosts.map(async (host) => host.current ?? (await host.starting?.catch(() => undefined))));
  const built = await folder?.catch(() => undefined);
  for (const host of hosts) {
    host.current = undefined;
    host.starting = undefined;
    host.lanes.clear();
  }
  folder = undefined;
  await Promise.all(ending.map((subject) => subject?.dispose()));
  if (built) fs.rmSync(built.root, { recursive: true, force: true });
}
