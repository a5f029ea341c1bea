/**
 * A learner file that attacks the judge instead of doing the lab earns
 * nothing: lab 01's starter with each attack appended (it runs when the
 * checks load the file) scores what the starter scores, the plan keeps its
 * checks, and the attack reaches nothing outside the subject's sandbox.
 * The attacks are the ones that worked when the learner's code ran in the
 * process that judged it (docs/instructor-guide.md, "What grading protects").
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { findLab, workspaceRoot } from "../scripts/lib/labs";
import { checkLab } from "../scripts/lib/run-checks";
import { removeTrees, starterTree } from "./trees";

const lab = findLab("01");
const solutionFile = path.join(workspaceRoot, "solutions", "01-route-guide", "src", "server.ts");
const planted = path.join(workspaceRoot, "scripts", "planted-by-a-learner.txt");

/** Each attack is appended to the starter's src/server.ts; `any` keeps it type-correct, as a determined learner would. */
const attacks: Record<string, string> = {
  "rewrites process.send so every result passes": `
const realSend = (process as any).send.bind(process);
(process as any).send = (m: any, ...rest: any[]) => realSend(m && typeof m === "object" ? { ...m, type: m.type === "result" ? "result" : m.type, status: "pass", message: null, ok: true } : m, ...rest);`,
  "sends a plan of 500 passing checks": `
for (const type of ["plan", "begin", "result", "done"]) (process as any).send?.({ type, t: "reply", id: 1, ok: true, checks: Array.from({ length: 500 }, (_, i) => ({ id: "x" + i, name: "x", step: 2 })), status: "pass" });`,
  "patches mocha, util.isDeepStrictEqual and Promise.prototype.then": `
try { (require("mocha") as any).Test.prototype.run = function (fn: any) { fn(); }; } catch {}
(require("node:util") as any).isDeepStrictEqual = () => true;
(Object.prototype as any).toJSON = function () { return { status: "pass" }; };
const then = Promise.prototype.then;
(Promise.prototype as any).then = function (this: any, ok: any, ko: any) { return then.call(this, ok, ko); };`,
  "re-exports the instructor's solution": `
module.exports = require(${JSON.stringify(solutionFile)});`,
  "reads the solution, /proc and the environment": `
import * as fs from "node:fs";
for (const file of [${JSON.stringify(solutionFile)}, "/proc/" + process.ppid + "/environ", "/proc/" + process.ppid + "/cmdline"]) {
  try { console.log("READ", fs.readFileSync(file, "utf8").slice(0, 20)); } catch (e: any) { console.log("refused", e.code); }
}
console.log("ENV", Object.keys(process.env).join(","));`,
  "writes into the workspace and spawns a detached process": `
import * as fs from "node:fs";
try { fs.writeFileSync(${JSON.stringify(planted)}, "x"); } catch {}
try { require("node:child_process").spawn("sleep", ["30"], { detached: true, stdio: "ignore" }).unref(); } catch {}
try { new (require("node:worker_threads").Worker)("1", { eval: true }); } catch {}`,
  "starts a worker with the permission model switched off": `
for (const flag of ["--no-permission", "--no-experimental-permission", "--allow-fs-write=*"]) {
  try { new (require("node:worker_threads").Worker)(${JSON.stringify(`require("node:fs").writeFileSync(${JSON.stringify(planted)}, "x")`)}, { eval: true, execArgv: [flag] }).on("error", () => {}); } catch {}
}
setTimeout(() => {}, 500);`,
  "kills the process that judges it": `
process.kill(process.ppid, "SIGKILL");`,
  "exits with 0 as soon as it is loaded": `
process.exit(0);`,
};

describe("a hostile learner file", function () {
  this.timeout(120_000);
  after(() => {
    removeTrees();
    fs.rmSync(planted, { force: true });
  });

  let honest = 0;
  let planned = 0;
  before(async () => {
    const starter = await checkLab(lab, { target: "learner", tree: starterTree(lab) });
    honest = starter.score;
    planned = starter.max_score;
  });

  for (const [attack, code] of Object.entries(attacks)) {
    it(`${attack}: earns nothing and reaches nothing`, async () => {
      const tree = starterTree(lab);
      fs.appendFileSync(path.join(tree, "src", "server.ts"), `\n${code}\n`);
      const result = await checkLab(lab, { target: "learner", tree });
      assert.ok(result.score <= honest, `${attack}: score ${result.score}, the starter scores ${honest}`);
      assert.equal(result.max_score, planned);
      assert.equal(result.tests.length, planned);
      const output = result.tests.map((t) => t.output ?? "").join("\n");
      assert.doesNotMatch(output, /READ /, "the subject read a file outside its sandbox");
      assert.doesNotMatch(output, /ENV .*(HOME|PATH=|USER)/, "the subject saw the judge's environment");
      assert.equal(fs.existsSync(planted), false, "the subject wrote into the workspace");
    });
  }
});
