/**
 * The warm judge (scripts/lib/warm-judge.cjs): `npm run lab` takes a judge
 * that was loaded before it started, the judge ends with its run, and the
 * warm judge serves no one without its token and ends when idle. In a copy of
 * the workspace, with a temporary folder of its own (TMPDIR); Linux and
 * macOS (Windows has none), the process checks Linux only.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
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
    if (warm) process.kill(warm.pid, "SIGKILL");
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

  const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));

  /** The judge the warm judge keeps loaded for the next run. */
  function spareJudge(pid: number): number | undefined {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    return children.find((child) => alive(child) && fs.readFileSync(`/proc/${child}/cmdline`, "utf8").includes("check-worker"));
  }

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

  it("starts with the first run, and the next run takes the judge it loaded beforehand", async () => {
    assert.equal((await lab("02", "--solution").result).status, "pass");
    const warm = await until("a warm judge with a judge loaded", () => {
      const found = warmJudge();
      return found && spareJudge(found.pid) !== undefined ? found : undefined;
    });
    const spare = spareJudge(warm.pid)!;
    assert.equal((await lab("02", "--solution").result).status, "pass");
    // A judge serves one run and ends with it; the warm judge loads the next one.
    await until("the judge that served the run ended", () => !alive(spare));
    assert.equal(warmJudge()?.pid, warm.pid);
    await until("another judge loaded", () => spareJudge(warm.pid));
  });

  it("stops a run's judge and its subjects when the runner is killed", async () => {
    const warm = warmJudge()!;
    const judge = await until("a judge loaded", () => spareJudge(warm.pid));
    const run = lab("07", "--solution");
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const subjects = fs.readFileSync(`/proc/${judge}/task/${judge}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    assert.ok(subjects.length > 0, "the run's checks had started");
    run.kill();
    await until("the judge and its subjects ended", () => [judge, ...subjects].every((pid) => !alive(pid)), 3000);
  });

  it("serves no one without its token", async () => {
    const warm = warmJudge()!;
    const judge = await until("a judge loaded", () => spareJudge(warm.pid));
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(warm.socket);
      let received = "";
      socket.on("connect", () => socket.write(`${JSON.stringify({ token: "0".repeat(warm.token.length) })}\n${JSON.stringify({ message: { type: "run" } })}\n`));
      socket.on("data", (chunk: Buffer) => (received += chunk.toString()));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(received));
    });
    assert.equal(answer, "");
    assert.ok(alive(judge), "the judge was not handed out");
  });

  it("is replaced when it has gone: the run starts a judge of its own and a new warm judge", async () => {
    const warm = warmJudge()!;
    process.kill(warm.pid, "SIGKILL");
    await until("the warm judge ended", () => !alive(warm.pid));
    // Its socket and token are left behind, as after a crash.
    assert.equal((await lab("02", "--solution").result).status, "pass");
    const next = await until("a new warm judge", () => {
      const found = warmJudge();
      return found && found.pid !== warm.pid && alive(found.pid) ? found : undefined;
    });
    assert.equal((await lab("02", "--solution").result).status, "pass");
    assert.equal(warmJudge()?.pid, next.pid);
  });

  it("ends when idle, leaving no socket and no process", async () => {
    const warm = warmJudge()!;
    const judge = await until("a judge loaded", () => spareJudge(warm.pid));
    await until("the warm judge ended", () => !alive(warm.pid), idleMs + 5000);
    assert.deepEqual(fs.readdirSync(socketDir()), []);
    await until("its judge ended", () => !alive(judge), 2000);
    // Nor the folder of the subject that judge had started for the next run.
    const subjectFolders = path.join(tmp, "grpc-labs-subjects");
    await until("no subject folder left", () => fs.readdirSync(subjectFolders).every((ns) => fs.readdirSync(path.join(subjectFolders, ns)).length === 0), 2000);
  });
});
