/**
 * The gate every lab passes (rustlings' `dev check`, Exercism's
 * verify-exercises): each check passes against the reference solution and
 * fails against the starter, except the stub step, and the metadata agrees
 * with the files.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { listLabs, starterFile, treeDir } from "../scripts/lib/labs";
import type { LabResult } from "../scripts/lib/results";
import { checkLab } from "../scripts/lib/run-checks";
import { removeTrees, starterTree } from "./trees";

const failures = (result: LabResult) =>
  result.tests
    .filter((t) => t.status !== "pass")
    .map((t) => `${t.id}: ${t.message}`)
    .join("\n");

after(removeTrees);

for (const lab of listLabs()) {
  describe(`lab ${lab.id}`, () => {
    let solution: LabResult;
    let starter: LabResult;

    before(async () => {
      [solution, starter] = await Promise.all([checkLab(lab, { target: "solution" }), checkLab(lab, { target: "learner", tree: starterTree(lab) })]);
    });

    it("numbers its steps from 1, with the stub step first", () => {
      assert.deepEqual(
        lab.steps.map((s) => s.step),
        lab.steps.map((_, i) => i + 1),
      );
      assert.equal(lab.steps[0]?.side, "setup");
      assert.ok(lab.steps.slice(1).every((s) => s.side !== "setup" && s.hints.length > 0 && s.files.length > 0));
    });

    it("has every learner file in both the starter and the solution, and steps only name learner files", () => {
      for (const file of lab.learnerFiles) {
        assert.ok(fs.existsSync(starterFile(lab, file)), `the starter of ${file} is missing from labs/${lab.id}/starter/`);
        assert.ok(fs.existsSync(path.join(treeDir(lab, "solution"), file)), `solutions/${lab.id}/${file} is missing`);
      }
      for (const step of lab.steps) for (const file of step.files) assert.ok(lab.learnerFiles.includes(file), `step ${step.step} names ${file}`);
    });

    it("has an instructions README that names every step", () => {
      const readme = fs.readFileSync(path.join(treeDir(lab, "learner"), "README.md"), "utf8");
      for (const step of lab.steps) assert.match(readme, new RegExp(`Step ${step.step}\\b`), `README.md has no "Step ${step.step}"`);
    });

    it("is in the lab tables of README.md and the instructor guide, with its steps and points", () => {
      const number = lab.id.slice(0, 2);
      assert.match(fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8"), new RegExp(`^\\| \\[${number} .*\\]\\(labs/${lab.id}/README\\.md\\)`, "m"));
      const guide = fs.readFileSync(path.join(__dirname, "..", "docs", "instructor-guide.md"), "utf8");
      assert.match(guide, new RegExp(`^\\| ${number} [^|]+\\| ${lab.steps.length} \\| ${solution.max_score} \\|`, "m"), `docs/instructor-guide.md's lab table: ${number}, ${lab.steps.length} steps, ${solution.max_score} points`);
    });

    it("checks both sides, with at least one check per step", () => {
      for (const step of solution.steps) assert.ok(step.total > 0, `step ${step.step} has no check`);
      assert.ok(solution.tests.some((t) => t.side === "server"));
      assert.ok(solution.tests.some((t) => t.side === "client"));
    });

    it("passes every check against the reference solution, with no type error and nothing left running", () => {
      assert.equal(failures(solution), "");
      assert.equal(solution.status, "pass");
      assert.deepEqual(solution.type_errors, []);
      assert.deepEqual(solution.warnings, []);
    });

    it("fails every check against the starter except the stub step", () => {
      const stubStep = lab.steps[0]!.step;
      const passing = starter.tests.filter((t) => t.status === "pass");
      assert.deepEqual(
        passing.map((t) => t.step),
        [stubStep],
        `checks passing on the starter: ${passing.map((t) => t.id).join(", ")}`,
      );
      assert.deepEqual(starter.type_errors, [], "the starter must compile");
      assert.deepEqual(
        starter.tests.map((t) => t.id),
        solution.tests.map((t) => t.id),
        "the same checks run against both",
      );
      for (const check of starter.tests) if (check.status === "fail") assert.ok(check.message, `${check.id} failed with no message`);
    });
  });
}
