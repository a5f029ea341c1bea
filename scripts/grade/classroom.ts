/**
 * GitHub Classroom (or any CI) grading: a workflow with one step a lab, each
 * running `npm run grade -- --labs NN --classroom-result`, and the result in
 * the format of GitHub Classroom's autograding reporter
 * (classroom-resources/autograding-grading-reporter: a base64 JSON object
 * with max_score and tests[].score, read from the env var <RUNNER>_RESULTS),
 * so each check earns its point: partial credit, not all-or-nothing.
 */
import type { Lab } from "../lib/labs";
import type { LabResult } from "../lib/results";

export interface ClassroomLab {
  lab: Lab;
  points: number;
}

const runnerId = (lab: Lab) => `lab-${lab.number}`;

export function classroomWorkflow(labs: ClassroomLab[], timeoutSeconds: number): string {
  // The step's own limit is a backstop: grading stops a lab after --timeout and still reports.
  const stepMinutes = Math.ceil((timeoutSeconds * 2) / 60) + 2;
  const lines = [
    "# Written by `npm run grade -- --github-classroom` (docs/instructor-guide.md); write it again after adding a lab.",
    "# One step a lab: the lab's learner files are checked in a clean tree with fresh stubs,",
    `# ${timeoutSeconds} s at most a lab, and every passing check earns its point in GitHub Classroom.`,
    "name: Autograding Tests",
    "'on':",
    "  - push",
    "  - repository_dispatch",
    "permissions:",
    "  checks: write",
    "  actions: read",
    "  contents: read",
    "jobs:",
    "  run-autograding-tests:",
    "    runs-on: ubuntu-latest",
    "    if: github.actor != 'github-classroom[bot]'",
    "    steps:",
    "      - name: Checkout code",
    "        uses: actions/checkout@v4",
    "      - name: Set up Node.js",
    "        uses: actions/setup-node@v4",
    "        with:",
    "          node-version: 22",
    "          cache: npm",
    "      - name: Install",
    "        run: npm ci",
    "        timeout-minutes: 10",
  ];
  for (const { lab, points } of labs) {
    lines.push(
      `      - name: Lab ${lab.number} ${lab.title.replace(/[:#'"]/g, " ").replace(/\s+/g, " ").trim()} (${points} points)`,
      `        id: ${runnerId(lab)}`,
      `        run: npm run grade -- --labs ${lab.number} --timeout ${timeoutSeconds} --classroom-result`,
      `        timeout-minutes: ${stepMinutes}`,
    );
  }
  lines.push(
    "      - name: Autograding Reporter",
    "        uses: classroom-resources/autograding-grading-reporter@v1",
    "        env:",
    ...labs.map(({ lab }) => `          ${runnerId(lab).toUpperCase()}_RESULTS: "\${{ steps.${runnerId(lab)}.outputs.result }}"`),
    "        with:",
    `          runners: ${labs.map(({ lab }) => runnerId(lab)).join(",")}`,
    "",
  );
  return lines.join("\n");
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
