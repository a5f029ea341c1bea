/**
 * The child process that grades one lab of one submission: the instructor's
 * checks (checkLab) against a prepared tree. The grader starts it in its own
 * process group with a time and memory limit and kills the whole group when
 * it is done, so nothing the learner's code starts outlives it.
 * Usage: check-one.ts <lab folder name> <tree> <result file> <memory MB> [<setup JSON>]
 *        check-one.ts --self-test [<setup JSON>]   (contain.ts: does a contained run work here?)
 *
 * With a setup (contain.ts), it is PID 1 of its own namespaces: it brings the
 * loopback up, covers the folders the checks must not see, then runs itself
 * again without the setup and without any capability, and ends with it (which
 * ends every process left in the namespaces).
 * Either way it ends as soon as its standard input closes: the grader holds the
 * other end, so a grader that was killed takes its lab runs with it.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import { type Setup, selfTestFlag } from "./contain";

/** Ends this run (and on POSIX its whole process group) when the grader is gone. */
function endWithGrader(): void {
  let stdin: fs.Stats;
  try {
    stdin = fs.fstatSync(0);
  } catch {
    return;
  }
  // Only a pipe from the grader: a terminal or /dev/null says nothing about it.
  if (!stdin.isFIFO() && !stdin.isSocket()) return;
  const end = () => {
    if (process.platform !== "win32") {
      try {
        process.kill(0, "SIGKILL");
      } catch {
        // Not allowed: exiting is enough.
      }
    }
    process.exit(1);
  };
  process.stdin.on("end", end);
  process.stdin.on("error", end);
  process.stdin.resume();
}

function must(command: string, args: string[]): void {
  const run = spawnSync(command, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (run.status !== 0) {
    process.stderr.write(`could not contain the lab run: ${command} ${args.join(" ")}: ${(run.stderr || run.error?.message || `exit ${run.status}`).trim()}\n`);
    process.exit(70);
  }
}

/** PID 1 of the namespaces: prepare them, run the checks as a child, end with it. */
function contained(setup: Setup, args: string[]): void {
  endWithGrader();
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

async function main(argv: string[]): Promise<void> {
  if (argv[0] === selfTestFlag) return argv[1] === undefined ? selfTest() : contained(JSON.parse(argv[1]) as Setup, [selfTestFlag]);
  const [labId = "", tree = "", resultFile = "", memoryMb = "", setup] = argv;
  if (setup !== undefined) return contained(JSON.parse(setup) as Setup, [labId, tree, resultFile, memoryMb]);
  endWithGrader();
  // Loaded here, not by PID 1 of the namespaces, which only sets them up.
  const { loadLab } = require("../lib/labs") as typeof import("../lib/labs");
  const { checkLab } = require("../lib/run-checks") as typeof import("../lib/run-checks");
  // Grading is about throughput: the class's labs already run side by side (--jobs), so each run
  // has one subject, not two. That saves the second one's start and memory (a class of 15 × 7 on
  // 2 cores: 193 → 161 s with --jobs 3; docs/performance.md). Checks that shared a subject that
  // stopped are run again alone, as with two.
  const result = await checkLab(loadLab(labId), { target: "learner", tree, subjectMemoryMb: Number(memoryMb), subjects: 1, graded: true });
  fs.writeFileSync(resultFile, JSON.stringify(result));
  process.exit(0);
}

void main(process.argv.slice(2));
