/** Unit tests of the runner's parts: arguments, lab lookup, stubs, type errors, results, progress. */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "../scripts/lib/args";
import { UserError } from "../scripts/lib/errors";
import { findLab, listLabs } from "../scripts/lib/labs";
import { readProgress, recordProgress } from "../scripts/lib/progress";
import { buildResult, type CheckResult, checkId } from "../scripts/lib/results";
import { generateStubs, stubProblem, stubState } from "../scripts/lib/stubs";
import { parseTscOutput } from "../scripts/lib/typecheck";
import { describeLoadError, learnerLocation } from "../scripts/check-kit/target";
import { removeTrees, solutionVariant } from "./trees";

const lab01 = findLab("01");

describe("parseArgs", () => {
  const command = (...argv: string[]) => parseArgs(argv).command;

  it("lists the labs with no arguments and checks a lab by default", () => {
    assert.deepEqual(command(), { kind: "list" });
    assert.deepEqual(command("03"), { kind: "check", lab: "03", target: "learner", json: false });
    assert.deepEqual(command("3", "--solution", "--json"), { kind: "check", lab: "3", target: "solution", json: true });
  });

  it("reads the subcommands and their options", () => {
    assert.deepEqual(command("01", "gen"), { kind: "gen", lab: "01", target: "learner" });
    assert.deepEqual(command("gen", "--all"), { kind: "gen-all" });
    assert.deepEqual(command("01", "hint"), { kind: "hint", lab: "01" });
    assert.deepEqual(command("01", "serve"), { kind: "serve", lab: "01", target: "learner", port: 50051 });
    assert.deepEqual(command("01", "serve", "--solution", "--port", "0"), { kind: "serve", lab: "01", target: "solution", port: 0 });
    assert.deepEqual(command("01", "client", "--target=example:1"), { kind: "client", lab: "01", target: "learner", address: "example:1", args: [] });
    assert.deepEqual(command("01", "client"), { kind: "client", lab: "01", target: "learner", address: "localhost:50051", args: [] });
    assert.deepEqual(command("03", "client", "--room", "lobby", "--solution", "--name=alice"), {
      kind: "client",
      lab: "03",
      target: "solution",
      address: "localhost:50051",
      args: ["--room", "lobby", "--name=alice"],
    });
    assert.deepEqual(command("--help"), { kind: "help" });
  });

  it("rejects unknown options, commands, bad ports and missing values with a UserError", () => {
    for (const argv of [["01", "--bogus"], ["01", "launch"], ["01", "serve", "--port", "http"], ["01", "serve", "--port"], ["01", "gen", "extra"], ["gen"]]) {
      assert.throws(() => parseArgs(argv), UserError, argv.join(" "));
    }
  });
});

describe("findLab", () => {
  it("accepts 1, 01, the name and the folder name", () => {
    for (const query of ["1", "01", "route-guide", "01-route-guide", " 01 "]) assert.equal(findLab(query).id, "01-route-guide");
  });

  it("answers an unknown lab with the list of labs", () => {
    assert.throws(() => findLab("99"), (error: unknown) => error instanceof UserError && error.message.includes("01 route-guide") && error.exitCode === 2);
    assert.throws(() => findLab("routeguide"), UserError);
  });

  it("lists the labs in order", () => {
    const numbers = listLabs().map((l) => l.number);
    assert.deepEqual(numbers, [...numbers].sort());
  });
});

describe("stubs", () => {
  after(removeTrees);

  it("are missing, then fresh after generation, then stale when a proto changes", () => {
    const tree = solutionVariant(lab01, "stubs");
    fs.rmSync(path.join(tree, "gen"), { recursive: true });
    assert.equal(stubState(lab01, tree), "missing");
    assert.match(stubProblem(lab01, tree, "missing"), /npm run lab 01 -- gen/);
    generateStubs(lab01, tree);
    assert.equal(stubState(lab01, tree), "fresh");
    assert.ok(fs.existsSync(path.join(tree, "gen", "routeguide", "route_guide.ts")));
    fs.writeFileSync(path.join(tree, "gen", ".stamp"), "an older hash\n");
    assert.equal(stubState(lab01, tree), "stale");
    assert.match(stubProblem(lab01, tree, "stale"), /older than their \.proto/);
  });
});

describe("parseTscOutput", () => {
  it("reads file, line and message, joining continuation lines", () => {
    const tree = path.join(os.tmpdir(), "lab");
    const output = [
      `${path.join(tree, "src", "server.ts")}(39,31): error TS2353: Object literal may only specify known properties.`,
      "  'nam' does not exist in type 'Feature'.",
      `${path.join(tree, "src", "client.ts")}(3,1): error TS1005: ';' expected.`,
      "Found 2 errors.",
    ].join("\n");
    assert.deepEqual(parseTscOutput(output, tree), [
      { file: "src/server.ts", line: 39, column: 31, message: "Object literal may only specify known properties. 'nam' does not exist in type 'Feature'." },
      { file: "src/client.ts", line: 3, column: 1, message: "';' expected." },
    ]);
  });
});

describe("results", () => {
  const check = (step: number, status: "pass" | "fail"): CheckResult => ({
    id: checkId(step, `check ${step}`),
    name: `check ${step}`,
    step,
    side: step === 1 ? "setup" : "server",
    status,
    message: status === "pass" ? null : "expected 1, got 2",
    output: null,
    duration_ms: 1,
    points: status === "pass" ? 1 : 0,
    max_points: 1,
  });
  const extra = { type_errors: [], warnings: [], message: null, duration_ms: 5 };

  it("makes stable, readable check ids", () => {
    assert.equal(checkId(2, "Returns the feature at (0, 0)!"), "s2.returns-the-feature-at-0-0");
  });

  it("scores checks and marks a step passed only when all its checks pass", () => {
    const result = buildResult(lab01, "learner", [check(1, "pass"), check(2, "pass"), check(2, "fail")], extra);
    assert.equal(result.status, "fail");
    assert.equal(result.score, 2);
    assert.equal(result.max_score, 3);
    assert.equal(result.steps[0]?.status, "pass");
    assert.deepEqual(result.steps[1], { step: 2, title: lab01.steps[1]!.title, side: "server", status: "fail", passed: 1, total: 2 });
    assert.equal(result.steps[2]?.status, "fail", "a step with no checks run does not pass");
  });

  it("is an error when no check could run", () => {
    assert.equal(buildResult(lab01, "learner", [], { ...extra, message: "could not load" }).status, "error");
  });
});

describe("progress", () => {
  it("records the passed steps of the last check and reads them back", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-")), "progress.json");
    assert.deepEqual(readProgress(file), { version: 1, labs: {} });
    const passed: CheckResult = { id: "s1.x", name: "x", step: 1, side: "setup", status: "pass", message: null, output: null, duration_ms: 0, points: 1, max_points: 1 };
    recordProgress(buildResult(lab01, "learner", [passed], { type_errors: [], warnings: [], message: null, duration_ms: 1 }), file);
    const progress = readProgress(file);
    assert.deepEqual(progress.labs["01-route-guide"]?.passed_steps, [1]);
    assert.equal(progress.labs["01-route-guide"]?.total_steps, lab01.steps.length);
    fs.writeFileSync(file, "not json");
    assert.deepEqual(readProgress(file), { version: 1, labs: {} });
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe("learner locations", () => {
  const tree = path.join(os.tmpdir(), "my labs", "01-route-guide");
  let saved: string | undefined;
  before(() => {
    saved = process.env.GRPC_LABS_TARGET_DIR;
    process.env.GRPC_LABS_TARGET_DIR = tree;
  });
  after(() => {
    if (saved === undefined) delete process.env.GRPC_LABS_TARGET_DIR;
    else process.env.GRPC_LABS_TARGET_DIR = saved;
  });

  it("finds the first frame in the learner's files, in a path with spaces, skipping stubs", () => {
    const error = new Error("boom");
    error.stack = [
      "Error: boom",
      `    at encode (${path.join(tree, "gen", "routeguide", "route_guide.ts")}:80:3)`,
      `    at Object.getFeature (${path.join(tree, "src", "server.ts")}:42:11)`,
      `    at ${path.join(tree, "src", "client.ts")}:7:1`,
    ].join("\n");
    assert.equal(learnerLocation(error), "src/server.ts:42");
    error.stack = `Error: boom\n    at ${path.join(tree, "src", "client.ts")}:7:1`;
    assert.equal(learnerLocation(error), "src/client.ts:7");
  });

  it("reads a syntax error from the TypeScript loader as file:line", () => {
    const error = new Error(`Transform failed with 1 error:\n${path.join(tree, "src", "server.ts")}:45:13: ERROR: Unexpected ";"`);
    assert.equal(describeLoadError(error, "src/server.ts"), 'src/server.ts:45: syntax error: Unexpected ";"');
  });
});
