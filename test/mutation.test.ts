/** The mutation-testing script's own logic (scripts/mutation.ts), without running Stryker (docs/mutation.md). */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { findLab, listLabs, workspaceRoot } from "../scripts/lib/labs";
import {
  computeScore,
  type Equivalent,
  evaluate,
  formatOutcome,
  markdownTable,
  matchEquivalents,
  type Mutant,
  mutatedFiles,
  parseMutationArgs,
  readEquivalents,
  type Report,
  strykerConfig,
  textAt,
} from "../scripts/mutation";

describe("npm run mutation: arguments", () => {
  it("checks every lab, one at a time, by default", () => {
    assert.deepEqual(parseMutationArgs([]), { labs: [], concurrency: 1, scoreOnly: false });
  });

  it("takes labs as a list, separate words or --labs=", () => {
    assert.deepEqual(parseMutationArgs(["--labs", "04"]).labs, ["04"]);
    assert.deepEqual(parseMutationArgs(["--labs", "01,04"]).labs, ["01", "04"]);
    assert.deepEqual(parseMutationArgs(["--labs", "01", "4", "--score-only"]), { labs: ["01", "4"], concurrency: 1, scoreOnly: true });
    assert.deepEqual(parseMutationArgs(["--labs=05,06", "--concurrency=2"]), { labs: ["05", "06"], concurrency: 2, scoreOnly: false });
  });

  it("refuses what it does not know", () => {
    assert.throws(() => parseMutationArgs(["--labs"]), /needs lab numbers/);
    assert.throws(() => parseMutationArgs(["--concurrency", "0"]), /at least 1/);
    assert.throws(() => parseMutationArgs(["04"]), /unknown argument 04/);
  });
});

describe("npm run mutation: Stryker's configuration", () => {
  const lab = findLab("04");
  const config = strykerConfig(lab);

  it("runs the lab's own checks on the solution with the command runner", () => {
    assert.equal(config.testRunner, "command");
    assert.deepEqual(config.commandRunner, { command: "node scripts/lab.cjs 04 --solution" });
    assert.equal(config.coverageAnalysis, "off");
    assert.equal(config.concurrency, 1);
    assert.equal(strykerConfig(lab, 2).concurrency, 2);
  });

  it("mutates the solution's copy of the learner files, and those files exist", () => {
    for (const l of listLabs()) {
      const mutate = strykerConfig(l).mutate as string[];
      assert.ok(mutate.length > 0);
      assert.deepEqual(mutate, mutatedFiles(l).map((f) => `solutions/${l.id}/${f}`));
      for (const file of mutate) assert.ok(fs.existsSync(path.join(workspaceRoot, file)), file);
    }
  });

  it("mutates only the files the learner writes, not those given complete", () => {
    assert.deepEqual(mutatedFiles(lab), ["src/server.ts", "src/client.ts"]);
    assert.deepEqual(mutatedFiles(findLab("02")), ["src/server.ts", "src/client.ts"]);
    assert.deepEqual(mutatedFiles(findLab("01")), findLab("01").learnerFiles);
  });

  it("skips the tsconfig preprocessor (TypeScript 7 has no compiler API) and disables type checks in the mutated files", () => {
    assert.equal(fs.existsSync(path.join(workspaceRoot, config.tsconfigFile as string)), false);
    assert.equal(config.disableTypeChecks, "solutions/**/*.ts");
  });

  it("writes its reports and sandboxes where git ignores them, and cleans the sandbox", () => {
    assert.deepEqual(config.jsonReporter, { fileName: "reports/mutation/04/mutation.json" });
    assert.deepEqual(config.htmlReporter, { fileName: "reports/mutation/04/index.html" });
    assert.equal(config.tempDirName, ".stryker-tmp");
    assert.equal(config.cleanTempDir, "always");
    const ignored = fs.readFileSync(path.join(workspaceRoot, ".gitignore"), "utf8").split("\n");
    assert.ok(ignored.includes(".stryker-tmp/"));
    assert.ok(ignored.includes("reports/"));
    assert.ok((config.ignorePatterns as string[]).includes("reports"));
  });

  it("pins Stryker to 9.x, the last major that runs on Node 20", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(workspaceRoot, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
    assert.match(pkg.devDependencies["@stryker-mutator/core"]!, /^[~^]?9\./);
  });
});

// A small report in Stryker's JSON format (mutation-testing-report-schema).
const source = ['const a = "log text";', "if (x > 1) {", "  log(a);", "}", 'log("log text");', ""].join("\n");
const at = (line: number, column: number) => ({ line, column });
function report(statuses: string[]): Report {
  const mutants = [
    { mutatorName: "StringLiteral", replacement: '""', location: { start: at(1, 11), end: at(1, 21) } },
    { mutatorName: "EqualityOperator", replacement: "x >= 1", location: { start: at(2, 5), end: at(2, 10) } },
    { mutatorName: "BlockStatement", replacement: "{}", location: { start: at(2, 12), end: at(4, 2) } },
    { mutatorName: "StringLiteral", replacement: '""', location: { start: at(5, 5), end: at(5, 15) } },
  ];
  return {
    files: {
      "solutions/04-errors/src/server.ts": { source, mutants: mutants.map((m, i) => ({ ...m, id: String(i + 1), status: statuses[i]! })) },
    },
  };
}
const lab = { id: "04-errors" };
const logEquivalent: Equivalent = { file: "src/server.ts", mutator: "StringLiteral", original: '"log text"', replacement: '""', reason: "log text." };

describe("npm run mutation: report, equivalents and score", () => {
  it("reads the replaced text from the source (end exclusive, across lines)", () => {
    assert.equal(textAt(source, at(1, 11), at(1, 21)), '"log text"');
    assert.equal(textAt(source, at(2, 12), at(4, 2)), "{\n  log(a);\n}");
  });

  it("counts killed, survived, timeout and no coverage; compile errors are not counted", () => {
    const mutants = [..."KKKTSSNC"].map((c, i) => ({ id: String(i), status: { K: "Killed", T: "Timeout", S: "Survived", N: "NoCoverage", C: "CompileError" }[c]! }) as Mutant);
    const score = computeScore(mutants, new Set(["4", "9"]));
    assert.deepEqual({ ...score, score: score.score.toFixed(2), scoreAfterEquivalents: score.scoreAfterEquivalents.toFixed(2) }, {
      mutants: 8,
      killed: 3,
      survived: 2,
      timeout: 1,
      noCoverage: 1,
      invalid: 1,
      equivalent: 1,
      score: (400 / 7).toFixed(2),
      scoreAfterEquivalents: (400 / 6).toFixed(2),
    });
    assert.ok(Number.isNaN(computeScore([], new Set()).score));
  });

  it("subtracts an equivalent survivor named by file, mutator, original and replacement, not by line", () => {
    const outcome = evaluate(report(["Survived", "Killed", "Killed", "Killed"]), lab, [{ ...logEquivalent, context: "const a =" }]);
    assert.equal(outcome.matches[0]!.problem, undefined);
    assert.deepEqual(outcome.matches[0]!.mutants.map((m) => m.id), ["1"]);
    assert.equal(outcome.score.score, 75);
    assert.equal(outcome.score.scoreAfterEquivalents, 100);
    assert.deepEqual(outcome.gaps, []);
  });

  it("compares whitespace runs as one space, so a multi-line original can be written on one line", () => {
    const block: Equivalent = { file: "src/server.ts", mutator: "BlockStatement", original: "{ log(a); }", replacement: "{}", reason: "r" };
    const outcome = evaluate(report(["Killed", "Killed", "Survived", "Killed"]), lab, [block]);
    assert.equal(outcome.score.scoreAfterEquivalents, 100);
  });

  it("never applies an entry that matches more survivors than it says, or a detected mutant", () => {
    const both = evaluate(report(["Survived", "Killed", "Killed", "Survived"]), lab, [logEquivalent]);
    assert.match(both.matches[0]!.problem!, /matches 2 surviving mutants, expected 1/);
    assert.equal(both.score.equivalent, 0);
    assert.deepEqual(both.gaps.map((m) => m.id), ["1", "4"]);

    for (const entry of [logEquivalent, { ...logEquivalent, occurrences: 2 }]) {
      const killed = evaluate(report(["Survived", "Killed", "Killed", "Killed"]), lab, [entry]);
      assert.match(killed.matches[0]!.problem!, /matches 1 detected mutant/);
      assert.equal(killed.score.equivalent, 0);
    }

    const stale = evaluate(report(["Survived", "Killed", "Killed", "Survived"]), lab, [{ ...logEquivalent, original: '"other"' }]);
    assert.match(stale.matches[0]!.problem!, /stale/);
  });

  it("tells same-text mutants apart by a context on their line, or takes them all with occurrences", () => {
    const r = report(["Survived", "Killed", "Killed", "Survived"]);
    const one = evaluate(r, lab, [{ ...logEquivalent, context: "const a" }]);
    assert.deepEqual(one.matches[0]!.mutants.map((m) => m.id), ["1"]);
    assert.deepEqual(one.gaps.map((m) => m.id), ["4"]);
    const two = evaluate(r, lab, [{ ...logEquivalent, occurrences: 2 }]);
    assert.equal(two.score.equivalent, 2);
    assert.equal(two.score.scoreAfterEquivalents, 100);
  });

  it("tells same-text mutants on one line apart by the code right before them", () => {
    const twice = 'const item = { sku: "", name: "" };\n';
    const r: Report = {
      files: {
        "solutions/04-errors/src/server.ts": {
          source: twice,
          mutants: [
            { id: "1", mutatorName: "StringLiteral", replacement: '"Stryker was here!"', location: { start: at(1, 21), end: at(1, 23) }, status: "Survived" },
            { id: "2", mutatorName: "StringLiteral", replacement: '"Stryker was here!"', location: { start: at(1, 31), end: at(1, 33) }, status: "Survived" },
          ],
        },
      },
    };
    const entry: Equivalent = { ...logEquivalent, original: '""', replacement: '"Stryker was here!"', before: "sku:" };
    const outcome = evaluate(r, lab, [entry]);
    assert.deepEqual(outcome.matches[0]!.mutants.map((m) => m.id), ["1"]);
    assert.deepEqual(outcome.gaps.map((m) => m.id), ["2"]);
  });

  it("counts only the mutants of the files it is given", () => {
    const r = report(["Survived", "Killed", "Killed", "Killed"]);
    r.files["solutions/04-errors/src/warehouse.ts"] = { source: "x", mutants: [{ id: "9", mutatorName: "StringLiteral", replacement: '""', location: { start: at(1, 1), end: at(1, 2) }, status: "Survived" }] };
    assert.equal(evaluate(r, lab, []).score.mutants, 5);
    assert.equal(evaluate(r, lab, [], ["src/server.ts"]).score.mutants, 4);
  });

  it("matches by mutator and replacement too", () => {
    const found = matchEquivalents([{ ...logEquivalent, replacement: '"Stryker was here!"' }], evaluate(report(["Survived", "Killed", "Killed", "Killed"]), lab, []).gaps);
    assert.match(found[0]!.problem!, /stale/);
  });

  it("prints the score per lab and the survivors that are not equivalent", () => {
    const outcome = { ...evaluate(report(["Survived", "Survived", "Killed", "Timeout"]), lab, [{ ...logEquivalent, context: "const a =" }]), seconds: 61 };
    const text = formatOutcome(outcome);
    assert.match(text, /Lab 04-errors: 4 mutants: 1 killed, 2 survived, 1 timeout, 0 no coverage; score 50\.00 %, after 1 equivalent\(s\) 66\.67 % \(61 s\)/);
    assert.match(text, /src\/server\.ts:2 EqualityOperator: x > 1 -> x >= 1/);
    assert.doesNotMatch(text, /log text/);
    assert.match(markdownTable([outcome]), /\| 04-errors \| 4 \| 1 \| 2 \| 1 \| 0 \| 50\.00 % \| 1 \| 66\.67 % \| 61 s \|/);
  });
});

describe("the equivalents files", () => {
  for (const l of listLabs()) {
    it(`lab ${l.number}: entries name a learner file, a mutator, the texts and a reason`, () => {
      for (const e of readEquivalents(l)) {
        assert.ok(l.learnerFiles.includes(e.file), `${e.file} is not a learner file of lab ${l.number}`);
        assert.match(e.mutator, /^[A-Z][A-Za-z]+$/);
        assert.ok(e.original.length > 0 && e.reason.trim().length > 10, JSON.stringify(e));
      }
    });
  }
});
