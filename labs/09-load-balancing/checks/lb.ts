/**
 * The reference side of lab 09's checks: Orders backends that count what they
 * receive, a service registry, a strict backend that polices keepalive pings
 * the way grpc-go does, and the learner's modules as the checks call them.
 * Every backend, proxy and registry runs here, in the checks, on 127.0.0.1:
 * the verdicts rest on what they saw, never on what the learner's code says.
 *
 * Timing: no check counts on an exact split. Shares are "at least a few
 * calls each", times are upper bounds with room for a slow machine, and
 * every loop has a fixed number of rounds or a time limit.
 */
import * as grpc from "@grpc/grpc-js";
import * as http2 from "node:http2";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { CheckFailure, exportedFunction, loadService, loadTarget, settledWithin, track } from "../../../scripts/check-kit";

export interface Order {
  id: string;
  servedBy: string;
}
export interface Endpoint {
  host: string;
  port: number;
}

export const ordersProto = "lb/v1/orders.proto";
export const registryProto = "lb/v1/registry.proto";
export const ordersService = "lb.v1.Orders";
export const registryService = "lb.v1.Registry";

/** Time a learner's call may take beyond its own deadline to settle (IPC, a slow machine). */
export const slackMs = 1500;

// ---------------------------------------------------------------------------
// The learner's modules

export interface ClientModule {
  createOrdersClient(target: string): Promise<grpc.Client>;
  getOrder(client: grpc.Client, id: string, timeoutMs: number): Promise<Order>;
}
export interface ResolverModule {
  registerRegistryResolver(): Promise<void>;
}
export interface ServerModule {
  serverOptions(): Promise<grpc.ServerOptions>;
  createOrdersServer(name: string): Promise<grpc.Server>;
}

async function module<T extends object>(file: string, names: string[]): Promise<T> {
  const loaded = await loadTarget<T>(file);
  for (const name of names) exportedFunction(loaded, name, file);
  return loaded;
}

export const clientModule = () => module<ClientModule>("src/client.ts", ["createOrdersClient", "getOrder"]);
export const resolverModule = () => module<ResolverModule>("src/resolver.ts", ["registerRegistryResolver"]);
export const serverModule = () => module<ServerModule>("src/server.ts", ["serverOptions", "createOrdersServer"]);

/** The learner's client module and a client it created for `target`; the client is closed after the check. */
export async function learnerClient(target: string): Promise<{ learner: ClientModule; client: grpc.Client }> {
  const learner = await clientModule();
  const client = await learner.createOrdersClient(target);
  track(() => void Promise.resolve(client.close()).catch(() => undefined));
  return { learner, client };
}

/** The learner's serverOptions(), checked to be an object of option values. */
export async function learnerServerOptions(): Promise<grpc.ServerOptions> {
  const options = await (await serverModule()).serverOptions();
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new CheckFailure(`serverOptions() must return an object of server options, got ${JSON.stringify(options)}`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (typeof value !== "number" && typeof value !== "string") throw new CheckFailure(`serverOptions()["${key}"] must be a number or a string, got ${JSON.stringify(value)}`);
  }
  return options;
}

// ---------------------------------------------------------------------------
// Calls through the learner's client

/** How one call through the learner's client ended. */
export interface Outcome {
  id: string;
  order?: Order;
  /** The status code of a failed call (or -1 when the learner's code failed otherwise). */
  code?: number;
  details?: string;
}

/** One call of the learner's getOrder, never rejecting. */
export async function callOnce(learner: ClientModule, client: grpc.Client, id: string, timeoutMs: number): Promise<Outcome> {
  const outcome = await settledWithin(learner.getOrder(client, id, timeoutMs), timeoutMs + slackMs, `getOrder("${id}")`);
  if (outcome.resolved) return { id, order: outcome.value };
  const { code, details, message } = outcome.error as { code?: unknown; details?: unknown; message?: unknown };
  if (typeof code !== "number") throw outcome.error; // the learner's code failed: the check shows it as is
  return { id, code, details: String(details ?? message ?? "") };
}

/**
 * Makes `count` calls through the learner's client, `concurrency` at a time;
 * `afterEach(done)` runs after each call with the number done so far (to
 * stop a backend mid-run).
 */
export async function callMany(
  learner: ClientModule,
  client: grpc.Client,
  options: { count: number; prefix: string; concurrency?: number; timeoutMs?: number; afterEach?: (done: number) => unknown },
): Promise<Outcome[]> {
  const { count, prefix, concurrency = 1, timeoutMs = 2000, afterEach } = options;
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const id = `${prefix}-${++next}`;
      outcomes.push(await callOnce(learner, client, id, timeoutMs));
      await afterEach?.(outcomes.length);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return outcomes;
}

/** Fails unless every call succeeded, naming the first failure. */
export function expectNoFailure(outcomes: Outcome[], what: string, hint: string): void {
  const failed = outcomes.filter((o) => o.code !== undefined);
  if (failed.length > 0) {
    const first = failed[0]!;
    const code = grpc.status[first.code!] ?? String(first.code);
    throw new CheckFailure(`${what}: ${failed.length} of ${outcomes.length} calls failed, the first with ${code} (${first.details}): ${hint}`);
  }
}

// ---------------------------------------------------------------------------
// Backends

/** A call as a backend received it. */
export interface Received {
  id: string;
  at: number;
  /** The call's deadline (Date.now() value); Infinity without one. */
  deadline: number;
  /** The client's address as this backend saw it: one port a connection. */
  peer: string;
}

/** An Orders backend that the checks run, answering with its name and counting what it received. */
export class Backend {
  readonly received: Received[] = [];
  private constructor(
    readonly name: string,
    readonly server: grpc.Server,
    readonly address: string,
  ) {}

  /**
   * Starts a backend on `address` (a free port by default). `holdMs(id)` is
   * how long it waits before answering a call (0 by default; Infinity: until
   * the check ends).
   */
  static async start(name: string, options: { address?: string; serverOptions?: grpc.ServerOptions; holdMs?: (id: string) => number } = {}): Promise<Backend> {
    const server = new grpc.Server(options.serverOptions ?? {});
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(options.address ?? "127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const backend = new Backend(name, server, `127.0.0.1:${port}`);
    track(() => server.forceShutdown());
    const holdMs = options.holdMs ?? (() => 0);
    server.addService(loadService(ordersProto, ordersService).service, {
      getOrder: (call: grpc.ServerUnaryCall<{ id: string }, Order>, callback: grpc.sendUnaryData<Order>) => {
        const { id } = call.request;
        backend.received.push({ id, at: Date.now(), deadline: Number(call.getDeadline()), peer: call.getPeer() });
        const answer = () => {
          if (!call.cancelled) callback(null, { id, servedBy: name });
        };
        const ms = holdMs(id);
        if (ms === 0) answer();
        // Infinity: never answers; the call ends when the client gives up or the check ends.
        else if (ms !== Number.POSITIVE_INFINITY) setTimeout(answer, ms).unref();
      },
    });
    return backend;
  }

  /** Calls received after `time` (a Date.now() value). */
  receivedAfter(time: number): number {
    return this.received.filter((r) => r.at > time).length;
  }
}

/** Starts `count` backends named orders-1, orders-2, ... */
export function startBackends(count: number, options: Parameters<typeof Backend.start>[1] = {}): Promise<Backend[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => Backend.start(`orders-${i + 1}`, options)));
}

/** The ipv4: target that names every address: one IP (macOS has no 127.0.0.2), several ports. */
export const ipv4Target = (addresses: string[]) => `ipv4:${addresses.join(",")}`;

/** How many calls each backend received, in order, for messages. */
export const counts = (backends: Backend[], since = 0) => backends.map((b) => b.receivedAfter(since));

/** "orders-1 12, orders-2 0, orders-3 18" */
export const describeCounts = (backends: Backend[], since = 0) => backends.map((b) => `${b.name} ${b.receivedAfter(since)}`).join(", ");

/** Waits until `condition` holds, checking every 10 ms, for `ms` at most; resolves with whether it held. */
export async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() >= end) return false;
    await sleep(10);
  }
  return true;
}

// ---------------------------------------------------------------------------
// The registry

/** A service registry the checks run: what each service runs on, and who asked. */
export class Registry {
  private readonly services = new Map<string, string[]>();
  private readonly watchers = new Set<{ service: string; call: grpc.ServerWritableStream<{ service: string }, unknown> }>();
  /** How many List calls it answered. */
  listCalls = 0;
  /** How many Watch calls it received. */
  watchCalls = 0;
  /** The most Watch streams that were open at once. */
  mostOpenWatches = 0;
  /** While true, every List and Watch fails at once with UNAVAILABLE, as a registry that cannot serve does. */
  refusing = false;

  private constructor(readonly address: string) {}

  static async start(services: Record<string, string[]>): Promise<Registry> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const registry = new Registry(`127.0.0.1:${port}`);
    track(() => server.forceShutdown());
    for (const [service, addresses] of Object.entries(services)) registry.services.set(service, addresses);
    server.addService(loadService(registryProto, registryService).service, {
      list: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        registry.listCalls++;
        if (registry.refusing) return callback({ code: grpc.status.UNAVAILABLE, details: "the registry is down" });
        callback(null, registry.answer(call.request.service));
      },
      watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
        registry.watchCalls++;
        if (registry.refusing) return void call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the registry is down" });
        const watcher = { service: call.request.service, call };
        registry.watchers.add(watcher);
        registry.mostOpenWatches = Math.max(registry.mostOpenWatches, registry.watchers.size);
        call.on("cancelled", () => registry.watchers.delete(watcher));
        call.on("close", () => registry.watchers.delete(watcher));
        call.write(registry.answer(watcher.service));
      },
    });
    return registry;
  }

  /** The target of a service in this registry, for the learner's resolver. */
  target(service: string): string {
    return `registry://${this.address}/${service}`;
  }

  private answer(service: string): { endpoints: Endpoint[] } {
    return {
      endpoints: (this.services.get(service) ?? []).map((address) => {
        const [host = "", port = ""] = address.split(/:(?=\d+$)/);
        return { host, port: Number(port) };
      }),
    };
  }

  /** Changes where `service` runs, and tells every watcher of it. */
  set(service: string, addresses: string[]): void {
    this.services.set(service, addresses);
    for (const watcher of this.watchers) if (watcher.service === service) watcher.call.write(this.answer(service));
  }

  /** Ends every open Watch stream: with UNAVAILABLE (`"error"`), or with OK (`"end"`), as a registry that restarts does. */
  endWatches(how: "error" | "end"): void {
    for (const { call } of this.watchers) {
      if (how === "end") call.end();
      else call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the registry is restarting" });
    }
    this.watchers.clear();
  }

  /** Watch streams open now. */
  get openWatches(): number {
    return this.watchers.size;
  }
}

// ---------------------------------------------------------------------------
// A strict backend: keepalive enforcement as grpc-go does it

/** The backends' minimum interval between two pings from a client, as a Go server's keepalive.EnforcementPolicy{MinTime}. */
export const minPingIntervalMs = 200;

/**
 * An Orders backend on node:http2, with the gRPC framing done by hand, that
 * polices pings the way grpc-go's server does by default
 * (internal/transport/http2_server.go, handlePing): a ping less than
 * `minPingIntervalMs` after the previous one is a strike, and so is a ping
 * on a connection with no call in flight (PermitWithoutStream false), but
 * the first ping after the server sent headers or data is never one and
 * resets the strikes. The third strike gets GOAWAY ENHANCE_YOUR_CALM
 * "too_many_pings" and the connection closed. grpc-js servers enforce
 * nothing, which is why the checks need this one.
 */
export class StrictBackend {
  /** When each client ping arrived, by connection. */
  readonly pings: number[][] = [];
  /** How many connections it sent GOAWAY too_many_pings. */
  tooManyPings = 0;
  /** Strikes for a ping too soon after the previous one, while calls were in flight. */
  earlyStrikes = 0;
  /** Strikes for a ping on a connection with no call in flight. */
  idleStrikes = 0;
  received = 0;
  private constructor(readonly address: string) {}

  static async start(name: string, holdMs: number): Promise<StrictBackend> {
    const method = loadService(ordersProto, ordersService).service.GetOrder!;
    const server = http2.createServer();
    /** Each connection's calls in flight, and whether the server sent headers or data since the last ping. */
    const sessions = new Map<http2.ServerHttp2Session, { open: number; sentSincePing: boolean }>();
    const timers = new Set<NodeJS.Timeout>();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const backend = new StrictBackend(`127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    track(() => {
      for (const timer of timers) clearTimeout(timer);
      for (const session of sessions.keys()) session.destroy();
      server.close();
    });
    server.on("session", (session) => {
      const state = { open: 0, sentSincePing: false };
      sessions.set(session, state);
      session.on("close", () => sessions.delete(session));
      session.on("error", () => undefined);
      const pings: number[] = [];
      backend.pings.push(pings);
      let strikes = 0;
      let lastPing = 0;
      session.on("ping", () => {
        const now = Date.now();
        pings.push(now);
        if (state.sentSincePing) {
          state.sentSincePing = false;
          strikes = 0;
        } else if (state.open === 0) {
          // grpc-go: with no stream open, any ping after the first is a strike (within 2 h of the previous one).
          if (lastPing > 0) {
            strikes++;
            backend.idleStrikes++;
          }
        } else if (lastPing > 0 && now - lastPing < minPingIntervalMs) {
          strikes++;
          backend.earlyStrikes++;
        }
        lastPing = now;
        if (strikes > 2) {
          backend.tooManyPings++;
          session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from("too_many_pings"));
          session.close();
          const timer = setTimeout(() => session.destroy(), 100);
          timers.add(timer);
        }
      });
    });
    server.on("stream", (stream) => {
      stream.on("error", () => undefined);
      const state = sessions.get(stream.session as http2.ServerHttp2Session);
      if (state) {
        state.open++;
        stream.on("close", () => state.open--);
      }
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        backend.received++;
        const body = Buffer.concat(chunks);
        const request = method.requestDeserialize(body.subarray(5, 5 + body.readUInt32BE(1))) as { id: string };
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (stream.closed || stream.destroyed) return;
          if (state) state.sentSincePing = true;
          const payload = method.responseSerialize({ id: request.id, servedBy: name });
          const prefix = Buffer.alloc(5);
          prefix.writeUInt32BE(payload.length, 1);
          stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
          stream.end(Buffer.concat([prefix, payload]));
        }, holdMs);
        timers.add(timer);
      });
    });
    return backend;
  }

  /** The shortest time between two pings on one connection, or Infinity. */
  get shortestInterval(): number {
    let shortest = Number.POSITIVE_INFINITY;
    for (const pings of this.pings) for (let i = 1; i < pings.length; i++) shortest = Math.min(shortest, pings[i]! - pings[i - 1]!);
    return shortest;
  }
}

// ---------------------------------------------------------------------------
// A client of the checks' own, for the server step

type GetOrder = (request: { id: string }, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, order?: Order) => void) => void;

/** A plain client (pick_first, no retries, no keepalive) with its own connections; closed after the check. */
export function plainClient(target: string): grpc.Client {
  const Client = loadService(ordersProto, ordersService);
  const client = new Client(target, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  track(() => client.close());
  return client;
}

/** One call of a plain client, with a deadline; resolves with how it ended. */
export function plainCall(client: grpc.Client, id: string, timeoutMs = 2000): Promise<Outcome> {
  return new Promise((resolve) =>
    (client as unknown as { getOrder: GetOrder }).getOrder({ id }, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, order) =>
      resolve(error ? { id, code: error.code, details: error.details } : { id, order }),
    ),
  );
}
