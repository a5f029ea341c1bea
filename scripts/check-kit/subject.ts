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
import * as os from "node:os";
import * as path from "node:path";
import { decode, encode, type FromSubject, type References, type Side, type Tagged, type ToSubject } from "../subject/codec";
import { CheckFailure } from "./assert";
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
/** Without a word from the subject for this long (it beats every 250 ms), its event loop is blocked. */
const silenceMs = 2000;
export const blockedReason = `your code blocked the event loop for more than ${silenceMs / 1000} s (an endless loop, or a long synchronous computation?)`;
const readyMs = 15000;

// ---------------------------------------------------------------------------
// The subject's folder: the learner's files as JavaScript, proto/, the driver

type Esbuild = typeof import("esbuild");
let esbuildModule: Esbuild | undefined;
const esbuild = (): Esbuild => (esbuildModule ??= require("esbuild") as Esbuild);

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
    transpiled = (await esbuild().transform(code, { loader: "ts", format: "cjs", platform: "node", target: "node20", sourcemap: "inline", sourcefile: source })).code;
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

const esbuildVersion = (): string => (require("esbuild/package.json") as { version: string }).version;

/** The driver and what it imports, bundled into one file once per change of their sources. */
const driverSources = ["subject/driver.ts", "subject/codec.ts", "subject/location.ts", "check-kit/handler-errors.ts"].map((file) => path.join(__dirname, "..", file));

async function driverBundle(): Promise<string> {
  const cached = path.join(cacheDir, `driver-${hash(esbuildVersion(), ...driverSources.map((file) => fs.readFileSync(file, "utf8")))}.js`);
  if (fs.existsSync(cached)) return cached;
  const result = await esbuild().build({
    entryPoints: [driverSources[0]!],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["@grpc/grpc-js"],
    write: false,
    logLevel: "silent",
  });
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

interface Folder {
  root: string;
  labDir: string;
  fixtures: string;
  scratch: string;
  /** Resolves once the code under test is transpiled into the folder (the subject may start before). */
  filled: Promise<void>;
}

/**
 * A fresh subject folder for `config`, with the driver in it: the subject can
 * start at once, while the learner's files, proto/ and the fixtures are
 * transpiled and copied in (`filled`).
 */
async function buildFolder(config: SubjectConfig): Promise<Folder> {
  fs.mkdirSync(foldersRoot, { recursive: true });
  const root = fs.realpathSync(fs.mkdtempSync(path.join(foldersRoot, `${process.pid}-`)));
  const labDir = path.join(root, "labs", config.labId);
  const fixtures = path.join(root, "fixtures");
  const scratch = path.join(root, "scratch");
  for (const dir of [scratch, fixtures]) fs.mkdirSync(dir, { recursive: true });
  await fs.promises.copyFile(await driverBundle(), path.join(root, "driver.js"));
  const jobs = config.sourceDirs.filter((dir) => fs.statSync(path.join(config.tree, dir), { throwIfNoEntry: false })?.isDirectory()).map((dir) => transpileTree(path.join(config.tree, dir), path.join(labDir, dir), config.tree));
  jobs.push(fs.promises.cp(protoDirFor(config.tree), path.join(root, "proto"), { recursive: true }));
  const fixtureFiles = fs.existsSync(config.checksDir) ? fs.readdirSync(config.checksDir).filter((f) => f.endsWith(".fixture.ts")) : [];
  for (const file of fixtureFiles) jobs.push(transpileFile(path.join(config.checksDir, file), path.join(fixtures, file), config.checksDir));
  const filled = Promise.all(jobs).then(() => undefined);
  filled.catch(() => undefined);
  return { root, labDir, fixtures, scratch, filled };
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

/** Resident memory of a process in MB, where the system tells (Linux); undefined elsewhere. */
/**
 * Resident memory of a process in MB: from /proc on Linux, from `ps` on macOS
 * and the BSDs; undefined where neither tells (Windows, where only the heap
 * limit applies).
 */
async function residentMb(pid: number): Promise<number | undefined> {
  if (process.platform === "linux") {
    try {
      const pages = Number(fs.readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
      return (pages * 4096) / (1024 * 1024);
    } catch {
      return undefined;
    }
  }
  if (process.platform === "win32") return undefined;
  return new Promise((resolve) => {
    execFile("ps", ["-o", "rss=", "-p", String(pid)], { timeout: 1000 }, (error, stdout) => {
      const kb = Number(stdout.trim());
      resolve(error || !Number.isFinite(kb) || kb === 0 ? undefined : kb / 1024);
    });
  });
}

/** Node's own warning that the permission model is experimental (Node 20) is not the learner's output. */
const permissionWarning = /ExperimentalWarning: Permission is an experimental feature|Use `node --trace-warnings \.\.\.` to show where the warning was created/;

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

/** Where a lane's subject writes what the learner's code prints. */
export type OutputSink = (lane: Lane, stream: "stdout" | "stderr", text: string) => void;

const toOwnOutput: OutputSink = (_lane, stream, text) => void (stream === "stdout" ? process.stdout : process.stderr).write(text);

/**
 * One lane of the judge: checks run in it one after another, with a subject
 * of its own, while other lanes run other checks. A fault of its subject
 * (a crash, a blocked event loop, too much memory) fails the lane's current
 * check only; the lane's next check gets a fresh subject.
 */
export class Lane {
  /** What the learner's code did during the lane's current check. */
  events: CheckEvents = { handlerErrors: [], uncaught: [], fault: undefined, wire: new Wire() };
  /** The id of the lane's current check, for the output the judge passes on. */
  checkId: string | undefined;
  current: Subject | undefined;
  starting: Promise<Subject> | undefined;

  constructor(
    readonly index: number,
    readonly output: OutputSink,
  ) {}

  /** Starts a check: what the learner's code does from now on is the new check's. */
  begin(checkId?: string): void {
    this.checkId = checkId;
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
  private lastHeard = Date.now();
  private readonly memoryWatch: NodeJS.Timeout;
  private exitText: string | undefined;
  private faultReason: string | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  /** The driver's functions (scripts/subject/driver.ts). */
  readonly driver: Record<string, (...args: unknown[]) => Promise<unknown>>;

  constructor(
    private readonly folder: Folder,
    config: SubjectConfig,
    private readonly lane: Lane,
  ) {
    const heapMb = Math.max(64, Math.floor(config.memoryMb * 0.75));
    // Each lane's subject writes to a scratch folder of its own.
    const scratch = path.join(folder.scratch, String(lane.index));
    fs.mkdirSync(scratch, { recursive: true });
    this.child = spawn(
      process.execPath,
      [...permissionFlags(folder, scratch), "--enable-source-maps", `--max-old-space-size=${heapMb}`, path.join(folder.root, "driver.js"), JSON.stringify({ root: config.tree, mirror: folder.labDir, fixtures: folder.fixtures })],
      { cwd: scratch, env: subjectEnv(), stdio: ["ignore", "pipe", "pipe", "ipc"], serialization: "advanced", windowsHide: true },
    );
    this.child.stdout!.on("data", (chunk: Buffer) => lane.output(lane, "stdout", chunk.toString()));
    this.child.stderr!.on("data", (chunk: Buffer) => {
      const text = chunk
        .toString()
        .split("\n")
        .filter((line) => !permissionWarning.test(line) && !/^\(node:\d+\) $/.test(line))
        .join("\n");
      if (text.trim()) lane.output(lane, "stderr", text);
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const reason = `the process that runs your code did not start within ${readyMs / 1000} s`;
        reject(new SubjectFault(reason));
        this.stop(reason);
      }, readyMs);
      this.child.once("message", () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.once("exit", () => {
        clearTimeout(timer);
        reject(new SubjectFault(this.faultReason ?? "the process that runs your code could not start"));
      });
    });
    this.ready.catch(() => undefined);
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    this.child.on("message", (message: FromSubject) => this.onMessage(message));
    this.child.on("exit", (code, signal) => this.onExit(code, signal));
    this.child.on("error", () => undefined);
    // Silence counts from the first message (ready): starting Node on a busy machine can take seconds, and readyMs covers it.
    this.memoryWatch = setInterval(() => {
      if (this.child.pid === undefined) return;
      void residentMb(this.child.pid).then((rss) => {
        if (rss !== undefined && rss > config.memoryMb) this.stop(`your code used more than ${config.memoryMb} MB of memory (it had ${Math.round(rss)} MB): is something growing without bound?`);
      });
    }, process.platform === "linux" ? 200 : 500);
    this.memoryWatch.unref();
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

  /** Milliseconds since the subject last said anything (it beats every 250 ms while its event loop turns). */
  get silentMs(): number {
    return Date.now() - this.lastHeard;
  }

  /** Stops the subject; `reason` fails whatever was waiting on it, and the current check. */
  stop(reason = "stopped by the judge"): void {
    if (this.faultReason === undefined) {
      this.faultReason = reason;
      this.lane.events.fault ??= reason;
    }
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  /** Ends the subject. */
  async dispose(): Promise<void> {
    this.stop();
    clearInterval(this.memoryWatch);
    clearTimeout(this.silence);
    await this.exited;
  }

  private watchSilence(): void {
    this.lastHeard = Date.now();
    this.armSilence(silenceMs);
  }

  /**
   * The subject is blocked when it said nothing for silenceMs. But the judge
   * itself may have been busy (loading the checks is synchronous, and other
   * lanes' subjects start meanwhile): what the subject sent then is still
   * queued. So the verdict waits for the poll phase, where queued messages
   * are read, and a timer that fired late gives the subject another round.
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
        this.stop(blockedReason);
      });
    }, ms);
    this.silence.unref();
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(this.silence);
    clearInterval(this.memoryWatch);
    if (this.faultReason === undefined) {
      // It ended on its own, during the current check (a judge's stop has already said why, in the check it stopped).
      this.faultReason = this.exitText ?? `the process that runs your code ended (${signal ?? `exit code ${code}`}): did it crash?`;
      this.lane.events.fault ??= this.faultReason;
    }
    for (const pending of this.pending.values()) pending.reject(new SubjectFault(this.faultReason));
    this.pending.clear();
  }

  private onMessage(message: FromSubject): void {
    this.watchSilence();
    const refs = this.references();
    switch (message.t) {
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
      case "event":
        if (message.kind === "handler-error") this.lane.events.handlerErrors.push(String(message.text));
        else if (message.kind === "uncaught") this.lane.events.uncaught.push(String(message.text));
        else this.exitText = String(message.text);
        return;
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

  /** Sends a request and resolves with the subject's answer; rejects with a SubjectFault if the subject stops first. */
  request(message: Extract<ToSubject, { id: number }>): Promise<unknown> {
    if (!this.alive) return Promise.reject(new SubjectFault(this.faultReason ?? "the process that runs your code has stopped"));
    const id = ++this.nextCall;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send({ ...message, id });
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

  /** Starts a subject in `folder` for `lane` and waits until it is ready. */
  static async start(folder: Folder, config: SubjectConfig, lane: Lane): Promise<Subject> {
    const subject = new Subject(folder, config, lane);
    await subject.ready;
    return subject;
  }
}

// ---------------------------------------------------------------------------
// The lanes, and the current check's subject, for check-kit's helpers

let config: SubjectConfig | undefined;
let folder: Promise<Folder> | undefined;
let lanes: Lane[] = [new Lane(0, toOwnOutput)];
setWireSource(() => currentLane().events.wire);

/** The lane of the check this code works for; outside a check, the first. */
export function currentLane(): Lane {
  return (checkScope.getStore()?.lane as Lane | undefined) ?? lanes[0]!;
}

/** The run's lanes (configureSubject makes them). */
export function allLanes(): readonly Lane[] {
  return lanes;
}

function startSubject(lane: Lane): Promise<Subject> {
  const use = config!;
  const starting = folder!.then((built) => Promise.all([Subject.start(built, use, lane), built.filled])).then(([started]) => (lane.current = started));
  lane.starting = starting;
  // A start that failed fails the check that waited for it; the lane's next check tries again.
  starting.catch(() => {
    if (lane.starting === starting) lane.starting = undefined;
  });
  return starting;
}

export interface LaneOptions {
  /** How many lanes run checks at once, each with a subject of its own (default 1). */
  lanes?: number;
  /** Where the subjects' output goes (default: this process's stdout and stderr). */
  output?: OutputSink;
}

/**
 * Sets what the subjects of the next run execute (the judge does it before
 * each run): transpiles the code under test once, into one folder that every
 * lane's subject reads, and starts each lane's subject now, while the checks
 * load.
 */
export function configureSubject(next: SubjectConfig, options: LaneOptions = {}): void {
  config = next;
  removeStaleFolders();
  pruneCache();
  folder = buildFolder(next);
  folder.catch(() => undefined);
  const count = Math.max(1, Math.floor(options.lanes ?? 1));
  lanes = Array.from({ length: count }, (_, index) => new Lane(index, options.output ?? toOwnOutput));
  // The first lane's subject starts now, while the checks load; the judge starts the others when checks wait (laneReady).
  void startSubject(lanes[0]!);
}

/**
 * Starts the lane's subject if it has none yet (after the first lane's, so
 * that the first check need not share the CPU with starting subjects), and
 * resolves once it has started or failed to.
 */
export async function laneReady(lane: Lane): Promise<void> {
  if (lane.index > 0 && !lane.starting) await lanes[0]!.starting?.catch(() => undefined);
  if (!lanes.includes(lane)) return;
  await (lane.starting ?? startSubject(lane)).catch(() => undefined);
}

/** Whether checks run the code under test in a subject (in the judge), or in this process (`serve`, `client`). */
export function subjectConfigured(): boolean {
  return config !== undefined;
}

/** The current lane's running subject, or a fresh one if the last stopped (a crash fails one check, not the rest). */
export async function subject(): Promise<Subject> {
  const lane = currentLane();
  if (lane.current?.alive) return lane.current;
  if (!config || !folder) throw new Error("no subject configured: checks run through `npm run lab`");
  if (lane.starting && !lane.current) return lane.starting;
  const previous = lane.current;
  lane.current = undefined;
  if (previous) void previous.dispose();
  return startSubject(lane);
}

/** The current lane's subject if one is running, without starting one. */
export function runningSubject(lane = currentLane()): Subject | undefined {
  return lane.current?.alive ? lane.current : undefined;
}

/** Ends the run's subjects and removes their folder. */
export async function stopSubject(): Promise<void> {
  const ending = await Promise.all(lanes.map(async (lane) => lane.current ?? (await lane.starting?.catch(() => undefined))));
  const built = await folder?.catch(() => undefined);
  for (const lane of lanes) {
    lane.current = undefined;
    lane.starting = undefined;
  }
  folder = undefined;
  await Promise.all(ending.map((subject) => subject?.dispose()));
  if (built) fs.rmSync(built.root, { recursive: true, force: true });
}
