import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { CheckFailure } from "./assert";
import { adviceFor, cleanDetails } from "./explain";
import { track } from "./resources";
import { runningSubject } from "./subject";
import { clientWire, currentWire, serverWire } from "./wire";

/**
 * The reference side of a check: clients and servers built at run time from
 * the .proto with @grpc/proto-loader (protobuf.js), independent of the
 * learner's ts-proto stubs, so every check is also a wire-compatibility check.
 */
export const rpcDeadlineMs = 2000;

const protoRoot = path.resolve(__dirname, "..", "..", "proto");
const packages = new Map<string, grpc.GrpcObject>();

/** proto-loader options that match ts-proto's plain objects: camelCase fields, defaults filled in. */
const loaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [protoRoot],
};

const wiredClients = new Map<grpc.ServiceClientConstructor, grpc.ServiceClientConstructor>();

/**
 * The same client constructor, whose clients also write their calls into the
 * check's wire transcript (wire.ts): an interceptor after the client's own,
 * closest to the wire, so the transcript shows what the other side got.
 */
function wired(Client: grpc.ServiceClientConstructor): grpc.ServiceClientConstructor {
  let Wired = wiredClients.get(Client);
  if (!Wired) {
    Wired = class extends Client {
      constructor(address: string, credentials: grpc.ChannelCredentials, options: grpc.ClientOptions = {}) {
        const wire = currentWire();
        super(address, credentials, wire ? { ...options, interceptors: [...(options.interceptors ?? []), clientWire(wire)] } : options);
      }
    };
    wiredClients.set(Client, Wired);
  }
  return Wired;
}

/**
 * The client constructor of a service, e.g. loadService("routeguide/route_guide.proto", "routeguide.RouteGuide");
 * its `service` is the definition a server adds. Its clients' calls go into the check's wire transcript.
 */
export function loadService(proto: string, serviceName: string): grpc.ServiceClientConstructor {
  let pkg = packages.get(proto);
  if (!pkg) {
    pkg = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(protoRoot, proto), loaderOptions));
    packages.set(proto, pkg);
  }
  let node: unknown = pkg;
  for (const part of serviceName.split(".")) node = (node as Record<string, unknown>)[part];
  if (typeof node !== "function") throw new Error(`no service ${serviceName} in ${proto}`);
  return wired(node as grpc.ServiceClientConstructor);
}

/**
 * Binds a server to a free port on 127.0.0.1 (plaintext unless given
 * credentials); it is shut down after the check. The server is the check's
 * own, or the learner's: a stand-in for a server in the subject, which binds
 * it there (with the same credentials, which cross as data). A learner's
 * http.Server (lab 10's gateway) is bound the same way.
 */
export async function listen(server: grpc.Server | http.Server, credentials = grpc.ServerCredentials.createInsecure()): Promise<string> {
  const subject = runningSubject();
  if (subject?.isStandIn(server)) {
    const port = await subject.driver.bind!(server, credentials);
    return `127.0.0.1:${String(port)}`;
  }
  if (server instanceof net.Server) {
    // A learner's gateway loaded into this process (lab 10's `client` demo).
    track(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }
  if (!(server instanceof grpc.Server)) {
    throw new CheckFailure(`expected a server from the code under test, got ${server === null || server === undefined ? String(server) : typeof server}`);
  }
  track(() => server.forceShutdown());
  return new Promise((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", credentials, (error, port) => (error ? reject(error) : resolve(`127.0.0.1:${port}`)));
  });
}

export function referenceClient(proto: string, serviceName: string, address: string, credentials = grpc.credentials.createInsecure()): grpc.Client {
  const Client = loadService(proto, serviceName);
  const client = new Client(address, credentials);
  track(() => client.close());
  return client;
}

/**
 * Resolves once `client` has connected, so that a short deadline or a time the check measures next counts
 * the call only: on a loaded machine, resolving the name and connecting can take a few hundred ms.
 */
export function connected(client: grpc.Client, ms = rpcDeadlineMs): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const follow = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return resolve();
      // A connection that failed: the call the check makes next will say how, at once.
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) return resolve();
      channel.watchConnectivityState(state, deadline, (error) => (error ? reject(new CheckFailure(`the checks' client could not connect to the server within ${ms / 1000} s`)) : follow()));
    };
    follow();
  });
}

/** A server that the check implements, used to test the learner's client. */
export function referenceServer(proto: string, serviceName: string, handlers: grpc.UntypedServiceImplementation, credentials?: grpc.ServerCredentials): Promise<string> {
  const wire = currentWire();
  const server = new grpc.Server(wire ? { interceptors: [serverWire(wire)] } : {});
  server.addService(loadService(proto, serviceName).service, handlers);
  return listen(server, credentials);
}

type Kind = "unary" | "server streaming" | "client streaming" | "bidirectional streaming";

const finishHint: Record<Kind, string> = {
  unary: "call callback(null, response) exactly once",
  "server streaming": "write each message with call.write() and then call call.end()",
  "client streaming": "call callback(null, response) once the client's stream ends (call.on('end'))",
  "bidirectional streaming": "call call.end() once the client's stream ends (call.on('end'))",
};

function methodName(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1);
}

/** Turns a failed call into one sentence: which RPC, which status, what to do. */
export function describeRpcError(method: string, kind: Kind, error: grpc.ServiceError): CheckFailure {
  const name = methodName(method);
  const code = grpc.status[error.code] ?? String(error.code);
  switch (error.code) {
    case grpc.status.DEADLINE_EXCEEDED:
      return new CheckFailure(`${name} got no complete answer within ${rpcDeadlineMs / 1000} s: ${finishHint[kind]}`);
    case grpc.status.INTERNAL:
      if (/serializ/i.test(error.details)) {
        return new CheckFailure(`${name} failed with INTERNAL: ${error.details}: a field of the response has the wrong type (int32 fields take whole numbers)`);
      }
      return new CheckFailure(`${name} failed with INTERNAL: ${error.details || "(no details)"}`);
    case grpc.status.UNAVAILABLE: {
      const advice = adviceFor(code, error.details);
      return new CheckFailure(`${name} could not reach the server (${code}: ${cleanDetails(error.details)})${advice ? `: ${advice}` : ""}`);
    }
    default:
      return new CheckFailure(`${name} failed with ${code}: ${error.details || "(no details)"}`);
  }
}

type AnyClient = Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown> & grpc.ClientWritableStream<unknown>>;

function callOptions(): grpc.CallOptions {
  return { deadline: Date.now() + rpcDeadlineMs };
}

export function unaryCall<Res>(client: grpc.Client, method: string, request: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client as unknown as AnyClient)[method]!(request, new grpc.Metadata(), callOptions(), (error: grpc.ServiceError | null, response: Res) =>
      error ? reject(describeRpcError(method, "unary", error)) : resolve(response),
    );
  });
}

function collect<Res>(call: grpc.ClientReadableStream<unknown>, method: string, kind: Kind): Promise<Res[]> {
  return new Promise((resolve, reject) => {
    const received: Res[] = [];
    call.on("data", (message: Res) => received.push(message));
    call.on("error", (error: grpc.ServiceError) => reject(describeRpcError(method, kind, error)));
    call.on("status", (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) resolve(received);
    });
  });
}

export function serverStreamCall<Res>(client: grpc.Client, method: string, request: unknown): Promise<Res[]> {
  const call = (client as unknown as AnyClient)[method]!(request, new grpc.Metadata(), callOptions());
  return collect<Res>(call, method, "server streaming");
}

/**
 * Resolves once the server has read what this client sent before: grpc-js answers a method no
 * service has (UNIMPLEMENTED) from its own code, after the earlier frames of the same connection,
 * so the server had started those calls' handlers by then, however late a loaded machine ran them.
 * The call is left out of the wire transcript (call interceptors replace the client's).
 */
function serverCaughtUp(client: grpc.Client): Promise<void> {
  const unrecorded: grpc.Interceptor = (options, nextCall) => new grpc.InterceptingCall(nextCall(options));
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/grpc_labs.check.Probe/CaughtUp",
      () => Buffer.alloc(0),
      (bytes: Buffer) => bytes,
      null,
      new grpc.Metadata(),
      { deadline: Date.now() + rpcDeadlineMs, interceptors: [unrecorded] },
      () => resolve(),
    );
  });
}

/**
 * Sends every request, half-closes, and resolves with the one response, within `deadlineMs` (2 s by
 * default). With `gapMs`, waits that long between two requests (the deadline grows by the gaps), counted from when the server
 * has the requests before it: a gap on the server's clock too, on a loaded machine as well.
 */
export function clientStreamCall<Res>(client: grpc.Client, method: string, requests: unknown[], { gapMs = 0, deadlineMs = rpcDeadlineMs } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const gaps = gapMs * Math.max(0, requests.length - 1);
    const call = (client as unknown as AnyClient)[method]!(new grpc.Metadata(), { deadline: Date.now() + deadlineMs + gaps }, (error: grpc.ServiceError | null, response: Res) =>
      error ? reject(describeRpcError(method, "client streaming", error)) : resolve(response),
    );
    const writeFrom = (index: number): void => {
      for (; index < requests.length; index++) {
        if (gapMs > 0 && index + 1 < requests.length) {
          const next = index + 1;
          // Once written, the request is on the connection, before the probe.
          call.write(requests[index], () => void serverCaughtUp(client).then(() => setTimeout(() => writeFrom(next), gapMs)));
          return;
        }
        call.write(requests[index]);
      }
      call.end();
    };
    writeFrom(0);
  });
}

/** Sends every request, half-closes, and collects every response in order. */
export function bidiStreamCall<Res>(client: grpc.Client, method: string, requests: unknown[]): Promise<Res[]> {
  const call = (client as unknown as AnyClient)[method]!(new grpc.Metadata(), callOptions());
  const responses = collect<Res>(call, method, "bidirectional streaming");
  for (const request of requests) call.write(request);
  call.end();
  return responses;
}
