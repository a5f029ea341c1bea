/*
 * Interop test: Lab 01 (RouteGuide) against the official gRPC-Go example.
 *
 *   A. official Go client            -> `lab 01 serve --solution`
 *   B. `lab 01 client --solution`    -> official Go server (official route_guide_db.json)
 *
 * The Go sources come from Debian: golang-google-grpc-dev ships the example under
 * /usr/share/doc/golang-google-grpc-dev/examples, and the libraries it needs live in
 * /usr/share/gocode. They are built offline in GOPATH mode into a temp dir.
 *
 * Run from the repo root:  node --require tsx/cjs test/interop/go-routeguide.ts
 * Exit code: 0 all passed, 1 something failed, 2 prerequisites missing.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "../..");
const EXAMPLES = "/usr/share/doc/golang-google-grpc-dev/examples";
const GOCODE = "/usr/share/gocode/src";
const DB_JSON = `${EXAMPLES}/route_guide/testdata/route_guide_db.json`;
// golang-google-grpc-dev accepts golang protobuf 1.3 or 1.5, but the example's generated
// code needs 1.4+ (google.golang.org/protobuf), hence the third package.
const APT_PACKAGES = "golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev";

const BERKSHIRE = "Berkshire Valley Management Area Trail, Jefferson, NJ, USA";

const SECOND = 1000;
const BUILD_TIMEOUT = 300 * SECOND;
const READY_TIMEOUT = 60 * SECOND;
const RUN_TIMEOUT = 60 * SECOND;
const KILL_GRACE = 3 * SECOND;

// ---------------------------------------------------------------------------
// Expectations for direction B. `lab 01 client` output is not final yet: keep
// these assertions on data values and adjust them here when the format settles.
// ---------------------------------------------------------------------------
function checkOurClientOutput(out: string): string[] {
  const failures: string[] = [];
  if (!out.includes(`"${BERKSHIRE}"`)) failures.push(`GetFeature: "${BERKSHIRE}" not in output`);
  if (!/\b100\b/.test(out)) failures.push("ListFeatures: the number 100 (features listed) not in output");

  // RecordRoute: our client sends database locations, so the Go server's summary must count
  // every point as a known feature (proves the coordinates crossed the wire intact).
  const summary = /(\d+) points, (\d+) features/.exec(out);
  if (!summary || Number(summary[1]) < 1 || summary[2] !== summary[1]) {
    failures.push(`RecordRoute: want a summary "N points, N features" with N > 0, got ${JSON.stringify(summary?.[0])}`);
  }

  // RouteChat: our client sends First (0,0), Second (0,1), Third (1,0), Fourth (0,0), Fifth (1,0).
  // Unlike our server, the Go server echoes each note together with the earlier ones at its location.
  const chat = [...out.matchAll(/got "([^"]*)" at (\(-?\d+, -?\d+\))/g)].map((m) => `${m[1]} at ${m[2]}`);
  const wantChat = [
    "First message at (0, 0)",
    "Second message at (0, 1)",
    "Third message at (1, 0)",
    "First message at (0, 0)",
    "Fourth message at (0, 0)",
    "Third message at (1, 0)",
    "Fifth message at (1, 0)",
  ];
  if (JSON.stringify(chat) !== JSON.stringify(wantChat)) {
    failures.push(`RouteChat: want ${JSON.stringify(wantChat)}, got ${JSON.stringify(chat)}`);
  }
  return failures;
}

// Direction A: what the official client.go logs (to stderr, each line after a timestamp).
function checkGoClientOutput(out: string): string[] {
  const lines = out.split("\n").map((line) => line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, ""));
  const text = lines.join("\n");
  const lineAfter = (prefix: string) => {
    const i = lines.findIndex((l) => l.startsWith(prefix));
    return i < 0 ? undefined : lines[i + 1];
  };
  const failures: string[] = [];
  const expect = (ok: boolean, failure: string) => {
    if (!ok) failures.push(failure);
  };

  // GetFeature: log.Println(feature) prints the protobuf text format, e.g.
  //   name:"..." location:{latitude:409146138 longitude:-746188906}
  const known = lineAfter("Getting feature for point (409146138, -746188906)") ?? "";
  const knownName = /\bname:\s*"((?:[^"\\]|\\.)*)"/.exec(known)?.[1];
  expect(knownName === BERKSHIRE, `GetFeature(409146138, -746188906): want "${BERKSHIRE}", got ${JSON.stringify(known)}`);
  // An unnamed feature prints at most its location (zero fields are omitted).
  const unknown = lineAfter("Getting feature for point (0, 0)");
  const unnamed = /^\s*(location:\s*\{[^}]*\}\s*|name:\s*""\s*)*$/;
  expect(unknown !== undefined && unnamed.test(unknown), `GetFeature(0, 0): want a feature with no name, got ${JSON.stringify(unknown)}`);

  const listed = lines.filter((l) => l.startsWith("Feature: name:")).length;
  expect(listed === 100, `ListFeatures: want 100 features, got ${listed}`);

  const sent = /^Traversing (\d+) points\./m.exec(text)?.[1];
  const counted = /^Route summary: .*\bpoint_count:\s*(\d+)/m.exec(text)?.[1];
  expect(sent !== undefined && counted === sent, `RecordRoute: client sent ${sent} points, summary says point_count ${counted}`);

  // The client sends 6 notes at (0,1) (0,2) (0,3) (0,1) (0,2) (0,3); the server answers each
  // with the earlier notes at that location, so the first three come back once each.
  const chat = [...text.matchAll(/^Got message (.*) at point\((-?\d+), (-?\d+)\)$/gm)].map((m) => `${m[1]} at (${m[2]}, ${m[3]})`);
  const wantChat = ["First message at (0, 1)", "Second message at (0, 2)", "Third message at (0, 3)"];
  expect(JSON.stringify(chat) === JSON.stringify(wantChat), `RouteChat: want ${JSON.stringify(wantChat)}, got ${JSON.stringify(chat)}`);
  return failures;
}

// ---------------------------------------------------------------------------
// Processes. Each runs in its own process group, so stopping it also stops
// anything it spawned. Every process started is remembered and stopped.
// Exported for the other interop tests (go-health.ts).
// ---------------------------------------------------------------------------
export interface Proc {
  label: string;
  child: ChildProcess;
  output: () => string;
  closed: Promise<number | null>;
  running: () => boolean;
}

let started: Proc[] = [];

export function start(label: string, cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(cmd, args, { ...options, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (chunk) => (out += chunk));
  child.stderr?.on("data", (chunk) => (out += chunk));
  const closed = new Promise<number | null>((resolve) => {
    child.on("error", (err) => {
      out += `${err.message}\n`;
      resolve(null);
    });
    child.on("close", (code) => resolve(code));
  });
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  const proc = { label, child, output: () => out, closed, running };
  started.push(proc);
  return proc;
}

export function signalGroup(proc: Proc, signal: NodeJS.Signals): void {
  if (proc.child.pid === undefined) return;
  try {
    process.kill(-proc.child.pid, signal);
  } catch {
    // the whole group is already gone
  }
}

export async function stop(proc: Proc): Promise<void> {
  if (proc.running()) {
    signalGroup(proc, "SIGTERM");
    await withTimeout(proc.closed, KILL_GRACE, "").catch(() => undefined);
  }
  signalGroup(proc, "SIGKILL"); // the leader may be gone but not its children
  await withTimeout(proc.closed, KILL_GRACE, "").catch(() => undefined);
}

/** Waits for a process to end by itself; returns its exit code. */
export async function finish(proc: Proc, ms: number): Promise<number | null> {
  try {
    return await withTimeout(proc.closed, ms, `${proc.label} did not finish`);
  } finally {
    await stop(proc);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (timed out after ${ms / SECOND}s)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `ready` until it holds; fails early if `proc` exits meanwhile. */
export async function waitUntil(what: string, proc: Proc, ready: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT;
  while (!(await ready())) {
    if (!proc.running()) throw new Error(`${proc.label} exited before ${what}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out after ${READY_TIMEOUT / SECOND}s`);
    await sleep(100);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

// ---------------------------------------------------------------------------
// Build, the two directions, and the runner.
// ---------------------------------------------------------------------------
function prerequisitesPresent(): boolean {
  const go = spawnSync("go", ["version"], { stdio: "ignore" });
  const paths = [
    `${EXAMPLES}/route_guide/client/client.go`,
    `${EXAMPLES}/route_guide/server/server.go`,
    DB_JSON,
    `${GOCODE}/google.golang.org/grpc`,
    `${GOCODE}/google.golang.org/protobuf`,
  ];
  return go.status === 0 && paths.every((p) => fs.existsSync(p));
}

/** Builds the official client and server into `${tmp}/bin/`; returns that directory. */
async function buildGo(tmp: string): Promise<string> {
  // GOPATH layout: src/google.golang.org/grpc/ = the Debian grpc package (symlinked entry by
  // entry) plus a copy of the examples, so the example's import paths resolve unchanged.
  const grpcDir = `${tmp}/gopath/src/google.golang.org/grpc`;
  fs.mkdirSync(grpcDir, { recursive: true });
  for (const entry of fs.readdirSync(`${GOCODE}/google.golang.org/grpc`)) {
    if (entry !== "examples") fs.symlinkSync(`${GOCODE}/google.golang.org/grpc/${entry}`, `${grpcDir}/${entry}`);
  }
  for (const dir of ["route_guide", "data"]) {
    fs.cpSync(`${EXAMPLES}/${dir}`, `${grpcDir}/examples/${dir}`, { recursive: true });
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: "off",
    GOPATH: `${tmp}/gopath:/usr/share/gocode`,
    GOCACHE: `${tmp}/gocache`,
    GOPROXY: "off",
    GOENV: "off",
  };
  delete env.GOFLAGS;
  const pkg = "google.golang.org/grpc/examples/route_guide";
  const build = start("go build", "go", ["build", "-o", `${tmp}/bin/`, `${pkg}/server`, `${pkg}/client`], { cwd: tmp, env });
  const code = await finish(build, BUILD_TIMEOUT);
  if (code !== 0) throw new Error(`go build exited with code ${code}`);
  return `${tmp}/bin`;
}

async function goClientToOurServer(bin: string): Promise<string[]> {
  const port = await freePort();
  const server = start("lab 01 serve", process.execPath, ["scripts/lab.cjs", "01", "serve", "--solution", "--port", `${port}`], { cwd: REPO });
  try {
    await waitUntil("printing 'listening on'", server, () => server.output().includes("listening on"));
    const client = start("Go client", `${bin}/client`, ["-server_addr", `127.0.0.1:${port}`]);
    const code = await finish(client, RUN_TIMEOUT);
    const failures = checkGoClientOutput(client.output());
    return code === 0 ? failures : [`Go client exited with code ${code}`, ...failures];
  } finally {
    await stop(server);
  }
}

async function ourClientToGoServer(bin: string): Promise<string[]> {
  const port = await freePort();
  const server = start("Go server", `${bin}/server`, ["-port", `${port}`, "-json_db_file", DB_JSON]);
  try {
    await waitUntil("accepting connections", server, () => canConnect(port));
    const args = ["scripts/lab.cjs", "01", "client", "--solution", "--target", `127.0.0.1:${port}`];
    const client = start("lab 01 client", process.execPath, args, { cwd: REPO });
    const code = await finish(client, RUN_TIMEOUT);
    const failures = checkOurClientOutput(client.output());
    return code === 0 ? failures : [`lab 01 client exited with code ${code}`, ...failures];
  } finally {
    await stop(server);
  }
}

export function printOutputs(procs: Proc[]): void {
  for (const proc of procs) {
    const output = proc.output().trimEnd();
    console.log(`      --- ${proc.label}: ${output ? "last 40 lines of output" : "no output"} ---`);
    for (const line of output ? output.split("\n").slice(-40) : []) console.log(`      ${line}`);
  }
}

let tmp: string | undefined;

/** Last-resort cleanup, synchronous so it also works on exit and on signals. */
function cleanupNow(): void {
  for (const proc of started) signalGroup(proc, "SIGKILL");
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

async function main(): Promise<number> {
  if (!prerequisitesPresent()) {
    console.log(`Go or the official gRPC-Go examples are missing; install the Debian packages with: apt-get install -y ${APT_PACKAGES}`);
    return 2;
  }
  process.on("exit", cleanupNow);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      cleanupNow();
      process.exit(1);
    });
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-go-interop-"));

  let bin: string | undefined;
  let buildError = "";
  try {
    bin = await buildGo(tmp);
  } catch (err) {
    buildError = `building the Go example failed: ${(err as Error).message}`;
    printOutputs(started);
  }

  const directions: [string, (bin: string) => Promise<string[]>][] = [
    ["A: official Go client -> lab 01 serve --solution", goClientToOurServer],
    ["B: lab 01 client --solution -> official Go server", ourClientToGoServer],
  ];
  let passed = 0;
  let failed = 0;
  for (const [name, run] of directions) {
    started = [];
    const began = Date.now();
    let failures: string[];
    try {
      failures = bin ? await run(bin) : [buildError];
    } catch (err) {
      failures = [(err as Error).message];
    }
    const seconds = ((Date.now() - began) / SECOND).toFixed(1);
    if (failures.length === 0) {
      passed++;
      console.log(`PASS  ${name} (${seconds}s)`);
    } else {
      failed++;
      console.log(`FAIL  ${name} (${seconds}s)`);
      for (const failure of failures) console.log(`      - ${failure}`);
      printOutputs(started);
    }
    await Promise.all(started.map(stop));
  }

  cleanupNow();
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      cleanupNow();
      process.exit(1);
    },
  );
}
