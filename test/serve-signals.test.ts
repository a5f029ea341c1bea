/**
 * `npm run lab 06 -- serve` stops gracefully however it is signalled, as a
 * terminal, a container runtime or a process manager signals it: SIGTERM to
 * npm alone (npm passes it to `sh`, which, as Debian's dash, dies of it
 * without passing it on), npm killed outright, SIGINT to the process group
 * (Ctrl-C), SIGTERM to the node process. Each time a call in flight
 * finishes, the server runs lab 06's graceful shutdown, and no process is
 * left running. POSIX only: Windows has no such signals.
 */
import * as grpc from "@grpc/grpc-js";
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn, type SpawnOptions, spawnSync } from "node:child_process";
import { loadService } from "../scripts/check-kit/rpc";
import { workspaceRoot } from "../scripts/lib/labs";

/** npm as `npm test` runs it, or the npm on the PATH. */
function npm(args: string[]): ChildProcess {
  const execPath = process.env.npm_execpath;
  // detached: npm leads a process group of its own, as in a terminal or a container.
  const options: SpawnOptions = { cwd: workspaceRoot, detached: true, stdio: "pipe" };
  return execPath && /npm-cli\.js$/.test(execPath) ? spawn(process.execPath, [execPath, ...args], options) : spawn("npm", args, options);
}

/** Whether any process of the group still runs (zombies aside). */
function groupRunning(group: number): boolean {
  const ps = spawnSync("ps", ["-o", "stat=", "-g", String(group)], { encoding: "utf8" });
  if (ps.status === null || ps.error) {
    try {
      process.kill(-group, 0);
      return true;
    } catch {
      return false;
    }
  }
  return ps.stdout.split("\n").some((stat) => stat.trim() !== "" && !stat.trim().startsWith("Z"));
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((resolve) => setTimeout(resolve, 100))) {
    if (condition()) return true;
  }
  return condition();
}

/** The pid of `node scripts/lab.cjs` in the group. */
function runnerPid(group: number): number {
  const ps = spawnSync("ps", ["-o", "pid=,args=", "-g", String(group)], { encoding: "utf8" });
  const line = ps.stdout.split("\n").find((l) => /node .*scripts\/lab\.cjs 06 serve/.test(l) && !/\bsh -c\b/.test(l));
  assert.ok(line, `no runner in the group: ${ps.stdout}`);
  return Number(line.trim().split(/\s+/)[0]);
}

const ways: Array<{ name: string; send: (npmPid: number) => void; linuxOnly?: boolean }> = [
  { name: "SIGTERM to npm alone", send: (pid) => process.kill(pid, "SIGTERM") },
  { name: "SIGINT to the process group (Ctrl-C)", send: (pid) => process.kill(-pid, "SIGINT") },
  { name: "SIGTERM to the process group", send: (pid) => process.kill(-pid, "SIGTERM") },
  { name: "SIGTERM to the node process", send: (pid) => process.kill(runnerPid(pid), "SIGTERM") },
  // npm killed outright leaves `sh` waiting for node: the server notices that npm is gone (Linux: /proc).
  { name: "SIGKILL to npm alone", send: (pid) => process.kill(pid, "SIGKILL"), linuxOnly: true },
];

describe("npm run lab 06 -- serve, signalled", function () {
  this.timeout(40_000);
  before(function () {
    if (process.platform === "win32") this.skip();
  });

  for (const way of ways) {
    it(`stops gracefully on ${way.name}: the call in flight finishes, nothing is left running`, async function () {
      if (way.linuxOnly && process.platform !== "linux") this.skip();
      const child = npm(["run", "lab", "06", "--", "serve", "--solution", "--port", "0"]);
      const group = child.pid!;
      let output = "";
      child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      try {
        assert.ok(await waitFor(() => /listening on localhost:\d+/.test(output), 20_000), `serve did not start: ${output}`);
        const address = `localhost:${/listening on localhost:(\d+)/.exec(output)![1]}`;
        const JobService = loadService("jobs/v1/jobs.proto", "jobs.v1.JobService");
        const client = new JobService(address, grpc.credentials.createInsecure());
        const job = new Promise<{ code: number; response?: { name: string } }>((resolve) =>
          client.runJob({ name: "in-flight", durationMs: 1500 }, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, response: { name: string }) =>
            resolve(error ? { code: error.code } : { code: grpc.status.OK, response }),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 300)); // the job has started
        way.send(group);
        const outcome = await job;
        client.close();
        assert.equal(outcome.code, grpc.status.OK, `the call in flight: ${grpc.status[outcome.code]}\n${output}`);
        assert.equal(outcome.response?.name, "in-flight");
        assert.ok(await waitFor(() => !groupRunning(group), 15_000), `processes left running after ${way.name}:\n${spawnSync("ps", ["-o", "pid,stat,args", "-g", String(group)], { encoding: "utf8" }).stdout}`);
        assert.match(output, /Shutting down: waiting up to 5 s for calls in flight\./);
        assert.match(output, /Server stopped\./);
      } finally {
        try {
          process.kill(-group, "SIGKILL");
        } catch {
          // Already gone: the point of the test.
        }
      }
    });
  }
});
