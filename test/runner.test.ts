/** Unit tests of the runner's parts: arguments, lab lookup, stubs, type errors, results, progress. */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CheckFailure, expectEqual, settledWithin } from "../scripts/check-kit/assert";
import { adviceFor, cleanDetails, explainMessage } from "../scripts/check-kit/explain";
import { npmTookOptions, parseArgs } from "../scripts/lib/args";
import { bindError } from "../scripts/lib/cli";
import { UserError } from "../scripts/lib/errors";
import { findLab, listLabs } from "../scripts/lib/labs";
import { readProgress, recordProgress } from "../scripts/lib/progress";
import { formatReport } from "../scripts/lib/report";
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
    assert.deepEqual(command("gen", "--all"), { kind: "gen-all", solutionsOnly: false });
    assert.deepEqual(command("gen", "--all", "--solution"), { kind: "gen-all", solutionsOnly: true });
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

  it("passes every option after client but --target, --solution and --debug to the lab's client (lab 02's --watch)", () => {
    assert.deepEqual(command("02", "client", "--watch", "--target", "h:1"), { kind: "client", lab: "02", target: "learner", address: "h:1", args: ["--watch"] });
    assert.deepEqual(command("11", "bench", "--rounds", "3", "--solution"), { kind: "bench", lab: "11", target: "solution", args: ["--rounds", "3"] });
  });

  it("refuses, in one sentence, an option that does not apply to the command", () => {
    const refusal = (...argv: string[]) => {
      try {
        parseArgs(argv);
      } catch (error) {
        assert.ok(error instanceof UserError && error.exitCode === 2, argv.join(" "));
        return error.message;
      }
      return assert.fail(`${argv.join(" ")} was accepted`);
    };
    assert.equal(refusal("01", "--port", "50052"), "--port does not apply to checking a lab; it is used as in `npm run lab 01 -- serve --port 50052`.");
    assert.match(refusal("1", "serve", "--target", "x:1"), /^--target does not apply to serve; .*npm run lab 01 -- client --target x:1/);
    assert.match(refusal("01", "--json", "--watch"), /^--json does not apply to --watch; .*npm run -s lab 01 -- --json/);
    assert.match(refusal("01", "gen", "--watch"), /^--watch does not apply to gen; /);
    assert.match(refusal("01", "--poll"), /npm run lab 01 -- --watch --poll/);
    assert.match(refusal("01", "reset", "--force"), /^--force does not apply to reset; /);
    assert.match(refusal("--json"), /^--json does not apply to the lab list; /);
    assert.deepEqual(command("01", "--help", "--port", "1"), { kind: "help" }, "--help goes with anything");
  });

  it("notices the runner's options that npm took for itself (no --), and says where the -- goes", () => {
    const lab = { npm_lifecycle_event: "lab" };
    assert.equal(npmTookOptions(["01"], { ...lab, npm_config_watch: "true" }), "npm took --watch for itself instead of passing it to the lab runner: add `--` before the runner's options, as in `npm run lab 01 -- --watch`.");
    assert.match(npmTookOptions(["01", "serve", "50052"], { ...lab, npm_config_port: "true" }) ?? "", /`npm run lab 01 -- serve --port 50052`/);
    assert.match(npmTookOptions(["01"], { ...lab, npm_config_json: "true" }) ?? "", /`npm run -s lab 01 -- --json`/);
    assert.equal(npmTookOptions(["01", "--watch"], { ...lab, npm_config_watch: "true" }), null, "it reached the runner after --");
    assert.equal(npmTookOptions(["01"], { npm_lifecycle_event: "test", npm_config_json: "true" }), null, "only under npm run lab");
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

describe("serve", () => {
  it("says in one sentence that a port needs rights the user does not have", () => {
    const refused = bindError(1, new Error("Could not listen on localhost:1: No address added out of total 1 resolved errors: [listen EACCES: permission denied 127.0.0.1:1]."));
    assert.ok(refused instanceof UserError);
    assert.equal(refused.message, "You may not listen on port 1: ports below 1024 need administrator rights on most systems; pick a port from 1024 up, such as --port 50051.");
    const other = new UserError("Port 50051 is in use");
    assert.equal(bindError(50051, other), other);
  });
});

describe("expectEqual", () => {
  const message = (actual: unknown, expected: unknown) => {
    try {
      expectEqual(actual, expected, "what");
    } catch (error) {
      assert.ok(error instanceof CheckFailure);
      return error.message;
    }
    return assert.fail("no failure");
  };

  it("shows short values whole", () => {
    assert.equal(message(1, 2), "what: expected 2, got 1");
  });

  it("shows where long lists first differ, with the items around it (lab 03's order of 3 members)", () => {
    const expected = Array.from({ length: 20 }, (_, i) => `carol: carol ${i}`);
    const actual = [...expected];
    [actual[5], actual[6]] = [expected[6]!, expected[5]!];
    assert.equal(
      message(actual, expected),
      'what: first difference at [5]: expected "carol: carol 5", got "carol: carol 6"; around it, expected [..., "carol: carol 4", "carol: carol 5", "carol: carol 6", ...], got [..., "carol: carol 4", "carol: carol 6", "carol: carol 5", ...]',
    );
    assert.match(message(expected.slice(0, 18), expected), /^what: first difference at \[18\] \(expected 20 items, got 18\): expected "carol: carol 18", got nothing/);
  });

  it("names the path of a difference deep in an object, and the character of one in a long string", () => {
    const feature = (longitude: number) => ({ name: "x".repeat(150), location: { latitude: 409146138, longitude } });
    assert.equal(message([feature(1), feature(2)], [feature(1), feature(3)]), "what: first difference at [1].location.longitude: expected 3, got 2");
    assert.match(message(`${"a".repeat(100)}b`, `${"a".repeat(100)}c`), /^what: first difference at character 100: expected \.\.\."a+c", got \.\.\."a+b"$/);
    assert.equal(message({ a: 1, b: undefined }, { a: 1 }), "what: first difference at .b: expected nothing, got undefined", "values that show the same");
  });
});

describe("settledWithin", () => {
  it("resolves with how a learner's promise settled, a rejection included, and fails one that does not settle in time", async () => {
    assert.deepEqual(await settledWithin(Promise.resolve(7), 100, "f()"), { resolved: true, value: 7 });
    const error = Object.assign(new Error("gone"), { code: 14 });
    assert.deepEqual(await settledWithin(Promise.reject(error), 100, "f()"), { resolved: false, error });
    await assert.rejects(settledWithin(new Promise(() => undefined), 50, "f()"), (failure: unknown) => failure instanceof CheckFailure && failure.message === "f() did not finish within 0.05 s");
  });
});

describe("explaining grpc-js's texts", () => {
  // What grpc-js 1.14 says when a connection fails (captured from real calls).
  const noConnection = (last: string) => `No connection established. Last error: ${last} (2026-12-02T06:04:53.162Z). Resolution note: `;

  it("drops timestamps, empty notes and OpenSSL's codes", () => {
    assert.equal(cleanDetails(noConnection("Failed to connect")), "No connection established. Last error: Failed to connect");
    assert.equal(
      cleanDetails("No connection established. Last error: Error: 802CCC022D7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n. Resolution note: "),
      "No connection established. Last error: wrong version number",
    );
  });

  it("says what to check for each way a connection fails", () => {
    assert.match(adviceFor("UNAVAILABLE", "wrong version number"), /one side speaks TLS and the other plaintext/);
    assert.match(adviceFor("UNAVAILABLE", "Last error: unable to verify the first certificate"), /trust the CA/);
    assert.match(adviceFor("UNAVAILABLE", "Hostname/IP does not match certificate's altnames: Host: localhost."), /name the client connected to/);
    assert.match(adviceFor("UNAVAILABLE", "tlsv13 alert certificate required"), /client certificate/);
    assert.match(adviceFor("UNAVAILABLE", "connect ECONNREFUSED 127.0.0.1:1"), /nothing listens/);
    assert.match(adviceFor("UNAVAILABLE", cleanDetails(noConnection("Failed to connect"))), /TLS settings .* certificates, and the target name/);
    assert.equal(adviceFor("NOT_FOUND", "no such user"), "");
  });

  it("explains a finished message once: a thrown call error, a connection failure", () => {
    const thrown = explainMessage("14 UNAVAILABLE: the server went away (at src/client.ts:39)");
    assert.match(thrown, /^14 UNAVAILABLE: the server went away \(at src\/client\.ts:39\): .*nothing handled its error.*call\.on\("error"/);
    const lab05 = explainMessage(`whoAmI() over TLS failed with UNAVAILABLE: ${noConnection("Failed to connect")}`);
    assert.match(lab05, /^whoAmI\(\) over TLS failed with UNAVAILABLE: No connection established\. Last error: Failed to connect: check the TLS settings/);
    for (const text of [thrown, lab05]) assert.equal(explainMessage(text), text, "no second explanation");
    assert.equal(explainMessage("expected 1, got 2"), "expected 1, got 2");
  });
});

describe("the report", () => {
  const check = (step: number, message: string | null): CheckResult => ({
    id: checkId(step, `check ${step}`),
    name: `check ${step}`,
    step,
    side: lab01.steps.find((s) => s.step === step)!.side,
    status: message === null ? "pass" : "fail",
    message,
    output: null,
    duration_ms: 1,
    points: message === null ? 1 : 0,
    max_points: 1,
  });
  const report = (tests: CheckResult[], type_errors: Array<{ file: string; line: number; column: number; message: string }> = []) =>
    formatReport(lab01, buildResult(lab01, "learner", tests, { type_errors, warnings: [], message: null, duration_ms: 1 }));

  it("shows a type error once for its file, and Next names the step about that file", () => {
    const error = { file: "src/client.ts", line: 12, column: 3, message: "Type 'string' is not assignable to type 'number'." };
    const typeMessage = "type error: src/client.ts:12: Type 'string' is not assignable to type 'number'.";
    const tests = [check(1, null), check(2, "GetFeature failed with UNIMPLEMENTED: TODO(step 2)"), ...[6, 6, 7, 8, 9].map((s) => check(s, typeMessage))];
    const text = report(tests, [error, { ...error, line: 20 }]);
    assert.equal(text.split("Type 'string' is not assignable").length - 1, 1, text);
    assert.match(text, /src\/client\.ts:12: type error: .* \(and 1 more type error in this file\)/);
    assert.match(text, /Step 6 .*\n {6}✘ 2 checks: failed by the type error shown above/);
    assert.match(text, /Next: step 6, Client: getFeature .*First fix the type error at labs\/01-route-guide\/src\/client\.ts:12\./);
    assert.match(text, /GetFeature failed with UNIMPLEMENTED/, "other failures are still shown");
  });

  it("does the same for a syntax error that stops a file from loading", () => {
    const syntax = 'src/server.ts:24: syntax error: Unexpected "export"';
    const tests = [check(1, null), ...[2, 3, 4, 5].map((s) => check(s, syntax)), ...[6, 7, 8, 9].map((s) => check(s, null))];
    const text = report(tests);
    assert.equal(text.split('Unexpected "export"').length - 1, 1, text);
    assert.match(text, /Next: step 2, .*First fix the syntax error at labs\/01-route-guide\/src\/server\.ts:24\./);
  });

  it("points to diff and next once every step passes", () => {
    const text = report(lab01.steps.map((s) => check(s.step, null)));
    assert.match(text, /All steps pass\. Well done!\n.*npm run lab 01 -- diff.*npm run lab next/);
  });
});
