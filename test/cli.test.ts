/**
 * `npm run lab` as a learner types it: exit codes, plain errors, JSON, serve
 * and client. In a copy of the workspace (test/trees.ts), as on a fresh clone:
 * the learner's own labs/NN-name/src/ and gen/ are never run or written.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { loadService } from "../scripts/check-kit/rpc";
import type { LabResult } from "../scripts/lib/results";
import { removeWorkspace, workspaceCopy } from "./trees";

/** The workspace copy the runner runs in, made before the tests. */
let workspace = "";
const runner = () => path.join(workspace, "scripts", "lab.cjs");
const progressDir = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-cli-"));
// Without npm's variables: the runner reads npm_config_* under `npm run lab`, and `npm test` sets its own.
const progressFile = path.join(progressDir, "progress.json");
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("npm_"))),
  GRPC_LABS_PROGRESS_FILE: progressFile,
  NO_COLOR: "1",
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function lab(...args: string[]): Promise<Run> {
  return labWith({}, ...args);
}

/** The runner with more environment variables, e.g. those npm sets under `npm run lab`. */
function labWith(more: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner(), ...args], { cwd: workspace, env: { ...env, ...more } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Lists the services of a server through server reflection, as grpcurl's `list` does. */
function listServices(address: string): Promise<string[]> {
  const proto = path.join(workspace, "node_modules", "@grpc", "reflection", "build", "proto", "grpc", "reflection", "v1", "reflection.proto");
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(proto, { keepCase: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo({ deadline: Date.now() + 5000 }) as grpc.ClientDuplexStream<unknown, { list_services_response?: { service: Array<{ name: string }> } }>;
    call.on("data", (response) => {
      resolve((response.list_services_response?.service ?? []).map((service: { name: string }) => service.name));
      call.end();
    });
    call.on("error", reject);
    call.on("close", () => client.close());
    call.write({ list_services: "" });
  });
}

/** Starts `serve` and resolves with the process and the port it printed. */
function startServe(...args: string[]): Promise<{ server: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const server = spawn(process.execPath, [runner(), "01", "serve", ...args], { cwd: workspace, env });
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`serve printed no address: ${stdout}`)), 10_000);
    server.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on localhost:(\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({ server, port: Number(match[1]) });
      }
    });
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

const oneSentence = (text: string) => text.trim().split("\n").length === 1 && !/\n\s+at /.test(text);

describe("npm run lab", function () {
  this.timeout(30_000);
  // The stub step, as a learner does it first: the copy starts with the starter's src/ and no gen/.
  before(async () => {
    workspace = workspaceCopy("cli");
    assert.equal((await lab("01", "gen")).code, 0);
  });
  after(() => {
    fs.rmSync(progressDir, { recursive: true, force: true });
    removeWorkspace(workspace);
  });

  it("lists the labs and exits 0", async () => {
    const run = await lab();
    assert.equal(run.code, 0);
    assert.match(run.stdout, /01 {2}RouteGuide/);
  });

  it("answers an unknown lab with one sentence listing the labs, exit 2", async () => {
    const run = await lab("42");
    assert.equal(run.code, 2);
    assert.ok(oneSentence(run.stderr), run.stderr);
    assert.match(run.stderr, /no lab "42".*01 route-guide/);
  });

  it("answers an unknown option with one sentence, exit 2", async () => {
    const run = await lab("01", "--solutoin");
    assert.equal(run.code, 2);
    assert.ok(oneSentence(run.stderr), run.stderr);
  });

  it("refuses an option that does not apply to the command, in one sentence, exit 2", async () => {
    const run = await lab("01", "--port", "50052");
    assert.equal(run.code, 2);
    assert.ok(oneSentence(run.stderr), run.stderr);
    assert.match(run.stderr, /--port does not apply to checking a lab; .*npm run lab 01 -- serve --port 50052/);
  });

  it("says where the -- goes when npm took the runner's option for itself, exit 2", async () => {
    // `npm run lab 01 --watch`: npm keeps --watch, passes "01" on and sets npm_config_watch.
    const run = await labWith({ npm_lifecycle_event: "lab", npm_config_watch: "true" }, "01");
    assert.equal(run.code, 2);
    assert.ok(oneSentence(run.stderr), run.stderr);
    assert.match(run.stderr, /add `--`.*`npm run lab 01 -- --watch`/);
  });

  it("says on stderr how to keep npm's banner out of the JSON, and only when npm printed it", async () => {
    const banner = await labWith({ npm_lifecycle_event: "lab" }, "01", "--json", "--solution");
    assert.equal(banner.code, 0);
    assert.equal((JSON.parse(banner.stdout) as LabResult).status, "pass");
    assert.match(banner.stderr, /npm run -s lab 01 -- --json/);
    const silent = await labWith({ npm_lifecycle_event: "lab", npm_config_loglevel: "silent" }, "01", "--json", "--solution");
    assert.equal(silent.stderr, "");
  });

  it("prints the JSON result, exits 1 on the starter and records progress", async () => {
    const run = await lab("01", "--json");
    assert.equal(run.code, 1);
    const result = JSON.parse(run.stdout) as LabResult;
    assert.equal(result.status, "fail");
    assert.equal(result.tests.length, result.max_score);
    const progress = JSON.parse(fs.readFileSync(progressFile, "utf8")) as { labs: Record<string, { passed_steps: number[] }> };
    assert.deepEqual(progress.labs["01-route-guide"]?.passed_steps, [1]);
  });

  it("prints the step-by-step report with the next step and its hint, and exits 0 on the solution", async () => {
    const starter = await lab("01");
    assert.match(starter.stdout, /Next: step 2, Server: GetFeature/);
    assert.match(starter.stdout, /Hint: /);
    const solution = await lab("01", "--solution");
    assert.equal(solution.code, 0, solution.stdout);
    assert.match(solution.stdout, /All steps pass/);
  });

  it("names the first failing step when asked for a hint", async () => {
    const run = await lab("01", "hint");
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^Step 2, Server: GetFeature/);
  });

  it("serves the solution with reflection, answers the client demo, and stops on SIGINT", async () => {
    const { server, port } = await startServe("--solution", "--port", "0");
    const exited = exitOf(server);
    try {
      const run = await lab("01", "client", "--solution", "--target", `localhost:${port}`);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /"Berkshire Valley Management Area Trail, Jefferson, NJ, USA"/);
      assert.match(run.stdout, /100 features in all/);
      assert.match(run.stdout, /got "First message" at \(0, 0\)/);
      assert.ok((await listServices(`localhost:${port}`)).includes("routeguide.RouteGuide"), "reflection lists routeguide.RouteGuide");
    } finally {
      server.kill("SIGINT");
    }
    assert.equal(await exited, 0);
  });

  it("says in one sentence that a port is in use", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "localhost", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const run = await lab("01", "serve", "--solution", "--port", String(port));
      assert.equal(run.code, 2);
      assert.ok(oneSentence(run.stderr), run.stderr);
      assert.match(run.stderr, new RegExp(`Port ${port} is in use`));
    } finally {
      blocker.close();
    }
  });

  it("says that the call reached its deadline, not that no server answers, when the server's handler never answers", async () => {
    const server = new grpc.Server();
    // GetFeature never answers: a handler that forgot its callback, or failed after an await.
    server.addService(loadService("routeguide/route_guide.proto", "routeguide.RouteGuide").service, { getFeature: () => undefined });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
    try {
      const run = await lab("01", "client", "--solution", "--target", `127.0.0.1:${port}`);
      assert.equal(run.code, 2);
      assert.ok(oneSentence(run.stderr), run.stderr);
      assert.match(run.stderr, /^The call reached its deadline without an answer from the server at 127\.0\.0\.1:\d+ \(Deadline exceeded/);
      assert.doesNotMatch(run.stderr, /No server answers/);
    } finally {
      server.forceShutdown();
    }
  });

  it("says in one sentence that no server answers", async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const run = await lab("01", "client", "--solution", "--target", `127.0.0.1:${port}`);
    assert.equal(run.code, 2);
    assert.ok(oneSentence(run.stderr), run.stderr);
    assert.match(run.stderr, /No server answers at 127\.0\.0\.1:\d+/);
  });
});
