/**
 * Lab 10, steps 2 and 3: the learner's gRPC-Web gateway (src/gateway.ts), in
 * front of the checks' grpc-js Greeter. The checks speak gRPC-Web by hand, as
 * a browser's fetch does, and look at the bytes: content type, message
 * frames, the trailer frame, CORS headers; the upstream records what reached
 * it (the request, its deadline, its cancellation).
 */
import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectEqual, expectTrue, richStatusMetadata, type RichStatus, serviceError, step } from "../../../scripts/check-kit";
import { codeName, type CountReply, greeterService, type HelloRequest, httpRequest, openWebCall, randomOrigin, startGateway, startUpstream, token, waitFor, waitOnGateway, webCall } from "./web";

/** Fails unless the answer is a gRPC-Web answer: HTTP 200, a grpc-web content type. */
function expectWebAnswer(answer: { httpStatus: number; headers: { [key: string]: unknown } }, what: string): void {
  expectEqual(answer.httpStatus, 200, `${what}: the HTTP status (gRPC-Web carries the call's status in grpc-status, and answers HTTP 200)`);
  const type = String(answer.headers["content-type"] ?? "");
  expectTrue(type.startsWith("application/grpc-web"), `${what}: the response's content-type was "${type}": a browser's gRPC-Web client expects application/grpc-web+proto (answer with Connect's gRPC-Web handler: grpcWeb: true)`);
}

step(2, () => {
  it("forwards a unary call and answers it in gRPC-Web: a message frame, then a trailer frame with grpc-status 0", async () => {
    const tag = token();
    const upstream = await startUpstream({ sayHello: (r) => ({ message: `hello ${r.name}, from upstream ${tag}` }) });
    const gateway = await startGateway(upstream.address, randomOrigin());
    const answer = await webCall(gateway, "SayHello", { name: `ada-${tag}` });
    expectWebAnswer(answer, "SayHello through the gateway");
    expectEqual(upstream.calls.map((c) => c.request), [{ name: `ada-${tag}` }], "the requests the upstream Greeter received");
    expectEqual(answer.messages, [{ message: `hello ada-${tag}, from upstream ${tag}` }], "the messages of the gateway's answer");
    expectTrue(answer.trailers !== undefined, "the answer had no trailer frame (flag 0x80) after its message: gRPC-Web puts the status in the body, since fetch cannot read HTTP trailers");
    expectEqual(answer.code, 0, "grpc-status in the trailer frame");
  });

  it("forwards a server stream: every message in order, then the status", async () => {
    const values = [3, 1, 4, 1, 5].map((n) => n + Math.floor(Math.random() * 100));
    const upstream = await startUpstream({
      count: async (_request, call) => {
        for (const n of values) call.write({ n } satisfies CountReply);
      },
    });
    const gateway = await startGateway(upstream.address, randomOrigin());
    const answer = await webCall(gateway, "Count", { to: 5, intervalMs: 0 });
    expectWebAnswer(answer, "Count through the gateway");
    expectEqual(upstream.calls.map((c) => c.request), [{ to: 5, intervalMs: 0 }], "the requests the upstream Greeter received");
    expectEqual(answer.messages, values.map((n) => ({ n })), "the messages of the gateway's answer, in order");
    expectEqual(answer.code, 0, "grpc-status in the trailer frame");
  });

  it("carries a failed call's status and message into the gRPC-Web trailers, for unary calls and streams", async () => {
    const why = `the greeter is closed (${token()})`;
    const upstream = await startUpstream({
      sayHello: () => serviceError(grpc.status.FAILED_PRECONDITION, why),
      count: async (_request, call) => {
        call.write({ n: 1 });
        call.write({ n: 2 });
        throw serviceError(grpc.status.RESOURCE_EXHAUSTED, why);
      },
    });
    const gateway = await startGateway(upstream.address, randomOrigin());
    const unary = await webCall(gateway, "SayHello", { name: "ada" });
    expectWebAnswer(unary, "a failed SayHello");
    expectEqual(codeName(unary.code), codeName(grpc.status.FAILED_PRECONDITION), "grpc-status of a SayHello the upstream failed with FAILED_PRECONDITION");
    expectEqual(unary.message, why, "grpc-message (percent-decoded) of that call");
    const stream = await webCall(gateway, "Count", { to: 3, intervalMs: 0 });
    expectEqual(stream.messages, [{ n: 1 }, { n: 2 }], "the messages of a Count the upstream failed after 2 messages");
    expectEqual(codeName(stream.code), codeName(grpc.status.RESOURCE_EXHAUSTED), "grpc-status of that stream");
    expectEqual(stream.message, why, "grpc-message of that stream");
    expectTrue(stream.trailers !== undefined, "the failed stream's status must come in a trailer frame after its messages");
  });

  it("carries the upstream's rich error details (grpc-status-details-bin) into the trailers", async () => {
    const tag = token();
    const status: RichStatus = {
      code: grpc.status.FAILED_PRECONDITION,
      message: `the greeter is closed (${tag})`,
      details: [{ type: "google.rpc.PreconditionFailure", value: { violations: [{ type: "OPENING_HOURS", subject: `greeter-${tag}`, description: "opens at 9" }] } }],
    };
    const upstream = await startUpstream({ sayHello: () => Object.assign(serviceError(status.code, status.message), { metadata: richStatusMetadata(status) }) });
    const gateway = await startGateway(upstream.address, randomOrigin());
    const answer = await webCall(gateway, "SayHello", { name: "ada" });
    expectEqual(codeName(answer.code), codeName(status.code), "grpc-status of a SayHello the upstream failed with rich details");
    expectTrue(
      answer.richStatus !== undefined,
      "the answer had no grpc-status-details-bin, though the upstream sent one (a google.rpc.Status with a PreconditionFailure): pass the upstream error's details on to the new ConnectError (error.details = upstream.details)",
    );
    expectEqual(answer.richStatus, status, "the google.rpc.Status in grpc-status-details-bin");
  });

  it("keeps the upstream's HTTP/2 response headers out of the trailers it sends the browser", async () => {
    const upstream = await startUpstream({
      sayHello: () => serviceError(grpc.status.NOT_FOUND, "no greeting for ada"),
      count: async (_request, call) => {
        call.write({ n: 1 });
        throw serviceError(grpc.status.NOT_FOUND, "no more numbers");
      },
    });
    const gateway = await startGateway(upstream.address, randomOrigin());
    for (const method of ["SayHello", "Count"] as const) {
      const answer = await webCall(gateway, method, method === "SayHello" ? { name: "ada" } : { to: 3, intervalMs: 0 });
      expectWebAnswer(answer, `a failed ${method}`);
      expectEqual(codeName(answer.code), codeName(grpc.status.NOT_FOUND), `grpc-status of a ${method} the upstream failed with NOT_FOUND`);
      const leaked = ["content-type", "date", "grpc-accept-encoding", "grpc-encoding", "te"].filter((name) => answer.trailers?.has(name));
      expectTrue(
        leaked.length === 0,
        `the trailer frame of a failed ${method} carried the upstream's ${leaked.join(", ")}: rethrowing the upstream's error passes its response headers on; throw a new ConnectError(error.rawMessage, error.code) instead`,
      );
    }
  });

  it("passes the browser's deadline (grpc-timeout) on to the upstream call", async () => {
    const upstream = await startUpstream({});
    const gateway = await startGateway(upstream.address, randomOrigin());
    // Two deadlines far apart: no fixed deadline is within both ranges below.
    for (const method of ["SayHello", "Count"] as const) {
      for (const timeout of [2500, 8000]) {
        const sent = Date.now();
        const answer = await webCall(gateway, method, method === "SayHello" ? { name: "ada" } : { to: 1, intervalMs: 0 }, { "grpc-timeout": `${timeout}m` });
        expectEqual(answer.code, 0, `grpc-status of a ${method} with grpc-timeout: ${timeout}m`);
        const call = upstream.calls.at(-1);
        expectEqual(call?.method, method, `the method of the upstream call a ${method} made`);
        const deadline = call!.deadline;
        expectTrue(Number.isFinite(deadline), `the upstream ${method} had no deadline, though the browser's call had ${timeout} ms: pass what is left of it on (timeoutMs: context.timeoutMs())`);
        // At most the browser's time from the moment the upstream call arrived (what is left can only be less),
        // and at least that time less 1 s from the moment the browser's call was sent (a margin kept for the way back is fine).
        const left = deadline - call!.at;
        const fromSend = deadline - sent;
        expectTrue(
          left <= timeout + 50 && fromSend >= timeout - 1000,
          `the upstream ${method}'s deadline was ${left} ms after it arrived (${fromSend} ms after the browser's call began, which had grpc-timeout ${timeout} ms): pass on what is left of the browser's deadline (timeoutMs: context.timeoutMs()), not a deadline of your own`,
        );
      }
    }
  });

  it("cancels the upstream call when the browser goes away: in the middle of a stream, and before a unary call's answer", async function () {
    this.timeout(15000); // four waits, each of which may ask the gateway for a SayHello on a loaded machine
    const upstream = await startUpstream({
      sayHello: (request) => (request.name === "held" ? "held" : { message: `hello ${request.name}` }),
      count: async (_request, call) => {
        call.write({ n: 1 });
        // Holds the stream open: it ends when the gateway cancels it (or after 8 s).
        await new Promise((resolve) => call.on("cancelled", resolve));
      },
    });
    const gateway = await startGateway(upstream.address, randomOrigin());
    const { request, progress } = openWebCall(gateway, "Count", { to: 5, intervalMs: 0 });
    const unanswered = await waitOnGateway(gateway, () => progress.opened || progress.failed);
    expectTrue(unanswered === undefined, `the gateway sent no HTTP response to a Count within 1 s, ${unanswered} (the upstream sent a message at once): pass each message on as it arrives`);
    expectTrue(!progress.failed, "the gateway closed the connection of a Count without an answer");
    const held = await waitOnGateway(gateway, () => progress.message || progress.ended);
    if (!progress.message && progress.ended) {
      // An answer that has ended can bring no message: no need to wait for one. The upstream may see a call the gateway made a moment later.
      const forwarded = await waitFor(() => upstream.calls.some((c) => c.method === "Count"), 300);
      expectTrue(forwarded, `the gateway answered a Count with ${codeName(progress.status)} and called no Count upstream: forward each call to the upstream Greeter`);
      throw new CheckFailure(`the gateway ended its answer to a Count (${codeName(progress.status)}) before the first message, which the upstream sent at once: pass each message on as it arrives`);
    }
    expectTrue(held === undefined, `the first message of a Count did not come through the gateway within 1 s, ${held} (the upstream sent it at once): pass each message on as it arrives`);
    request.destroy(); // what a closed tab, or AbortController.abort() on a fetch, does
    // The Count, not the SayHello a wait may have sent.
    const running = await waitOnGateway(gateway, () => upstream.calls.find((c) => c.method === "Count")?.cancelledAt !== undefined);
    expectTrue(running === undefined, `the upstream Count was still running 1 s after the browser closed its connection, ${running}: forward the call with { signal: context.signal }`);
    // A SayHello the upstream holds: the browser leaves before its answer.
    const unary = openWebCall(gateway, "SayHello", { name: "held" });
    const heldUpstream = () => upstream.calls.find((c) => c.method === "SayHello" && (c.request as HelloRequest).name === "held");
    const forwarded = await waitOnGateway(gateway, () => heldUpstream() !== undefined || unary.progress.ended || unary.progress.failed);
    expectTrue(forwarded === undefined && heldUpstream() !== undefined, `a SayHello did not reach the upstream within 1 s${forwarded ? `, ${forwarded}` : ""}: forward each call to the upstream Greeter`);
    unary.request.destroy();
    const unaryRunning = await waitOnGateway(gateway, () => heldUpstream()?.cancelledAt !== undefined);
    expectTrue(unaryRunning === undefined, `the upstream SayHello was still waiting for its answer 1 s after the browser closed its connection, ${unaryRunning}: forward every call, unary ones too, with { signal: context.signal }`);
  });
});

step(3, () => {
  /** The headers of a browser's preflight for a gRPC-Web call from `origin`. */
  const preflight = (origin: string) => ({
    origin,
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type,grpc-timeout,x-grpc-web,x-user-agent",
  });
  const list = (value: unknown) => String(value ?? "").toLowerCase().split(",").map((s) => s.trim()).filter(Boolean);
  const path = `/${greeterService}/SayHello`;
  /** The origin is allowed: named, or "*" (which the next check refuses, since it allows every origin). */
  const expectAllowed = (value: unknown, origin: string, what: string) =>
    expectTrue(value === origin || value === "*", `Access-Control-Allow-Origin of ${what}: expected "${origin}", got ${value === undefined ? "none" : JSON.stringify(value)}`);

  it("answers the browser's preflight (OPTIONS) from the page's origin", async () => {
    const upstream = await startUpstream({});
    const origin = randomOrigin();
    const gateway = await startGateway(upstream.address, origin);
    const { response } = await httpRequest(gateway, { method: "OPTIONS", path, headers: preflight(origin) });
    const status = response.statusCode ?? 0;
    expectTrue(status >= 200 && status < 300, `the preflight from ${origin} was answered with HTTP ${status}: answer OPTIONS with 204 and the CORS headers`);
    expectAllowed(response.headers["access-control-allow-origin"], origin, "the preflight's answer");
    const methods = list(response.headers["access-control-allow-methods"]);
    expectTrue(methods.includes("post") || methods.includes("*"), `Access-Control-Allow-Methods was "${methods.join(", ")}": it must allow POST`);
    const allowed = list(response.headers["access-control-allow-headers"]);
    const missing = ["content-type", "grpc-timeout", "x-grpc-web", "x-user-agent"].filter((h) => !allowed.includes(h) && !allowed.includes("*"));
    expectTrue(missing.length === 0, `Access-Control-Allow-Headers lacks ${missing.join(", ")}, which a gRPC-Web call sends (Connect exports the list: cors.allowedHeaders)`);
  });

  it("lets the page read grpc-status and grpc-message: allows its origin and exposes them on the call's answer", async () => {
    const upstream = await startUpstream({ sayHello: () => serviceError(grpc.status.NOT_FOUND, "no greeting") });
    const origin = randomOrigin();
    const gateway = await startGateway(upstream.address, origin);
    const answer = await webCall(gateway, "SayHello", { name: "ada" }, { origin });
    expectAllowed(answer.headers["access-control-allow-origin"], origin, "a call's answer (without it, the browser hides the whole answer)");
    const exposed = list(answer.headers["access-control-expose-headers"]);
    const hidden = ["grpc-status", "grpc-message", "grpc-status-details-bin"].filter((h) => !exposed.includes(h) && !exposed.includes("*"));
    expectTrue(hidden.length === 0, `Access-Control-Expose-Headers lacks ${hidden.join(", ")}: the browser hides every other response header from the page, and a failed call's status can come in them (cors.exposedHeaders)`);
    expectEqual(codeName(answer.code), codeName(grpc.status.NOT_FOUND), "grpc-status of that call");
  });

  it("allows the page's origin only: no Access-Control-Allow-Origin for another origin, on the preflight or the call", async () => {
    const upstream = await startUpstream({});
    const origin = randomOrigin();
    const other = randomOrigin();
    const gateway = await startGateway(upstream.address, origin);
    const allowed = await httpRequest(gateway, { method: "OPTIONS", path, headers: preflight(origin) });
    expectAllowed(allowed.response.headers["access-control-allow-origin"], origin, "the answer to the page's own preflight");
    const granted = (value: unknown) => value === "*" || value === other;
    const { response } = await httpRequest(gateway, { method: "OPTIONS", path, headers: preflight(other) });
    if (granted(response.headers["access-control-allow-origin"])) {
      throw new CheckFailure(`the preflight from ${other}, which is not the page's origin, got Access-Control-Allow-Origin: ${String(response.headers["access-control-allow-origin"])}: allow the given origin only`);
    }
    const answer = await webCall(gateway, "SayHello", { name: "ada" }, { origin: other });
    expectTrue(!granted(answer.headers["access-control-allow-origin"]), `a call from ${other} got Access-Control-Allow-Origin: ${String(answer.headers["access-control-allow-origin"])}: allow the given origin only`);
  });
});
