/**
 * The reference side of lab 11's checks: the learner's modules as the checks
 * call them, the readings they send, a REST client, and the servers the
 * learner's client talks to. Every server and proxy runs here, in the checks;
 * the verdicts rest on what they saw (connections, streams, headers, bytes),
 * never on a time: no check asserts how fast anything is.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import * as zlib from "node:zlib";
import { CheckFailure, exportedFunction, fixture, loadService, loadTarget, track } from "../../../scripts/check-kit";

export const proto = "perf/v1/telemetry.proto";
export const service = "perf.v1.Telemetry";

export interface Reading {
  sensor: string;
  value: number;
  seq: number;
}
export interface Batch {
  readings: Reading[];
  blob: Buffer;
}
export interface UploadSummary {
  count: number;
  sum: number;
  lastSeq: number;
}

// ---------------------------------------------------------------------------
// The learner's modules

export interface Sample {
  ms: number;
  ok: boolean;
}
export interface Report {
  count: number;
  errors: number;
  totalMs: number;
  average: number;
  fastest: number;
  slowest: number;
  rps: number;
  latencyDistribution: Array<{ percentage: number; latency: number }>;
  histogram: Array<{ mark: number; count: number; frequency: number }>;
}
export interface BenchOptions {
  warmup: number;
  concurrency: number;
  count?: number;
  durationMs?: number;
}
export interface HarnessModule {
  summarize(samples: Sample[], totalMs: number): Promise<Report>;
  runBench(call: () => Promise<unknown>, options: BenchOptions): Promise<Report>;
}
export interface ServerModule {
  createTelemetryServer(): Promise<grpc.Server>;
  createRestServer(): Promise<http.Server>;
}
export interface ClientModule {
  echoAll(address: string, batches: Batch[]): Promise<Batch[]>;
  uploadAll(address: string, readings: Reading[]): Promise<UploadSummary>;
  echoLarge(address: string, batch: Batch): Promise<Batch>;
}

async function module<T extends object>(file: string, names: string[]): Promise<T> {
  const loaded = await loadTarget<T>(file);
  for (const name of names) exportedFunction(loaded, name, file);
  return loaded;
}

export const harnessModule = () => module<HarnessModule>("src/harness.ts", ["summarize", "runBench"]);
export const serverModule = () => module<ServerModule>("src/server.ts", ["createTelemetryServer", "createRestServer"]);
export const clientModule = () => module<ClientModule>("src/client.ts", ["echoAll", "uploadAll", "echoLarge"]);

// ---------------------------------------------------------------------------
// Data

/** `count` readings of sensor `sensor`, seq 1..count, values exact in binary (halves). */
export const readings = (count: number, sensor = "t-1"): Reading[] =>
  Array.from({ length: count }, (_, i) => ({ sensor, value: (i % 40) * 0.5 - 3, seq: i + 1 }));

/** What Upload answers for `list`. */
export const summaryOf = (list: Reading[]): UploadSummary => ({
  count: list.length,
  sum: list.reduce((sum, r) => sum + r.value, 0),
  lastSeq: list.at(-1)?.seq ?? 0,
});

/** The default receive limit of grpc-js, on clients and servers alike. */
const fourMiB = 4 * 1024 * 1024;
/** Just over the limit: the smallest message that shows it. */
export const overLimit = fourMiB + 64 * 1024;

/** A batch whose blob is `bytes` long (repetitive, so gzip is quick on it). */
export const blobBatch = (bytes: number): Batch => ({ readings: readings(2), blob: Buffer.alloc(bytes, "telemetry ") });

// ---------------------------------------------------------------------------
// The learner's REST twin, from the outside

/** Starts the learner's REST twin in the subject; resolves with its base URL. Closed after the check. */
export async function startRest(server: http.Server): Promise<string> {
  const host = await fixture<{ start(server: http.Server): Promise<number>; stop(): Promise<void> }>("rest-host.fixture.ts", "RestHost");
  track(() => void host.stop().catch(() => undefined));
  return `http://127.0.0.1:${await host.start(server)}`;
}

/** Sends `body` (JSON unless a string) with `method`; resolves with the status, the content type and the parsed answer (undefined when it is not JSON). */
export function postJson(url: string, body: unknown, method = "POST"): Promise<{ status: number; contentType: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers: { "content-type": "application/json" }, timeout: 2000, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          parsed = undefined;
        }
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers["content-type"] ?? ""), body: parsed });
      });
    });
    const what = `${method} ${new URL(url).pathname}`;
    request.on("timeout", () => request.destroy(new CheckFailure(`${what} got no answer within 2 s`)));
    request.on("error", (error) => reject(error instanceof CheckFailure ? error : new CheckFailure(`${what} failed: ${error.message}`)));
    request.end(typeof body === "string" ? body : JSON.stringify(body));
  });
}

/** proto3 JSON of a batch, as the REST twin takes and gives it. */
export const batchJson = (batch: Batch) => ({ readings: batch.readings, ...(batch.blob.length > 0 ? { blob: batch.blob.toString("base64") } : {}) });

// ---------------------------------------------------------------------------
// Servers for the learner's client

/** What a recording Telemetry server saw. */
export interface Seen {
  echoes: number;
  /** Calls (Echo or Upload) that came without a deadline. */
  noDeadline: number;
  /** Echo calls in flight at once, at most. */
  maxInFlight: number;
  /** The readings of each Upload stream, in the order they arrived. */
  uploads: Reading[][];
}

/**
 * A Telemetry server that records its calls. Echo holds its answers until
 * `holdUntil` calls are in flight, or until no call has come for 150 ms, so
 * that calls sent together (in one tick, over one connection) are seen
 * together even on a busy machine, and sequential calls cost 150 ms each.
 * It answers the calls it held in the reverse order of their arrival: a
 * client gets its answers in its requests' order only if it puts them so.
 */
export async function recordingServer(holdUntil = 1): Promise<{ address: string; seen: Seen }> {
  const seen: Seen = { echoes: 0, noDeadline: 0, maxInFlight: 0, uploads: [] };
  let inFlight = 0;
  const waiting: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  const releaseAll = () => {
    clearTimeout(timer);
    for (const answer of waiting.splice(0).reverse()) answer();
  };
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  track(() => {
    clearTimeout(timer);
    server.forceShutdown();
  });
  server.addService(loadService(proto, service).service, {
    echo: (call: grpc.ServerUnaryCall<Batch, Batch>, callback: grpc.sendUnaryData<Batch>) => {
      seen.echoes++;
      if (!Number.isFinite(Number(call.getDeadline()))) seen.noDeadline++;
      seen.maxInFlight = Math.max(seen.maxInFlight, ++inFlight);
      waiting.push(() => {
        inFlight--;
        callback(null, call.request);
      });
      clearTimeout(timer);
      timer = setTimeout(releaseAll, 150);
      if (inFlight >= holdUntil) releaseAll();
    },
    upload: (call: grpc.ServerReadableStream<Reading, UploadSummary>, callback: grpc.sendUnaryData<UploadSummary>) => {
      const received: Reading[] = [];
      seen.uploads.push(received);
      if (!Number.isFinite(Number(call.getDeadline()))) seen.noDeadline++;
      call.on("data", (reading: Reading) => received.push(reading));
      call.on("end", () => callback(null, summaryOf(received)));
    },
  });
  return { address: `127.0.0.1:${port}`, seen };
}

/** An Echo request as it arrived on the wire. */
export interface WireRequest {
  /** The grpc-encoding header ("identity" when absent). */
  encoding: string;
  /** Whether the message's compressed flag was set. */
  compressed: boolean;
  /** The message's size on the wire and once decompressed. */
  wireBytes: number;
  bytes: number;
  /** The grpc-timeout header: the call's deadline, if it has one. */
  timeout?: string;
}

/**
 * An Echo server on node:http2 with the gRPC framing done by hand, because a
 * grpc-js server hides a request's grpc-encoding from its handlers. It
 * decompresses gzip requests, records how each arrived, and answers with the
 * batch it received, uncompressed and with no size limit; with `blobBytes`,
 * with a blob that large instead of the one it received (an answer over the
 * limit without a request as large).
 */
export async function wireEchoServer(blobBytes?: number): Promise<{ address: string; requests: WireRequest[]; openConnections(): number }> {
  const echo = loadService(proto, service).service.Echo!;
  const requests: WireRequest[] = [];
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  track(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      const compressed = body[0] === 1;
      const wire = body.subarray(5, 5 + body.readUInt32BE(1));
      const encoding = String(headers["grpc-encoding"] ?? "identity");
      let message: Buffer;
      try {
        message = compressed ? zlib.gunzipSync(wire) : wire;
      } catch {
        stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(grpc.status.INTERNAL), "grpc-message": "not gzip" }, { endStream: true });
        return;
      }
      const timeout = headers["grpc-timeout"];
      requests.push({ encoding, compressed, wireBytes: wire.length, bytes: message.length, ...(typeof timeout === "string" ? { timeout } : {}) });
      const batch = echo.requestDeserialize(message) as Batch;
      const payload = echo.responseSerialize(blobBytes === undefined ? batch : { ...batch, blob: blobBatch(blobBytes).blob });
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(payload.length, 1);
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "identity,gzip" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.concat([prefix, payload]));
    });
  });
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, requests, openConnections: () => sessions.size };
}

/** The status name of a gRPC error, or its message for anything else: for failure messages. */
export function describeError(error: unknown): string {
  const { code, details, message } = error as { code?: unknown; details?: unknown; message?: unknown };
  if (typeof code === "number") return `${grpc.status[code] ?? code}${details ? ` (${String(details)})` : ""}`;
  return String(message ?? error);
}
