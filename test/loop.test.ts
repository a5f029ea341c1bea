/**
 * The learner's loop: watch mode (200 re-runs leave nothing behind), file
 * events and polling, progress.json, graded hints, reset with a backup, and
 * the guard on diff and solution. Everything runs in temporary trees, a
 * workspace copy and progress files: the real labs/NN-name/src/ is never used.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "../scripts/lib/args";
import { unifiedDiff } from "../scripts/lib/diff";
import { gradedHint } from "../scripts/lib/hints";
import { findLab, starterFile } from "../scripts/lib/labs";
import { forgetLab, labPassed, readProgress, recordProgress } from "../scripts/lib/progress";
import { formatLabList } from "../scripts/lib/report";
import { listBackups, resetLab, restoreLab, timestampName } from "../scripts/lib/reset";
import { buildResult, type CheckResult, type LabResult } from "../scripts/lib/results";
import { CheckWorker, checkLab, passedChecks, stillRunning } from "../scripts/lib/run-checks";
import { Watcher } from "../scripts/lib/watch";
import { removeTrees, removeWorkspace, solutionVariant, workspaceCopy } from "./trees";

const lab = findLab("01");
const scratch = () => fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-loop-"));

/** A result in which the steps listed pass and every other step fails. */
function resultPassing(steps: number[]): LabResult {
  const tests = lab.steps.map(
    (s): CheckResult => ({
      id: `s${s.step}.x`,
      name: "x",
      step: s.step,
      side: s.side,
      status: steps.includes(s.step) ? "pass" : "fail",
      message: steps.includes(s.step) ? null : "expected 1, got 2",
      output: null,
      duration_ms: 1,
      points: steps.includes(s.step) ? 1 : 0,
      max_points: 1,
    }),
  );
  return buildResult(lab, "learner", tests, { type_errors: [], warnings: [], message: null, duration_ms: 1 });
}

const allSteps = lab.steps.map((s) => s.step);

describe("parseArgs, loop commands", () => {
  const command = (...argv: string[]) => parseArgs(argv).command;
  it("reads next, --watch, --poll, reset, diff, solution and --force", () => {
    assert.deepEqual(command("next"), { kind: "next" });
    assert.deepEqual(command("01", "--watch"), { kind: "watch", lab: "01", target: "learner", poll: false });
    assert.deepEqual(command("01", "--watch", "--poll", "--solution"), { kind: "watch", lab: "01", target: "solution", poll: true });
    assert.deepEqual(command("01", "reset"), { kind: "reset", lab: "01" });
    assert.deepEqual(command("01", "restore"), { kind: "restore", lab: "01" });
    assert.deepEqual(command("01", "diff"), { kind: "diff", lab: "01", force: false });
    assert.deepEqual(command("01", "solution", "--force"), { kind: "solution", lab: "01", force: true });
  });
});

describe("watch mode", function () {
  this.timeout(240_000);
  after(removeTrees);

  it("shows the step the learner is on while the steps before it, which passed last time, are checked again", async () => {
    // Lab 07 with its server done and its client the starter: the server's checks wait out deadlines, the client's fail at once.
    const deadlines = findLab("07");
    const tree = solutionVariant(deadlines, "watch-early", [{ file: "src/client.ts", from: /^[\s\S]*$/, to: fs.readFileSync(starterFile(deadlines, "src/client.ts"), "utf8").replaceAll("$", "$$$$") }]);
    const worker = new CheckWorker();
    try {
      const earlySteps = async (passedLastTime?: Set<string>) => {
        const shown: Array<{ step: number; result: LabResult }> = [];
        const result = await checkLab(deadlines, { target: "learner", tree, worker, passedLastTime, onFirstFailingStep: (early, step) => void shown.push({ step, result: early }) });
        worker.warm();
        return { shown, result };
      };
      const first = await earlySteps();
      const clientStep = Math.min(...first.result.tests.filter((t) => t.status === "fail").map((t) => t.step));
      assert.equal(deadlines.steps.find((s) => s.step === clientStep)?.side, "client", JSON.stringify(first.result.tests));
      // Without the last run, the client's step shows once every check before it has passed.
      assert.equal(first.shown.length, 1);
      assert.ok(first.shown[0]!.result.tests.filter((t) => t.step < clientStep).every((t) => t.status === "pass"));
      // With it, at once: the server's checks are still running, and the final report agrees.
      const again = await earlySteps(passedChecks(first.result));
      assert.equal(again.shown[0]?.step, clientStep);
      assert.ok(again.shown[0]!.result.tests.some((t) => t.step < clientStep && t.message === stillRunning), "every check before the client's step had ended");
      assert.equal(Math.min(...again.result.tests.filter((t) => t.status === "fail").map((t) => t.step)), clientStep);
    } finally {
      worker.stop();
    }
  });

  it("re-runs the checks 200 times in one worker without leaking servers, ports, handles or processes", async () => {
    // A tiny check that starts a server on a fresh port and connects to it, with a learner file that changes every run.
    const tree = solutionVariant(lab, "watch-200");
    const server = path.join(tree, "src", "server.ts");
    const check = path.join(tree, "checks", "tiny.check.ts");
    fs.mkdirSync(path.dirname(check));
    fs.writeFileSync(
      check,
      `import * as grpc from "@grpc/grpc-js";
import { expectEqual, listen, loadTarget, step, track } from "../../../scripts/check-kit";
step(2, () => {
  it("serves on a fresh port", async () => {
    const { answer } = await loadTarget<{ answer: number }>("src/server.ts");
    const address = await listen(new grpc.Server());
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    track(() => client.close());
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 2000, (e) => (e ? reject(e) : resolve())));
    expectEqual(answer % 2, 0, "answer % 2");
  });
});
`,
    );
    const worker = new CheckWorker();
    const results: LabResult[] = [];
    const save = (run: number) => fs.writeFileSync(server, `export const answer: number = ${run % 2};\n`);
    const watcher = new Watcher({
      files: [server],
      check: async () => void results.push(await checkLab(lab, { target: "learner", tree, worker, checkFiles: [check] })),
    });
    const fds = () => (fs.existsSync("/proc/self/fd") ? fs.readdirSync("/proc/self/fd").length : 0);
    const handles = () => process.getActiveResourcesInfo().filter((kind) => kind !== "FSReqCallback" && kind !== "FSReqPromise").length;
    try {
      save(0);
      await watcher.start();
      save(1);
      await watcher.trigger();
      const [fdsBefore, handlesBefore, pid] = [fds(), handles(), worker.pid];
      for (let run = 2; run < 200; run++) {
        save(run);
        await watcher.trigger();
      }
      assert.equal(watcher.runs, 200);
      assert.equal(worker.pid, pid, "the same worker served every run");
      assert.ok(fds() <= fdsBefore + 2, `open file descriptors grew from ${fdsBefore} to ${fds()}`);
      assert.ok(handles() <= handlesBefore + 2, `active handles grew from ${handlesBefore} to ${handles()}`);
    } finally {
      watcher.close();
      worker.stop();
    }
    assert.equal(results.length, 200);
    for (const [i, result] of results.entries()) {
      const tiny = result.tests.find((t) => t.step === 2)!;
      assert.equal(tiny.status, i % 2 === 0 ? "pass" : "fail", `run ${i + 1}: ${tiny.message}`);
      assert.deepEqual(result.warnings, [], `run ${i + 1} left something open`);
    }
  });

  it("warns when the learner's code left a server running, and the next run starts clean", async () => {
    const tree = solutionVariant(lab, "watch-leak");
    const server = path.join(tree, "src", "server.ts");
    const check = path.join(tree, "checks", "leak.check.ts");
    fs.mkdirSync(path.dirname(check));
    fs.writeFileSync(
      check,
      `import { loadTarget, step } from "../../../scripts/check-kit";
step(2, () => {
  it("starts the learner's server", async () => {
    await (await loadTarget<{ start(): Promise<void> }>("src/server.ts")).start();
  });
});
`,
    );
    const leaky = `import * as grpc from "@grpc/grpc-js";
export function start(): Promise<void> {
  // Bound and never shut down.
  return new Promise((resolve, reject) => new grpc.Server().bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
}
`;
    const worker = new CheckWorker();
    try {
      fs.writeFileSync(server, leaky);
      const first = await checkLab(lab, { target: "learner", tree, worker, checkFiles: [check] });
      const judge = worker.pid;
      assert.equal(first.warnings.length, 1, "a warning names what was left running");
      fs.writeFileSync(server, "export async function start(): Promise<void> {}\n");
      const second = await checkLab(lab, { target: "learner", tree, worker, checkFiles: [check] });
      assert.equal(worker.pid, judge, "the judge is kept: the learner's code ran in a subject that is gone");
      assert.deepEqual(second.warnings, []);
    } finally {
      worker.stop();
    }
  });

  it("replaces a kept judge that a run left much larger than its first run did, once that run is over", async () => {
    const tree = solutionVariant(lab, "watch-grown");
    const check = path.join(tree, "checks", "grow.check.ts");
    fs.mkdirSync(path.dirname(check));
    // The check runs in the judge: a run of it that keeps 64 MB grows the judge by that much.
    const write = (hoard: boolean) =>
      fs.writeFileSync(check, `${hoard ? "(globalThis as { hoard?: Buffer }).hoard = Buffer.alloc(64 * 1024 * 1024, 1);\n" : ""}it("passes", () => undefined);\n`);
    const worker = new CheckWorker();
    const run = async () => {
      const result = await checkLab(lab, { target: "learner", tree, worker, checkFiles: [check] });
      assert.equal(result.tests.find((t) => t.name === "passes")?.status, "pass", JSON.stringify(result.tests));
      return worker.pid;
    };
    try {
      write(false);
      const judge = await run();
      assert.equal(await run(), judge, "kept while it does not grow");
      write(true);
      assert.equal(await run(), undefined, "the run that grew it passed, and its judge left");
      write(false);
      const fresh = await run();
      assert.ok(fresh !== undefined && fresh !== judge, "the next run has a fresh judge");
    } finally {
      worker.stop();
    }
  });

  it("runs the checks again when a file changes, once per content, with file events and with polling", async () => {
    const dir = scratch();
    const file = path.join(dir, "server.ts");
    fs.writeFileSync(file, "export const a = 1;\n");
    for (const poll of [false, true]) {
      let runs = 0;
      let ran: (() => void) | undefined;
      const watcher = new Watcher({ files: [file], poll, pollIntervalMs: 50, check: async () => void (runs++, ran?.()) });
      try {
        await watcher.start();
        assert.equal(runs, 1);
        const next = () => new Promise<void>((resolve) => (ran = resolve));
        let change = next();
        fs.writeFileSync(file, `export const a = ${poll ? 2 : 3};\n`);
        await change;
        assert.equal(runs, 2, `${poll ? "polling" : "events"}: one run for one save`);
        // Saving the same content again runs nothing.
        fs.writeFileSync(file, `export const a = ${poll ? 2 : 3};\n`);
        await new Promise((resolve) => setTimeout(resolve, 400));
        assert.equal(runs, 2, `${poll ? "polling" : "events"}: an unchanged save runs nothing`);
        change = next();
        fs.writeFileSync(file, "export const a = 4;\n");
        await change;
        assert.equal(runs, 3);
        assert.equal(watcher.mode, poll ? "polling" : "events");
      } finally {
        watcher.close();
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("progress.json", () => {
  it("keeps the passed steps and the hint state, and names the next lab", () => {
    const file = path.join(scratch(), "progress.json");
    recordProgress(resultPassing([1, 2]), file);
    assert.equal(gradedHint(lab, resultPassing([1, 2]), file)?.number, 1);
    recordProgress(resultPassing([1, 2]), file);
    const own = readProgress(file).labs[lab.id]!;
    assert.deepEqual(own.passed_steps, [1, 2]);
    assert.deepEqual(own.hint, { step: 3, shown: 1 }, "a new check keeps the hint state");
    assert.equal(labPassed(readProgress(file), lab.id), false);
    assert.match(formatLabList([lab], readProgress(file)), /2\/9 steps {2}← next/);
    recordProgress(resultPassing(allSteps), file);
    assert.equal(labPassed(readProgress(file), lab.id), true);
    assert.match(formatLabList([lab], readProgress(file)), /Every lab passes/);
    forgetLab(lab.id, file);
    assert.match(formatLabList([lab], readProgress(file)), /not started {2}← next/, "after reset the lab is not done");
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe("graded hints", () => {
  it("go from general to specific for the first failing step, and start again when that step changes", () => {
    const file = path.join(scratch(), "progress.json");
    const stuckAt2 = resultPassing([1]);
    recordProgress(stuckAt2, file);
    const hints = lab.steps[1]!.hints;
    const shown = [1, 2, 3, 4].map(() => gradedHint(lab, stuckAt2, file)!);
    assert.deepEqual(
      shown.map((h) => h.text),
      [hints[0], hints[1], hints[hints.length - 1], hints[hints.length - 1]],
    );
    assert.deepEqual(
      shown.map((h) => [h.step.step, h.number, h.total]),
      [
        [2, 1, 2],
        [2, 2, 2],
        [2, 2, 2],
        [2, 2, 2],
      ],
    );
    const stuckAt3 = resultPassing([1, 2]);
    recordProgress(stuckAt3, file);
    assert.deepEqual([gradedHint(lab, stuckAt3, file)!.step.step, gradedHint(lab, stuckAt3, file)!.number], [3, 2]);
    assert.equal(gradedHint(lab, resultPassing(allSteps), file), null, "no hint when every step passes");
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe("reset", () => {
  it("backs up the learner's changed files to a named, timestamped folder, then restores the starter", () => {
    const root = scratch();
    const tree = path.join(root, "lab");
    const backups = path.join(root, "backups");
    const server = path.join(tree, "src", "server.ts");
    const client = path.join(tree, "src", "client.ts");
    fs.mkdirSync(path.dirname(server), { recursive: true });
    fs.writeFileSync(server, "// my work\n");
    fs.copyFileSync(starterFile(lab, "src/client.ts"), client);
    const now = new Date("2026-11-23T17:05:00.123Z");

    const first = resetLab(lab, { tree, backups, now });
    assert.equal(first.backup, path.join(backups, lab.id, "2026-11-23T17-05-00"));
    assert.deepEqual(first.saved, ["src/server.ts"], "an unchanged starter file needs no backup");
    assert.deepEqual(first.restored, ["src/server.ts"]);
    assert.equal(fs.readFileSync(path.join(first.backup!, "src", "server.ts"), "utf8"), "// my work\n");
    assert.ok(fs.readFileSync(server).equals(fs.readFileSync(starterFile(lab, "src/server.ts"))));

    assert.deepEqual(resetLab(lab, { tree, backups, now }), { backup: null, saved: [], restored: [] }, "nothing to save or restore");

    fs.writeFileSync(server, "// more work\n");
    fs.rmSync(client);
    const second = resetLab(lab, { tree, backups, now });
    assert.equal(second.backup, `${first.backup}-2`, "an earlier backup is never overwritten");
    assert.deepEqual(second.restored, ["src/server.ts", "src/client.ts"]);
    assert.equal(fs.readFileSync(path.join(first.backup!, "src", "server.ts"), "utf8"), "// my work\n");
    assert.equal(timestampName(now), "2026-11-23T17-05-00");
    fs.rmSync(root, { recursive: true });
  });

  it("restore brings back the newest backup after backing up the files it replaces, so a second restore switches back", () => {
    const root = scratch();
    const tree = path.join(root, "lab");
    const backups = path.join(root, "backups");
    const server = path.join(tree, "src", "server.ts");
    fs.mkdirSync(path.dirname(server), { recursive: true });
    assert.throws(() => restoreLab(lab, { tree, backups }), /no backup yet.*-- reset/);
    fs.writeFileSync(server, "// my work\n");
    resetLab(lab, { tree, backups, now: new Date("2026-11-23T17:05:00Z") });
    fs.writeFileSync(server, "// new work\n");

    const first = restoreLab(lab, { tree, backups, now: new Date("2026-11-23T17:06:00Z") });
    assert.equal(first.from, path.join(backups, lab.id, "2026-11-23T17-05-00"));
    assert.deepEqual([first.saved, first.restored], [["src/server.ts"], ["src/server.ts"]]);
    assert.equal(fs.readFileSync(server, "utf8"), "// my work\n");
    assert.ok(fs.readFileSync(path.join(tree, "src", "client.ts")).equals(fs.readFileSync(starterFile(lab, "src/client.ts"))), "a file the backup lacks was the starter's");
    assert.equal(fs.readFileSync(path.join(first.backup!, "src", "server.ts"), "utf8"), "// new work\n", "nothing is lost");

    const second = restoreLab(lab, { tree, backups, now: new Date("2026-11-23T17:06:00Z") });
    assert.equal(second.from, first.backup);
    assert.equal(fs.readFileSync(server, "utf8"), "// new work\n");
    assert.deepEqual(listBackups(lab, backups).map((dir) => path.basename(dir)), ["2026-11-23T17-05-00", "2026-11-23T17-06-00", "2026-11-23T17-06-00-2"]);
    fs.rmSync(root, { recursive: true });
  });
});

describe("diff and solution", function () {
  this.timeout(30_000);

  it("unifiedDiff prints diff -u hunks, and nothing for equal texts", () => {
    const before = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"].join("\n");
    const after = ["a", "b", "C", "d", "e", "f", "g", "h", "i", "j", "k"].join("\n");
    assert.equal(unifiedDiff(before, before, "x", "y"), "");
    assert.equal(
      unifiedDiff(before, after, "mine.ts", "solution.ts"),
      ["--- mine.ts", "+++ solution.ts", "@@ -1,6 +1,6 @@", " a", " b", "-c", "+C", " d", " e", " f", "@@ -8,3 +8,4 @@", " h", " i", " j", "+k", ""].join("\n"),
    );
  });

  /** The runner in a workspace copy: the learner's files there are the starter's. */
  function lab01(workspace: string, progressFile: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(workspace, "scripts", "lab.cjs"), "01", ...args], {
        cwd: workspace,
        env: { ...process.env, GRPC_LABS_PROGRESS_FILE: progressFile, NO_COLOR: "1" },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("are refused until the lab passes, allowed with --force or once it passes", async () => {
    const file = path.join(scratch(), "progress.json");
    const workspace = workspaceCopy("diff");
    recordProgress(resultPassing([1, 2]), file);
    for (const command of ["diff", "solution"]) {
      const refused = await lab01(workspace, file, command);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, new RegExp(`does not pass yet .*2 of 9 steps.*-- ${command} --force`));
      assert.equal(refused.stdout, "");
    }
    const forced = await lab01(workspace, file, "diff", "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^--- labs\/01-route-guide\/src\/server\.ts\n\+\+\+ solutions\/01-route-guide\/src\/server\.ts/);
    recordProgress(resultPassing(allSteps), file);
    const allowed = await lab01(workspace, file, "solution");
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /solutions\/01-route-guide\/src\/server\.ts/);
    fs.rmSync(path.dirname(file), { recursive: true });
    removeWorkspace(workspace);
  });
});
