/*
 * Interop test: lab 06 against grpc-go's own health checking (grpc_health_v1) and server reflection.
 *
 *   A. a Go health client             -> `lab 06 serve --solution`
 *      Check "" and jobs.v1.JobService: SERVING; Check of an unknown service: NotFound;
 *      Watch of an unknown service: SERVICE_UNKNOWN; a Watch of "" open during SIGTERM
 *      hears NOT_SERVING, then its stream ends, and serve exits within its 5 s grace.
 *   B. `lab 06 client probe --solution` -> grpc-go's health server
 *      exit codes 0 (SERVING), 4 (NOT_SERVING), 3 (NOT_FOUND).
 *   C. a Go server reflection client        -> `lab 06 serve --solution`
 *      the schema of JobService and Health that reflection serves, resolved by
 *      protodesc (what grpcurl builds its descriptors with), is the schema of
 *      the descriptor set protoc wrote: names, fields, JSON names, map entries.
 *
 * The Go program (go-health/main.go) uses only grpc-go's own packages and
 * google.golang.org/protobuf from Debian's golang-google-grpc-dev and
 * golang-github-golang-protobuf-1-5-dev; it is built offline in GOPATH mode into a temp dir.
 *
 * Run from the repo root:  node --require tsx/cjs test/interop/go-health.ts
 * Exit code: 0 all passed, 1 something failed, 2 prerequisites missing.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findLab, treeDir } from "../../scripts/lib/labs";
import { descriptorSetFile } from "../../scripts/lib/stubs";
import { canConnect, finish, freePort, printOutputs, type Proc, signalGroup, start, stop, waitUntil } from "./go-routeguide";

const REPO = path.resolve(__dirname, "../..");
const GOCODE = "/usr/share/gocode/src";
// As for go-routeguide.ts: the generated health code needs google.golang.org/protobuf (golang protobuf 1.4+).
const APT_PACKAGES = "golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev";
const SECOND = 1000;
/** `serve`'s grace period (labs/06-health/lab.ts), plus room for a slow machine. */
const SHUTDOWN_LIMIT = 5 * SECOND + 5 * SECOND;

let procs: Proc[] = [];
const track = (proc: Proc) => (procs.push(proc), proc);

function prerequisitesPresent(): boolean {
  const go = spawnSync("go", ["version"], { stdio: "ignore" });
  return go.status === 0 && [`${GOCODE}/google.golang.org/grpc/health/grpc_health_v1`, `${GOCODE}/google.golang.org/grpc/reflection/grpc_reflection_v1alpha`, `${GOCODE}/google.golang.org/protobuf`].every((p) => fs.existsSync(p));
}

async function buildGo(tmp: string): Promise<string> {
  const pkg = `${tmp}/gopath/src/grpclabs/gohealth`;
  fs.mkdirSync(pkg, { recursive: true });
  fs.copyFileSync(path.join(__dirname, "go-health", "main.go"), `${pkg}/main.go`);
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: "off", GOPATH: `${tmp}/gopath:/usr/share/gocode`, GOCACHE: `${tmp}/gocache`, GOPROXY: "off", GOENV: "off" };
  delete env.GOFLAGS;
  const build = track(start("go build", "go", ["build", "-o", `${tmp}/bin/go-health`, "grpclabs/gohealth"], { cwd: tmp, env }));
  const code = await finish(build, 300 * SECOND);
  if (code !== 0) throw new Error(`go build exited with code ${code}`);
  return `${tmp}/bin/go-health`;
}

/** Runs the Go program to completion; returns what it printed. */
async function runGo(bin: string, args: string[]): Promise<string> {
  const proc = track(start(`go-health ${args.join(" ")}`, bin, args));
  await finish(proc, 30 * SECOND);
  return proc.output().trim();
}

async function goClientToOurServer(bin: string): Promise<string[]> {
  const failures: string[] = [];
  const expect = (got: string, want: string) => {
    if (got !== want) failures.push(`want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  };
  const port = await freePort();
  const server = track(start("lab 06 serve", process.execPath, ["scripts/lab.cjs", "06", "serve", "--solution", "--port", `${port}`], { cwd: REPO }));
  await waitUntil("printing 'listening on'", server, () => server.output().includes("listening on"));
  const addr = `127.0.0.1:${port}`;

  expect(await runGo(bin, ["-check", "-addr", addr]), 'check "": SERVING');
  expect(await runGo(bin, ["-check", "-addr", addr, "-service", "jobs.v1.JobService"]), 'check "jobs.v1.JobService": SERVING');
  expect(await runGo(bin, ["-check", "-addr", addr, "-service", "no.such.Service"]), 'check "no.such.Service": error NotFound');

  // Watch of an unknown service: SERVICE_UNKNOWN first, and the stream stays open.
  const unknown = track(start("go-health -watch no.such.Service", bin, ["-watch", "-addr", addr, "-service", "no.such.Service"]));
  await waitUntil("the first status of Watch(no.such.Service)", unknown, () => unknown.output().includes("\n"));
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(unknown.output().trim(), 'watch "no.such.Service": SERVICE_UNKNOWN');
  await stop(unknown);

  // SIGTERM with a Watch open: NOT_SERVING at once, the stream ends when the grace period runs out.
  const watcher = track(start("go-health -watch", bin, ["-watch", "-addr", addr]));
  await waitUntil("the first status of Watch()", watcher, () => watcher.output().includes("SERVING"));
  const stopping = Date.now();
  server.child.kill("SIGTERM");
  const serverCode = await finish(server, SHUTDOWN_LIMIT).catch((error: Error) => error.message);
  const took = Date.now() - stopping;
  await finish(watcher, 5 * SECOND).catch(() => undefined);
  const lines = watcher.output().trim().split("\n");
  expect(lines.slice(0, 2).join(" | "), 'watch "": SERVING | watch "": NOT_SERVING');
  if (!/^watch "": ended (Unavailable|Canceled)$/.test(lines[2] ?? "")) failures.push(`Watch(""): want its stream to end after NOT_SERVING, got ${JSON.stringify(lines)}`);
  if (serverCode !== 0 || !server.output().includes("Server stopped.")) failures.push(`serve: want exit code 0 and "Server stopped." after SIGTERM, got ${serverCode}`);
  console.log(`      serve stopped ${took} ms after SIGTERM with a Watch open (grace period 5000 ms)`);
  return failures;
}

async function ourProbeToGoServer(bin: string): Promise<string[]> {
  const failures: string[] = [];
  const port = await freePort();
  const server = track(start("go-health -serve", bin, ["-serve", "-port", `${port}`]));
  await waitUntil("accepting connections", server, () => canConnect(port));
  for (const [service, want] of [["", 0], ["down.v1.Service", 4], ["no.such.Service", 3]] as const) {
    const args = ["scripts/lab.cjs", "06", "client", "--solution", "--target", `127.0.0.1:${port}`, "probe", "--service", service];
    const probe = track(start(`lab 06 client probe --service "${service}"`, process.execPath, args, { cwd: REPO }));
    const code = await finish(probe, 60 * SECOND);
    if (code !== want) failures.push(`probe --service "${service}": want exit code ${want}, got ${code} (${probe.output().trim()})`);
  }
  return failures;
}

/** The services lab 06 serves, as grpcurl would describe them. */
const describedServices = "jobs.v1.JobService,grpc.health.v1.Health";

async function reflectionToOurServer(bin: string): Promise<string[]> {
  const port = await freePort();
  const server = track(start("lab 06 serve", process.execPath, ["scripts/lab.cjs", "06", "serve", "--solution", "--port", `${port}`], { cwd: REPO }));
  await waitUntil("printing 'listening on'", server, () => server.output().includes("listening on"));
  // serve wrote the stubs and protoc's descriptor set before it listened.
  const protocSchema = await runGo(bin, ["-describe", "-descriptors", descriptorSetFile(treeDir(findLab("06"), "solution")), "-services", describedServices]);
  const reflectedSchema = await runGo(bin, ["-describe", "-addr", `127.0.0.1:${port}`, "-services", describedServices]);
  if (!protocSchema.startsWith("service grpc.health.v1.Health")) return [`describing protoc's descriptor set failed: ${protocSchema}`];
  if (reflectedSchema === protocSchema) return [];
  return [`the schema reflection serves differs from protoc's:\n--- protoc\n${protocSchema}\n--- reflection\n${reflectedSchema}`];
}

async function main(): Promise<number> {
  if (!prerequisitesPresent()) {
    console.log(`Go, grpc-go's health or reflection packages, or Go's protobuf packages are missing; install the Debian packages with: apt-get install -y ${APT_PACKAGES}`);
    return 2;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-go-health-"));
  // Last resort, also on Ctrl-C: no process or temp dir outlives the test.
  process.on("exit", () => {
    for (const proc of procs) signalGroup(proc, "SIGKILL");
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(1));
  try {
    let bin: string | undefined;
    let buildError = "";
    try {
      bin = await buildGo(tmp);
    } catch (error) {
      buildError = `building go-health failed: ${(error as Error).message}`;
    }
    const directions: Array<[string, (bin: string) => Promise<string[]>]> = [
      ["A: Go health client -> lab 06 serve --solution", goClientToOurServer],
      ["B: lab 06 client probe --solution -> Go health server", ourProbeToGoServer],
      ["C: Go reflection client (protodesc, as grpcurl) -> lab 06 serve --solution", reflectionToOurServer],
    ];
    let failed = 0;
    for (const [name, run] of directions) {
      const began = Date.now();
      let failures: string[];
      try {
        failures = bin ? await run(bin) : [buildError];
      } catch (error) {
        failures = [(error as Error).message];
      }
      const seconds = ((Date.now() - began) / SECOND).toFixed(1);
      console.log(`${failures.length === 0 ? "PASS" : "FAIL"}  ${name} (${seconds}s)`);
      for (const failure of failures) console.log(`      - ${failure}`);
      if (failures.length > 0) {
        failed++;
        printOutputs(procs);
      }
      await Promise.all(procs.map(stop));
      procs = [];
    }
    console.log(`${directions.length - failed} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
  } finally {
    await Promise.all(procs.map(stop));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
