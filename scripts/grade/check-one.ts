/**
 * The child process that grades lab runs: the instructor's checks (checkLab)
 * against prepared trees, one run after another, as the grader asks for them
 * on its standard input (sandbox.ts). Its judge stays loaded between runs, as
 * in watch mode: loading Node, tsx, mocha and grpc-js again for every lab of
 * every student was a third of grading's CPU. Each run still gets fresh
 * subjects, its own tree and fresh checks. The grader starts it in its own
 * process group and kills the whole group when a run is out of time or
 * memory, so nothing the learner's code starts outlives that run.
 * Usage: check-one.ts <memory MB> [<setup JSON>], then one request a line on
 *        standard input ({"id", "labId", "tree", "resultFile"}); it writes the
 *        result file, then {"done": id} on standard output.
 *        check-one.ts --self-test [<setup JSON>]   (contain.ts: does a contained run work here?)
 *
 * With a setup (contain.ts), it is PID 1 of its own namespaces: it brings the
 * loopback up, covers the folders the checks must not see, then runs itself
 * again without the setup and without any capability, and ends with it (which
 * ends every process left in the namespaces).
 * It ends as soon as its standard input closes: the grader holds the other
 * end, so a grader that was killed takes its lab runs with it.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as readline from "node:readline";
import { type Setup, selfTestFlag } from "./contain";

// SIGUSR1 would open Node's inspector on the namespace's 127.0.0.1:9229, where the learner's code
// could connect and write results: a listener of our own keeps it closed (as the judge's does).
process.on("SIGUSR1", () => undefined);

/** Ends this process (and on POSIX its whole process group): the grader is gone. */
function endWithGrader(): never {
  if (process.platform !== "win32") {
    try {
      process.kill(0, "SIGKILL");
    } catch {
      // Not allowed: exiting is enough.
    }
  }
  process.exit(1);
}

function must(command: string, args: string[]): void {
  const run = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (run.status !== 0) {
    process.stderr.write(`could not contain the lab run: ${command} ${args.join(" ")}: ${(run.stderr || run.error?.message || `exit ${run.status}`).trim()}\n`);
    process.exit(70);
  }
}

/** PID 1 of the namespaces: prepare them, run the checks as a child (which reads the requests), end with it. */
function contained(setup: Setup, args: string[]): void {
  if (setup.ip) must(setup.ip, ["link", "set", "lo", "up"]);
  for (const dir of setup.hide) must(setup.mount, ["-t", "tmpfs", "-o", "size=16k,mode=0555", "grpc-labs-hidden", dir]);
  const command = [...setup.dropCaps, process.execPath, ...process.execArgv, __filename, ...args];
  const child = spawn(command[0]!, command.slice(1), { stdio: "inherit" });
  child.on("error", (error) => {
    process.stderr.write(`could not start the checks: ${error.message}\n`);
    process.exit(70);
  });
  // PID 1 cannot be killed by a signal from inside: a child killed by one is reported as 128 + its number.
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
}

/** What the grader runs once, contained, before trusting the containment: TypeScript loads, and the loopback carries a connection. */
function selfTest(): void {
  const server = net.createServer((socket) => socket.end("ok"));
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, "127.0.0.1");
    let answer = "";
    client.on("data", (chunk: Buffer) => (answer += chunk.toString()));
    client.on("end", () => process.exit(answer === "ok" ? 0 : 1));
    client.on("error", (error) => {
      process.stderr.write(`loopback: ${error.message}\n`);
      process.exit(1);
    });
  });
  server.on("error", (error) => {
    process.stderr.write(`loopback: ${error.message}\n`);
    process.exit(1);
  });
}

interface Request {
  id: number;
  labId: string;
  tree: string;
  resultFile: string;
}

/** Grades the runs the grader asks for, one at a time, with one judge kept between them; ends when the grader is gone. */
function serve(memoryMb: number): void {
  // Loaded here, not by PID 1 of the namespaces, which only sets them up.
  const { loadLab } = require("../lib/labs") as typeof import("../lib/labs");
  const { checkLab, CheckWorker } = require("../lib/run-checks") as typeof import("../lib/run-checks");
  const judge = new CheckWorker();
  const grade = async ({ id, labId, tree, resultFile }: Request) => {
    try {
      // Grading is about throughput: the class's labs already run side by side (--jobs), so each run
      // has one subject, not two. That saves the second one's start and memory (a class of 15 × 7 on
      // 2 cores: 193 → 161 s with --jobs 3; docs/performance.md). Checks that shared a subject that
      // stopped are run again alone, as with two.
      const result = await checkLab(loadLab(labId), { target: "learner", tree, subjectMemoryMb: memoryMb, subjects: 1, graded: true, worker: judge });
      fs.writeFileSync(resultFile, JSON.stringify(result));
    } catch (error) {
      // No result file: the grader says the result could not be read, with this line.
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    }
    process.stdout.write(`${JSON.stringify({ done: id })}\n`);
  };
  let queue = Promise.resolve();
  const lines = readline.createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const request = JSON.parse(line) as Request;
    queue = queue.then(() => grade(request));
  });
  lines.on("close", endWithGrader);
  process.stdin.on("error", endWithGrader);
}

function main(argv: string[]): void {
  if (argv[0] === selfTestFlag) return argv[1] === undefined ? selfTest() : contained(JSON.parse(argv[1]) as Setup, [selfTestFlag]);
  const [memoryMb = "", setup] = argv;
  if (setup !== undefined) return contained(JSON.parse(setup) as Setup, [memoryMb]);
  serve(Number(memoryMb));
}

main(process.argv.slice(2));
