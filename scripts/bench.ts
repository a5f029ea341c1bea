/**
 * `npm run bench`: how long `npm run lab NN -- --solution` takes for every lab,
 * against the floor, the same lab's checks precompiled to JavaScript and run
 * with the plain mocha CLI. Runs are interleaved (every command once a round,
 * in turn) so that load from other processes hits them alike; the figures are
 * medians. Options: --runs N (default 7), --labs 01,02.
 *
 * Peak memory is sampled from /proc (Linux): the largest single process of the
 * command's process tree, and the whole tree at its largest. CPU time is the
 * user+system time of the whole tree, which load from other processes does not
 * inflate as much as wall time. Neither is measured on other systems.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { parseArgs } from "node:util";
import * as path from "node:path";
import { type Lab, listLabs, protoDir, treeDir, workspaceRoot } from "./lib/labs";
import { CheckWorker, checkFiles, checkLab } from "./lib/run-checks";
import { Watcher } from "./lib/watch";
import { ensureStubs } from "./lib/stubs";
import { tscCommand } from "./lib/typecheck";

const { values } = parseArgs({ options: { runs: { type: "string", default: "7" }, labs: { type: "string" } } });
const runs = Number(values.runs);
const wanted = values.labs?.split(",").map((n) => n.padStart(2, "0"));
const labs = listLabs().filter((lab) => !wanted || wanted.includes(lab.number));
const targetRatio = 3;
const targetMemoryMb = 150;
const targetWatchMs = 300;
const procfs = process.platform === "linux" && fs.existsSync("/proc/self/task");

interface Sample {
  wallMs: number;
  cpuMs: number | null;
  peakProcessMb: number | null;
  peakTreeMb: number | null;
  code: number | null;
}

interface Command {
  label: string;
  lab: Lab;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  samples: Sample[];
}

/** CPU time of the children this process has waited for, from /proc/self/stat (in ms). */
function childrenCpuMs(): number | null {
  if (!procfs) return null;
  const fields = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  // Fields 16 and 17 of stat (cutime, cstime), in clock ticks of 10 ms.
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // The process has just exited.
  }
  return [pid, ...children.flatMap(descendants)];
}

function measure(command: Command): Promise<Sample> {
  return new Promise((resolve) => {
    const cpuBefore = childrenCpuMs();
    const started = process.hrtime.bigint();
    const child = spawn(command.command, command.args, { cwd: workspaceRoot, env: { ...process.env, ...command.env }, stdio: "ignore" });
    let peakProcess = 0;
    let peakTree = 0;
    const sampler = procfs
      ? setInterval(() => {
          const sizes = descendants(child.pid!).map(rssMb);
          peakProcess = Math.max(peakProcess, ...sizes);
          peakTree = Math.max(peakTree, sizes.reduce((a, b) => a + b, 0));
        }, 10)
      : undefined;
    child.on("exit", (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      clearInterval(sampler);
      const cpuAfter = childrenCpuMs();
      resolve({
        wallMs,
        cpuMs: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
        peakProcessMb: procfs ? peakProcess : null,
        peakTreeMb: procfs ? peakTree : null,
        code,
      });
    });
  });
}

/**
 * Compiles the lab's checks, its solution and check-kit to JavaScript in a
 * scratch folder inside node_modules/.cache (so packages resolve), with the
 * data files beside them. Each .js can also be loaded by its .ts name, since
 * checks load learner files by that name (loadTarget("src/server.ts")).
 */
function buildFloor(lab: Lab): { dir: string; checks: string[]; tree: string } {
  const dir = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", "bench", lab.id);
  fs.rmSync(dir, { recursive: true, force: true });
  const parts = [path.join("labs", lab.id), path.join("solutions", lab.id), path.join("scripts", "check-kit"), "proto"];
  for (const part of parts) fs.cpSync(path.join(workspaceRoot, part), path.join(dir, part), { recursive: true });
  const tsconfig = path.join(dir, "tsconfig.json");
  fs.writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: path.join(workspaceRoot, "tsconfig.json"),
      compilerOptions: { noEmit: false, outDir: dir, rootDir: workspaceRoot, sourceMap: false },
      include: [path.join(workspaceRoot, "labs", lab.id, "checks"), path.join(workspaceRoot, "solutions", lab.id), path.join(workspaceRoot, "scripts", "check-kit")],
    }),
  );
  const { command, args } = tscCommand();
  const result = spawnSync(command, [...args, "-p", tsconfig], { cwd: workspaceRoot, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`could not compile lab ${lab.number} to JavaScript: ${result.stdout}${result.stderr}`);
  const mirror = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) mirror(full);
      // A forwarder, not a copy: loading it gives the very module the .js name gives (one class, one store).
      else if (entry.name.endsWith(".js")) fs.writeFileSync(full.replace(/\.js$/, ".ts"), `module.exports = require("./${entry.name}");\n`);
    }
  };
  mirror(dir);
  // What the runner's check worker does after each check: close what the check opened.
  fs.writeFileSync(path.join(dir, "root-hooks.js"), 'exports.mochaHooks = { afterEach: require("./scripts/check-kit/resources").closeAll };\n');
  const checks = checkFiles(lab).map((file) => path.join(dir, path.relative(workspaceRoot, file)).replace(/\.ts$/, ".js"));
  return { dir, checks, tree: path.join(dir, "solutions", lab.id) };
}

/**
 * Watch mode as a learner uses it: a copy of the solution checked by a kept
 * worker; each round changes a learner file and times the save until the
 * result is ready. Every save changes the code, so tsc always runs.
 */
async function watchRecheck(lab: Lab): Promise<{ first: number[]; full: number[]; checks: number[] }> {
  // Laid out like a workspace (labs/<tree>, proto/ beside labs/): learner code may read the .proto files.
  const scratch = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", "bench");
  const tree = path.join(scratch, "labs", `watch-${lab.id}`);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.cpSync(treeDir(lab, "solution"), tree, { recursive: true });
  fs.cpSync(protoDir, path.join(scratch, "proto"), { recursive: true });
  fs.writeFileSync(path.join(tree, "tsconfig.json"), JSON.stringify({ extends: path.join(workspaceRoot, "tsconfig.json"), include: ["src", "gen"] }));
  const files = lab.learnerFiles.map((file) => path.join(tree, ...file.split("/")));
  const worker = new CheckWorker();
  let checked: (() => void) | undefined;
  let shown = 0;
  let checksMs = 0;
  const watcher = new Watcher({
    files,
    check: async () => {
      const result = await checkLab(lab, { target: "learner", tree, worker, onChecksFirst: () => (shown = performance.now()) });
      if (result.status !== "pass") throw new Error(`watch check of lab ${lab.number} failed: ${result.tests.find((t) => t.status === "fail")?.message}`);
      checksMs = result.tests.reduce((sum, t) => sum + t.duration_ms, 0);
      checked?.();
    },
  });
  await watcher.start();
  const first: number[] = [];
  const full: number[] = [];
  const checks: number[] = [];
  for (let round = 0; round <= runs; round++) {
    const done = new Promise<void>((resolve) => (checked = resolve));
    const started = performance.now();
    shown = 0;
    fs.appendFileSync(files[0]!, `\n// edit ${round}\n`);
    await done;
    const finished = performance.now();
    if (round > 0) {
      full.push(finished - started);
      first.push((shown || finished) - started);
      checks.push(checksMs);
    }
    worker.warm();
    // A learner types between saves.
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  watcher.close();
  worker.stop();
  fs.rmSync(tree, { recursive: true, force: true });
  return { first, full, checks };
}

function npmCommand(args: string[]): { command: string; args: string[] } {
  // Through npm, as a learner runs it; npm_execpath is npm itself when this runs as `npm run bench`.
  const npm = process.env.npm_execpath;
  if (npm && /\.c?js$/.test(npm)) return { command: process.execPath, args: [npm, ...args] };
  return { command: process.platform === "win32" ? "npm.cmd" : "npm", args };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const max = (values: Array<number | null>) => (values.some((v) => v === null) ? null : Math.max(...(values as number[])));
const fmt = (value: number | null, digits = 0) => (value === null ? "n/a" : value.toFixed(digits));

async function main(): Promise<void> {
  console.log(`grpc-labs bench: ${runs} interleaved runs a command after one warm-up round; Node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()}.`);
  const commands: Command[] = [];
  for (const lab of labs) {
    ensureStubs(lab, treeDir(lab, "solution"));
    const floor = buildFloor(lab);
    const mocha = path.join(workspaceRoot, "node_modules", "mocha", "bin", "mocha.js");
    commands.push({
      label: "floor: mocha on precompiled JS",
      lab,
      command: process.execPath,
      args: [mocha, "--no-config", "--timeout", "5000", "--require", path.join(floor.dir, "root-hooks.js"), ...floor.checks],
      env: { GRPC_LABS_TARGET_DIR: floor.tree, GRPC_LABS_LAB: lab.number },
      samples: [],
    });
    const lab_ = npmCommand(["run", "-s", "lab", lab.number, "--", "--solution"]);
    commands.push({ label: "npm run lab NN -- --solution", lab, ...lab_, env: { GRPC_LABS_NO_CACHE: "1" }, samples: [] });
    commands.push({ label: "  same, code unchanged (tsc cached)", lab, ...lab_, samples: [] });
  }
  for (let round = 0; round <= runs; round++) {
    for (const command of commands) {
      const sample = await measure(command);
      if (sample.code !== 0) throw new Error(`${command.label} for lab ${command.lab.number} exited with ${sample.code}`);
      if (round > 0) command.samples.push(sample);
    }
    process.stdout.write(round === 0 ? "warm-up done; measuring" : ".");
  }
  console.log("\n");

  const header = ["lab", "command", "median s", "× floor", "CPU s", "peak MB (process / tree)"];
  const rows: string[][] = [];
  let ok = true;
  for (const lab of labs) {
    const own = commands.filter((c) => c.lab === lab);
    const floor = median(own[0]!.samples.map((s) => s.wallMs));
    for (const command of own) {
      const wall = median(command.samples.map((s) => s.wallMs));
      const cpus = command.samples.map((s) => s.cpuMs);
      const cpu = cpus.includes(null) ? null : median(cpus as number[]);
      const peakProcess = max(command.samples.map((s) => s.peakProcessMb));
      const peakTree = max(command.samples.map((s) => s.peakTreeMb));
      const ratio = wall / floor;
      if (command !== own[0] && (ratio > targetRatio || (peakProcess ?? 0) > targetMemoryMb)) ok = false;
      rows.push([lab.number, command.label, fmt(wall / 1000, 2), command === own[0] ? "1.00" : fmt(ratio, 2), cpu === null ? "n/a" : fmt(cpu / 1000, 2), `${fmt(peakProcess)} / ${fmt(peakTree)}`]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log(`\nTarget: at most ${targetRatio}× the floor (median) and ${targetMemoryMb} MB in any one process, for every lab: ${ok ? "met" : "NOT met"}.`);

  console.log(`\nWatch mode, from saving a learner file to the check results on screen, and to the type-check too; median (min-max) of ${runs}.`);
  console.log("The overhead is the time to results less the time the checks themselves took (labs 06 and 07 wait out deadlines on purpose):");
  let watchOk = true;
  for (const lab of labs) {
    const { first, full, checks } = await watchRecheck(lab);
    const overhead = first.map((ms, i) => ms - checks[i]!);
    if (median(overhead) > targetWatchMs) watchOk = false;
    const range = (times: number[]) => `${fmt(median(times))} ms (${fmt(Math.min(...times))}-${fmt(Math.max(...times))})`;
    console.log(`  ${lab.number}  results ${range(first)}, type-checked ${range(full)}, checks ${fmt(median(checks))} ms, overhead ${range(overhead)}`);
  }
  console.log(`Target: an overhead under ${targetWatchMs} ms for every lab: ${watchOk ? "met" : "NOT met"}.`);
  process.exitCode = ok && watchOk ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 2;
});
