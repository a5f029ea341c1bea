/**
 * Grades one lab of one submission in isolation: a fresh temporary tree that
 * holds only the instructor's tsconfig, fresh stubs and the learner files, and
 * a child process (check-one.ts) in its own process group, with a time limit,
 * a heap limit, capped output and a minimal environment. The whole group is
 * killed when the child is done or out of time, so an endless loop,
 * process.exit(), a crash, a server left open or spawned processes end
 * there, and the tree is removed.
 * Not a security sandbox: the code runs as the instructor's user (see
 * docs/instructor-guide.md).
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Lab, labsDir, protoDir, workspaceRoot } from "../lib/labs";
import type { LabResult } from "../lib/results";

export interface Limits {
  /** Wall time for one lab's checks, including type-checking. */
  timeoutMs: number;
  /** V8 heap limit of every Node process the checks start (--max-old-space-size). */
  memoryMb: number;
}

export type Outcome = { kind: "result"; result: LabResult } | { kind: "failure"; message: string };

const stderrLimit = 16 * 1024;
/** What the checked code may see of the grader's environment: no tokens or credentials. */
const passedEnv = ["PATH", "Path", "PATHEXT", "SystemRoot", "SYSTEMROOT", "windir", "ComSpec", "TEMP", "TMP", "TMPDIR", "HOME", "USERPROFILE", "LANG", "LC_ALL", "TZ", "NO_COLOR"];

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

/** Kills every grading child still running (on Ctrl-C or exit). */
export function killAll(): void {
  for (const pid of running) killTree(pid);
  running.clear();
}

/** A tree like labs/NN-x of a workspace: the lab's tsconfig (extending ../../tsconfig.json), learner files and stubs, with proto/ beside labs/. */
function buildTree(lab: Lab, files: Map<string, Buffer>, stubs: string): { root: string; tree: string } {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-grade-")));
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

function removeTree(root: string): void {
  try {
    fs.unlinkSync(path.join(root, "node_modules"));
  } catch {
    // Already gone.
  }
  fs.rmSync(root, { recursive: true, force: true, maxRetries: 3 });
}

function failureMessage(lab: Lab, limits: Limits, timedOut: boolean, code: number | null, signal: string | null, stderr: string): string {
  if (timedOut) return `timed out after ${limits.timeoutMs / 1000} s: the checks of lab ${lab.number} did not finish (an endless loop, or a call that never returns?)`;
  if (/heap out of memory|Reached heap limit/.test(stderr)) return `ran out of memory: the checks of lab ${lab.number} used more than ${limits.memoryMb} MB`;
  const last = stderr.trim().split("\n").filter((l) => l.trim()).pop() ?? "";
  return `the checks of lab ${lab.number} stopped (${signal ?? `exit code ${code}`}) before they finished${last ? `: ${last.slice(0, 300)}` : ""}`;
}

/** Runs the instructor's checks of one lab against the given learner files. */
export async function gradeIsolated(lab: Lab, files: Map<string, Buffer>, stubs: string, limits: Limits): Promise<Outcome> {
  const { root, tree } = buildTree(lab, files, stubs);
  const resultFile = path.join(root, "result.json");
  try {
    const child = spawn(process.execPath, ["--require", require.resolve("tsx/cjs"), path.join(__dirname, "check-one.ts"), lab.id, tree, resultFile], {
      cwd: root,
      // Its own process group on POSIX, so one kill reaches everything it started.
      detached: process.platform !== "win32",
      windowsHide: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: childEnv(limits),
    });
    if (child.pid !== undefined) running.add(child.pid);
    let stderr = "";
    child.stdout!.resume();
    child.stderr!.on("data", (chunk: Buffer) => {
      if (stderr.length < stderrLimit) stderr += chunk.toString().slice(0, stderrLimit - stderr.length);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killTree(child.pid);
    }, limits.timeoutMs);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => {
      child.on("error", () => resolve([null, "could not start"]));
      child.on("exit", (c, s) => resolve([c, s]));
    });
    clearTimeout(timer);
    if (child.pid !== undefined) {
      // Whatever the checked code spawned and left running goes too.
      killTree(child.pid);
      running.delete(child.pid);
    }
    if (!timedOut && code === 0 && fs.existsSync(resultFile)) {
      try {
        return { kind: "result", result: JSON.parse(fs.readFileSync(resultFile, "utf8")) as LabResult };
      } catch (error) {
        return { kind: "failure", message: `the result of lab ${lab.number} could not be read: ${(error as Error).message}` };
      }
    }
    return { kind: "failure", message: failureMessage(lab, limits, timedOut, code, signal, stderr) };
  } finally {
    removeTree(root);
  }
}
