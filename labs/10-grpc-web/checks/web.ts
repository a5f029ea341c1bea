/**
 * The reference side of lab 10's checks: the Greeter upstream (grpc-js, as the
 * existing service), gRPC-Web spoken by hand (frames, trailers, CORS headers)
 * to call the learner's gateway, and a small gRPC-Web Greeter of the checks'
 * own that the learner's page calls. Everything here runs in the judge; the
 * verdicts rest on what the upstream and the raw calls saw.
 *
 * gRPC-Web in one paragraph (grpc/grpc doc/PROTOCOL-WEB.md): a POST over any
 * HTTP version, content-type application/grpc-web+proto, the body a series of
 * gRPC frames ([flag][uint32 length][payload]); the response's status comes
 * last, as a frame with flag 0x80 whose payload is an HTTP/1-style header
 * block ("grpc-status: 0\r\n"), or, when no message was sent, in the
 * response's headers (trailers-only).
 */
import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import type * as net from "node:net";
import { CheckFailure, exportedFunction, listen, loadService, loadTarget, readRichStatus, referenceServer, type RichStatus, statusDetailsKey, track, within } from "../../../scripts/check-kit";

export const greeterProto = "web/v1/greeter.proto";
export const greeterService = "web.v1.Greeter";
export type Method = "SayHello" | "Count";

export interface HelloRequest {
  name: string;
}
export interface HelloReply {
  message: string;
}
export interface CountRequest {
  to: number;
  intervalMs: number;
}
export interface CountReply {
  n: number;
}

/** What src/gateway.ts exports. */
export interface GatewayModule {
  createGateway(upstream: string, allowedOrigin: string): Promise<http.Server>;
}

/** A random token, so that no answer can be written in advance. */
export const token = (): string => randomBytes(4).toString("hex");

/** An origin of the checks' choosing, different every time. */
export const randomOrigin = (): string => `http://app-${token()}.localhost:5173`;

// ---------------------------------------------------------------------------
// The upstream: the Greeter as grpc-js serves it, recording every call

/** A call as the upstream received it. */
export interface UpstreamCall {
  method: Method;
  request: HelloRequest | CountRequest;
  metadata: grpc.Metadata;
  /** Date.now() when it arrived. */
  at: number;
  /** The call's deadline (Date.now() value), Infinity without one. */
  deadline: number;
  /** Date.now() when the call was cancelled (the client went away), undefined while it was not. */
  cancelledAt?: number;
}

/** The upstream SayHello's answer, or "held": no answer, until the call is cancelled. */
type UnaryAnswer = (request: HelloRequest) => HelloReply | grpc.ServiceError | "held";
type StreamAnswer = (request: CountRequest, call: grpc.ServerWritableStream<CountRequest, CountReply>) => Promise<void>;

/** Starts the Greeter upstream with the check's answers; resolves with its address and the calls it received. */
export async function startUpstream(answers: { sayHello?: UnaryAnswer; count?: StreamAnswer }): Promise<{ address: string; calls: UpstreamCall[] }> {
  const calls: UpstreamCall[] = [];
  const note = (method: Method, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): UpstreamCall => {
    const deadline = call.getDeadline();
    const noted: UpstreamCall = {
      method,
      request: call.request as HelloRequest,
      metadata: call.metadata,
      at: Date.now(),
      deadline: deadline instanceof Date ? deadline.getTime() : Number(deadline),
    };
    call.on("cancelled", () => (noted.cancelledAt ??= Date.now()));
    calls.push(noted);
    return noted;
  };
  const address = await referenceServer(greeterProto, greeterService, {
    sayHello(call: grpc.ServerUnaryCall<HelloRequest, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
      note("SayHello", call);
      const answer = (answers.sayHello ?? ((r) => ({ message: `hello ${r.name}` })))(call.request);
      if (answer === "held") return;
      if (answer instanceof Error) callback(answer);
      else callback(null, answer);
    },
    count(call: grpc.ServerWritableStream<CountRequest, CountReply>) {
      note("Count", call);
      // A stream ends after 8 s at the latest: no check waits longer.
      const limit = setTimeout(() => call.end(), 8000);
      (answers.count ?? (async () => undefined))(call.request, call)
        .then(
          () => call.end(),
          (error: grpc.ServiceError) => call.emit("error", error),
        )
        .finally(() => clearTimeout(limit));
    },
  });
  return { address, calls };
}

/** Resolves once `condition()` holds, or with false after `ms`. */
export async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/**
 * Waits for `condition`, giving a loaded machine its due: after `ms` without
 * it, sends the gateway a SayHello of its own and waits until that is
 * answered, then `graceMs` more. A gateway that is only slow (its process
 * busy) answers both late, and passes; one that holds back what it already
 * has answers the later SayHello and still fails. The upstream must answer
 * SayHello. Resolves with undefined once `condition` holds, else with what
 * the gateway did with that SayHello, for the check's message.
 */
export async function waitOnGateway(gateway: string, condition: () => boolean, ms = 1000, graceMs = 500): Promise<string | undefined> {
  if (await waitFor(condition, ms)) return undefined;
  const answered = await webCall(gateway, "SayHello", { name: "probe" }).then(
    () => true,
    () => false,
  );
  if (await waitFor(condition, graceMs)) return undefined;
  return answered ? "though it answered a SayHello sent later" : "and it did not answer a SayHello sent later either";
}

// ---------------------------------------------------------------------------
// The learner's gateway

/** Builds the learner's gateway in front of `upstream`, for pages from `origin`, and binds it; resolves with its address. */
export async function startGateway(upstream: string, origin: string): Promise<string> {
  const file = "src/gateway.ts";
  const module = await loadTarget<GatewayModule>(file);
  const createGateway = exportedFunction<GatewayModule["createGateway"]>(module, "createGateway", file);
  const server = await createGateway(upstream, origin);
  try {
    return await listen(server);
  } catch (error) {
    if (error instanceof CheckFailure) throw error;
    throw new CheckFailure(`createGateway() must return an http.Server (http.createServer(...)), not listening yet: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------
// gRPC-Web on the wire

/** One gRPC frame: [flag][uint32 big-endian length][payload]. */
export function frame(flag: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flag, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A trailer frame (flag 0x80) carrying `headers`. */
export function trailerFrame(headers: Record<string, string>): Buffer {
  return frame(0x80, Buffer.from(Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")));
}

interface Frame {
  flag: number;
  payload: Buffer;
}

/** Splits a body into frames; a body that does not divide into frames fails the check. */
export function parseFrames(body: Buffer, what: string): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < 5) throw new CheckFailure(`${what}: the response body ends in the middle of a frame header (${body.length - at} bytes left)`);
    const length = body.readUInt32BE(at + 1);
    if (body.length - at - 5 < length) throw new CheckFailure(`${what}: a frame announces ${length} bytes and the body has ${body.length - at - 5} left`);
    frames.push({ flag: body[at]!, payload: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return frames;
}

/** The header block of a trailer frame, keys in lower case. */
function parseTrailers(payload: Buffer): Map<string, string> {
  const trailers = new Map<string, string>();
  for (const line of payload.toString("utf8").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return trailers;
}

const codecs = () => loadService(greeterProto, greeterService).service;

/** The request body of a gRPC-Web call: one message frame. */
export function requestBody(method: Method, request: HelloRequest | CountRequest): Buffer {
  return frame(0, codecs()[method]!.requestSerialize(request));
}

/** A gRPC-Web response as the checks read it. */
export interface WebResponse {
  httpStatus: number;
  headers: http.IncomingHttpHeaders;
  messages: unknown[];
  /** The trailer frame's headers, or undefined when the body had none (trailers-only: the status is in the headers). */
  trailers?: Map<string, string>;
  /** grpc-status, from the trailer frame or the headers; undefined when neither has one. */
  code?: number;
  /** grpc-message, percent-decoded. */
  message: string;
  /** The google.rpc.Status in grpc-status-details-bin (base64), decoded; undefined without one. */
  richStatus?: RichStatus;
}

const hostPort = (address: string) => ({ host: address.slice(0, address.lastIndexOf(":")), port: Number(address.slice(address.lastIndexOf(":") + 1)) });

/** The headers a browser's gRPC-Web call sends (connect-web's). */
export function webHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-user-agent": "grpc-labs-judge", ...extra };
}

/** Sends an HTTP request to the gateway; resolves with the response and its whole body, within 3 s. */
export function httpRequest(address: string, options: { method: string; path: string; headers: Record<string, string>; body?: Buffer }): Promise<{ response: http.IncomingMessage; body: Buffer }> {
  const { host, port } = hostPort(address);
  const sent = new Promise<{ response: http.IncomingMessage; body: Buffer }>((resolve, reject) => {
    const request = http.request({ host, port, method: options.method, path: options.path, headers: options.headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ response, body: Buffer.concat(chunks) }));
      response.on("error", reject);
    });
    request.on("error", (error) => reject(new CheckFailure(`${options.method} ${options.path} to the gateway failed: ${error.message}`)));
    track(() => request.destroy());
    request.end(options.body);
  });
  return within(sent, 3000, `the gateway's answer to ${options.method} ${options.path}`, { clientFunction: false });
}

/** A call through the gateway, read as it arrives: `progress` says whether the answer has begun and whether a message came. */
export function openWebCall(address: string, method: Method, message: HelloRequest | CountRequest): { request: http.ClientRequest; progress: CallProgress } {
  const { host, port } = hostPort(address);
  const progress: CallProgress = { opened: false, message: false, ended: false, failed: false };
  const request = http.request({ host, port, method: "POST", path: `/${greeterService}/${method}`, headers: webHeaders(), agent: false }, (response) => {
    progress.opened = true;
    const headerStatus = response.headers["grpc-status"];
    if (typeof headerStatus === "string") progress.status = Number(headerStatus);
    // Frames as they arrive: a message frame (flag 0) is a message; the trailer frame (0x80) only ends the call.
    let pending = Buffer.alloc(0);
    response.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const end = 5 + pending.readUInt32BE(1);
        if ((pending[0]! & 0x80) === 0) progress.message = true;
        else {
          const status = parseTrailers(pending.subarray(5, end)).get("grpc-status");
          if (status !== undefined) progress.status = Number(status);
        }
        pending = pending.subarray(end);
      }
    });
    response.on("end", () => (progress.ended = true));
    response.on("error", () => undefined);
  });
  request.on("error", () => (progress.failed = true));
  track(() => request.destroy());
  request.end(requestBody(method, message));
  return { request, progress };
}

/** What has come back so far of a call opened with openWebCall. */
export interface CallProgress {
  /** The gateway sent its response headers. */
  opened: boolean;
  /** A message frame came. */
  message: boolean;
  /** The response ended: no message can come after it. */
  ended: boolean;
  /** The connection failed before a response. */
  failed: boolean;
  /** The grpc-status of the answer, from its headers or its trailer frame, once known. */
  status?: number;
}

/** Makes a gRPC-Web call to the gateway at `address` and reads the whole answer. */
export async function webCall(address: string, method: Method, request: HelloRequest | CountRequest, headers: Record<string, string> = {}): Promise<WebResponse> {
  const what = `the gRPC-Web call ${method}`;
  const { response, body } = await httpRequest(address, { method: "POST", path: `/${greeterService}/${method}`, headers: webHeaders(headers), body: requestBody(method, request) });
  const frames = parseFrames(body, what);
  const trailerIndex = frames.findIndex((f) => (f.flag & 0x80) !== 0);
  if (trailerIndex >= 0 && trailerIndex !== frames.length - 1) throw new CheckFailure(`${what}: the trailer frame (flag 0x80) must be the last frame of the body, and ${frames.length - 1 - trailerIndex} frame(s) followed it`);
  const trailers = trailerIndex >= 0 ? parseTrailers(frames[trailerIndex]!.payload) : undefined;
  const deserialize = codecs()[method]!.responseDeserialize;
  const messages = frames.filter((f) => f.flag === 0).map((f) => deserialize(f.payload));
  const header = (name: string) => trailers?.get(name) ?? (typeof response.headers[name] === "string" ? (response.headers[name] as string) : undefined);
  const status = header("grpc-status");
  let message = header("grpc-message") ?? "";
  try {
    message = decodeURIComponent(message);
  } catch {
    // Not percent-encoded: kept as it is.
  }
  // Binary headers travel in base64 (padded or not), in the trailer frame as in HTTP headers.
  const details = header(statusDetailsKey);
  const richStatus = details === undefined ? undefined : readRichStatus(binaryMetadata(details), what);
  return { httpStatus: response.statusCode ?? 0, headers: response.headers, messages, trailers, code: status === undefined ? undefined : Number(status), message, richStatus };
}

/** grpc-status-details-bin as grpc-js holds it: the bytes, decoded from base64. */
function binaryMetadata(base64: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(statusDetailsKey, Buffer.from(base64, "base64"));
  return metadata;
}

/** The names of the codes, for messages: "NOT_FOUND (5)". */
export const codeName = (code: number | undefined): string => (code === undefined ? "no grpc-status" : `${grpc.status[code] ?? "an unknown code"} (${code})`);

// ---------------------------------------------------------------------------
// The checks' own gRPC-Web Greeter, for the learner's page

/** A call the checks' gRPC-Web Greeter received from the page. */
export interface PageCall {
  method: Method;
  request: HelloRequest | CountRequest;
  headers: http.IncomingHttpHeaders;
  /** Sends one response message (a HelloReply, or a CountReply of a stream). */
  send(reply: HelloReply | CountReply): void;
  /** Ends the call with a status (OK: 0). */
  end(code?: number, message?: string): void;
  /** Date.now() when the page closed the call before it ended (cancelled), undefined while it did not. */
  closedAt?: number;
}

/**
 * A gRPC-Web Greeter of the checks' own, for pages from `origin`: answers
 * preflights, exposes grpc-status and grpc-message, and hands every call to
 * `onCall`, which answers it (the check decides each message and when).
 */
export async function referenceWebServer(origin: string, onCall: (call: PageCall) => void): Promise<string> {
  const cors = {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": "grpc-status, grpc-message, grpc-status-details-bin",
  };
  const server = http.createServer((request, response) => {
    if (request.method === "OPTIONS") {
      response.writeHead(204, { ...cors, "access-control-allow-methods": "POST", "access-control-allow-headers": request.headers["access-control-request-headers"] ?? "", "access-control-max-age": "600" });
      return void response.end();
    }
    const method = /^\/web\.v1\.Greeter\/(SayHello|Count)$/.exec(request.url ?? "")?.[1] as Method | undefined;
    if (request.method !== "POST" || !method) return void response.writeHead(404, cors).end();
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const [message] = parseFrames(Buffer.concat(chunks), `the page's ${method} request`);
      const codec = codecs()[method]!;
      response.writeHead(200, { ...cors, "content-type": "application/grpc-web+proto" });
      response.flushHeaders();
      let ended = false;
      const call: PageCall = {
        method,
        request: codec.requestDeserialize(message?.payload ?? Buffer.alloc(0)) as HelloRequest,
        headers: request.headers,
        send: (reply) => void (ended || response.write(frame(0, codec.responseSerialize(reply)))),
        end: (code = 0, text = "") => {
          if (ended) return;
          ended = true;
          response.end(trailerFrame({ "grpc-status": String(code), ...(text ? { "grpc-message": encodeURIComponent(text) } : {}) }));
        },
      };
      response.on("close", () => {
        if (!ended) call.closedAt ??= Date.now();
        ended = true;
      });
      onCall(call);
    });
  });
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  track(() => {
    server.close();
    for (const socket of sockets) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}
