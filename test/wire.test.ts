/**
 * The wire transcript of a failing check (check-kit/wire.ts), and the
 * message of a client function that resolves before its call has ended:
 * both seen as a learner sees them, in the JSON and the report; and how long
 * a failed check waits for a call that may still tell (Wire#settle).
 */
import * as assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { shortValue, Wire } from "../scripts/check-kit/wire";
import { findLab } from "../scripts/lib/labs";
import { formatReport } from "../scripts/lib/report";
import type { CheckResult, LabResult } from "../scripts/lib/results";
import { checkVariant, removeTrees } from "./trees";

const lab = findLab("01");
const byId = (result: LabResult, prefix: string): CheckResult[] => result.tests.filter((t) => t.id.startsWith(prefix));

describe("the wire transcript of a failing check", function () {
  this.timeout(60_000);
  let result: LabResult;

  before(async () => {
    result = await checkVariant(lab, "early", [
      // A server bug: every point answers as if it had no feature.
      { file: "src/server.ts", from: 'callback(null, found ?? { name: "", location: call.request });', to: 'callback(null, { name: "", location: call.request });' },
      // listFeatures() resolves once the call is made, and routeChat() once its notes are written: neither waits for "end".
      { file: "src/client.ts", from: 'call.on("end", () => resolve(features));', to: "resolve(features);" },
      { file: "src/client.ts", from: /call\.end\(\);\n {2}\}\);\n\}\s*$/, to: "call.end();\n    resolve(received);\n  });\n}\n" },
    ]);
  });
  after(removeTrees);

  it("tells a client function that resolved before the server ended the stream so, not that the deadline or requests were missing", () => {
    // Every failing check of steps 7 and 9 says so ("sets a deadline" may pass: the call can reach the server before the check looks).
    const failing = [...byId(result, "s7."), ...byId(result, "s9.")].filter((t) => t.status === "fail");
    for (const check of failing) {
      assert.match(check.message ?? "", /^(listFeatures|routeChat)\(\) .*resolved before the server ended the stream: resolve on the call's "end" event/, `${check.id}: ${check.message}\n${(check.wire ?? []).join("\n")}`);
    }
    for (const [prefix, name] of [
      ["s7.sends-the-rectangle", "listFeatures()"],
      ["s9.sends-every-note", "routeChat()"],
      ["s9.keeps-reading", "routeChat()"],
    ] as const) {
      const [check] = byId(result, prefix);
      assert.equal(check?.status, "fail", prefix);
      // The transcript shows why: the function resolved, then the call arrived, with its deadline, and ended.
      const wire = check.wire ?? [];
      const resolved = wire.findIndex((line) => line.endsWith(`${name} resolved`));
      const call = wire.findIndex((line) => /recording server ← \w+ call, deadline in \d+\.\d s/.test(line));
      assert.ok(resolved >= 0 && call > resolved, `${prefix}:\n${wire.join("\n")}`);
      assert.ok(wire.some((line) => line.includes("recording server → status OK")), wire.join("\n"));
    }
  });

  it("shows what the reference client sent and received, short, in the JSON of failing checks only", () => {
    const [check] = byId(result, "s2.returns-the-named-feature");
    const wire = check?.wire ?? [];
    assert.match(wire[0] ?? "", /^\+ +0 ms {2}reference client → GetFeature call, deadline in [12]\.\d s, no metadata$/, "the 2 s deadline, less the time to start the call");
    assert.ok(wire.some((line) => /reference client → message \{"latitude":409146138,"longitude":-746188906\}$/.test(line)), wire.join("\n"));
    assert.ok(wire.some((line) => /reference client ← message \{"name":"","location"/.test(line)), wire.join("\n"));
    assert.ok(wire.some((line) => /reference client ← status OK$/.test(line)), wire.join("\n"));
    for (const failing of result.tests.filter((t) => t.status === "fail")) {
      assert.ok((failing.wire?.length ?? 0) <= 14, failing.id);
      for (const line of failing.wire ?? []) assert.ok(line.length < 160, line);
    }
    for (const passing of result.tests.filter((t) => t.status === "pass")) assert.equal(passing.wire, undefined, passing.id);
  });

  it("is shown in the report under the failing checks of the step to work on next", () => {
    const report = formatReport(lab, result);
    const next = report.slice(report.indexOf("Step 2"), report.indexOf("Step 3"));
    assert.match(next, /On the wire:\n +\+ +0 ms {2}reference client → GetFeature call/);
    assert.doesNotMatch(report.slice(report.indexOf("Step 3")), /On the wire:/, "only the step to work on next");
  });
});

describe("a wire transcript", () => {
  it("keeps the start and the end of a long call, with a count of the lines between, and cuts long values", () => {
    const wire = new Wire();
    wire.noteCall("reference client → Chat call, deadline in 2.0 s, no metadata");
    for (let i = 0; i < 300; i++) wire.note(`reference client ← message ${i}`);
    wire.note("reference client ← status OK");
    const lines = wire.transcript()!;
    assert.equal(lines.length, 14);
    assert.match(lines[0]!, /Chat call/);
    assert.match(lines[9]!, /\.\.\. 289 more lines \.\.\./);
    assert.match(lines[13]!, /status OK$/);
    assert.match(lines[12]!, /message 299$/);
    assert.equal(new Wire().transcript(), null, "no call, no transcript");
    assert.equal(shortValue({ text: "x".repeat(200) }).length, 80);
    assert.equal(shortValue({ data: Buffer.from("abc") }), '{"data":"<3 bytes>"}');
  });
});

const getItem = { path: "/shop.v1.Catalog/GetItem", requestStream: false, responseStream: false };

/** A transcript with one recording server, whose check waited for getItem() and saw it resolve. */
function resolvedWire(): Wire {
  const wire = new Wire();
  wire.servers = 1;
  wire.noteCall("reference client → call");
  wire.waiting("getItem()")!();
  return wire;
}

async function settleTime(wire: Wire, ms: number): Promise<number> {
  const started = Date.now();
  await wire.settle(ms);
  return Date.now() - started;
}

describe("the wire transcript's settle()", () => {
  it("waits for a call that has not arrived, up to its limit", async () => {
    assert.ok((await settleTime(resolvedWire(), 150)) >= 140);
  });

  it("does not wait for a call that arrived and stays open on a method the check does not record", async () => {
    const wire = new Wire();
    wire.servers = 1;
    wire.noteCall("reference client → call");
    const resolved = wire.waiting("getItem()")!;
    wire.serverCall(getItem);
    await sleep(120);
    resolved();
    assert.ok((await settleTime(wire, 500)) < 100);
    assert.equal(wire.resolvedTooEarly(), null);
  });

  it("waits for an open call of a recorded method, which tells that the function resolved too early once it ends", async () => {
    const wire = new Wire();
    wire.servers = 1;
    wire.noteCall("reference client → call");
    const resolved = wire.waiting("getItem()")!;
    const call = wire.serverCall(getItem);
    wire.recorded(getItem.path);
    resolved();
    setTimeout(() => (call.endedAt = Date.now()), 100);
    const waited = await settleTime(wire, 1000);
    assert.ok(waited >= 90 && waited < 500, `waited ${waited} ms`);
    assert.match(wire.resolvedTooEarly() ?? "", /getItem\(\) resolved before the server answered/);
  });
});
