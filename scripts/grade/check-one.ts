/**
 * The child process that grades one lab of one submission: the instructor's
 * checks (checkLab) against a prepared tree. The grader starts it in its own
 * process group with a time and memory limit and kills the whole group when
 * it is done, so nothing the learner's code starts outlives it.
 * Usage: check-one.ts <lab folder name> <tree> <result file>
 */
import * as fs from "node:fs";
import { loadLab } from "../lib/labs";
import { checkLab } from "../lib/run-checks";

async function main([labId = "", tree = "", resultFile = ""]: string[]): Promise<void> {
  const result = await checkLab(loadLab(labId), { target: "learner", tree });
  fs.writeFileSync(resultFile, JSON.stringify(result));
  process.exit(0);
}

void main(process.argv.slice(2));
