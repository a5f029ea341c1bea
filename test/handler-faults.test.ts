/**
 * Every lab's solution with the bench's handler faults (scripts/bench-states.ts):
 * no handler ever answers, or no stream is ever ended. The run ends as
 * failing checks of the server's steps (where the fault applies), each with a sentence of its own check,
 * never as a hang, a crash or a text that blames code which is not at fault:
 * the client's file is the solution's, so every client check passes.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { stateApplies, stateFiles } from "../scripts/bench-states";
import { listLabs } from "../scripts/lib/labs";
import { checkLab } from "../scripts/lib/run-checks";
import { removeTrees, solutionVariant } from "./trees";

/** The runner's words for a failure no check explained: a thrown call error, or a check that never finished. */
const unexplained = /nothing handled its error|^Timeout of \d+ms|did not finish within [\d.]+ s: is a promise never resolved/;

describe("a handler that never answers, or a stream never ended", function () {
  this.timeout(60_000);
  after(removeTrees);

  for (const lab of listLabs()) {
    for (const state of ["never-answers", "stream-not-ended"] as const) {
      if (!stateApplies(lab, state)) continue;
      it(`lab ${lab.number}, ${state}: fails server checks with their own sentences, and no client check`, async () => {
        const tree = solutionVariant(lab, `${lab.number}-${state}`);
        for (const [file, text] of stateFiles(lab, state)) fs.writeFileSync(path.join(tree, ...file.split("/")), text);
        const result = await checkLab(lab, { target: "learner", tree });
        assert.deepEqual(result.type_errors, []);
        const failing = result.tests.filter((t) => t.status !== "pass");
        assert.deepEqual(failing.filter((t) => t.side === "client").map((t) => t.id), [], "client checks that failed");
        // A lab whose handlers end no stream of their own (lab 06's health service is the library's) passes them all.
        if (state === "never-answers") assert.ok(failing.some((t) => t.side === "server"), "no server check failed");
        const unexplainedOnes = failing.filter((t) => unexplained.test(t.message ?? ""));
        assert.deepEqual(unexplainedOnes.map((t) => `${t.id}: ${t.message}`), [], "failures in the runner's words, not a check's");
      });
    }
  }
});
