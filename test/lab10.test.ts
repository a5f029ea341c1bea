/**
 * Lab 10's checks against variants of its reference solution: each known
 * mistake fails exactly the checks about it, and different but correct
 * solutions pass. The mistakes are the ones gRPC-Web gateways and pages are
 * known for: the upstream's response headers leaked into the trailers (of a
 * unary call or a stream), its rich error details dropped, no deadline (or a
 * fixed one) or no cancellation passed on (for a stream, or for a unary call), CORS that hides grpc-status,
 * allows every origin or leaves the preflight to the gRPC-Web handler, and a
 * page that renders a stream only at its end, shows a failed call's message
 * instead of its code, cannot cancel, or cancels every later stream too.
 */
import * as assert from "node:assert/strict";
import * as os from "node:os";
import * as path from "node:path";
import { findLab } from "../scripts/lib/labs";
import { alternativeFile, checkVariant as checkVariantOf, type Edit, expectFailing, failingIds as failing, removeTrees } from "./trees";

const lab = findLab("10");
const gateway = "src/gateway.ts";
const page = "src/page.ts";

const checkVariant = (name: string, edits: Edit[]) => checkVariantOf(lab, name, edits);

const replaced = (file: string, alternative: string) => alternativeFile(lab, file, alternative);

describe("lab 10's checks against known mistakes", function () {
  this.timeout(180_000);
  after(removeTrees);

  it("the upstream's error rethrown as it is: its HTTP/2 headers leak into the trailers", async () => {
    const result = await checkVariant("leaked-headers", [{ file: gateway, from: "throw forwarded;", to: "throw upstream;" }]);
    expectFailing(result, ["s2.keeps-the-upstream-s"]);
  });

  it("a gateway whose Count passes the upstream's error on as it is (only sayHello throws a new one): the headers leak into a failed stream's trailers", async () => {
    const result = await checkVariant("leaked-stream-headers", [
      { file: gateway, from: /try \{\n\s*(yield\* greeter\.count\(request, from\(context\)\);)\n\s*\} catch \(error\) \{\n\s*rethrow\(error\);\n\s*\}/, to: "$1" },
    ]);
    expectFailing(result, ["s2.keeps-the-upstream-s"]);
  });

  it("a new error without the upstream's rich details", async () => {
    const result = await checkVariant("no-details", [{ file: gateway, from: "forwarded.details = upstream.details;", to: "" }]);
    expectFailing(result, ["s2.carries-the-upstream-s-rich-error-details"]);
  });

  it("no deadline passed on", async () => {
    const result = await checkVariant("no-deadline", [{ file: gateway, from: "timeoutMs: context.timeoutMs()", to: "" }]);
    expectFailing(result, ["s2.passes-the-browser-s-deadline"]);
  });

  it("a fixed upstream deadline (the transport's defaultTimeoutMs) instead of the browser's", async () => {
    const result = await checkVariant("fixed-deadline", [
      { file: gateway, from: ", timeoutMs: context.timeoutMs()", to: "" },
      { file: gateway, from: "baseUrl: `http://${upstream}`", to: "baseUrl: `http://${upstream}`, defaultTimeoutMs: 1000" },
    ]);
    expectFailing(result, ["s2.passes-the-browser-s-deadline"]);
  });

  it("the deadline passed on by sayHello only: Count's upstream call has none", async () => {
    const result = await checkVariant("no-count-deadline", [{ file: gateway, from: "yield* greeter.count(request, from(context));", to: "yield* greeter.count(request, { signal: context.signal });" }]);
    expectFailing(result, ["s2.passes-the-browser-s-deadline"]);
  });

  it("no cancellation passed on: a browser that goes away leaves the upstream call running", async () => {
    const result = await checkVariant("no-signal", [{ file: gateway, from: "signal: context.signal, ", to: "" }]);
    expectFailing(result, ["s2.cancels-the-upstream-call"]);
  });

  it("cancellation passed on by count only: a browser that leaves a SayHello leaves the upstream call waiting", async () => {
    const result = await checkVariant("no-unary-signal", [{ file: gateway, from: "greeter.sayHello(request, from(context))", to: "greeter.sayHello(request, { timeoutMs: context.timeoutMs() })" }]);
    expectFailing(result, ["s2.cancels-the-upstream-call"]);
    assert.match(result.tests.find((t) => t.id.startsWith("s2.cancels-the-upstream-call"))!.message ?? "", /upstream SayHello was still waiting/);
  });

  it("a gateway that collects the upstream's stream and answers at its end", async () => {
    const result = await checkVariant("buffered-stream", [
      {
        file: gateway,
        from: "yield* greeter.count(request, from(context));",
        to: "const all = [];\n          for await (const reply of greeter.count(request, from(context))) all.push(reply);\n          yield* all;",
      },
    ]);
    // A stream that fails loses the messages collected before the error, too.
    expectFailing(result, ["s2.cancels-the-upstream-call", "s2.carries-a-failed-call-s-status"]);
  });

  it("a gateway whose Count calls the upstream and ends before passing a message on: told so at once", async () => {
    const result = await checkVariant("count-ends-early", [
      { file: gateway, from: "yield* greeter.count(request, from(context));", to: "for await (const reply of greeter.count(request, from(context))) if (reply) break;" },
    ]);
    expectFailing(result, ["s2.cancels-the-upstream-call", "s2.forwards-a-server-stream"], ["s2.carries-a-failed-call-s-status", "s2.keeps-the-upstream-s"]);
    const cancel = result.tests.find((t) => t.id.startsWith("s2.cancels-the-upstream-call"))!;
    assert.match(cancel.message ?? "", /ended its answer to a Count .* before the first message/);
    // Waiting for the message would add 1.5 s at least (1 s, a SayHello, 0.5 s) to the work of a check like the stream one.
    const stream = result.tests.find((t) => t.id.startsWith("s2.forwards-a-server-stream"))!;
    assert.ok(cancel.duration_ms < stream.duration_ms + 1000, `it took ${cancel.duration_ms} ms (the stream check ${stream.duration_ms} ms): it waited for a message that could not come`);
  });

  it("CORS that does not expose grpc-status and grpc-message", async () => {
    const result = await checkVariant("no-expose", [{ file: gateway, from: /\n.*\n\s*response\.setHeader\("Access-Control-Expose-Headers".*/, to: "" }]);
    expectFailing(result, ["s3.lets-the-page-read"]);
  });

  it("CORS for every origin (Access-Control-Allow-Origin: *)", async () => {
    const result = await checkVariant("wildcard-origin", [
      { file: gateway, from: 'if (request.headers.origin === allowedOrigin) {\n      response.setHeader("Access-Control-Allow-Origin", allowedOrigin);', to: '{\n      response.setHeader("Access-Control-Allow-Origin", "*");' },
      { file: gateway, from: "if (request.headers.origin !== allowedOrigin) return void response.writeHead(403).end();", to: "" },
    ]);
    expectFailing(result, ["s3.allows-the-page-s-origin-only"]);
  });

  it("the preflight left to the gRPC-Web handler, which refuses OPTIONS", async () => {
    const result = await checkVariant("no-preflight", [{ file: gateway, from: 'if (request.method === "OPTIONS") {', to: 'if (request.method === "PREFLIGHT") {' }]);
    expectFailing(result, ["s3.answers-the-browser-s-preflight"]);
  });

  it("a page that shows a failed call's message instead of its code", async () => {
    const result = await checkVariant("message-not-code", [{ file: page, from: "Code[ConnectError.from(error).code]", to: "ConnectError.from(error).rawMessage" }]);
    expectFailing(result, ["s4.shows-a-failed-call-s-status", "s5.renders-each-message"]);
  });

  it("a page that renders the stream only when it ends", async () => {
    const result = await checkVariant("render-at-end", [
      { file: page, from: "for await (const reply of greeter.count(", to: "const replies = [];\n      for await (const reply of greeter.count(" },
      { file: page, from: "        const item = document.createElement", to: "        replies.push(reply);\n      }\n      for (const reply of replies) {\n        const item = document.createElement" },
    ]);
    expectFailing(result, ["s5.renders-each-message", "s5.cancels-the-stream"]);
  });

  it("a page whose Cancel does nothing", async () => {
    const result = await checkVariant("no-cancel", [{ file: page, from: 'element("cancel").addEventListener("click", () => counting?.abort());', to: "" }]);
    expectFailing(result, ["s5.cancels-the-stream"]);
  });

  it("a page with one AbortController for all its streams: once cancelled, every later Count is aborted at once", async () => {
    const result = await checkVariant("shared-controller", [
      { file: page, from: "let counting: AbortController | undefined;", to: "const controller = new AbortController();" },
      { file: page, from: "    counting?.abort();\n    const controller = (counting = new AbortController());\n", to: "" },
      { file: page, from: "() => counting?.abort()", to: "() => controller.abort()" },
    ]);
    expectFailing(result, ["s5.cancels-the-stream"]);
  });

  it("different but correct solutions pass: a hand-written byte-forwarding gateway (no Connect), and a page on Connect's callback client whose stream buttons share one listener on the document", async () => {
    const result = await checkVariant("alternatives", [replaced(gateway, "byte-gateway.ts"), replaced(page, "callback-page.ts")]);
    assert.deepEqual(failing(result), []);
    assert.deepEqual(result.type_errors, []);
  });

  it("with no browser where CHROMIUM_PATH points, the browser checks say so in one sentence and the gateway checks still pass", async () => {
    const before = process.env.CHROMIUM_PATH;
    process.env.CHROMIUM_PATH = path.join(os.tmpdir(), "no-such-chromium");
    try {
      const result = await checkVariant("no-browser", []);
      const browserChecks = result.tests.filter((t) => t.step >= 4);
      assert.ok(browserChecks.length > 0);
      for (const check of browserChecks) assert.match(check.message ?? "", /^CHROMIUM_PATH names .*no-such-chromium, which does not exist: point it at a Chromium, Chrome or Edge executable$/, check.id);
      assert.deepEqual(result.tests.filter((t) => t.step < 4 && t.status !== "pass").map((t) => t.id), []);
    } finally {
      if (before === undefined) delete process.env.CHROMIUM_PATH;
      else process.env.CHROMIUM_PATH = before;
    }
  });

  it("other correct choices pass: CORS lists written out in another order and case, an upstream deadline 20 ms short of the browser's, stream items shown as \"n = 42\"", async () => {
    const result = await checkVariant("other-choices", [
      {
        file: gateway,
        from: "({ signal: context.signal, timeoutMs: context.timeoutMs() });",
        to: "{\n    const left = context.timeoutMs();\n    return { signal: context.signal, timeoutMs: left === undefined ? undefined : Math.max(left - 20, 1) };\n  };",
      },
      { file: gateway, from: '"Access-Control-Expose-Headers", cors.exposedHeaders.join(", ")', to: '"access-control-expose-headers", "Grpc-Status-Details-Bin,Grpc-Message,Grpc-Status"' },
      { file: gateway, from: '"Access-Control-Allow-Methods": "POST"', to: '"access-control-allow-methods": "OPTIONS, POST"' },
      { file: gateway, from: '"Access-Control-Allow-Headers": cors.allowedHeaders.join(", ")', to: '"access-control-allow-headers": "X-User-Agent,X-Grpc-Web,Grpc-Timeout,Content-Type"' },
      { file: page, from: "item.textContent = String(reply.n);", to: "item.textContent = `n = ${reply.n}`;" },
    ]);
    assert.deepEqual(failing(result), []);
    assert.deepEqual(result.type_errors, []);
  });
});
