/**
 * Lab 08's checks against variants of its reference solution: each known
 * mistake of logging, metrics, tracing and client interceptors fails exactly
 * the checks about it, and two different but correct solutions pass every
 * check. The mistakes are the ones observability code is known for: logging
 * credentials, milliseconds where seconds belong, grpc-js's code names on a
 * Go dashboard or a label too many, a per-call interceptor list that drops
 * the client's, a default deadline fixed once per client or capping the
 * caller's, an interceptor order that hides refused calls, server spans
 * marked ERROR for the caller's mistakes, and records (lines, counts,
 * spans) that miss, repeat or misname a cancel or a deadline.
 */
import * as assert from "node:assert/strict";
import { findLab } from "../scripts/lib/labs";
import { checkVariant as checkVariantOf, type Edit, expectFailing, failingIds as failing, removeTrees } from "./trees";

const lab = findLab("08");
const server = "src/server.ts";
const logging = "src/logging.ts";
const metrics = "src/metrics.ts";
const tracing = "src/tracing.ts";
const client = "src/client.ts";


const checkVariant = (name: string, edits: Edit[]) => checkVariantOf(lab, name, edits);


const s4 = {
  serverErrors: "s4.marks-a-server-span-error-for-exactly",
};

const s6 = {
  refused: "s6.logs-counts-and-traces-a-call-the-authentication",
  cancelled: "s6.records-a-server-stream-the-client-cancels",
  deadline: "s6.records-a-call-whose-deadline-passes",
  late: "s6.records-a-client-stream-cancelled",
};

// ---------------------------------------------------------------------------
// A different solution: interceptors built with grpc-js's builders, each on its own (no shared call
// watching), Date.now() for time, prom-client's startTimer, Go's code names computed, and trace
// context parsed and written by hand.

const altLogging = `import * as grpc from "@grpc/grpc-js";

export type RpcKind = "unary" | "client_stream" | "server_stream" | "bidi_stream";
export const rpcKind = (m: { requestStream: boolean; responseStream: boolean }): RpcKind =>
  m.requestStream ? (m.responseStream ? "bidi_stream" : "client_stream") : m.responseStream ? "server_stream" : "unary";

/** How a call ended when onCancel came first. */
export function cancelCode(call: grpc.ServerInterceptingCallInterface): grpc.status {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return ms - Date.now() < 15 ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED;
}

/** Calls end() once with the code of the first of sendStatus and onCancel; counts messages. */
export function once(call: grpc.ServerInterceptingCallInterface, end: (code: grpc.status, counts: { received: number; sent: number }) => void): grpc.ServerInterceptingCall {
  const counts = { received: 0, sent: 0 };
  let done = false;
  const finish = (code: grpc.status) => {
    if (!done) {
      done = true;
      end(code, counts);
    }
  };
  const listener = new grpc.ServerListenerBuilder()
    .withOnReceiveMessage((message, next) => {
      counts.received += 1;
      next(message);
    })
    .withOnCancel(() => finish(cancelCode(call)))
    .build();
  const responder = new grpc.ResponderBuilder()
    .withStart((next) => next(listener))
    .withSendMessage((message, next) => {
      counts.sent += 1;
      next(message);
    })
    .withSendStatus((status, next) => {
      finish(status.code);
      next(status);
    })
    .build();
  return new grpc.ServerInterceptingCall(call, responder);
}

export function loggingInterceptor(log: (line: string) => void): grpc.ServerInterceptor {
  return (method, call) => {
    const start = Date.now();
    const peer = call.getPeer();
    return once(call, (code, { received, sent }) =>
      log(JSON.stringify({ method: method.path, kind: rpcKind(method), code: grpc.status[code], durationMs: Date.now() - start, peer, received, sent })),
    );
  };
}
`;

const altMetrics = `import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { Counter, Histogram, Registry } from "prom-client";
import { once, rpcKind } from "./logging";

/** NOT_FOUND -> NotFound; Go spells CANCELLED with one l. */
const goName = (code: grpc.status) =>
  code === grpc.status.OK ? "OK" : code === grpc.status.CANCELLED ? "Canceled" : grpc.status[code].toLowerCase().replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());

export interface ServerMetrics {
  registry: Registry;
  interceptor: grpc.ServerInterceptor;
}

export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  const labelNames = ["grpc_type", "grpc_service", "grpc_method"];
  const counter = (name: string, extra: string[] = []) => new Counter({ name, help: name, labelNames: [...labelNames, ...extra], registers: [registry] });
  const started = counter("grpc_server_started_total");
  const handled = counter("grpc_server_handled_total", ["grpc_code"]);
  const received = counter("grpc_server_msg_received_total");
  const sent = counter("grpc_server_msg_sent_total");
  const seconds = new Histogram({ name: "grpc_server_handling_seconds", help: "latency", labelNames, registers: [registry] });
  const interceptor: grpc.ServerInterceptor = (method, call) => {
    const [grpc_service, grpc_method] = method.path.split("/").slice(1);
    const labels = { grpc_type: rpcKind(method), grpc_service: grpc_service!, grpc_method: grpc_method! };
    started.inc(labels);
    const stop = seconds.startTimer(labels);
    const inner = once(call, (code, counts) => {
      stop();
      handled.inc({ ...labels, grpc_code: goName(code) });
      if (counts.received) received.inc(labels, counts.received);
      if (counts.sent) sent.inc(labels, counts.sent);
    });
    return inner;
  };
  return { registry, interceptor };
}

export async function serveMetrics(registry: Registry, port: number): Promise<http.Server> {
  const server = http.createServer(async (request, response) => {
    if (request.url !== "/metrics") return void response.writeHead(404).end();
    response.setHeader("Content-Type", registry.contentType);
    response.end(await registry.metrics());
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}
`;

const altTracing = `import * as grpc from "@grpc/grpc-js";
import { type Context, context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { cancelCode } from "./logging";

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

function parentFrom(metadata: grpc.Metadata): Context {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(metadata.get("traceparent")[0] ?? ""));
  if (!match) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16), isRemote: true });
}

function end(span: Span, code: grpc.status, error: boolean): void {
  span.setAttributes({ "rpc.status_code": grpc.status[code] });
  if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: grpc.status[code] }).setAttribute("error.type", grpc.status[code]);
  span.end();
}

const serverFaults = ["UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"];

export function serverTracingInterceptor(tracer: Tracer): grpc.ServerInterceptor {
  return (method, call) => {
    const name = method.path.replace(/^\\//, "");
    let span: Span | undefined;
    let ctx = ROOT_CONTEXT;
    let done = false;
    const finish = (code: grpc.status) => {
      if (done || !span) return;
      done = true;
      end(span, code, serverFaults.includes(grpc.status[code]));
    };
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const parent = parentFrom(metadata);
        span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { "rpc.system.name": "grpc", "rpc.method": name } }, parent);
        ctx = trace.setSpan(parent, span);
        context.with(ctx, () => next(metadata));
      })
      .withOnReceiveMessage((message, next) => context.with(ctx, () => next(message)))
      .withOnReceiveHalfClose((next) => context.with(ctx, () => next()))
      .withOnCancel(() => finish(cancelCode(call)))
      .build();
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next(listener),
      sendStatus: (status, next) => {
        finish(status.code);
        next(status);
      },
    });
  };
}

export function clientTracingInterceptor(tracer: Tracer): grpc.Interceptor {
  return (options, nextCall) => {
    const name = options.method_definition.path.replace(/^\\//, "");
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: { "rpc.system.name": "grpc", "rpc.method": name } }, context.active());
    const requester = new grpc.RequesterBuilder()
      .withStart((metadata, listener, next) => {
        const { traceId, spanId, traceFlags } = span.spanContext();
        metadata.set("traceparent", \`00-\${traceId}-\${spanId}-0\${traceFlags & 1}\`);
        const ending = new grpc.ListenerBuilder()
          .withOnReceiveStatus((status, next) => {
            end(span, status.code, status.code !== grpc.status.OK);
            next(status);
          })
          .build();
        next(metadata, ending);
      })
      .build();
    return new grpc.InterceptingCall(nextCall(options), requester);
  };
}
`;

/** The different solution's tracing without its onCancel: a span ends only when a status passes through sendStatus. */
const sendStatusOnlyTracing = [
  'import { cancelCode } from "./logging";\n',
  "      .withOnCancel(() => finish(cancelCode(call)))\n",
].reduce((text, part) => {
  assert.ok(text.includes(part), `the different solution's tracing has no ${JSON.stringify(part)}`);
  return text.replace(part, "");
}, altTracing);

describe("lab 08's checks against known mistakes", function () {
  this.timeout(180_000);
  after(removeTrees);

  it("a log line with the metadata and the messages, and a per-call interceptor list that drops the client's", async () => {
    const result = await checkVariant("leaks", [
      { file: logging, from: "watch.onStart?.(metadata);", to: "$&\n          record.peer += ` ${JSON.stringify(metadata.getMap())}`;" },
      { file: logging, from: "record.received++;", to: "$&\n          record.peer += ` ${JSON.stringify(message)}`;" },
      { file: client, from: "const interceptors = [...(interceptorsOf.get(client) ?? []), priority(\"urgent\")];", to: "const interceptors = [priority(\"urgent\")];" },
    ]);
    expectFailing(result, ["s2.never-logs", "s5.keeps-the-client-s-interceptors"]);
  });

  it("a duration in seconds in the log, and a default deadline that overrides the caller's", async () => {
    const result = await checkVariant("units", [
      { file: logging, from: "durationMs: Math.round(record.durationMs * 100) / 100,", to: "durationMs: record.durationMs / 1000," },
      { file: client, from: "options.deadline === undefined ? { ...options, deadline: Date.now() + ms } : options", to: "{ ...options, deadline: Date.now() + ms }" },
    ]);
    expectFailing(result, ["s2.logs-the-peer-and-the-duration", "s5.gives-each-call-without-a-deadline"]);
  });

  it("a duration measured from the process's start, not the call's", async () => {
    const result = await checkVariant("uptime", [{ file: logging, from: "record.durationMs = performance.now() - started;", to: "record.durationMs = performance.now();" }]);
    expectFailing(result, ["s2.logs-the-peer-and-the-duration"], ["s3.", "s6."]);
  });

  it("a histogram of milliseconds, and a request id on unary calls only", async () => {
    const result = await checkVariant("ms-histogram", [
      { file: metrics, from: "seconds.observe(labels, record.durationMs / 1000);", to: "seconds.observe(labels, record.durationMs);" },
      { file: client, from: 'if (metadata.get("x-request-id").length === 0)', to: 'if (!options.method_definition.requestStream && !options.method_definition.responseStream && metadata.get("x-request-id").length === 0)' },
    ]);
    expectFailing(result, ["s3.times-each-call-in-seconds", "s5.sends-an-x-request-id", "s5.logs-one-json-line-per-call"]);
  });

  it("grpc_code with grpc-js's names (NOT_FOUND) instead of Go's (NotFound)", async () => {
    const result = await checkVariant("code-names", [{ file: metrics, from: "grpc_code: goCodeNames[record.code] ?? String(record.code)", to: "grpc_code: grpc.status[record.code]" }]);
    expectFailing(result, ["s3.counts-started-and-handled", "s3.names-every-status-code", s6.refused, s6.cancelled, s6.deadline, s6.late]);
  });

  it("the incoming traceparent passed on instead of the client span's, and authentication first", async () => {
    const result = await checkVariant("no-client-span-on-the-wire", [
      { file: tracing, from: "propagator.inject(trace.setSpan(parent, span), metadata, setter);", to: "propagator.inject(parent, metadata, setter);" },
      { file: server, from: "interceptors: [loggingInterceptor(options.log), metrics.interceptor, serverTracingInterceptor(tracer), authInterceptor(options.token)],", to: "interceptors: [authInterceptor(options.token), loggingInterceptor(options.log), metrics.interceptor, serverTracingInterceptor(tracer)]," },
    ]);
    expectFailing(result, ["s4.records-the-call-to-prices", s6.refused]);
  });

  it("the caller's trace ignored, and a message counted that a handler sends after the cancel", async () => {
    const result = await checkVariant("new-trace-and-last-ok", [
      { file: tracing, from: "const parent = propagator.extract(ROOT_CONTEXT, metadata, getter);", to: "const parent = ROOT_CONTEXT;" },
      { file: logging, from: "if (!ended) {\n        // After a cancel", to: "if (ended || !ended) {\n        // After a cancel" },
    ]);
    expectFailing(result, ["s4.passes-the-caller-s-trace", "s4.records-a-server-span", "s4.records-the-call-to-prices", s6.late]);
  });

  it("no context manager, and no record of calls that end in onCancel", async () => {
    const result = await checkVariant("no-context-no-cancel", [
      { file: tracing, from: "context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());", to: "void AsyncLocalStorageContextManager;" },
      { file: logging, from: /onCancel\(\) \{[\s\S]*?\n {8}\},/, to: "onCancel() {}," },
    ]);
    expectFailing(result, ["s4.passes-the-caller-s-trace", "s4.records-the-call-to-prices", s6.cancelled, s6.deadline, s6.late]);
  });

  it("the RPC attributes of semantic conventions before v1.39, and every cancel taken for CANCELLED", async () => {
    const result = await checkVariant("old-conventions", [
      { file: tracing, from: "span.setAttribute(ATTR_RPC_STATUS_CODE, grpc.status[code]);", to: 'span.setAttribute("rpc.grpc.status_code", code);\n  void ATTR_RPC_STATUS_CODE;' },
      { file: logging, from: "end(Date.now() >= deadline - deadlineMarginMs ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED);", to: "end(grpc.status.CANCELLED);\n          void deadline;\n          void deadlineMarginMs;" },
    ]);
    expectFailing(result, ["s4.records-a-server-span", "s4.records-the-call-to-prices", "s4.ends-a-span-for-every-kind", s4.serverErrors, s6.refused, s6.cancelled, s6.deadline, s6.late]);
  });

  it("a server span marked ERROR for a caller's mistake (NOT_FOUND)", async () => {
    const result = await checkVariant("server-errors", [{ file: tracing, from: "finish(span, record.code, serverErrors.has(record.code))", to: "finish(span, record.code, record.code !== grpc.status.OK)" }]);
    // The spans of the refused and the cancelled calls are marked ERROR too.
    expectFailing(result, ["s4.ends-a-span-for-every-kind", s4.serverErrors, s6.refused, s6.cancelled, s6.late]);
  });

  it("a server span marked ERROR without error.type", async () => {
    const result = await checkVariant("no-error-type", [{ file: tracing, from: "span.setAttribute(ATTR_ERROR_TYPE, grpc.status[code]);", to: "void ATTR_ERROR_TYPE;" }]);
    expectFailing(result, [s4.serverErrors]);
  });

  it("a client that replaces the caller's x-request-id and logs durationMs in seconds", async () => {
    const result = await checkVariant("client-id-and-seconds", [
      { file: client, from: 'if (metadata.get("x-request-id").length === 0) metadata.set', to: "metadata.set" },
      { file: client, from: "Math.round((performance.now() - started) * 100) / 100", to: "(performance.now() - started) / 1000" },
    ]);
    expectFailing(result, ["s5.keeps-an-x-request-id-its-caller-set", "s5.logs-one-json-line-per-call"]);
  });

  it("Go's code names only for the codes the first checks produce, and buckets of its own", async () => {
    const result = await checkVariant("few-codes-own-buckets", [
      { file: metrics, from: "grpc_code: goCodeNames[record.code] ?? String(record.code)", to: "grpc_code: record.code <= grpc.status.NOT_FOUND || record.code === grpc.status.UNAUTHENTICATED ? goCodeNames[record.code] : String(record.code)" },
      { file: metrics, from: "buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],", to: "buckets: [0.1, 1, 10]," },
    ]);
    expectFailing(result, ["s3.names-every-status-code", "s3.times-each-call-in-seconds"]);
  });

  it("metrics on every path, and a client span marked ERROR only for a server fault", async () => {
    const result = await checkVariant("every-path-client-errors", [
      { file: metrics, from: 'if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {', to: 'if (request.method !== "GET") {' },
      { file: tracing, from: "finish(span, status.code, status.code !== grpc.status.OK);", to: "finish(span, status.code, serverErrors.has(status.code));" },
    ]);
    expectFailing(result, ["s3.serves-the-metrics-at-metrics-only", "s4.ends-a-span-for-every-kind"]);
  });

  it("a default deadline computed once per client, and server spans marked ERROR for every code but a list of the caller's mistakes", async () => {
    const result = await checkVariant("deadline-once-caller-faults", [
      { file: client, from: "function defaultDeadline(ms: number): grpc.Interceptor {\n  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options.deadline === undefined ? { ...options, deadline: Date.now() + ms } : options));", to: "function defaultDeadline(ms: number): grpc.Interceptor {\n  const deadline = Date.now() + ms;\n  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options.deadline === undefined ? { ...options, deadline } : options));" },
      // NOT_FOUND, UNAVAILABLE, CANCELLED, UNAUTHENTICATED and DEADLINE_EXCEEDED still come out right; RESOURCE_EXHAUSTED, ABORTED... do not.
      {
        file: tracing,
        from: "const serverErrors = new Set([grpc.status.UNKNOWN, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNIMPLEMENTED, grpc.status.INTERNAL, grpc.status.UNAVAILABLE, grpc.status.DATA_LOSS]);",
        to: "const callerFaults = new Set([grpc.status.OK, grpc.status.CANCELLED, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.ALREADY_EXISTS, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED]);\nconst serverErrors = { has: (code: grpc.status) => !callerFaults.has(code) };",
      },
    ]);
    // The client's other checks meet the first deadline too when the machine is slow to make their first call.
    expectFailing(result, ["s5.gives-each-call-without-a-deadline", s4.serverErrors], ["s5."]);
  });

  it("a caller's deadline capped at the default, and grpc_code on the histogram too", async () => {
    const result = await checkVariant("capped-deadline-coded-histogram", [
      { file: client, from: "options.deadline === undefined ? { ...options, deadline: Date.now() + ms } : options", to: "{ ...options, deadline: Math.min(Number(options.deadline ?? Infinity), Date.now() + ms) }" },
      { file: metrics, from: "labelNames,\n    buckets:", to: 'labelNames: [...labelNames, "grpc_code"],\n    buckets:' },
      { file: metrics, from: "seconds.observe(labels, record.durationMs / 1000);", to: "seconds.observe({ ...labels, grpc_code: goCodeNames[record.code] ?? String(record.code) }, record.durationMs / 1000);" },
    ]);
    expectFailing(result, ["s5.gives-each-call-without-a-deadline", "s3.times-each-call-in-seconds", s6.deadline]);
  });

  it("a tracing interceptor of its own that ends its span only in sendStatus, placed after the authentication interceptor", async () => {
    const result = await checkVariant("spans-without-cancel", [
      { file: tracing, from: /[\s\S]*/, to: sendStatusOnlyTracing },
      { file: server, from: "interceptors: [loggingInterceptor(options.log), metrics.interceptor, serverTracingInterceptor(tracer), authInterceptor(options.token)],", to: "interceptors: [loggingInterceptor(options.log), metrics.interceptor, authInterceptor(options.token), serverTracingInterceptor(tracer)]," },
    ]);
    // A cancelled or expired call's span never ends; a refused call never reaches the tracing interceptor.
    expectFailing(result, [s6.refused, s6.cancelled, s6.deadline, s6.late]);
  });

  it("a call counted twice, the second time a moment after it ended (the checks wait until the counts stand still)", async () => {
    const result = await checkVariant("counted-again-later", [
      { file: metrics, from: "seconds.observe(labels, record.durationMs / 1000);", to: "$&\n        setTimeout(() => handled.inc({ ...labels, grpc_code: goCodeNames[record.code] ?? String(record.code) }), 15);" },
    ]);
    expectFailing(result, ["s3.counts-started-and-handled", "s3.names-every-status-code", s6.refused, s6.cancelled, s6.deadline, s6.late]);
  });

  it("a different but correct solution passes: builders, no shared call watching, trace context by hand, providers on the client", async () => {
    const result = await checkVariant("other-style", [
      { file: logging, from: /[\s\S]*/, to: altLogging },
      { file: metrics, from: /[\s\S]*/, to: altMetrics },
      { file: tracing, from: /[\s\S]*/, to: altTracing },
      // Client interceptors as providers, and the urgent call marked in its metadata: no per-call list at all.
      { file: client, from: "const client = new CatalogClient(address, grpc.credentials.createInsecure(), { interceptors });", to: "const client = new CatalogClient(address, grpc.credentials.createInsecure(), { interceptor_providers: interceptors.map((i) => () => i) });" },
      { file: client, from: /const interceptors = \[\.\.\.\(interceptorsOf[\s\S]*?\n {2}\}\);\n/, to: 'const metadata = new grpc.Metadata();\n  metadata.set("x-priority", "urgent");\n  void priority;\n  return new Promise((resolve, reject) => {\n    client.getItem({ sku }, metadata, (error, item) => (error ? reject(error) : resolve(item!)));\n  });\n' },
    ]);
    assert.deepEqual(result.type_errors, []);
    assert.deepEqual(failing(result), []);
  });

  it("another correct solution passes: one interceptor for logs, metrics and spans, a client list kept on the client, and records made a little after the call ends", async () => {
    const result = await checkVariant("one-interceptor", [
      // Metrics and tracing become hooks of the logging interceptor's watch: one ServerInterceptingCall per call.
      { file: server, from: "interceptors: [loggingInterceptor(options.log), metrics.interceptor, serverTracingInterceptor(tracer), authInterceptor(options.token)],", to: "interceptors: [observe(options.log, metrics.interceptor, serverTracingInterceptor(tracer)), authInterceptor(options.token)]," },
      { file: server, from: 'import { loggingInterceptor } from "./logging";', to: 'import { loggingInterceptor } from "./logging";\n\n/** Runs the three as one: the outer ones wrap the inner ones\' calls. */\nfunction observe(log: (line: string) => void, ...inner: grpc.ServerInterceptor[]): grpc.ServerInterceptor {\n  const all = [loggingInterceptor(log), ...inner];\n  return (method, call) => all.reduce<grpc.ServerInterceptingCallInterface>((wrapped, interceptor) => interceptor(method, wrapped), call) as grpc.ServerInterceptingCall;\n}' },
      { file: client, from: "const interceptorsOf = new WeakMap<grpc.Client, grpc.Interceptor[]>();", to: "const interceptorsOf = { get: (client: grpc.Client) => (client as unknown as { interceptors?: grpc.Interceptor[] }).interceptors };" },
      { file: client, from: "interceptorsOf.set(client, interceptors);", to: "Object.assign(client, { interceptors });" },
      // Lines written a little after the call ends, as an asynchronous logger writes them; counts and spans 20 ms after it.
      { file: logging, from: "      onEnd(record) {\n        log(", to: "      onEnd(record) {\n        setImmediate(\n          log," },
      { file: metrics, from: /( {6}onEnd\(record\) \{\n)([\s\S]*?)( {6}\},)/, to: "$1        setTimeout(() => {\n$2        }, 20);\n$3" },
      { file: tracing, from: "if (span) finish(span, record.code, serverErrors.has(record.code));", to: "setTimeout(() => span && finish(span, record.code, serverErrors.has(record.code)), 20);" },
      { file: client, from: "log(JSON.stringify({ method: options.method_definition.path, code: grpc.status[status.code], durationMs, requestId: id }));", to: "setTimeout(log, 20, JSON.stringify({ method: options.method_definition.path, code: grpc.status[status.code], durationMs, requestId: id }));" },
    ]);
    assert.deepEqual(result.type_errors, []);
    assert.deepEqual(failing(result), []);
  });
});
