/**
 * The bench's verdict report: the same code judged twice must get the same
 * verdicts, and the reference solution must pass every check.
 */
import * as assert from "node:assert/strict";
import { unsteadyVerdicts } from "../scripts/bench-states";

describe("the bench's unsteady verdicts", () => {
  const failing = (entries: Array<[string, string]>) => new Map(entries);

  it("name a check that failed some runs of a state but not all, with its message", () => {
    const runs = [failing([["s3.a", "expected 1, got 2\nmore"], ["s2.b", "always"]]), failing([["s2.b", "always"]])];
    assert.deepEqual(unsteadyVerdicts("07 never-answers", "never-answers", runs), ["07 never-answers: s3.a failed 1 of 2 runs: expected 1, got 2"]);
  });

  it("name every check that failed the solution, even in every run", () => {
    assert.deepEqual(unsteadyVerdicts("07 solution", "solution", [failing([["s2.c", "timed out"]])]), ["07 solution: s2.c failed 1 of 1 run: timed out"]);
  });

  it("say nothing of checks that failed every run of another state, or of runs that all passed", () => {
    assert.deepEqual(unsteadyVerdicts("07 starter", "starter", [failing([["s2.b", "TODO"]]), failing([["s2.b", "TODO"]])]), []);
    assert.deepEqual(unsteadyVerdicts("07 solution", "solution", [failing([]), failing([])]), []);
  });
});
