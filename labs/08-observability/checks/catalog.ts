/**
 * The reference side of lab 08's checks: the Prices service the learner's
 * server calls (a recording server in the judge), the learner's server with
 * the log lines it writes and its /metrics scraped over HTTP, the span store,
 * a client that sends a deadline and never cancels, and the learner's client
 * module. Reference clients and servers use @grpc/proto-loader.
 */
import * as grpc from "@grpc/grpc-js";
import { randomBytes, randomUUID } from "node:crypto";
import * as http from "node:http";
import * as http2 from "node:http2";
import { CheckFailure, exportedFunction, fixture, listen, loadService, loadTarget, referenceServer, rpcDeadlineMs, settled, track } from "../../../scripts/check-kit";
import type { SpanRecord } from "./tracing.fixture";

export type { SpanRecord };
export const proto = "shop/v1/catalog.proto";
export const catalogService = "shop.v1.Catalog";
export const pricesService = "shop.v1.Prices";
export const fullMethod = (name: string) => `/${catalogService}/${name}`;

export interface Item {
  sku: string;
  name: string;
  priceCents: number;
}

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// Prices: the downstream service, in the judge

export interface PricesCall {
  sku: string;
  /** The call's traceparent, or undefined. */
  traceparent?: string;
}

export interface Prices {
  address: string;
  calls: PricesCall[];
}

/**
 * skus "missing-*" answer NOT_FOUND, "down-*" UNAVAILABLE, "code-<n>" fail
 * with status code n, "slow-<ms>" answer after that many milliseconds; any
 * other sku costs 100 cents a character.
 */
export async function pricesServer(): Promise<Prices> {
  const calls: PricesCall[] = [];
  const handlers: grpc.UntypedServiceImplementation = {
    getPrice(call: grpc.ServerUnaryCall<{ sku: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const { sku } = call.request;
      const traceparent = call.metadata.get("traceparent")[0];
      calls.push({ sku, traceparent: traceparent === undefined ? undefined : String(traceparent) });
      const answer = () => callback(null, { sku, cents: 100 * sku.length });
      if (sku.startsWith("missing-")) return callback({ code: grpc.status.NOT_FOUND, details: `no price for ${sku}` });
      if (sku.startsWith("down-")) return callback({ code: grpc.status.UNAVAILABLE, details: "prices are down" });
      if (sku.startsWith("code-")) return callback({ code: Number(sku.slice(5)), details: `prices failed with code ${sku.slice(5)}` });
      if (sku.startsWith("slow-")) return void setTimeout(answer, Number(sku.slice(5)));
      answer();
    },
  };
  const address = await referenceServer(proto, pricesService, handlers);
  return { address, calls };
}

// ---------------------------------------------------------------------------
// The learner's server

/** The span store the learner's server gets as options.tracerProvider (tracing.fixture.ts). */
export interface MemoryTracing {
  spans(): Promise<SpanRecord[]>;
}

export interface RunningCatalog {
  server: grpc.Server;
  metricsPort: number;
  close(): Promise<void>;
}

interface CatalogOptions {
  pricesAddress: string;
  token: string;
  log: (line: unknown) => void;
  metricsPort: number;
  tracerProvider: MemoryTracing;
}

export interface Learner {
  address: string;
  /** A Catalog client that sends the right token on every call. */
  client: grpc.Client;
  /** A Catalog client that sends no token. */
  anonymous: grpc.Client;
  /** A Catalog client that sends the right token, to another address: a proxy in front of the server. */
  clientTo(address: string): grpc.Client;
  token: string;
  prices: Prices;
  tracing: MemoryTracing;
  metricsPort: number;
  /** Every log line so far, as the learner's code wrote it. */
  lines: unknown[];
}

function catalogClient(address: string, interceptors: grpc.Interceptor[] = []): grpc.Client {
  const Client = loadService(proto, catalogService);
  const client = new Client(address, grpc.credentials.createInsecure(), { interceptors });
  track(() => client.close());
  return client;
}

/** A client interceptor that adds `authorization: Bearer <token>`. */
function bearer(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/** Starts the learner's server with a fresh Prices, span store, log and token; binds it on a free port. */
export async function learnerServer(): Promise<Learner> {
  const file = "src/server.ts";
  const create = exportedFunction<(options: CatalogOptions) => Promise<RunningCatalog>>(await loadTarget(file), "createCatalogServer", file);
  const prices = await pricesServer();
  const tracing = await fixture<MemoryTracing>("tracing.fixture.ts", "MemoryTracing");
  const token = `tok-${randomUUID()}`;
  const lines: unknown[] = [];
  const running = await create({ pricesAddress: prices.address, token, log: (line) => void lines.push(line), metricsPort: 0, tracerProvider: tracing });
  track(() => running.close());
  const address = await listen(running.server);
  const metricsPort = await running.metricsPort;
  if (typeof metricsPort !== "number" || !Number.isInteger(metricsPort) || metricsPort <= 0) {
    throw new CheckFailure(`createCatalogServer() resolved with metricsPort ${JSON.stringify(metricsPort)}: report the port /metrics listens on (server.address().port once it listens)`);
  }
  return {
    address,
    client: catalogClient(address, [bearer(token)]),
    anonymous: catalogClient(address),
    clientTo: (other) => catalogClient(other, [bearer(token)]),
    token,
    prices,
    tracing,
    metricsPort,
    lines,
  };
}

// ---------------------------------------------------------------------------
// Log lines

/** A server log line, parsed. */
export interface ServerLine {
  method?: unknown;
  kind?: unknown;
  code?: unknown;
  durationMs?: unknown;
  peer?: unknown;
  received?: unknown;
  sent?: unknown;
  [key: string]: unknown;
}

/** Parses every line as one JSON object, or fails saying which line is not. */
export function parseLines(lines: unknown[], who: string): ServerLine[] {
  return lines.map((line, i) => {
    if (typeof line !== "string") throw new CheckFailure(`${who} log line ${i + 1} is a ${typeof line}, not a string: pass log() one line of JSON (JSON.stringify(...))`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new CheckFailure(`${who} log line ${i + 1} is not JSON: ${line.slice(0, 120)}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new CheckFailure(`${who} log line ${i + 1} is not a JSON object: ${line.slice(0, 120)}`);
    return parsed as ServerLine;
  });
}

/**
 * How long the checks look for what the learner's code records of a call (a
 * log line, a span) once the call has ended. What is recorded as the call
 * ends (sendStatus, onCancel, onReceiveStatus) is there by the first round
 * trip to the learner's process; a cancel or a server's deadline reaches
 * that process a moment after the client has its status.
 */
const recordWaitMs = 300;
/** Round trips to the learner's process before a wait may end: a process that was stalled (a busy machine) gets its turn. */
const recordWaitTrips = 3;

/** Reads with `read` (a round trip to the learner's process) until `enough` holds, or `ms` has passed and a few reads have come back. */
async function readUntil<T>(read: () => Promise<T>, enough: (value: T) => boolean, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (let trips = 1; ; trips++) {
    const value = await read();
    if (enough(value) || (Date.now() >= until && trips >= recordWaitTrips)) return value;
    await pause(20);
  }
}

/**
 * Waits until the log holds lines for which `enough` is true (log lines
 * cross from the learner's process on their own channel: each read waits
 * until what it sent so far has come), or until recordWaitMs (`ms`) has
 * passed; returns the parsed lines either way.
 */
export function linesWhen(lines: unknown[], enough: (parsed: ServerLine[]) => boolean, { ms = recordWaitMs, who = "the server's" } = {}): Promise<ServerLine[]> {
  return readUntil(
    async () => {
      await settled();
      return parseLines(lines, who);
    },
    enough,
    ms,
  );
}

export const linesFor = (parsed: ServerLine[], name: string) => parsed.filter((line) => line.method === fullMethod(name));

// ---------------------------------------------------------------------------
// /metrics, scraped over HTTP and parsed

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  contentType: string;
  types: Map<string, string>;
  samples: Sample[];
}

/** An HTTP request to 127.0.0.1:port, without keep-alive: its status, Content-Type and body. */
export function httpRequest(port: number, method: string, path: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, method, path, agent: false, timeout: rpcDeadlineMs }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, contentType: String(response.headers["content-type"] ?? ""), body }));
    });
    request.on("timeout", () => request.destroy(new CheckFailure(`${method} ${path} on port ${port} got no answer within ${rpcDeadlineMs / 1000} s`)));
    request.on("error", (error) => reject(error instanceof CheckFailure ? error : new CheckFailure(`${method} ${path} on port ${port} failed: ${error.message}`)));
    request.end();
  });
}

/** GET http://127.0.0.1:port/metrics, parsed. */
export async function scrape(port: number): Promise<Scrape> {
  const { status, contentType, body } = await httpRequest(port, "GET", "/metrics");
  if (status !== 200) throw new CheckFailure(`GET /metrics on port ${port} answered HTTP ${status}: serve the registry's text there`);
  return { contentType, ...parseExposition(body) };
}

/** The Prometheus text format: "# TYPE name type" lines and "name{label="value",...} number" samples. */
export function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith("#")) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!sample) throw new CheckFailure(`/metrics has a line that is not in the Prometheus text format: ${line.slice(0, 120)}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!.replace(/\\(.)/g, "$1");
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

const perMethod = ["grpc_type", "grpc_service", "grpc_method"];

/** The label names of each sample the checks read, exactly as go-grpc-prometheus writes them. */
const labelNamesOf: Record<string, string[]> = {
  grpc_server_started_total: perMethod,
  grpc_server_handled_total: [...perMethod, "grpc_code"],
  grpc_server_msg_received_total: perMethod,
  grpc_server_msg_sent_total: perMethod,
  grpc_server_handling_seconds_bucket: [...perMethod, "le"],
  grpc_server_handling_seconds_sum: perMethod,
  grpc_server_handling_seconds_count: perMethod,
};

const listed = (names: string[]) => (names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]!}`);

/** The samples named `name`, each checked to carry exactly the labels go-grpc-prometheus gives it, no more, no fewer. */
export function samplesOf(scraped: Scrape, name: string): Sample[] {
  const samples = scraped.samples.filter((s) => s.name === name);
  const expected = labelNamesOf[name];
  if (expected) {
    for (const sample of samples) {
      const names = Object.keys(sample.labels);
      if (names.length !== expected.length || !expected.every((label) => names.includes(label))) {
        const has = names.length === 0 ? "a sample without labels" : `a sample labelled ${listed(names)}`;
        throw new CheckFailure(`${name} has ${has}: give its samples the labels ${listed(expected)}, and no other`);
      }
    }
  }
  return samples;
}

/** The value of the sample named `name` whose labels are exactly `labels` (0 when there is none). */
export function valueOf(scraped: Scrape, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels);
  const sample = samplesOf(scraped, name).find((s) => Object.keys(s.labels).length === wanted.length && wanted.every(([key, value]) => s.labels[key] === value));
  return sample?.value ?? 0;
}

/** The sum of every sample named `name`, whatever its labels: how many calls a counter has seen so far. */
export const totalOf = (scraped: Scrape, name: string) => scraped.samples.filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0);

/**
 * Scrapes /metrics until `enough` holds of a scrape whose grpc_server_*
 * samples are those of the scrape before it (what a call records a moment
 * after its status left has come in, a second count of it included), or
 * until recordWaitMs has passed; returns the last scrape.
 */
export async function scrapeWhen(port: number, enough: (scraped: Scrape) => boolean): Promise<Scrape> {
  let before: string | undefined;
  return readUntil(
    () => scrape(port),
    (scraped) => {
      const now = JSON.stringify(scraped.samples.filter((s) => s.name.startsWith("grpc_server_")));
      const still = now === before;
      before = now;
      return still && enough(scraped);
    },
    recordWaitMs,
  );
}

/** The labels of one Catalog method, as go-grpc-prometheus writes them. */
export function methodLabels(name: string, type: string): Record<string, string> {
  return { grpc_type: type, grpc_service: catalogService, grpc_method: name };
}

// ---------------------------------------------------------------------------
// A call whose deadline only the server enforces

/** ListItemsRequest { count, interval_ms } in protobuf (fields 1 and 2, varints), framed for gRPC. */
function listItemsRequest(count: number, intervalMs: number): Buffer {
  const varint = (value: number) => {
    const bytes: number[] = [];
    for (let v = value; ; v >>>= 7) {
      if (v < 0x80) return [...bytes, v];
      bytes.push((v & 0x7f) | 0x80);
    }
  };
  const message = Buffer.from([0x08, ...varint(count), 0x10, ...varint(intervalMs)]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(message.length, 1);
  return Buffer.concat([frame, message]);
}

/**
 * Calls ListItems over plain HTTP/2 with `grpc-timeout: <timeoutMs>m` and
 * never cancels, so the call ends when the server's own deadline timer fires
 * (a grpc-js client would race it with its own). Resolves with grpc-status.
 */
export function listItemsWithServerDeadline(address: string, request: { count: number; intervalMs: number }, timeoutMs: number, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    track(() => session.destroy());
    const timer = setTimeout(() => {
      session.destroy();
      reject(new CheckFailure(`ListItems with grpc-timeout ${timeoutMs}m got no status within ${rpcDeadlineMs / 1000} s: the server's deadline should have ended it`));
    }, rpcDeadlineMs);
    const done = (status: unknown) => {
      clearTimeout(timer);
      session.close();
      resolve(Number(status));
    };
    session.on("error", (error) => {
      clearTimeout(timer);
      reject(new CheckFailure(`ListItems over HTTP/2 failed: ${error.message}`));
    });
    const stream = session.request({
      ":method": "POST",
      ":path": fullMethod("ListItems"),
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${timeoutMs}m`,
      authorization: `Bearer ${token}`,
    });
    stream.on("response", (headers) => {
      if (headers["grpc-status"] !== undefined) done(headers["grpc-status"]); // trailers-only
    });
    stream.on("trailers", (trailers) => done(trailers["grpc-status"]));
    stream.on("data", () => undefined);
    stream.on("error", () => undefined);
    stream.end(listItemsRequest(request.count, request.intervalMs));
  });
}

// ---------------------------------------------------------------------------
// Trace context

export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: string;
}

export function newTraceParent(): TraceParent & { header: string } {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, flags: "01", header: `00-${traceId}-${spanId}-01` };
}

/** Parses a W3C traceparent, or returns undefined when it is not one. */
export function parseTraceParent(value: string | undefined): TraceParent | undefined {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value ?? "");
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return undefined;
  return { traceId: match[1]!, spanId: match[2]!, flags: match[3]! };
}

/** Waits until the span store holds spans for which `enough` is true, or until recordWaitMs has passed. */
export function spansWhen(tracing: MemoryTracing, enough: (spans: SpanRecord[]) => boolean): Promise<SpanRecord[]> {
  return readUntil(() => tracing.spans(), enough, recordWaitMs);
}

// ---------------------------------------------------------------------------
// The learner's client

export interface ClientOptions {
  log: (line: unknown) => void;
  defaultDeadlineMs: number;
  token?: string;
}

export interface ClientModule {
  createCatalogClient(address: string, options: ClientOptions): Promise<grpc.Client>;
  getItem(client: grpc.Client, sku: string, deadlineMs?: number): Promise<Item>;
  listItems(client: grpc.Client, count: number): Promise<Item[]>;
  addToCart(client: grpc.Client, lines: Array<{ sku: string; quantity: number }>): Promise<{ lines: number; totalQuantity: number }>;
  priceWatch(client: grpc.Client, skus: string[]): Promise<Item[]>;
  getItemUrgent(client: grpc.Client, sku: string): Promise<Item>;
}

export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["createCatalogClient", "getItem", "listItems", "addToCart", "priceWatch", "getItemUrgent"]) exportedFunction(module, name, file);
  return module;
}
