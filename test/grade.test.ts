/**
 * `npm run grade` against a prepared class: correct, partly correct, empty,
 * tampered, crashing, hanging and malformed submissions (folders and zips),
 * built at test time from solutions/ and starter/. Each one must end with the
 * expected grade and a clear reason, without touching another's.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { classroomResult } from "../scripts/grade/classroom";
import type { StudentResult } from "../scripts/grade/grader";
import { computeManifest, isProtected, readManifest } from "../scripts/grade/manifest";
import { keepTranspiled, type Run, seedTranspiled } from "../scripts/grade/sandbox";
import { gradesCsv, junitXml } from "../scripts/grade/outputs";
import { locateLabs } from "../scripts/grade/submission";
import { ZipArchive } from "../scripts/grade/zip";
import { lastDurations } from "../scripts/lib/check-durations";
import { type Lab, listLabs, workspaceRoot } from "../scripts/lib/labs";
import { buildResult, type LabResult } from "../scripts/lib/results";
import { folderSubmission, type LabFiles, solutionOf, starterOf, writeZip } from "./grade-fixtures";
import { removeWorkspace, workspaceCopy } from "./trees";

const labs = listLabs();
const lab = labs[0]!;
/** The correct student hands in the first two labs; everyone else works on the first. */
const graded = labs.slice(0, 2);
const [solvedFile, ...otherFiles] = lab.learnerFiles as [string, ...string[]];

/** `npm run grade` of a workspace: this one, or a copy (test/trees.ts). */
function gradeIn(workspace: string, ...args: string[]): { code: number; stdout: string; stderr: string; pid: number } {
  const run = spawnSync(process.execPath, [path.join(workspace, "scripts", "grade.cjs"), ...args], { cwd: workspace, encoding: "utf8", timeout: 180_000 });
  return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr, pid: run.pid ?? -1 };
}

const grade = (...args: string[]) => gradeIn(workspaceRoot, ...args);

const filesOf = (target: Lab, pick: (file: string) => string | Buffer) => Object.fromEntries(target.learnerFiles.map((f) => [f, pick(f)]));
/** The first learner file solved, the others as in the starter. */
const partly = () => filesOf(lab, (f) => (f === solvedFile ? solutionOf(lab, f) : starterOf(lab, f)));
const stepFiles = (step: number) => lab.steps.find((s) => s.step === step)?.files ?? [];

/** Checks of steps about solved files pass; checks of steps about none of them fail. */
function assertSolvedOnly(result: LabResult, solved: string[]): void {
  for (const check of result.tests) {
    const files = stepFiles(check.step);
    if (files.length === 0) continue;
    if (files.every((f) => solved.includes(f))) assert.equal(check.status, "pass", `${check.id}: ${check.message}`);
    if (files.every((f) => !solved.includes(f))) assert.equal(check.status, "fail", check.id);
  }
}

function markerProcesses(marker: string): number {
  if (process.platform !== "linux") return 0;
  return fs.readdirSync("/proc").filter((pid) => {
    try {
      return /^\d+$/.test(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
    } catch {
      return false;
    }
  }).length;
}

/** The temporary trees of one grader process (grpc-labs-grade-<pid>-*). */
const gradeDirs = (pid: number) => fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith(`grpc-labs-grade-${pid}-`));

describe("npm run grade", function () {
  this.timeout(240_000);
  let root: string;
  let submissions: string;
  let out: string;
  let students: Map<string, StudentResult>;
  /** The workspace's record of how long each check took last time (check-durations.ts), per graded lab, before grading. */
  let durationsBefore: Map<string, string>;
  const durationsOf = (id: string) => JSON.stringify([...lastDurations(id)]);
  const studentOf = (name: string) => students.get(name)!;
  const labOf = (name: string, id = lab.id) => studentOf(name).labs.find((l) => l.lab === id)!;

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-gradetest-"));
    submissions = path.join(root, "submissions");
    out = path.join(root, "out");
    const at = (name: string) => path.join(submissions, name);
    const correct: LabFiles = Object.fromEntries(graded.map((l) => [l.id, filesOf(l, (f) => solutionOf(l, f))]));
    folderSubmission(at("correct"), correct, "clone");
    folderSubmission(at("partly"), { [lab.id]: partly() }, "labs-only");
    fs.mkdirSync(at("empty"));
    fs.writeFileSync(path.join(at("empty"), "README.md"), "nothing here yet\n");

    // Edited checks, package.json and a solution change nothing: only labs/*/src/ is graded.
    const tampered = folderSubmission(at("tampered"), { [lab.id]: partly() }, "clone");
    const checks = path.join(tampered, "labs", lab.id, "checks");
    for (const file of fs.readdirSync(checks)) fs.writeFileSync(path.join(checks, file), 'it("passes", () => undefined);\n');
    fs.writeFileSync(path.join(tampered, "package.json"), '{ "scripts": { "test": "true" } }\n');
    fs.mkdirSync(path.join(tampered, "solutions", lab.id, "src"), { recursive: true });
    fs.writeFileSync(path.join(tampered, "solutions", lab.id, solvedFile), "export {};\n");

    const crashing = (first: string) => filesOf(lab, (f) => (f === solvedFile ? `${first}\n${solutionOf(lab, f)}` : solutionOf(lab, f)));
    folderSubmission(at("exits"), { [lab.id]: crashing('process.stdout.write("x".repeat(5_000_000));\nprocess.exit(0);') }, "clone");
    const throwing = crashing('throw new Error("broken at load");');
    writeZip(at("throws.zip"), Object.entries(throwing).map(([f, data]) => ({ name: `grpc-labs-main/labs/${lab.id}/${f}`, data })));

    // A zip with a symlink for a learner file, a zip-slip entry and a binary extra file.
    writeZip(at("malformed.zip"), [
      { name: `labs/${lab.id}/${solvedFile}`, data: solutionOf(lab, solvedFile) },
      ...otherFiles.map((f) => ({ name: `labs/${lab.id}/${f}`, symlink: "/etc/passwd" })),
      { name: "../../evil.ts", data: "export {};\n" },
      { name: `labs/${lab.id}/src/notes.bin`, data: Buffer.from([0, 1, 2, 255]) },
    ]);
    // A folder whose learner files are a binary file and a symlink to a correct file outside it.
    const odd = folderSubmission(at("odd-files"), { [lab.id]: { [solvedFile]: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]) } }, "clone");
    for (const f of otherFiles) fs.symlinkSync(path.join(workspaceRoot, "solutions", lab.id, f), path.join(odd, "labs", lab.id, f));
    fs.writeFileSync(at("not-a-zip.zip"), "this is not a zip file\n");
    fs.writeFileSync(at("notes.txt"), "not a submission\n");

    durationsBefore = new Map(graded.map((l) => [l.id, durationsOf(l.id)]));
    const run = grade("--submissions", submissions, "--out", out, "--labs", graded.map((l) => l.number).join(","), "--jobs", "2");
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const results = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8")) as { students: StudentResult[] };
    students = new Map(results.students.map((s) => [s.student, s]));
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("gives a correct submission every point, and nothing left of a partly correct one's unsolved steps", () => {
    const correct = studentOf("correct");
    assert.ok(correct.max_score > 0);
    assert.equal(correct.score, correct.max_score, JSON.stringify(correct.labs.flatMap((l) => l.tests.filter((t) => t.status === "fail"))));
    assertSolvedOnly(labOf("partly"), [solvedFile]);
    assert.ok(labOf("partly").score > 1 && labOf("partly").score < labOf("partly").max_score);
  });

  it("leaves the durations the learner's runs keep as they were: no student's run orders another's", () => {
    for (const [id, before] of durationsBefore) assert.equal(durationsOf(id), before, id);
  });

  it("gives an empty submission 0 and says nothing was handed in", () => {
    assert.equal(studentOf("empty").score, 0);
    for (const result of studentOf("empty").labs) assert.match(result.message ?? "", /^not submitted/);
  });

  it("ignores edited checks, package.json and solutions, grades the lab files like anyone's, and names the edits", () => {
    const tampered = studentOf("tampered");
    assert.equal(tampered.score, studentOf("partly").score);
    assert.deepEqual(
      labOf("tampered").tests.map((t) => t.status),
      labOf("partly").tests.map((t) => t.status),
    );
    const edited = [...tampered.tampered!.changed, ...tampered.tampered!.added];
    for (const file of ["package.json", `solutions/${lab.id}/${solvedFile}`]) assert.ok(edited.includes(file), `${file} in ${edited.join(", ")}`);
    assert.ok(edited.some((f) => f.startsWith(`labs/${lab.id}/checks/`)));
    assert.deepEqual(studentOf("correct").tampered, { changed: [], added: [], missing: [] });
    assert.match(fs.readFileSync(path.join(out, "feedback", "tampered.md"), "utf8"), /grading does not use those files/);
  });

  it("turns megabytes of output, process.exit() and a throw at load into failed checks with the reason", () => {
    const exits = labOf("exits");
    assert.ok(exits.tests.every((t) => (t.output ?? "").length <= 2100));
    assert.ok(fs.statSync(path.join(out, "results.json")).size < 1_000_000);
    assert.ok(exits.tests.some((t) => /process\.exit\(/.test(t.message ?? "")));
    assert.ok(exits.tests.filter((t) => stepFiles(t.step).includes(solvedFile)).every((t) => t.status === "fail"));
    const throws = labOf("throws");
    assertSolvedOnly(throws, otherFiles);
    assert.ok(throws.tests.filter((t) => t.status === "fail").every((t) => /broken at load/.test(t.message ?? "")));
  });

  it("grades the usable files of a malformed submission and says why the others were not", () => {
    const malformed = labOf("malformed");
    assertSolvedOnly(malformed, [solvedFile]);
    const client = malformed.tests.find((t) => stepFiles(t.step).includes(otherFiles[0]!))!;
    assert.match(client.message ?? "", /^not graded: .* is a symbolic link/);
    assert.match(studentOf("malformed").notes.join(" "), /unsafe entries.*\.\.\/\.\.\/evil\.ts/);
    assert.ok(malformed.warnings.some((w) => /ignored src\/notes\.bin/.test(w)));
    assert.equal(fs.existsSync(path.join(root, "evil.ts")) || fs.existsSync(path.join(submissions, "..", "..", "evil.ts")), false);

    const odd = labOf("odd-files");
    assert.equal(odd.score, 0);
    assert.match(odd.message ?? "", /is not a text file/);
    assert.match(odd.message ?? "", /symbolic link to a file outside the submission/);
    assert.equal(studentOf("not-a-zip").score, 0);
    assert.match(studentOf("not-a-zip").notes[0] ?? "", /could not be read as a zip: it is not a zip file/);
  });

  it("writes grades.csv, feedback, results.json and an offline report.html, and skips what is not a submission", () => {
    const csv = fs.readFileSync(path.join(out, "grades.csv"), "utf8").trim().split("\n");
    assert.equal(csv[0], ["student", ...graded.map((l) => l.id), "total", "notes"].join(","));
    assert.equal(csv.length, 1 + students.size);
    assert.ok(csv.some((row) => row.startsWith(`correct,`) && row.includes(`,${studentOf("correct").max_score},`)));
    assert.ok(!students.has("notes"));
    const feedback = fs.readFileSync(path.join(out, "feedback", "partly.md"), "utf8");
    const failingStep = lab.steps.find((s) => s.files.length > 0 && !s.files.includes(solvedFile))!;
    assert.ok(feedback.includes(failingStep.hints[0]!), "the feedback gives the hint of a failing step");
    assert.match(feedback, new RegExp(`npm run lab ${lab.number}`));
    const report = fs.readFileSync(path.join(out, "report.html"), "utf8");
    assert.match(report, /<table id="heatmap">/);
    assert.doesNotMatch(report, /<script|<link|https?:\/\//);
  });

  it("resumes without regrading finished students, and grades the same files the same way", () => {
    const before = labOf("partly");
    fs.rmSync(path.join(out, "students", "partly.json"));
    const run = grade("--submissions", submissions, "--out", out, "--labs", graded.map((l) => l.number).join(","), "--resume");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`\\(${students.size - 1} kept from the earlier run\\)`));
    const again = JSON.parse(fs.readFileSync(path.join(out, "students", "partly.json"), "utf8")) as StudentResult;
    assert.deepEqual(
      again.labs.map((l) => l.tests.map((t) => [t.id, t.status])),
      [before, ...studentOf("partly").labs.slice(1)].map((l) => l.tests.map((t) => [t.id, t.status])),
    );
  });

  it("stops a hanging lab at the time limit, with everything it started, and removes its tree", () => {
    const marker = `grade-test-hang-${process.pid}`;
    const hanging = path.join(root, "hanging");
    const files = filesOf(lab, (f) =>
      f === solvedFile
        ? `import { spawn } from "node:child_process";\ntry { spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", "${marker}"], { stdio: "ignore" }); } catch {}\nwhile (Date.now() > 0) {}\n${solutionOf(lab, f)}`
        : solutionOf(lab, f),
    );
    folderSubmission(path.join(hanging, "loops"), { [lab.id]: files }, "labs-only");
    const hangOut = path.join(root, "hang-out");
    const run = grade("--submissions", hanging, "--out", hangOut, "--labs", lab.number, "--timeout", "3");
    assert.equal(run.code, 0, run.stderr);
    const result = (JSON.parse(fs.readFileSync(path.join(hangOut, "students", "loops.json"), "utf8")) as StudentResult).labs[0]!;
    assert.equal(result.score, 0, JSON.stringify(result).slice(0, 2000));
    assert.match(result.message ?? "", /^timed out after 3 s/);
    assert.equal(markerProcesses(marker), 0, "the process the learner's code spawned was killed");
    assert.deepEqual(gradeDirs(run.pid), []);
  });

  it("grades a workspace with a table, results JSON, JUnit XML and a Markdown summary", () => {
    const selfOut = path.join(root, "self");
    // A copy as freshly cloned: grading this workspace would run the learner's own labs/*/src/.
    const workspace = workspaceCopy("grade-self");
    const run = gradeIn(workspace, "--labs", lab.number, "--out", selfOut);
    removeWorkspace(workspace);
    assert.match(run.stdout, /Lab\s+Checks passed\s+Points\s+Score/);
    const results = JSON.parse(fs.readFileSync(path.join(selfOut, "results.json"), "utf8")) as { workspace: { pristine: boolean }; labs: LabResult[] };
    assert.equal(results.labs[0]?.lab, lab.id);
    assert.equal(results.workspace.pristine, true, "the committed manifest matches this workspace");
    assert.match(fs.readFileSync(path.join(selfOut, "junit.xml"), "utf8"), /<testsuite name="[^"]+" tests="\d+"/);
    assert.match(fs.readFileSync(path.join(selfOut, "summary.md"), "utf8"), /^## grpc-labs: \d+ \/ \d+ points/);
  });
});

describe("grading parts", () => {
  it("the committed manifest matches the workspace (after changing checks, runner, tests or solutions: npm run grade -- --write-manifest)", () => {
    const committed = readManifest();
    const actual = computeManifest();
    const changed = Object.keys({ ...committed?.files, ...actual.files }).filter((f) => committed?.files[f] !== actual.files[f]);
    assert.deepEqual(changed, [], "run `npm run grade -- --write-manifest` and commit scripts/grade/manifest.json");
  });

  it("protects what decides a grade and nothing a learner edits", () => {
    for (const file of ["package.json", `labs/${lab.id}/checks/x.check.ts`, `labs/${lab.id}/lab.json`, "scripts/lib/cli.ts", `solutions/${lab.id}/src/server.ts`]) assert.ok(isProtected(file), file);
    for (const file of [`labs/${lab.id}/src/server.ts`, `labs/${lab.id}/gen/x.ts`, `labs/${lab.id}/README.md`, "docs/x.md", "progress.json", "node_modules/x/package.json"]) assert.ok(!isProtected(file), file);
  });

  it("finds the labs in a clone, a labs folder, or either inside one top folder, never in solutions/", () => {
    const file = `${lab.id}/${solvedFile}`;
    assert.deepEqual(locateLabs([`labs/${file}`, "package.json"], [lab]), { labsPrefix: "labs/", rootPrefix: "" });
    assert.deepEqual(locateLabs([file], [lab]), { labsPrefix: "", rootPrefix: null });
    assert.deepEqual(locateLabs([`repo/labs/${file}`, "repo/package.json", `repo/solutions/${file}`], [lab]), { labsPrefix: "repo/labs/", rootPrefix: "repo/" });
    assert.equal(locateLabs([`solutions/${file}`], [lab]).labsPrefix, null);
  });

  it("gives each check process what the grading's earlier ones transpiled, and keeps what it adds, whole", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-transpiled-"));
    try {
      const run: Run = { dir, containment: { isolation: "none", notes: [], prefix: [], setup: null }, idle: [], maxIdle: 1 };
      const tsx = `tsx-${process.geteuid?.() ?? os.userInfo().username}`;
      const first = path.join(dir, "01-tmp");
      fs.mkdirSync(first);
      seedTranspiled(run, first); // The grading's first run: nothing to give yet.
      assert.ok(!fs.existsSync(path.join(first, tsx)));
      fs.mkdirSync(path.join(first, tsx));
      fs.writeFileSync(path.join(first, tsx, "20000-aaaa"), "the checks, transpiled");
      keepTranspiled(run, first);
      const second = path.join(dir, "02-tmp");
      fs.mkdirSync(second);
      seedTranspiled(run, second);
      assert.equal(fs.readFileSync(path.join(second, tsx, "20000-aaaa"), "utf8"), "the checks, transpiled");
      // A run's own change to an entry stays its own; new entries join the seed.
      fs.writeFileSync(path.join(second, tsx, "20000-aaaa"), "changed");
      fs.writeFileSync(path.join(second, tsx, "20000-bbbb"), "another lab's checks");
      keepTranspiled(run, second);
      const third = path.join(dir, "03-tmp");
      fs.mkdirSync(third);
      seedTranspiled(run, third);
      assert.deepEqual(fs.readdirSync(path.join(third, tsx)).sort(), ["20000-aaaa", "20000-bbbb"]);
      assert.equal(fs.readFileSync(path.join(third, tsx, "20000-aaaa"), "utf8"), "the checks, transpiled");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads stored, deflated and symlink zip entries and rejects damaged ones", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-zip-"));
    try {
      const text = "x".repeat(5000);
      const file = writeZip(path.join(dir, "a.zip"), [{ name: "a/b.txt", data: text }, { name: "link", symlink: "/etc/passwd" }]);
      const zip = ZipArchive.open(file);
      assert.equal(zip.read(zip.entries[0]!, 1 << 20).toString(), text);
      assert.equal(zip.entries[1]?.isSymlink, true);
      assert.throws(() => zip.read(zip.entries[0]!, 100), /larger than/);
      zip.close();
      const bytes = fs.readFileSync(file);
      bytes[40] ^= 0xff; // inside the first entry's compressed data
      fs.writeFileSync(file, bytes);
      const damaged = ZipArchive.open(file);
      assert.throws(() => damaged.read(damaged.entries[0]!, 1 << 20), /damaged|decompressed/);
      damaged.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const sample = (): LabResult => {
    const tests = [
      { id: "s1.a", name: "a <b> & \u0007", step: 1, side: "setup" as const, status: "pass" as const, message: null, output: null, duration_ms: 1, points: 1, max_points: 1 },
      { id: "s2.b", name: "b", step: 2, side: "server" as const, status: "fail" as const, message: 'said "no"', output: "\u0000binary", duration_ms: 1, points: 0, max_points: 1 },
    ];
    return buildResult(lab, "learner", tests, { type_errors: [], warnings: [], message: null, duration_ms: 2 });
  };

  it("writes JUnit XML with no character XML forbids, and a CSV no spreadsheet runs as a formula", () => {
    const xml = junitXml([sample()]);
    assert.doesNotMatch(xml, /[\u0000\u0007]/);
    assert.match(xml, /name="a &lt;b&gt; &amp; \uFFFD"/);
    assert.match(xml, /<failure message="said &quot;no&quot;">/);
    const student: StudentResult = { version: 1, student: "=cmd()", source: "x", key: "", score: 1, max_score: 2, notes: ["a, b"], tampered: null, labs: [sample()] };
    assert.equal(gradesCsv([lab], [student]).split("\n")[1], `'=cmd(),1,1,"a, b"`);
  });

  // The workflow itself: test/classroom.test.ts.
  it("writes the GitHub Classroom reporter's result format, a point a check", () => {
    const decoded = JSON.parse(Buffer.from(classroomResult([sample()]), "base64").toString()) as { max_score: number; status: string; tests: Array<{ score: number }> };
    assert.equal(decoded.max_score, 2);
    assert.equal(decoded.status, "fail");
    assert.deepEqual(
      decoded.tests.map((t) => t.score),
      [1, 0],
    );
  });
});
