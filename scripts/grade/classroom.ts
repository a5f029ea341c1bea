/**
 * GitHub Classroom (or any CI) grading: a workflow with one step a lab, each
 * running `npm run grade -- --labs NN --classroom-result`, and the result in
 * the format of GitHub Classroom's autograding reporter
 * (classroom-resources/autograding-grading-reporter: a base64 JSON object
 * with max_score and tests[].score, read from the env var <RUNNER>_RESULTS),
 * so each check earns its point: partial credit, not all-or-nothing. A last
 * step, `--classroom-report`, sums them up for GitHub Classroom.
 */
import type { Lab } from "../lib/labs";
import type { LabResult } from "../lib/results";
import { toYaml } from "./yaml";

/**
 * The actions the workflow uses and the Node.js it grades with: the one place
 * to change at the next runtime deprecation. On 2026-12-02 the action.yml of
 * each of these majors said `runs: using: node24` (docs/instructor-guide.md,
 * "Which actions, and when they were checked"). GitHub Classroom's reporter
 * action (classroom-resources/autograding-grading-reporter@v1) still says
 * node20, so the workflow does not use it: `--classroom-report` does what it
 * does (classroomReport below) on the job's own Node.js.
 */
export const workflowVersions = {
  checkout: "actions/checkout@v7",
  setupNode: "actions/setup-node@v7",
  node: 24,
} as const;

/** Minutes: `npm ci`, and checkout, set-up and the report together. */
const installMinutes = 10;
const overheadMinutes = 5;

export interface ClassroomLab {
  lab: Lab;
  points: number;
}

export type WorkflowStep = {
  name: string;
  id?: string;
  uses?: string;
  with?: Record<string, string | number>;
  env?: Record<string, string>;
  run?: string;
  "timeout-minutes"?: number;
};

/** The workflow as the object its YAML says, for the tests and for anyone reading it. */
export type ClassroomWorkflow = {
  name: string;
  on: string[];
  permissions: Record<string, string>;
  jobs: {
    "run-autograding-tests": {
      "runs-on": string;
      if: string;
      "timeout-minutes": number;
      steps: WorkflowStep[];
    };
  };
};

const runnerId = (lab: Lab) => `lab-${lab.number}`;

export function classroomWorkflowSpec(labs: ClassroomLab[], timeoutSeconds: number): ClassroomWorkflow {
  // The step's own limit is a backstop: grading stops a lab after --timeout and still reports.
  const stepMinutes = Math.ceil((timeoutSeconds * 2) / 60) + 2;
  const runners = labs.map(({ lab }) => runnerId(lab));
  return {
    name: "Autograding Tests",
    on: ["push", "repository_dispatch"],
    permissions: { checks: "write", actions: "read", contents: "read" },
    jobs: {
      "run-autograding-tests": {
        "runs-on": "ubuntu-latest",
        if: "github.actor != 'github-classroom[bot]'",
        // Every step's limit, plus the steps without one: a hung job ends, and says so.
        "timeout-minutes": installMinutes + labs.length * stepMinutes + overheadMinutes,
        steps: [
          { name: "Checkout code", uses: workflowVersions.checkout },
          { name: "Set up Node.js", uses: workflowVersions.setupNode, with: { "node-version": workflowVersions.node, cache: "npm" } },
          { name: "Install", run: "npm ci", "timeout-minutes": installMinutes },
          ...labs.map(({ lab, points }) => ({
            name: `Lab ${lab.number} ${lab.title} (${points} points)`,
            id: runnerId(lab),
            run: `npm run grade -- --labs ${lab.number} --timeout ${timeoutSeconds} --classroom-result`,
            "timeout-minutes": stepMinutes,
          })),
          {
            name: "Autograding Reporter",
            env: Object.fromEntries(runners.map((id) => [`${id.toUpperCase()}_RESULTS`, `\${{ steps.${id}.outputs.result }}`])),
            run: `npm run grade -- --classroom-report ${runners.join(",")}`,
            "timeout-minutes": 2,
          },
        ],
      },
    },
  };
}

export function classroomWorkflow(labs: ClassroomLab[], timeoutSeconds: number): string {
  return toYaml(classroomWorkflowSpec(labs, timeoutSeconds), [
    "Written by `npm run grade -- --github-classroom` (docs/instructor-guide.md); write it again after adding a lab.",
    "One step a lab: the lab's learner files are checked in a clean tree with fresh stubs,",
    `${timeoutSeconds} s at most a lab, and every passing check earns its point in GitHub Classroom.`,
  ]);
}

/** The reporter's runner result: status, max_score and one test with its score a check. */
export function classroomResult(results: LabResult[]): string {
  const tests = results.flatMap((r) =>
    r.tests.map((t) => ({ name: `${r.number} step ${t.step}: ${t.name}`, status: t.status, message: t.message, score: t.points, line_no: 0, duration: t.duration_ms })),
  );
  const status = results.some((r) => r.status === "error") ? "error" : results.every((r) => r.status === "pass") ? "pass" : "fail";
  const payload = { version: 1, status, max_score: results.reduce((s, r) => s + r.max_score, 0), tests };
  return Buffer.from(JSON.stringify(payload)).toString("base64");
}

interface RunnerResult {
  status: string;
  max_score: number;
  tests: Array<{ score?: number }>;
}

/**
 * `npm run grade -- --classroom-report lab-01,lab-02`: what GitHub Classroom's
 * reporter action does, on the job's own Node.js. It reads each runner's
 * result from <RUNNER>_RESULTS, prints each runner's points, then the two
 * notices GitHub Classroom reads the grade from ("Autograding complete" and
 * "Autograding report"), and fails when a runner did not pass, as the action does.
 */
export function classroomReport(runners: string[], env: Record<string, string | undefined>): { lines: string[]; exitCode: number } {
  const lines: string[] = [];
  let totalPoints = 0;
  let maxPoints = 0;
  let failed = false;
  for (const runner of runners) {
    const encoded = env[`${runner.toUpperCase()}_RESULTS`];
    let result: RunnerResult;
    try {
      result = JSON.parse(Buffer.from(encoded ?? "", "base64").toString("utf8")) as RunnerResult;
    } catch {
      lines.push(`${runner}: no result (did its step run?)`);
      failed = true;
      continue;
    }
    const points = result.tests.reduce((sum, t) => sum + (t.score ?? 0), 0);
    totalPoints += points;
    maxPoints += result.max_score;
    failed ||= result.status !== "pass";
    lines.push(`${runner}: ${points}/${result.max_score} points (${result.status})`);
  }
  if (maxPoints > 0) {
    lines.push(
      `::notice title=Autograding complete::Points ${totalPoints}/${maxPoints}`,
      `::notice title=Autograding report::${JSON.stringify({ totalPoints, maxPoints })}`,
    );
  }
  return { lines, exitCode: failed ? 1 : 0 };
}
