/**
 * Lab 08, steps 2, 3, 4 and 6: the learner's Catalog server, called by
 * reference clients. The checks read its log lines (written through a
 * function they pass), scrape its /metrics over HTTP, see the traceparent its
 * calls to Prices carry (Prices is the checks' own server), and read the
 * spans it ended from the span store it was given.
 */
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { bidiStreamCall, clientStreamCall, expectCode, expectEqual, expectTrue, serverStreamCall, step, tcpProxy, unaryCall, unaryOutcome } from "../../../scripts/check-kit";
import {
  fullMethod,
  httpRequest,
  type Learner,
  learnerServer,
  listItemsWithServerDeadline,
  linesFor,
  linesWhen,
  methodLabels,
  newTraceParent,
  parseTraceParent,
  pause,
  samplesOf,
  scrape,
  scrapeWhen,
  type ServerLine,
  type SpanRecord,
  spansWhen,
  totalOf,
  valueOf,
} from "./catalog";

/** One call of each kind, all OK: GetItem, ListItems of 3, AddToCart of 4 lines, PriceWatch of 2 skus. */
async function oneOfEachKind(learner: Learner): Promise<void> {
  await unaryCall(learner.client, "getItem", { sku: "apple" });
  await serverStreamCall(learner.client, "listItems", { count: 3, intervalMs: 0 });
  await clientStreamCall(learner.client, "addToCart", [1, 2, 3, 4].map((quantity) => ({ sku: `line-${quantity}`, quantity })));
  await bidiStreamCall(learner.client, "priceWatch", [{ sku: "pear" }, { sku: "plum" }]);
}

function expectOneLine(lines: ServerLine[], name: string, what: string): ServerLine {
  const found = linesFor(lines, name);
  expectEqual(found.length, 1, `log lines with "method": "${fullMethod(name)}" ${what}`);
  return found[0]!;
}

const pick = (line: ServerLine, keys: string[]) => Object.fromEntries(keys.map((key) => [key, line[key]]));

/** What a count of log lines is: too few were looked for until the wait ended (linesWhen), too many were there at once. */
const linesAfter = (calls: number, got: number) => (got < calls ? `log lines 0.3 s after ${calls} calls ended (write each as its call ends)` : `log lines after ${calls} calls`);

step(2, () => {
  it("logs one JSON line per call with the method, the kind, the code and the messages each way", async () => {
    const learner = await learnerServer();
    await oneOfEachKind(learner);
    const lines = await linesWhen(learner.lines, (l) => l.length >= 4);
    expectEqual(lines.length, 4, linesAfter(4, lines.length));
    const keys = ["method", "kind", "code", "received", "sent"];
    expectEqual(pick(expectOneLine(lines, "GetItem", "after one GetItem"), keys), { method: fullMethod("GetItem"), kind: "unary", code: "OK", received: 1, sent: 1 }, "the GetItem line");
    expectEqual(pick(expectOneLine(lines, "ListItems", "after one ListItems"), keys), { method: fullMethod("ListItems"), kind: "server_stream", code: "OK", received: 1, sent: 3 }, "the line of ListItems (3 items)");
    expectEqual(pick(expectOneLine(lines, "AddToCart", "after one AddToCart"), keys), { method: fullMethod("AddToCart"), kind: "client_stream", code: "OK", received: 4, sent: 1 }, "the line of AddToCart (4 lines)");
    expectEqual(pick(expectOneLine(lines, "PriceWatch", "after one PriceWatch"), keys), { method: fullMethod("PriceWatch"), kind: "bidi_stream", code: "OK", received: 2, sent: 2 }, "the line of PriceWatch (2 skus)");
  });

  it("logs the peer and the duration in milliseconds", async () => {
    const learner = await learnerServer();
    const begin = performance.now();
    await unaryCall(learner.client, "getItem", { sku: "slow-150" }); // Prices answers after 150 ms
    // The server's part of the call lies inside what the checks' client saw of it.
    const took = performance.now() - begin;
    const [line] = await linesWhen(learner.lines, (l) => l.length >= 1);
    expectTrue(line !== undefined, "no log line 0.3 s after a GetItem call ended: write it as the call ends (sendStatus)");
    expectTrue(typeof line!.peer === "string" && line!.peer.includes("127.0.0.1"), `the "peer" of the line should be the client's address (call.getPeer(), "127.0.0.1:<port>"), got ${JSON.stringify(line!.peer)}`);
    const duration = line!.durationMs;
    expectTrue(typeof duration === "number", `the line's "durationMs" should be a number, got ${JSON.stringify(duration)}`);
    expectTrue((duration as number) >= 120 && (duration as number) <= took + 5, `a GetItem whose price took 150 ms was logged with "durationMs": ${JSON.stringify(duration)}, and took ${Math.round(took)} ms as the checks' client measured it: log milliseconds, from the call's metadata to its status`);
  });

  it("logs the code of failed calls: INVALID_ARGUMENT, and NOT_FOUND passed on from Prices", async () => {
    const learner = await learnerServer();
    expectCode(await unaryOutcome(learner.client, "getItem", { sku: "" }), grpc.status.INVALID_ARGUMENT, "GetItem with no sku");
    expectCode(await unaryOutcome(learner.client, "getItem", { sku: "missing-42" }), grpc.status.NOT_FOUND, "GetItem of an sku Prices does not know");
    const lines = linesFor(await linesWhen(learner.lines, (l) => l.length >= 2), "GetItem");
    const keys = ["code", "received", "sent"];
    expectEqual(lines.map((line) => pick(line, keys)), [{ code: "INVALID_ARGUMENT", received: 1, sent: 0 }, { code: "NOT_FOUND", received: 1, sent: 0 }], "the GetItem lines (code, received, sent) of two failed calls");
  });

  it("never logs a message's contents or the authorization header", async () => {
    const learner = await learnerServer();
    const secret = `secret${randomUUID().slice(0, 8)}`;
    await unaryCall(learner.client, "getItem", { sku: secret });
    await clientStreamCall(learner.client, "addToCart", [{ sku: secret, quantity: 7 }]);
    await bidiStreamCall(learner.client, "priceWatch", [{ sku: `${secret}-b` }]);
    const lines = await linesWhen(learner.lines, (l) => l.length >= 3);
    expectEqual(lines.length, 3, linesAfter(3, lines.length));
    const text = learner.lines.map(String).join("\n");
    expectTrue(!text.includes(learner.token), "a log line holds the bearer token of the authorization header: never log credentials (log no metadata, or leave authorization out)");
    expectTrue(!text.includes(secret), `a log line holds an sku the client sent ("${secret}"): never log messages, only their number`);
  });
});

const type = { unary: "unary", server: "server_stream", client: "client_stream", bidi: "bidi_stream" };

/** The grpc_code values: Go's codes.Code.String(), by status code. */
const goCodeNames: Record<number, string> = {
  0: "OK",
  1: "Canceled",
  2: "Unknown",
  3: "InvalidArgument",
  4: "DeadlineExceeded",
  5: "NotFound",
  6: "AlreadyExists",
  7: "PermissionDenied",
  8: "ResourceExhausted",
  9: "FailedPrecondition",
  10: "Aborted",
  11: "OutOfRange",
  12: "Unimplemented",
  13: "Internal",
  14: "Unavailable",
  15: "DataLoss",
  16: "Unauthenticated",
};

/** A bucket's upper bound, in seconds ("+Inf": Infinity). */
const upperBound = (sample: { labels: Record<string, string> }) => (sample.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(sample.labels.le));

/** Prometheus's default histogram buckets (DefBuckets), as the text format writes their le labels. */
const defaultBuckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"];

step(3, () => {
  it("serves /metrics in the Prometheus text format, with the five go-grpc-prometheus metrics", async () => {
    const learner = await learnerServer();
    await unaryCall(learner.client, "getItem", { sku: "apple" });
    const scraped = await scrape(learner.metricsPort);
    expectTrue(scraped.contentType.startsWith("text/plain"), `GET /metrics answered with Content-Type ${JSON.stringify(scraped.contentType)}: use the registry's contentType (text/plain; version=0.0.4)`);
    const expected = {
      grpc_server_started_total: "counter",
      grpc_server_handled_total: "counter",
      grpc_server_msg_received_total: "counter",
      grpc_server_msg_sent_total: "counter",
      grpc_server_handling_seconds: "histogram",
    };
    const types = Object.fromEntries(Object.keys(expected).map((name) => [name, scraped.types.get(name) ?? "(missing)"]));
    expectEqual(types, expected, "the metrics' # TYPE lines");
  });

  it("serves the metrics at /metrics only: 404 on any other path", async () => {
    const learner = await learnerServer();
    for (const path of ["/", "/metricsx", "/other/metrics"]) {
      const { status } = await httpRequest(learner.metricsPort, "GET", path);
      expectEqual(status, 404, `the HTTP status of GET ${path} on the metrics port (serve the metrics at /metrics only)`);
    }
  });

  it("counts started and handled calls by code, and messages each way, exactly", async () => {
    const learner = await learnerServer();
    await unaryCall(learner.client, "getItem", { sku: "apple" });
    await unaryCall(learner.client, "getItem", { sku: "pear" });
    expectCode(await unaryOutcome(learner.client, "getItem", { sku: "" }), grpc.status.INVALID_ARGUMENT, "GetItem with no sku");
    expectCode(await unaryOutcome(learner.client, "getItem", { sku: "missing-1" }), grpc.status.NOT_FOUND, "GetItem of an unknown sku");
    await serverStreamCall(learner.client, "listItems", { count: 3, intervalMs: 0 });
    await clientStreamCall(learner.client, "addToCart", [1, 2, 3, 4].map((quantity) => ({ sku: "x", quantity })));
    await bidiStreamCall(learner.client, "priceWatch", [{ sku: "a" }, { sku: "b" }]);
    // The record of a call may end just after its status left: scrape until the 7 calls are handled and the counts stand still.
    const scraped = await scrapeWhen(learner.metricsPort, (s) => totalOf(s, "grpc_server_handled_total") >= 7);
    const getItem = methodLabels("GetItem", type.unary);
    const counts = {
      "started GetItem": valueOf(scraped, "grpc_server_started_total", getItem),
      "handled GetItem OK": valueOf(scraped, "grpc_server_handled_total", { ...getItem, grpc_code: "OK" }),
      "handled GetItem InvalidArgument": valueOf(scraped, "grpc_server_handled_total", { ...getItem, grpc_code: "InvalidArgument" }),
      "handled GetItem NotFound": valueOf(scraped, "grpc_server_handled_total", { ...getItem, grpc_code: "NotFound" }),
      "received GetItem": valueOf(scraped, "grpc_server_msg_received_total", getItem),
      "sent GetItem": valueOf(scraped, "grpc_server_msg_sent_total", getItem),
      "received/sent ListItems": [valueOf(scraped, "grpc_server_msg_received_total", methodLabels("ListItems", type.server)), valueOf(scraped, "grpc_server_msg_sent_total", methodLabels("ListItems", type.server))],
      "received/sent AddToCart": [valueOf(scraped, "grpc_server_msg_received_total", methodLabels("AddToCart", type.client)), valueOf(scraped, "grpc_server_msg_sent_total", methodLabels("AddToCart", type.client))],
      "received/sent PriceWatch": [valueOf(scraped, "grpc_server_msg_received_total", methodLabels("PriceWatch", type.bidi)), valueOf(scraped, "grpc_server_msg_sent_total", methodLabels("PriceWatch", type.bidi))],
      "handled PriceWatch OK": valueOf(scraped, "grpc_server_handled_total", { ...methodLabels("PriceWatch", type.bidi), grpc_code: "OK" }),
    };
    expectEqual(
      counts,
      {
        "started GetItem": 4,
        "handled GetItem OK": 2,
        "handled GetItem InvalidArgument": 1,
        "handled GetItem NotFound": 1,
        "received GetItem": 4,
        "sent GetItem": 2,
        "received/sent ListItems": [1, 3],
        "received/sent AddToCart": [4, 1],
        "received/sent PriceWatch": [2, 2],
        "handled PriceWatch OK": 1,
      },
      "the counters after 4 GetItem (2 OK, 1 INVALID_ARGUMENT, 1 NOT_FOUND), ListItems of 3, AddToCart of 4 and PriceWatch of 2 (labels grpc_type, grpc_service, grpc_method, grpc_code as go-grpc-prometheus writes them)",
    );
  });

  it("names every status code in grpc_code as Go does", async () => {
    const learner = await learnerServer();
    // Prices fails GetPrice of sku "code-<n>" with code n, and the given GetItem handler answers with Prices' code.
    const codes = Object.keys(goCodeNames).map(Number).filter((code) => code !== grpc.status.OK);
    const outcomes = await Promise.all(codes.map((code) => unaryOutcome(learner.client, "getItem", { sku: `code-${code}` })));
    codes.forEach((code, i) => expectCode(outcomes[i]!, code, `GetItem while Prices fails with ${grpc.status[code]}`));
    const getItem = methodLabels("GetItem", type.unary);
    // The record of a call may end just after its status left: scrape until every call is handled and the counts stand still.
    const scraped = await scrapeWhen(learner.metricsPort, (s) => totalOf(s, "grpc_server_handled_total") >= codes.length);
    const handled = Object.fromEntries(codes.map((code) => [goCodeNames[code]!, valueOf(scraped, "grpc_server_handled_total", { ...getItem, grpc_code: goCodeNames[code]! })]));
    expectEqual(handled, Object.fromEntries(codes.map((code) => [goCodeNames[code]!, 1])), "grpc_server_handled_total of GetItem by grpc_code, after one GetItem failed with each code but OK (Go's names: codes.Code.String())");
  });

  it("times each call in seconds, in the grpc_server_handling_seconds histogram", async () => {
    const learner = await learnerServer();
    const begin = performance.now();
    await unaryCall(learner.client, "getItem", { sku: "apple" });
    await unaryCall(learner.client, "getItem", { sku: "slow-150" }); // Prices answers after 150 ms
    // The server's part of the two calls lies inside what the checks' client saw of them.
    const took = performance.now() - begin;
    await serverStreamCall(learner.client, "listItems", { count: 2, intervalMs: 0 });
    const scraped = await scrapeWhen(learner.metricsPort, (s) => totalOf(s, "grpc_server_handling_seconds_count") >= 3);
    const getItem = methodLabels("GetItem", type.unary);
    const count = valueOf(scraped, "grpc_server_handling_seconds_count", getItem);
    const inf = valueOf(scraped, "grpc_server_handling_seconds_bucket", { ...getItem, le: "+Inf" });
    const sum = valueOf(scraped, "grpc_server_handling_seconds_sum", getItem);
    expectEqual({ count, inf }, { count: 2, inf: 2 }, 'grpc_server_handling_seconds_count and _bucket{le="+Inf"} of GetItem after 2 calls');
    expectEqual(valueOf(scraped, "grpc_server_handling_seconds_count", methodLabels("ListItems", type.server)), 1, "grpc_server_handling_seconds_count of ListItems after 1 call");
    expectTrue(
      sum >= 0.12 && sum <= (took + 5) / 1000,
      `grpc_server_handling_seconds_sum of GetItem is ${sum} after a call of about 150 ms and a fast one, which took ${Math.round(took)} ms together as the checks' client measured them: observe seconds (milliseconds / 1000) from the call's start to its end`,
    );
    const buckets = samplesOf(scraped, "grpc_server_handling_seconds_bucket")
      .filter((s) => Object.entries(getItem).every(([key, value]) => s.labels[key] === value))
      .sort((a, b) => upperBound(a) - upperBound(b));
    expectEqual(buckets.map((s) => s.labels.le), [...defaultBuckets, "+Inf"], "the le labels of GetItem's histogram buckets (Prometheus's default buckets, as go-grpc-prometheus uses them)");
    const fast = buckets.find((s) => s.labels.le === "0.1")!;
    expectTrue(fast.value <= 1, `GetItem's bucket le="0.1" counts ${fast.value} calls, but one of the two took 150 ms: observe seconds, not milliseconds`);
    expectEqual(buckets.find((s) => s.labels.le === "10")!.value, 2, 'GetItem\'s bucket le="10" after 2 calls of less than 10 s');
  });
});

/** The first Prices call the learner's server made, with its traceparent parsed. */
function downstreamTrace(learner: Learner, sku: string) {
  const call = learner.prices.calls.find((c) => c.sku === sku);
  expectTrue(call !== undefined, `the server did not call Prices for sku ${sku}`);
  const parsed = parseTraceParent(call!.traceparent);
  expectTrue(parsed !== undefined, `the server's call to Prices carried ${call!.traceparent === undefined ? "no traceparent" : `traceparent ${JSON.stringify(call!.traceparent)}, which is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)`}: inject the active context into the outgoing metadata`);
  return parsed!;
}

function withTraceparent(header: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set("traceparent", header);
  return metadata;
}

function getItemCall(learner: Learner, sku: string, metadata: grpc.Metadata): Promise<unknown> {
  return new Promise((resolve, reject) => {
    (learner.client as unknown as Record<string, (...args: unknown[]) => void>).getItem!({ sku }, metadata, { deadline: Date.now() + 2000 }, (error: unknown, item: unknown) => (error ? reject(error) : resolve(item)));
  });
}

const spanNamed = (spans: SpanRecord[], name: string, kind: string) => spans.filter((s) => s.name === name && s.kind === kind);

/** The codes that make a server span an error (OpenTelemetry's RPC semantic conventions, gRPC): the server's fault, not the caller's. */
const serverFaults: number[] = [grpc.status.UNKNOWN, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNIMPLEMENTED, grpc.status.INTERNAL, grpc.status.UNAVAILABLE, grpc.status.DATA_LOSS];

/** Whether a span ended, with which rpc.status_code, and whether it is marked ERROR. */
const outcomeOf = (span: SpanRecord) => ({ code: span.attributes["rpc.status_code"], error: span.status === "ERROR" });

/**
 * Expects exactly one SERVER span of a Catalog method, ended with `code` as its rpc.status_code and marked ERROR
 * as the conventions say; `ifNone` says what to do when none ended within the wait.
 */
async function expectOneServerSpan(learner: Learner, name: string, status: grpc.status, after: string, ifNone: string): Promise<void> {
  const spanName = `shop.v1.Catalog/${name}`;
  const spans = spanNamed(await spansWhen(learner.tracing, (s) => spanNamed(s, spanName, "SERVER").length >= 1), spanName, "SERVER");
  expectTrue(spans.length > 0, `no SERVER span "${spanName}" ended within 0.3 s ${after}: ${ifNone}`);
  const code = grpc.status[status];
  const error = serverFaults.includes(status);
  expectEqual(
    spans.map(outcomeOf),
    [{ code, error }],
    `the ${name} server spans (rpc.status_code, status ERROR) ${after}: end the call's one span once, on the first of sendStatus and onCancel, with rpc.status_code "${code}"${error ? " and" : ", not"} marked ERROR`,
  );
}

step(4, () => {
  it("passes the caller's trace on to Prices: the same trace id, a new parent span id", async () => {
    const learner = await learnerServer();
    const caller = newTraceParent();
    await getItemCall(learner, "apple", withTraceparent(caller.header));
    const downstream = downstreamTrace(learner, "apple");
    expectEqual(downstream.traceId, caller.traceId, "the trace id of the traceparent Prices received (the caller sent its own)");
    expectTrue(downstream.spanId !== caller.spanId, "Prices received the caller's own span id as its parent: start a span for the call and pass on its context, not the incoming header");
    expectEqual(downstream.flags, "01", "the trace flags Prices received (the caller's trace is sampled)");
  });

  it("starts a new trace for a call that carries none, a new span for each call", async () => {
    const learner = await learnerServer();
    await unaryCall(learner.client, "getItem", { sku: "apple" });
    await unaryCall(learner.client, "getItem", { sku: "pear" });
    const first = downstreamTrace(learner, "apple");
    const second = downstreamTrace(learner, "pear");
    expectTrue(first.traceId !== second.traceId, "two calls that carried no traceparent reached Prices in the same trace: each starts a trace of its own");
  });

  it("records a SERVER span named after the method, child of the caller's span, with the RPC attributes", async () => {
    const learner = await learnerServer();
    const caller = newTraceParent();
    await getItemCall(learner, "apple", withTraceparent(caller.header));
    const spans = await spansWhen(learner.tracing, (s) => spanNamed(s, "shop.v1.Catalog/GetItem", "SERVER").length > 0);
    const servers = spanNamed(spans, "shop.v1.Catalog/GetItem", "SERVER");
    expectEqual(servers.length, 1, `SERVER spans named "shop.v1.Catalog/GetItem" after one GetItem (spans: ${JSON.stringify(spans.map((s) => `${s.kind} ${s.name}`))})`);
    const span = servers[0]!;
    expectEqual({ traceId: span.traceId, parentSpanId: span.parentSpanId }, { traceId: caller.traceId, parentSpanId: caller.spanId }, "the server span's trace id and parent span id (the caller's traceparent)");
    const attributes = { "rpc.system.name": span.attributes["rpc.system.name"], "rpc.method": span.attributes["rpc.method"], "rpc.status_code": span.attributes["rpc.status_code"] };
    expectEqual(attributes, { "rpc.system.name": "grpc", "rpc.method": "shop.v1.Catalog/GetItem", "rpc.status_code": "OK" }, "the server span's RPC attributes (semantic conventions v1.45)");
  });

  it("records the call to Prices as a CLIENT span, child of the server span, whose id is the one on the wire", async () => {
    const learner = await learnerServer();
    const caller = newTraceParent();
    await getItemCall(learner, "apple", withTraceparent(caller.header));
    const downstream = downstreamTrace(learner, "apple");
    const spans = await spansWhen(learner.tracing, (s) => s.length >= 2);
    const server = spanNamed(spans, "shop.v1.Catalog/GetItem", "SERVER")[0];
    const client = spanNamed(spans, "shop.v1.Prices/GetPrice", "CLIENT")[0];
    expectTrue(client !== undefined, `no CLIENT span named "shop.v1.Prices/GetPrice" (spans: ${JSON.stringify(spans.map((s) => `${s.kind} ${s.name}`))}): the Prices client's interceptor starts one per call`);
    expectEqual(client!.spanId, downstream.spanId, "the client span's id and the parent span id Prices received");
    expectEqual({ traceId: client!.traceId, parentSpanId: client!.parentSpanId }, { traceId: caller.traceId, parentSpanId: server?.spanId ?? "(no server span)" }, "the client span's trace id and parent (the server span)");
    const attributes = { "rpc.system.name": client!.attributes["rpc.system.name"], "rpc.method": client!.attributes["rpc.method"], "rpc.status_code": client!.attributes["rpc.status_code"], error: client!.status === "ERROR" };
    expectEqual(attributes, { "rpc.system.name": "grpc", "rpc.method": "shop.v1.Prices/GetPrice", "rpc.status_code": "OK", error: false }, "the client span's RPC attributes (semantic conventions v1.45), and whether it is marked ERROR");
  });

  it("ends a span for every kind of call, with its code, and marks only server faults as errors (every failure on a client span)", async () => {
    const learner = await learnerServer();
    await serverStreamCall(learner.client, "listItems", { count: 2, intervalMs: 0 });
    await clientStreamCall(learner.client, "addToCart", [{ sku: "x", quantity: 1 }]);
    await bidiStreamCall(learner.client, "priceWatch", [{ sku: "a" }]);
    expectCode(await unaryOutcome(learner.client, "getItem", { sku: "missing-7" }), grpc.status.NOT_FOUND, "GetItem of an unknown sku");
    expectCode(await unaryOutcome(learner.client, "getItem", { sku: "down-1" }), grpc.status.UNAVAILABLE, "GetItem while Prices is down");
    const ofKind = (spans: SpanRecord[], kind: string) => spans.filter((s) => s.kind === kind);
    const all = await spansWhen(learner.tracing, (s) => ofKind(s, "SERVER").length >= 5 && ofKind(s, "CLIENT").length >= 3);
    const outcome = (s: SpanRecord) => ({ name: s.name, code: s.attributes["rpc.status_code"], error: s.status === "ERROR" });
    const seen = ofKind(all, "SERVER").map(outcome);
    expectEqual(
      seen,
      [
        { name: "shop.v1.Catalog/ListItems", code: "OK", error: false },
        { name: "shop.v1.Catalog/AddToCart", code: "OK", error: false },
        { name: "shop.v1.Catalog/PriceWatch", code: "OK", error: false },
        { name: "shop.v1.Catalog/GetItem", code: "NOT_FOUND", error: false },
        { name: "shop.v1.Catalog/GetItem", code: "UNAVAILABLE", error: true },
      ],
      "the server spans (name, rpc.status_code, status ERROR) in the order they ended: on a server span, NOT_FOUND is the caller's problem, UNAVAILABLE the server's",
    );
    expectEqual(
      ofKind(all, "CLIENT").map(outcome),
      [
        { name: "shop.v1.Prices/GetPrice", code: "OK", error: false },
        { name: "shop.v1.Prices/GetPrice", code: "NOT_FOUND", error: true },
        { name: "shop.v1.Prices/GetPrice", code: "UNAVAILABLE", error: true },
      ],
      "the client spans of the calls to Prices (name, rpc.status_code, status ERROR) in the order they ended: on a client span, every code but OK is an error",
    );
  });

  it("marks a server span ERROR for exactly the codes that are the server's fault, whatever the code", async () => {
    const learner = await learnerServer();
    // Prices fails GetPrice of sku "code-<n>" with code n, and the given GetItem handler answers with Prices' code.
    const codes = Object.keys(goCodeNames).map(Number).filter((code) => code !== grpc.status.OK);
    const outcomes = await Promise.all(codes.map((code) => unaryOutcome(learner.client, "getItem", { sku: `code-${code}` })));
    codes.forEach((code, i) => expectCode(outcomes[i]!, code, `GetItem while Prices fails with ${grpc.status[code]}`));
    const servers = (spans: SpanRecord[]) => spanNamed(spans, "shop.v1.Catalog/GetItem", "SERVER");
    const spans = servers(await spansWhen(learner.tracing, (s) => servers(s).length >= codes.length));
    // An error span says which error in error.type (the code's name).
    const seen = Object.fromEntries(spans.map((span) => [String(span.attributes["rpc.status_code"]), span.status === "ERROR" ? `ERROR, error.type ${String(span.attributes["error.type"])}` : "not an error"]));
    expectEqual(
      seen,
      Object.fromEntries(codes.map((code) => [grpc.status[code], serverFaults.includes(code) ? `ERROR, error.type ${grpc.status[code]}` : "not an error"])),
      "the server span of a GetItem that ended with each code, by rpc.status_code: on a server span only UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS are errors, each with error.type set to the code's name",
    );
  });
});

step(6, () => {
  it("logs, counts and traces a call the authentication interceptor refuses (UNAUTHENTICATED)", async () => {
    const learner = await learnerServer();
    expectCode(await unaryOutcome(learner.anonymous, "getItem", { sku: "apple" }), grpc.status.UNAUTHENTICATED, "GetItem without a token");
    const lines = linesFor(await linesWhen(learner.lines, (l) => l.length >= 1), "GetItem");
    expectEqual(lines.map((line) => line.code), ["UNAUTHENTICATED"], "the codes of the GetItem log lines after one refused call: put logging and metrics before the authentication interceptor, so they see what it refuses");
    const scraped = await scrapeWhen(learner.metricsPort, (s) => totalOf(s, "grpc_server_handled_total") >= 1);
    const getItem = methodLabels("GetItem", type.unary);
    expectEqual(
      { started: valueOf(scraped, "grpc_server_started_total", getItem), unauthenticated: valueOf(scraped, "grpc_server_handled_total", { ...getItem, grpc_code: "Unauthenticated" }) },
      { started: 1, unauthenticated: 1 },
      'grpc_server_started_total and grpc_server_handled_total{grpc_code="Unauthenticated"} of GetItem after one refused call',
    );
    await expectOneServerSpan(learner, "GetItem", grpc.status.UNAUTHENTICATED, "after one refused call", "put tracing before the authentication interceptor too, so it sees the calls it refuses");
  });

  it("records a server stream the client cancels as CANCELLED", async () => {
    const learner = await learnerServer();
    await new Promise<void>((resolve, reject) => {
      const call = (learner.client as unknown as Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown>>).listItems!({ count: 1000, intervalMs: 20 }, { deadline: Date.now() + 2000 });
      let received = 0;
      call.on("data", () => {
        if (++received === 2) call.cancel();
      });
      call.on("error", (error: grpc.ServiceError) => (error.code === grpc.status.CANCELLED ? resolve() : reject(error)));
      call.on("end", () => reject(new Error("ListItems of 1000 ended before it was cancelled")));
    });
    const lines = linesFor(await linesWhen(learner.lines, (l) => l.length >= 1), "ListItems");
    expectEqual(lines.map((line) => line.code), ["CANCELLED"], "the codes of the ListItems log lines after the client cancelled: grpc-js tells interceptors of a cancel only through onCancel");
    const scraped = await scrapeWhen(learner.metricsPort, (s) => totalOf(s, "grpc_server_handled_total") >= 1);
    expectEqual(valueOf(scraped, "grpc_server_handled_total", { ...methodLabels("ListItems", type.server), grpc_code: "Canceled" }), 1, 'grpc_server_handled_total{grpc_method="ListItems",grpc_code="Canceled"} (Go spells it with one l)');
    await expectOneServerSpan(learner, "ListItems", grpc.status.CANCELLED, "after the client cancelled", "end the span in onCancel too, which is all interceptors see of a cancel");
  });

  it("records a call whose deadline passes on the server as DEADLINE_EXCEEDED", async () => {
    const learner = await learnerServer();
    const status = await listItemsWithServerDeadline(learner.address, { count: 1000, intervalMs: 20 }, 100, learner.token);
    expectEqual(grpc.status[status], "DEADLINE_EXCEEDED", "the status of ListItems of 1000 items 20 ms apart with a 100 ms deadline");
    const lines = linesFor(await linesWhen(learner.lines, (l) => l.length >= 1), "ListItems");
    expectEqual(lines.map((line) => line.code), ["DEADLINE_EXCEEDED"], "the codes of the ListItems log lines: grpc-js answers DEADLINE_EXCEEDED below the interceptors, which see only onCancel (compare the time with call.getDeadline())");
    const scraped = await scrapeWhen(learner.metricsPort, (s) => totalOf(s, "grpc_server_handled_total") >= 1);
    const listItems = methodLabels("ListItems", type.server);
    expectEqual(
      { deadlineExceeded: valueOf(scraped, "grpc_server_handled_total", { ...listItems, grpc_code: "DeadlineExceeded" }), timed: valueOf(scraped, "grpc_server_handling_seconds_count", listItems) },
      { deadlineExceeded: 1, timed: 1 },
      'grpc_server_handled_total{grpc_code="DeadlineExceeded"} and grpc_server_handling_seconds_count of ListItems',
    );
    await expectOneServerSpan(learner, "ListItems", grpc.status.DEADLINE_EXCEEDED, "after its deadline passed on the server", "end the span in onCancel too, which is all interceptors see of a deadline that passes on the server");
  });

  it("records a client stream cancelled after its messages as CANCELLED, once, without the answer it never sent", async () => {
    const learner = await learnerServer();
    const proxy = await tcpProxy(learner.address);
    const client = learner.clientTo(proxy.address);
    const call = (client as unknown as Record<string, (...args: unknown[]) => grpc.ClientWritableStream<unknown>>).addToCart!({ deadline: Date.now() + 2000 }, () => undefined);
    const ended = new Promise<number>((resolve) => call.on("status", (status: grpc.StatusObject) => resolve(status.code)));
    call.write({ sku: "apple", quantity: 1 });
    call.write({ sku: "pear", quantity: 2 });
    // Cancel once the server has both messages (its metrics say so, or 1 s has passed: a server may count
    // them only as the call ends): a cancel that overtakes the call on a busy machine would leave the server
    // nothing to record, and one that waits too long would meet the call's deadline.
    const addToCart = methodLabels("AddToCart", type.client);
    for (const until = Date.now() + 1000; Date.now() < until && totalOf(await scrape(learner.metricsPort), "grpc_server_msg_received_total") < 2; ) await pause(20);
    await pause(30);
    // A cancel ends the HTTP/2 stream's sending side before it resets the stream: the handler sees "end"
    // and answers once its cart is saved (50 ms), after grpc-js has told the interceptors onCancel. The
    // answer passes through the interceptors' sendMessage, and grpc-js drops it. The proxy passes the
    // end and the reset on together: this busy process may send the reset long after the end.
    const passedOn = proxy.holdUntilReset();
    call.cancel();
    await passedOn;
    expectEqual(grpc.status[await ended], "CANCELLED", "the status of the cancelled AddToCart, as the client saw it");
    await linesWhen(learner.lines, (l) => linesFor(l, "AddToCart").length >= 1);
    await pause(100); // the handler's late answer (50 ms)
    const lines = linesFor(await linesWhen(learner.lines, () => false, { ms: 0 }), "AddToCart");
    expectEqual(lines.map((line) => pick(line, ["code", "received"])), [{ code: "CANCELLED", received: 2 }], "the AddToCart log lines (code, received): the first of onCancel and sendStatus decides");
    const scraped = await scrapeWhen(learner.metricsPort, (s) => totalOf(s, "grpc_server_handled_total") >= 1);
    expectEqual(
      {
        canceled: valueOf(scraped, "grpc_server_handled_total", { ...addToCart, grpc_code: "Canceled" }),
        ok: valueOf(scraped, "grpc_server_handled_total", { ...addToCart, grpc_code: "OK" }),
        sent: valueOf(scraped, "grpc_server_msg_sent_total", addToCart),
      },
      { canceled: 1, ok: 0, sent: 0 },
      "grpc_server_handled_total by grpc_code and grpc_server_msg_sent_total of AddToCart, after one cancelled call (what the handler sends after the cancel never leaves: do not count it)",
    );
    await expectOneServerSpan(learner, "AddToCart", grpc.status.CANCELLED, "after one cancelled call", "end the span in onCancel too: after a cancel, the handler's OK status never comes");
  });
});
