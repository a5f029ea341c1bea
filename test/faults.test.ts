/**
 * The runner against solutions with one known fault each: every fault ends
 * as a clear, per-check result that names the file, line or step, and never
 * as a crash or a hang. (Different but correct solutions are in
 * test/alternatives.test.ts.)
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { findLab } from "../scripts/lib/labs";
import type { CheckResult, LabResult } from "../scripts/lib/results";
import { checkLab } from "../scripts/lib/run-checks";
import { checkVariant as checkVariantOf, type Edit, removeTrees, solutionVariant } from "./trees";

const lab = findLab("01");
const server = "src/server.ts";
const client = "src/client.ts";

const checkVariant = (name: string, edits: Edit[]) => checkVariantOf(lab, name, edits);

const side = (result: LabResult, which: CheckResult["side"]) => result.tests.filter((t) => t.side === which);
const byId = (result: LabResult, prefix: string) => result.tests.find((t) => t.id.startsWith(prefix))!;

describe("faults in the learner's code", function () {
  this.timeout(60_000);
  after(removeTrees);

  it("a syntax error fails the server checks with file:line and leaves the client checks alone", async () => {
    const result = await checkVariant("syntax", [{ file: server, from: "const found = features.find(", to: "const found = = features.find(" }]);
    for (const check of side(result, "server")) assert.match(check.message ?? "", /src\/server\.ts:\d+: /, check.id);
    assert.ok(side(result, "client").every((c) => c.status === "pass"));
  });

  it("a type error fails the steps about that file, as file:line: message", async () => {
    const result = await checkVariant("type-error", [{ file: server, from: '{ name: "", location: call.request }', to: '{ nam: "", location: call.request }' }]);
    assert.deepEqual(
      result.type_errors.map((e) => e.file),
      [server],
    );
    for (const check of side(result, "server")) {
      assert.equal(check.status, "fail");
      assert.match(check.message ?? "", /^type error: src\/server\.ts:\d+: .*nam/, check.id);
    }
    assert.ok(side(result, "client").every((c) => c.status === "pass"));
  });

  it("an exception in a handler is shown with its message and where it was thrown", async () => {
    const result = await checkVariant("throws", [
      { file: server, from: "const found = features.find(", to: 'if (call.request.latitude === 0) throw new Error("boom");\n      const found = features.find(' },
    ]);
    const check = byId(result, "s2.returns-an-unnamed-feature");
    assert.equal(check.status, "fail");
    assert.match(check.message ?? "", /your GetFeature handler threw "boom" at src\/server\.ts:\d+/);
    assert.equal(byId(result, "s2.returns-the-named-feature").status, "pass");
  });

  it("an exception in a stream listener is shown with its message and where it was thrown", async () => {
    const result = await checkVariant("listener-throws", [{ file: server, from: "summary.pointCount += 1;", to: '$&\n        if (summary.pointCount > 3) throw new Error("too far");' }]);
    const check = byId(result, "s4.counts-points-features-and-distance");
    assert.match(check.message ?? "", /your RecordRoute handler threw "too far" at src\/server\.ts:\d+/);
  });

  it("a stream that is never ended fails on its deadline with what to do", async () => {
    const result = await checkVariant("never-ends", [{ file: server, from: /call\.write\(feature\);\n(\s*)}\n\s*call\.end\(\);/, to: "call.write(feature);\n$1}" }]);
    const step3 = result.tests.filter((t) => t.step === 3);
    assert.ok(step3.every((c) => c.status === "fail" && /ListFeatures got no complete answer within 2 s: .*call\.end\(\)/.test(c.message ?? "")));
    assert.ok(result.tests.filter((t) => t.step === 2 || t.step === 4).every((c) => c.status === "pass"));
  });

  it("an endless loop fails the check it blocks, names it, and the other checks still run and earn their points", async () => {
    const result = await checkVariant("endless-loop", [{ file: client, from: "export function getFeature(client: RouteGuideClient, point: Point): Promise<Feature> {", to: "$&\n  while (point) {}" }]);
    const step6 = result.tests.filter((t) => t.step === 6);
    assert.ok(step6.every((t) => t.status === "fail" && /blocked the event loop/.test(t.message ?? "")), JSON.stringify(step6));
    assert.ok(result.tests.filter((t) => t.step !== 6).every((t) => t.status === "pass"), "every other check runs in a fresh subject and passes");
  });

  it("a module whose top-level code computes for 0.7 s loads without a fault: only the 2 s silence applies while a module loads", async () => {
    const result = await checkVariant("slow-load", [{ file: server, from: "export function createRouteGuideServer(", to: "const until = Date.now() + 700;\nwhile (Date.now() < until) {}\n$&" }]);
    assert.ok(result.tests.every((t) => t.status === "pass"), JSON.stringify(result.tests.filter((t) => t.status !== "pass")));
  });

  it("a module whose top-level code never ends fails the checks that load it, naming the file, and waits out the 2 s silence once", async () => {
    // It computes: not a subject waiting for a CPU, which the silence rule gives more time.
    const result = await checkVariant("endless-load", [{ file: server, from: "export function createRouteGuideServer(", to: "while (Date.now() > 0) {}\n$&" }]);
    const serverChecks = result.tests.filter((t) => t.side === "server");
    const shown = JSON.stringify(serverChecks.map((t) => [t.message, t.duration_ms]));
    assert.ok(serverChecks.length > 0 && serverChecks.every((t) => t.status === "fail" && /blocked the event loop for more than 2 s while src\/server\.ts loaded/.test(t.message ?? "")), shown);
    // Loading the file again would compute as long again: the checks that load it later fail at once
    // (Linux, where the subject's CPU time shows it computing; elsewhere each waits out the silence).
    if (process.platform === "linux") assert.ok(serverChecks.filter((t) => (t.duration_ms ?? 0) >= 2000).length <= 2, shown);
    assert.ok(result.tests.filter((t) => t.side === "client").every((t) => t.status === "pass"));
  });

  it("process.exit() in learner code fails the check it ran in, names the call and the line, and the rest run", async () => {
    const result = await checkVariant("exits", [{ file: client, from: "export function listFeatures(client: RouteGuideClient, rectangle: Rectangle): Promise<Feature[]> {", to: "$&\n  process.exit(3);" }]);
    for (const check of result.tests.filter((t) => t.step === 7)) assert.match(check.message ?? "", /your code called process\.exit\(3\) at src\/client\.ts:\d+/);
    assert.ok(result.tests.filter((t) => t.step !== 7).every((c) => c.status === "pass"));
  });

  it("an exception nobody catches fails the check it happened in, with where it was thrown", async () => {
    const result = await checkVariant("uncaught", [
      { file: server, from: "const found = features.find(", to: 'if (call.request.latitude === 0) setTimeout(() => { throw new Error("late boom"); });\n      const found = features.find(' },
    ]);
    const check = byId(result, "s2.returns-an-unnamed-feature");
    assert.equal(check.status, "fail");
    assert.match(check.message ?? "", /your code threw "late boom" at src\/server\.ts:\d+ and nothing caught it/);
    assert.equal(byId(result, "s2.returns-the-named-feature").status, "pass");
  });

  it("code that keeps the subject from closing a check's servers fails that check once it is over, and the rest run", async () => {
    // The driver closes a check's servers after a timer: replaced by one that never fires, the subject still beats but never closes them.
    const result = await checkVariant("holds-close", [{ file: server, from: "const found = features.find(", to: "if (call.request.latitude === 0) Object.assign(globalThis, { setTimeout: () => 0 });\n      const found = features.find(" }]);
    const check = byId(result, "s2.returns-an-unnamed-feature");
    assert.equal(check.status, "fail");
    assert.match(check.message ?? "", /your code did not let the check close its servers and clients/);
    assert.deepEqual(result.tests.filter((t) => t.status === "fail").map((t) => t.id), [check.id]);
  });

  it("memory outside the heap counts: a learner file that allocates too much fails its checks, the others pass", async () => {
    const result = await checkLab(lab, {
      target: "learner",
      tree: solutionVariant(lab, "memory-bomb", [{ file: client, from: "export function routeChat(client: RouteGuideClient, notes: RouteNote[]): Promise<RouteNote[]> {", to: "$&\n  // A buffer at a time, the event loop free between them: a memory fault, not a busy loop.\n  const hoard: Buffer[] = [];\n  const grow = () => hoard.length < 12 && (hoard.push(Buffer.alloc(50e6, 1)), setTimeout(grow, 20));\n  grow();\n  if (hoard.length) return new Promise(() => undefined);" }]),
      subjectMemoryMb: 300,
    });
    for (const check of result.tests.filter((t) => t.step === 9)) assert.match(check.message ?? "", /your code used more than 300 MB of memory/, `${check.id}: ${check.message}`);
    assert.ok(result.tests.filter((t) => t.step !== 9).every((c) => c.status === "pass"));
  });

  it("a timer left running is reported as a warning", async () => {
    const result = await checkVariant("leaks", [{ file: server, from: "const server = new grpc.Server();", to: "$&\n  setInterval(() => undefined, 1000);" }]);
    assert.equal(result.status, "pass");
    assert.equal(result.warnings.length, 1);
  });

  it("missing stubs fail the stub step with the command to run and block the other checks", async () => {
    const tree = solutionVariant(lab, "no-stubs");
    fs.rmSync(path.join(tree, "gen"), { recursive: true });
    const result = await checkLab(lab, { target: "learner", tree });
    assert.match(result.tests[0]?.message ?? "", /npm run lab 01 -- gen/);
    assert.ok(result.tests.length > 1);
    assert.ok(result.tests.slice(1).every((t) => t.status === "fail" && /^not run until step 1 passes/.test(t.message ?? "")));
  });
});
