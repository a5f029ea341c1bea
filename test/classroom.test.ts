/**
 * The GitHub Classroom workflow as GitHub reads it (parsed with a real YAML
 * 1.2 parser): actions whose majors run on Node 24, Node 24 with npm caching,
 * a limit for the job and each step, one step a lab, and the report step that
 * does what GitHub Classroom's reporter action does.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { load } from "js-yaml";
import { type ClassroomWorkflow, classroomReport, classroomResult, classroomWorkflow, classroomWorkflowSpec, workflowVersions } from "../scripts/grade/classroom";
import { toYaml } from "../scripts/grade/yaml";
import { listLabs, workspaceRoot } from "../scripts/lib/labs";
import { buildResult, type LabResult } from "../scripts/lib/results";

/**
 * The first major of each action whose action.yml says `runs: using: node24`
 * (actions/checkout v5.0.0, actions/setup-node v5.0.0). An action not listed
 * here must have its action.yml checked before the workflow may use it.
 */
const firstNode24Major: Record<string, number> = { "actions/checkout": 5, "actions/setup-node": 5 };

const labs = listLabs();
const points = labs.map((lab, i) => ({ lab, points: 10 + i }));

describe("the GitHub Classroom workflow", () => {
  const text = classroomWorkflow(points, 60);
  const workflow = load(text) as ClassroomWorkflow;
  const job = workflow.jobs["run-autograding-tests"];
  const steps = job.steps;

  it("reads back as exactly the workflow it was written from", () => {
    assert.deepEqual(workflow, JSON.parse(JSON.stringify(classroomWorkflowSpec(points, 60))));
    assert.match(text, /^# Written by `npm run grade -- --github-classroom`/);
  });

  it("uses only actions whose major runs on Node 24, with the versions from one place", () => {
    const uses = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    assert.deepEqual(uses, [workflowVersions.checkout, workflowVersions.setupNode]);
    for (const ref of uses) {
      const [, action = "", major = ""] = /^([^@]+)@v(\d+)$/.exec(ref) ?? [];
      const first = firstNode24Major[action];
      assert.ok(first !== undefined, `${ref}: check its action.yml says runs.using node24, then add it to firstNode24Major`);
      assert.ok(Number(major) >= first, `${ref} runs on Node 20 or older: use v${first} or later`);
    }
  });

  it("sets up Node.js 24 with npm caching, then installs with npm ci", () => {
    const setup = steps.find((s) => s.uses === workflowVersions.setupNode);
    assert.equal(setup?.with?.["node-version"], workflowVersions.node);
    assert.ok(workflowVersions.node >= 24);
    assert.equal(setup?.with?.cache, "npm");
    assert.deepEqual(
      steps.slice(0, 3).map((s) => s.name),
      ["Checkout code", "Set up Node.js", "Install"],
    );
    assert.equal(steps[2]?.run, "npm ci");
  });

  it("has a step a lab with its points and time limit, and the report last, inside the job's time limit", () => {
    const labSteps = steps.slice(3, -1);
    assert.deepEqual(
      labSteps.map((s) => [s.id, s.name, s.run]),
      points.map(({ lab, points: p }) => [`lab-${lab.number}`, `Lab ${lab.number} ${lab.title} (${p} points)`, `npm run grade -- --labs ${lab.number} --timeout 60 --classroom-result`]),
    );
    const report = steps[steps.length - 1]!;
    assert.equal(report.run, `npm run grade -- --classroom-report ${labs.map((l) => `lab-${l.number}`).join(",")}`);
    assert.deepEqual(report.env, Object.fromEntries(labs.map((l) => [`LAB-${l.number}_RESULTS`, `\${{ steps.lab-${l.number}.outputs.result }}`])));
    for (const step of steps.filter((s) => s.run)) assert.ok((step["timeout-minutes"] ?? 0) > 0, `${step.name} has no time limit`);
    const stepMinutes = steps.reduce((sum, s) => sum + (s["timeout-minutes"] ?? 0), 0);
    assert.ok(job["timeout-minutes"] >= stepMinutes, `job limit ${job["timeout-minutes"]} < ${stepMinutes}`);
    assert.equal(job["runs-on"], "ubuntu-latest");
    assert.deepEqual(workflow.on, ["push", "repository_dispatch"]);
  });

  it("writes strings YAML would read as something else quoted", () => {
    const tricky = ["on", "Yes", "null", "01", "24", "a: b", "a #b", "#c", "it's", 'say "hi"', "", "trailing ", "two\nlines", "- item", "@x", "*y", "${{ x }}"];
    const document = { on: tricky, n: 24, t: true, nested: [{ "key: odd": "v", list: ["x"] }], empty: [] };
    assert.deepEqual(load(toYaml(document)), document);
  });
});

describe("the report step (--classroom-report)", () => {
  // A lab of three steps, a check each.
  const lab = { ...labs[0]!, steps: labs[0]!.steps.slice(0, 3) };
  const result = (passing: number): LabResult => {
    const tests = [1, 2, 3].map((i) => ({
      id: `s${i}.c`,
      name: `check ${i}`,
      step: i,
      side: "server" as const,
      status: i <= passing ? ("pass" as const) : ("fail" as const),
      message: null,
      output: null,
      duration_ms: 1,
      points: i <= passing ? 1 : 0,
      max_points: 1,
    }));
    return buildResult(lab, "learner", tests, { type_errors: [], warnings: [], message: null, duration_ms: 1 });
  };

  it("prints the notices GitHub Classroom reads, and fails unless every runner passed", () => {
    const env = { "LAB-01_RESULTS": classroomResult([result(3)]), "LAB-02_RESULTS": classroomResult([result(1)]) };
    const report = classroomReport(["lab-01", "lab-02"], env);
    assert.deepEqual(report.lines.slice(-2), ["::notice title=Autograding complete::Points 4/6", '::notice title=Autograding report::{"totalPoints":4,"maxPoints":6}']);
    assert.equal(report.exitCode, 1);
    assert.equal(classroomReport(["lab-01"], env).exitCode, 0);
    const missing = classroomReport(["lab-01", "lab-03"], env);
    assert.equal(missing.exitCode, 1);
    assert.ok(missing.lines.includes("lab-03: no result (did its step run?)"));
  });

  it("runs from the command line with the runners' results in the environment", () => {
    const run = spawnSync(process.execPath, [path.join(workspaceRoot, "scripts", "grade.cjs"), "--classroom-report", "lab-01"], {
      cwd: workspaceRoot,
      encoding: "utf8",
      env: { ...process.env, "LAB-01_RESULTS": classroomResult([result(3)]) },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^::notice title=Autograding complete::Points 3\/3$/m);
  });
});
