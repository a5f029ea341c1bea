/**
 * Grading results only the grader writes: sealed student files, aggregates
 * rebuilt from verified results, a grader killed mid-run that resumes to the
 * same grades without leftovers, points held to the instructor's plan, and,
 * where namespaces work, submissions that try to kill the grader or read its
 * key.
 */
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hideable, namespacesLabel, probeContainment } from "../scripts/grade/contain";
import { conformed, labMatches, type StudentResult, studentMatches } from "../scripts/grade/grader";
import { sealed, unsealed } from "../scripts/grade/seal";
import { treeOf } from "../scripts/grade/watchdog";
import { type Lab, listLabs, workspaceRoot } from "../scripts/lib/labs";
import type { CheckResult, LabResult } from "../scripts/lib/results";
import { folderSubmission, hostileCode, solutionOf, starterOf } from "./grade-fixtures";

const lab = listLabs()[0]!;
const [firstFile] = lab.learnerFiles as [string, ...string[]];
const grader = path.join(workspaceRoot, "scripts", "grade.cjs");

function grade(...args: string[]): { code: number; stdout: string; stderr: string; pid: number } {
  const run = spawnSync(process.execPath, [grader, ...args], { cwd: workspaceRoot, encoding: "utf8", timeout: 180_000 });
  return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr, pid: run.pid ?? -1 };
}

const filesOf = (pick: (file: string) => string) => ({ [lab.id]: Object.fromEntries(lab.learnerFiles.map((f) => [f, pick(f)])) });
/** The solution, with code run first when the first learner file loads. */
const withPreamble = (code: string) => filesOf((f) => (f === firstFile ? `${code}\n${solutionOf(lab, f)}` : solutionOf(lab, f)));
const readJson = <T>(file: string) => JSON.parse(fs.readFileSync(file, "utf8")) as T;
const runDirsOf = (pid: number) => fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith(`grpc-labs-grade-${pid}-`));

/** Processes (Linux) whose command line mentions the text. */
function processesWith(text: string): number[] {
  if (process.platform !== "linux") return [];
  return fs
    .readdirSync("/proc")
    .filter((pid) => /^\d+$/.test(pid))
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe("grading integrity", function () {
  this.timeout(300_000);
  let root: string;
  let submissions: string;
  let out: string;
  let expectedCsv: string;
  const args = (target: string) => ["--submissions", submissions, "--out", target, "--labs", lab.number];

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-integrity-"));
    submissions = path.join(root, "submissions");
    out = path.join(root, "out");
    folderSubmission(path.join(submissions, "correct"), filesOf((f) => solutionOf(lab, f)), "clone");
    folderSubmission(path.join(submissions, "partly"), filesOf((f) => (f === firstFile ? solutionOf(lab, f) : starterOf(lab, f))), "labs-only");
    folderSubmission(path.join(submissions, "second"), filesOf((f) => solutionOf(lab, f)), "labs-only");
    const run = grade(...args(out), "--jobs", "2");
    assert.equal(run.code, 0, run.stderr + run.stdout);
    expectedCsv = fs.readFileSync(path.join(out, "grades.csv"), "utf8");
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("seals every student file with the output folder's key, kept out of reach (0600)", () => {
    const key = path.join(out, ".grader-key");
    if (process.platform !== "win32") assert.equal(fs.statSync(key).mode & 0o777, 0o600);
    const text = fs.readFileSync(path.join(out, "students", "correct.json"), "utf8");
    assert.match(text, /"seal": "hmac-sha256:[0-9a-f]{64}"/);
    assert.equal(fs.existsSync(path.join(out, ".partial")), false, "no partial result is left once every student is done");
    const results = readJson<{ isolation: string; labs: Array<{ max_score: number }> }>(path.join(out, "results.json"));
    assert.match(results.isolation, /namespaces|none available/);
    assert.ok(results.labs[0]!.max_score > 1);
  });

  it("grades again, on --resume, a student file whose score or max_score was raised, and rebuilds forged aggregates", () => {
    const file = (name: string) => path.join(out, "students", `${name}.json`);
    const honest = readJson<StudentResult>(file("partly"));
    // Raised score, kept seal: the seal no longer verifies.
    const raised = readJson<StudentResult & { seal: string }>(file("partly"));
    raised.score = raised.max_score;
    raised.labs[0]!.score = raised.labs[0]!.max_score;
    for (const t of raised.labs[0]!.tests) Object.assign(t, { status: "pass", points: t.max_points });
    fs.writeFileSync(file("partly"), JSON.stringify(raised, null, 2));
    // A bigger max_score sealed with a key of the forger's own.
    const inflated = readJson<StudentResult & { seal?: string }>(file("second"));
    delete inflated.seal;
    fs.writeFileSync(file("second"), sealed({ ...inflated, score: 1000, max_score: 1000 }, Buffer.alloc(32, 7)));
    fs.writeFileSync(path.join(out, "grades.csv"), "student,total\npartly,9999\n");
    fs.writeFileSync(path.join(out, "results.json"), '{"forged": true}');
    fs.writeFileSync(path.join(out, "feedback", "intruder.md"), "# not a student\n");

    const run = grade(...args(out), "--resume");
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /\(1 kept from the earlier run\)/);
    assert.match(run.stdout, /did not verify: partly, second/);
    assert.equal(fs.readFileSync(path.join(out, "grades.csv"), "utf8"), expectedCsv);
    const again = readJson<StudentResult>(file("partly"));
    assert.equal(again.score, honest.score);
    assert.equal(readJson<StudentResult>(file("second")).max_score, honest.max_score);
    const results = readJson<{ students: StudentResult[] }>(path.join(out, "results.json"));
    assert.deepEqual(
      results.students.map((s) => [s.student, s.score, s.max_score]),
      [
        ["correct", honest.max_score, honest.max_score],
        ["partly", honest.score, honest.max_score],
        ["second", honest.max_score, honest.max_score],
      ],
    );
    assert.equal(fs.existsSync(path.join(out, "feedback", "intruder.md")), false);
  });

  it("loses no finished result when the grader is killed with SIGKILL: --resume gives the same grades and leaves no tree or process", async function () {
    if (process.platform === "win32") this.skip();
    const killedOut = path.join(root, "killed");
    const child = spawn(process.execPath, [grader, ...args(killedOut), "--jobs", "1"], { cwd: workspaceRoot, stdio: "ignore" });
    const saved = () =>
      ["students", ".partial"].some((dir) => {
        const folder = path.join(killedOut, dir);
        return fs.existsSync(folder) && fs.readdirSync(folder, { recursive: true }).some((f) => String(f).endsWith(".json"));
      });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    assert.ok(await until(saved, 120_000), "a first result was saved");
    const pid = child.pid!;
    child.kill("SIGKILL");
    await exited;
    assert.ok(!fs.existsSync(path.join(killedOut, "results.json")), "killed before the end");
    // Its lab runs end with it (their standard input closes), so nothing of it stays running.
    assert.ok(await until(() => processesWith(`grpc-labs-grade-${pid}-`).length === 0, 10_000), "the killed grader's lab runs ended");

    const run = grade(...args(killedOut), "--resume", "--jobs", "2");
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.equal(fs.readFileSync(path.join(killedOut, "grades.csv"), "utf8"), expectedCsv);
    assert.deepEqual(runDirsOf(pid), [], "the killed run's trees were removed");
    assert.deepEqual(runDirsOf(run.pid), []);
  });

  it("keeps, where namespaces work, a submission from killing the grader or reading its key", function () {
    if (probeContainment([]).isolation !== namespacesLabel) this.skip();
    const hostile = path.join(root, "hostile");
    const hostileOut = path.join(root, "hostile-out");
    const forged = path.join(hostileOut, "students", "forged.json");
    folderSubmission(path.join(hostile, "correct"), filesOf((f) => solutionOf(lab, f)), "labs-only");
    folderSubmission(path.join(hostile, "kills-everyone"), withPreamble(hostileCode.killEveryone), "labs-only");
    folderSubmission(path.join(hostile, "kills-parent"), withPreamble(hostileCode.killParent), "labs-only");
    folderSubmission(path.join(hostile, "steals"), withPreamble(hostileCode.steal(path.join(hostileOut, ".grader-key"), forged)), "labs-only");
    folderSubmission(path.join(hostile, "opens-inspector"), withPreamble(hostileCode.openInspector), "labs-only");
    // Graded last, by the check process that graded the attacks one after another (--jobs 1): they left nothing behind.
    folderSubmission(path.join(hostile, "then-correct"), filesOf((f) => solutionOf(lab, f)), "labs-only");
    const run = grade("--submissions", hostile, "--out", hostileOut, "--labs", lab.number, "--jobs", "1");
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const csv = fs.readFileSync(path.join(hostileOut, "grades.csv"), "utf8").trim().split("\n");
    assert.equal(csv.length, 7, csv.join("\n"));
    const results = readJson<{ isolation: string; students: StudentResult[] }>(path.join(hostileOut, "results.json"));
    assert.equal(results.isolation, namespacesLabel);
    const score = (name: string) => results.students.find((s) => s.student === name)!;
    assert.equal(score("correct").score, score("correct").max_score);
    assert.equal(score("then-correct").score, score("then-correct").max_score);
    // The judge's inspector stays closed, so the code passes as the solution it is.
    assert.equal(score("opens-inspector").score, score("opens-inspector").max_score, JSON.stringify(score("opens-inspector").labs[0]!.tests.filter((t) => t.status === "fail")).slice(0, 800));
    // The subject cannot read /proc, so the attack does not even find its target; were it to fire, it would end its own run only.
    assert.ok(score("kills-everyone").score <= score("kills-everyone").max_score);
    assert.equal(fs.existsSync(forged), false, "nothing was written into the output folder");
    const key = fs.readFileSync(path.join(hostileOut, ".grader-key"), "utf8").trim();
    for (const file of fs.readdirSync(hostileOut, { recursive: true }).map(String)) {
      const full = path.join(hostileOut, file);
      if (file !== ".grader-key" && fs.statSync(full).isFile()) assert.ok(!fs.readFileSync(full, "utf8").includes(key), `${file} holds the key`);
    }
  });
});

describe("grading parts: memory and containment", function () {
  this.timeout(180_000);

  it("stops learner code that holds more resident memory than --memory, which the heap limit does not see (Linux)", function () {
    if (process.platform !== "linux") this.skip();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-memory-"));
    try {
      // 600 MB of Buffers (outside V8's heap), held for 4 s.
      const hog = "const hoard: Buffer[] = [];\nfor (let i = 0; i < 6; i++) hoard.push(Buffer.alloc(100 * 1024 * 1024, 1));\nconst until = Date.now() + 4000;\nwhile (Date.now() < until) {}";
      folderSubmission(path.join(root, "submissions", "hog"), withPreamble(hog), "labs-only");
      const run = grade("--submissions", path.join(root, "submissions"), "--out", path.join(root, "out"), "--labs", lab.number, "--memory", "128");
      assert.equal(run.code, 0, run.stderr + run.stdout);
      const result = readJson<StudentResult>(path.join(root, "out", "students", "hog.json")).labs[0]!;
      // The judge stops the subject above --memory first (the grader's watchdog, at 3 × --memory, is the backstop for the whole
      // run): the checks that load the hog fail with the cause, and the others still earn their points.
      const failed = result.tests.filter((t) => t.status === "fail");
      assert.ok(failed.length > 0 && result.score < result.max_score, JSON.stringify(result).slice(0, 1500));
      // On a machine too busy for the judge to look in time, the grader's backstop stops the whole run instead: true, and no point either.
      assert.ok(failed.some((t) => /your code used more than 128 MB of memory|^ran out of memory/.test(t.message ?? "")), JSON.stringify(failed.map((t) => t.message)).slice(0, 1500));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("counts a run's descendants and its process group, and nothing else", () => {
    const all = [
      { pid: 10, ppid: 1, pgrp: 10 },
      { pid: 11, ppid: 10, pgrp: 10 },
      { pid: 12, ppid: 11, pgrp: 12 },
      { pid: 13, ppid: 1, pgrp: 10 },
      { pid: 14, ppid: 13, pgrp: 14 },
      { pid: 20, ppid: 1, pgrp: 20 },
    ];
    assert.deepEqual(treeOf(10, all).sort(), [10, 11, 12, 13, 14]);
  });

  it("never hides a folder the lab runs need: the workspace, node_modules or the temporary trees", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-hide-"));
    try {
      const out = fs.mkdirSync(path.join(dir, "out"), { recursive: true })!;
      assert.deepEqual(hideable([out, path.dirname(workspaceRoot), path.join(dir, "missing")], [workspaceRoot, os.tmpdir()]), [fs.realpathSync(out)]);
      assert.deepEqual(hideable([dir], [path.join(dir, "out")]), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("grading parts: results held to the plan", () => {
  const check = (id: string, step: number): CheckResult => ({ id, name: id, step, side: "server", status: "fail", message: null, output: null, duration_ms: 0, points: 0, max_points: 1 });
  const plan = [check("s1.stubs", 1), check("s2.a", 2), check("s2.b", 2)];
  const pass = (id: string, step = 2) => ({ ...check(id, step), status: "pass", points: 5, max_points: 5 });

  it("takes the plan's checks and points, whatever the check process claims", () => {
    const forged = { score: 99, max_score: 99, message: null, tests: [pass("s1.stubs", 1), pass("s2.a"), pass("s9.extra"), pass("s9.more")] };
    const result = conformed(lab, plan, forged);
    assert.deepEqual(
      result.tests.map((t) => [t.id, t.status, t.points, t.max_points]),
      [
        ["s1.stubs", "pass", 1, 1],
        ["s2.a", "pass", 1, 1],
        ["s2.b", "fail", 0, 1],
      ],
    );
    assert.equal(result.score, 2);
    assert.equal(result.max_score, 3);
    assert.match(result.warnings.join(" "), /ignored results for 2 checks/);
    assert.equal(conformed(lab, plan, "nonsense").max_score, 3);
    assert.ok(labMatches(result, lab, plan));
    assert.ok(!labMatches({ ...result, max_score: 30 }, lab, plan));
    assert.ok(!labMatches({ ...result, tests: result.tests.slice(1) }, lab, plan));
  });

  it("keeps a saved student result only when it is this student's, for this key, with the plan's points", () => {
    const labResult: LabResult = conformed(lab, plan, { tests: [pass("s1.stubs", 1)] });
    const student: StudentResult = { version: 1, student: "ann", source: "ann", key: "k", score: 1, max_score: 3, notes: [], tampered: null, labs: [labResult] };
    const plans = new Map([[lab.id, plan]]);
    const labs: Lab[] = [lab];
    assert.ok(!studentMatches({ ...student, max_score: 4 }, "ann", "k", labs, plans));
    assert.ok(!studentMatches({ ...student, score: 3 }, "ann", "k", labs, plans));
    assert.ok(!studentMatches(student, "bob", "k", labs, plans));
    assert.ok(!studentMatches(student, "ann", "other", labs, plans));
    assert.equal(studentMatches(student, "ann", "k", labs, plans), true);
  });

  it("verifies a seal only with the key it was made with, and only for the content it was made for", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-seal-"));
    try {
      const key = Buffer.alloc(32, 1);
      const file = path.join(dir, "a.json");
      fs.writeFileSync(file, sealed({ score: 1, labs: [{ x: 1 }] }, key));
      assert.deepEqual(unsealed(file, key), { score: 1, labs: [{ x: 1 }] });
      assert.equal(unsealed(file, Buffer.alloc(32, 2)), undefined);
      fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"score": 1', '"score": 2'));
      assert.equal(unsealed(file, key), undefined);
      fs.writeFileSync(file, "{ not json");
      assert.equal(unsealed(file, key), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
