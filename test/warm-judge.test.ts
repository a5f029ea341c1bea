/**
 * The warm judge (scripts/lib/warm-judge.ts): `npm run lab` takes a judge
 * loaded before it started, with its first subject; that judge ends with its
 * run and a successor waits for the next; it serves no one without its token
 * and ends when idle. In a copy of the workspace, with a temporary folder of
 * its own (TMPDIR); Linux only (it reads /proc).
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { browserExecutable } from "../labs/10-grpc-web/checks/browser";
import type { LabResult } from "../scripts/lib/results";
import { removeWorkspace, workspaceCopy } from "./trees";

const idleMs = 8000;

describe("the warm judge", function () {
  this.timeout(60_000);
  let workspace = "";
  let tmp = "";
  let env: NodeJS.ProcessEnv = {};

  before(function () {
    if (process.platform !== "linux") this.skip();
    workspace = workspaceCopy("warm-judge");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-warm-"));
    env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("npm_"))),
      TMPDIR: tmp,
      GRPC_LABS_WARM_JUDGE: "1",
      GRPC_LABS_WARM_JUDGE_IDLE_MS: String(idleMs),
      GRPC_LABS_PROGRESS_FILE: path.join(tmp, "progress.json"),
    };
  });

  after(() => {
    const warm = warmJudge();
    if (warm && alive(warm.pid)) process.kill(warm.pid, "SIGKILL");
    if (workspace) removeWorkspace(workspace);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const socketDir = () => path.join(tmp, `grpc-labs-${process.getuid!()}`);

  /** The warm judge listening for this workspace: its process id, token and socket. */
  function warmJudge(): { pid: number; token: string; socket: string } | undefined {
    const id = fs.existsSync(socketDir()) ? fs.readdirSync(socketDir()).find((name) => name.endsWith(".id")) : undefined;
    if (!id) return undefined;
    const [pid, token] = fs.readFileSync(path.join(socketDir(), id), "utf8").split(" ");
    return { pid: Number(pid), token: token!, socket: path.join(socketDir(), id.replace(/\.id$/, ".sock")) };
  }

  /** What /proc says of a process, or undefined once it has gone (it can go between two reads: Chromium's processes do). */
  const procRead = (file: string) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch {
      return undefined;
    }
  };
  const alive = (pid: number) => {
    const stat = procRead(`/proc/${pid}/stat`);
    return stat !== undefined && !/\) Z /.test(stat);
  };
  const children = (pid: number) => (procRead(`/proc/${pid}/task/${pid}/children`) ?? "").trim().split(/\s+/).filter(Boolean).map(Number);

  /** A process and every process below it. */
  const descendants = (pid: number): number[] => (alive(pid) ? [pid, ...children(pid).flatMap(descendants)] : []);
  const commandOf = (pid: number) => procRead(`/proc/${pid}/cmdline`) ?? "";

  /** The warm judge listening now, with the subject it started for its run. */
  const listening = () => {
    const found = warmJudge();
    return found && alive(found.pid) && children(found.pid).length > 0 ? found : undefined;
  };

  async function until<T>(what: string, value: () => T | undefined, limitMs = 10_000): Promise<T> {
    const end = Date.now() + limitMs;
    for (;;) {
      const found = value();
      if (found !== undefined && found !== false) return found;
      if (Date.now() > end) assert.fail(`${what} within ${limitMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  function lab(...args: string[]): { result: Promise<LabResult>; kill: () => void } {
    const child = spawn(process.execPath, [path.join(workspace, "scripts", "lab.cjs"), ...args, "--json"], { cwd: workspace, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const result = new Promise<LabResult>((resolve, reject) => child.on("close", () => (stdout ? resolve(JSON.parse(stdout) as LabResult) : reject(new Error("no result")))));
    result.catch(() => undefined);
    return { result, kill: () => child.kill("SIGKILL") };
  }

  it("starts with the first run, and the next run takes it, with the subject it started", async () => {
    assert.equal((await lab("02", "--solution").result).status, "pass");
    const warm = await until("a warm judge with a subject", listening);
    const [subject] = children(warm.pid);
    assert.equal((await lab("02", "--solution").result).status, "pass");
    // It served that run and ended with it; its successor waits for the next.
    await until("the warm judge that served the run ended", () => !alive(warm.pid) && !alive(subject!));
    const next = await until("its successor", listening);
    assert.notEqual(next.pid, warm.pid);
  });

  it("ends with its subjects when the runner that claimed it is killed, and a successor takes its place", async () => {
    const warm = await until("a warm judge", listening);
    const run = lab("07", "--solution");
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const subjects = children(warm.pid);
    assert.ok(subjects.length > 0, "the run's checks had started");
    run.kill();
    await until("the judge and its subjects ended", () => [warm.pid, ...subjects].every((pid) => !alive(pid)), 3000);
    await until("a successor", () => {
      const next = listening();
      return next && next.pid !== warm.pid ? next : undefined;
    });
  });

  it("serves no one without its token", async () => {
    const warm = await until("a warm judge", listening);
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(warm.socket);
      let received = "";
      socket.on("connect", () => socket.write(`${JSON.stringify({ token: "0".repeat(warm.token.length) })}\n${JSON.stringify({ message: { type: "run" } })}\n`));
      socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(received));
    });
    assert.equal(answer, "");
    assert.equal(listening()?.pid, warm.pid, "it still waits for its run");
  });

  it("still waits for a run after a command that checked nothing (a lab that does not exist)", async () => {
    const warm = await until("a warm judge", listening);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [path.join(workspace, "scripts", "lab.cjs"), "99"], { cwd: workspace, env, stdio: "ignore" });
      child.on("close", resolve);
    });
    assert.equal(code, 2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(listening()?.pid, warm.pid);
    assert.equal((await lab("02", "--solution").result).status, "pass");
    await until("it served that run and ended", () => !alive(warm.pid));
  });

  it("is replaced when it has gone: the run starts a judge of its own and a new warm judge", async () => {
    const warm = await until("a warm judge", listening);
    process.kill(warm.pid, "SIGKILL");
    await until("the warm judge ended", () => !alive(warm.pid));
    // Its socket and token are left behind, as after a crash.
    assert.equal((await lab("02", "--solution").result).status, "pass");
    await until("a new warm judge", () => {
      const next = listening();
      return next && next.pid !== warm.pid ? next : undefined;
    });
    assert.equal((await lab("02", "--solution").result).status, "pass");
  });

  it("is never claimed by a run with another environment, and one warm judge waits per workspace", async () => {
    const warm = await until("a warm judge", listening);
    // What the subject is given (here Stryker's active mutant) belongs to the warm judge's key: another value, another warm judge.
    const other = { ...env, __STRYKER_ACTIVE_MUTANT__: "7" };
    const run = spawn(process.execPath, [path.join(workspace, "scripts", "lab.cjs"), "02", "--solution", "--json"], { cwd: workspace, env: other, stdio: "ignore" });
    await new Promise((resolve) => run.on("close", resolve));
    // The run did not claim it (a claimed one would have started its successor under the same socket name, which the
    // check of the sockets below rules out): the run started a warm judge for its environment when it exited, and that
    // one asked the older one to end.
    await until("the older warm judge ended", () => !alive(warm.pid));
    const sockets = () => fs.readdirSync(socketDir()).filter((name) => name.endsWith(".sock"));
    const mutant = await until("one warm judge, the new one", () => (sockets().length === 1 && sockets()[0] !== path.basename(warm.socket) ? sockets()[0] : undefined));
    // And back: a run with the first environment finds none, and the one it starts retires the mutant's.
    assert.equal((await lab("02", "--solution").result).status, "pass");
    await until("one warm judge again, for the first environment", () => (sockets().length === 1 && sockets()[0] !== mutant && listening() ? true : undefined));
  });

  it("after a run of lab 10 starts the lab's browser for the next run; a run of another lab has a judge of its own, and that one closes the browser and ends", async function () {
    try {
      browserExecutable();
    } catch {
      return this.skip();
    }
    // Playwright talks to the browser it started over a pipe.
    const browsersOf = (pid: number) => descendants(pid).filter((p) => commandOf(p).includes("--remote-debugging-pipe"));
    // The judge that serves the lab 10 run has the lab's browser too, until it ends: the one to find is its successor.
    const served = listening();
    assert.equal((await lab("10", "--solution").result).status, "pass");
    if (served) await until("the judge that served the run ended", () => !alive(served.pid));
    const warm = await until("a warm judge with the lab's browser", () => {
      const found = listening();
      return found && found.pid !== served?.pid && browsersOf(found.pid).length > 0 ? found : undefined;
    });
    const browsers = browsersOf(warm.pid);
    // The next run is of another lab: the browser, and what the judge loaded to drive it, would only take memory.
    const run = lab("02", "--solution");
    const judgeEnded = until("the browser closed and its judge ended", () => browsers.every((pid) => !alive(pid)) && !alive(warm.pid)).then(() => Date.now());
    assert.equal((await run.result).status, "pass");
    const runEnded = Date.now();
    assert.ok((await judgeEnded) < runEnded, "the warm judge ended before the run did: it did not serve it");
    const next = await until("a successor", () => {
      const found = listening();
      return found && found.pid !== warm.pid ? found : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(browsersOf(next.pid), [], "the successor of a lab 02 run starts no browser");
  });

  it("prepares the next run's subject with the packages the last run's code required (lab 08: prom-client and OpenTelemetry's API)", async () => {
    /** The bytes the successor's subject read from files, once it has loaded what it loads before the run. */
    const readByPreparedSubject = async (labNumber: string): Promise<number> => {
      const served = listening();
      assert.equal((await lab(labNumber, "--solution").result).status, "pass");
      const warm = await until("a successor", () => {
        const found = listening();
        return found && found.pid !== served?.pid ? found : undefined;
      });
      const subject = await until("its subject", () => children(warm.pid).find((pid) => commandOf(pid).includes("driver.js")));
      const read = () => Number(/^rchar: (\d+)$/m.exec(procRead(`/proc/${subject}/io`) ?? "")?.[1] ?? Number.NaN);
      let last = read();
      for (let steady = 0; steady < 6; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const now = read();
        steady = now === last ? steady + 1 : 0;
        last = now;
      }
      return last;
    };
    const afterLab02 = await readByPreparedSubject("02");
    const afterLab08 = await readByPreparedSubject("08");
    // Lab 02's code requires only grpc-js and the stubs' runtime, which every subject loads; lab 08's packages are over 1 MB of JavaScript.
    assert.ok(afterLab08 - afterLab02 > 500_000, `the subject prepared after a run of lab 08 read ${afterLab08} bytes, after lab 02 ${afterLab02}`);
  });

  it("ends when idle, leaving no socket, no process and no subject folder", async () => {
    const warm = await until("a warm judge", listening);
    const [subject] = children(warm.pid);
    await until("the warm judge ended", () => !alive(warm.pid) && !alive(subject!), idleMs + 5000);
    assert.deepEqual(fs.readdirSync(socketDir()), []);
    const subjectFolders = path.join(tmp, "grpc-labs-subjects");
    const left = fs.readdirSync(subjectFolders).flatMap((ns) => fs.readdirSync(path.join(subjectFolders, ns)));
    assert.deepEqual(left.filter((name) => name.startsWith(`${warm.pid}-`)), []);
  });
});
