/**
 * The subject: the one process that runs the learner's code (or the
 * solution's). The judge starts it under Node's permission model, with the
 * learner's files already transpiled to JavaScript, and talks to it over IPC
 * (codec.ts). It loads modules, calls the functions the checks call, binds the
 * servers they start, and reports how each call settled. It decides nothing:
 * every verdict is the judge's, and nothing sent from here can add, remove or
 * pass a check.
 *
 * Bundled by the judge with esbuild (scripts/check-kit/subject.ts) into one
 * file; only @grpc/grpc-js is loaded from node_modules.
 */
import * as grpc from "@grpc/grpc-js";
import { AsyncLocalStorage, createHook } from "node:async_hooks";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { beatMs, checkOutputLimit, CrossedError, decode, encode, type FromSubject, type References, runningCheckFile, runningCheckLength, type Side, type SubjectOptions, type ToSubject, type Wire } from "./codec";
import { handlersOf, installHandlerErrorCapture } from "../check-kit/handler-errors";
import { learnerLocationIn } from "./location";

/** Set by the judge's first message: the subject may start before its run is known. */
let options: SubjectOptions = { root: "", mirror: "", fixtures: "" };
const send = (message: FromSubject, then?: () => void): void => {
  if (process.connected) process.send?.(message, undefined, undefined, then);
};
const locate = (error: unknown): string => learnerLocationIn(error instanceof Error ? (error.stack ?? "") : "", options.root);
const where = (error: unknown): string => {
  const at = locate(error);
  return at ? ` at ${at}` : "";
};
const text = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// ---- The checks this subject works for ----

/**
 * Several checks may run in one subject at once (the judge's lanes share
 * subjects). Each request from the judge names its check, and runs in that
 * check's async context; so do the handlers of the servers it binds. What
 * the learner's code does there (a handler throws, it prints, it answers
 * twice) is that check's, and so is what it leaves open, closed when the
 * check ends.
 */
const currentCheck = new AsyncLocalStorage<string>();
/** Outside any check (the judge warming the subject up): this key. */
const noCheck = "";

interface CheckState {
  /** Servers the check's code created or bound, shut down when it ends. */
  servers: Set<grpc.Server>;
  /** HTTP servers of the learner's the check bound (a gRPC-Web gateway, lab 10). */
  netServers: Set<net.Server>;
  /** Ids of the objects sent to the judge for the check. */
  objects: Set<string>;
  /** Ids of the judge's AbortSignals the check passed in. */
  signals: Set<string>;
  /** Answers of unary and client-streaming handlers, while the check watches (grpc-js drops every answer after the first). */
  watched: WatchedCall[] | undefined;
  answering: Array<Promise<unknown>>;
  /** The lengths of every crypto.timingSafeEqual comparison while the check watches (lab 05: API keys compared in constant time). */
  comparedLengths: Array<[number, number]> | undefined;
  /** Characters of output passed on: the judge keeps a few thousand a check. */
  printed: number;
}
const checks = new Map<string, CheckState>();

function stateOf(check = currentCheck.getStore() ?? noCheck): CheckState {
  let state = checks.get(check);
  if (!state) {
    state = { servers: new Set(), netServers: new Set(), objects: new Set(), signals: new Set(), watched: undefined, answering: [], comparedLengths: undefined, printed: 0 };
    checks.set(check, state);
  }
  return state;
}

/**
 * An endless loop stops the event loop, and the subject can say nothing more;
 * so it says beforehand whose code runs. On every entry into JavaScript (an
 * async hook's "before") and in forCheck(), when the check is not the last
 * one named, the driver writes it into a file of its working folder
 * (codec.ts): one system call, visible to the judge at once. When the beats
 * stop while the subject keeps a core busy and the file names the same check
 * all along (its count of switches stays), the judge fails that check alone.
 * Many checks' work can hold the event loop as long (a few dozen checks that
 * start at once, each building a server), but the count then keeps growing.
 */
const runningCheck = fs.openSync(runningCheckFile, "w");
/** What the file says now. */
const named = { check: undefined as string | undefined, loading: "", switches: 0 };
/** The file of the code under test that is loading ("" when none): that takes as long as its top-level code does, and the silence rule covers it. */
let loading = "";
function nameRunning(check: string): void {
  // Called before every callback: most find the file already right.
  if (check === named.check && loading === named.loading) return;
  named.check = check;
  named.loading = loading;
  named.switches++;
  fs.writeSync(runningCheck, `${check}\n${loading}\n${named.switches}\n`.padEnd(runningCheckLength), 0);
}
createHook({
  before() {
    nameRunning(currentCheck.getStore() ?? noCheck);
  },
}).enable();

/** Runs `work` for the check `check` (as it is, outside any check). */
function forCheck<T>(check: string | undefined, work: () => T): T {
  if (check === undefined) return work();
  const outer = currentCheck.getStore() ?? noCheck;
  nameRunning(check);
  try {
    return currentCheck.run(check, work);
  } finally {
    nameRunning(outer);
  }
}

// ---- References: this side's objects by id, stand-ins for the judge's ----

const objects = new Map<string, object>();
/** The checks each object was sent for: it is forgotten when the last of them ends. */
const owners = new Map<string, Set<string>>();
const ids = new WeakMap<object, string>();
const standIns = new WeakMap<object, { owner: Side; id: string }>();
const signals = new Map<string, AbortController>();
let nextId = 0;
let nextCall = 0;
const waiting = new Map<number, { resolve(value: unknown): void; reject(error: unknown): void }>();

const refs: References = {
  side: "subject",
  export(value) {
    let id = ids.get(value);
    if (id === undefined || !objects.has(id)) {
      id = `s${++nextId}`;
      ids.set(value, id);
      objects.set(id, value);
    }
    const check = currentCheck.getStore() ?? noCheck;
    stateOf(check).objects.add(id);
    owners.set(id, (owners.get(id) ?? new Set()).add(check));
    return id;
  },
  local: (id) => objects.get(id),
  remoteId: (value) => (typeof value === "object" || typeof value === "function") && value !== null ? standIns.get(value) : undefined,
  stand(tag) {
    const call = (args: unknown[], wantsReply: boolean): Promise<unknown> => {
      const id = ++nextCall;
      const message: FromSubject = { t: "call", id, target: tag.id, args: args.map((a) => encode(a, refs)), wantsReply };
      if (!wantsReply) {
        send(message);
        return Promise.resolve(undefined);
      }
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        send(message);
      });
    };
    let standIn: object;
    if (tag.$ === "f") {
      // A check's function: the learner's code gets a function that returns a promise of the check's answer.
      standIn = (...args: unknown[]) => call(args, true);
    } else {
      standIn = new Proxy({}, { get: (_t, property) => (typeof property === "string" && property !== "then" ? (...args: unknown[]) => call([property, ...args], true) : undefined) });
    }
    standIns.set(standIn, { owner: "judge", id: tag.id });
    return standIn;
  },
  signal(tag) {
    let controller = signals.get(tag.id);
    if (!controller) {
      controller = new AbortController();
      if (tag.aborted) controller.abort();
      signals.set(tag.id, controller);
    }
    stateOf().signals.add(tag.id);
    return controller.signal;
  },
};

// ---- What the checks watch in the learner's code ----

/** The check each server works for: the one that bound it, or else the one whose code created it. */
const serverChecks = new WeakMap<object, string>();
/**
 * Errors reported as a handler's. A listener's (call.on("data")) is rethrown
 * to grpc-js, which calls listeners inside promises of its own: the rejection
 * that follows is the same error, already reported, not one nobody handled.
 */
const thrownByHandlers = new WeakSet<object>();

/** Answers of one call of a unary or client-streaming handler. */
interface WatchedCall {
  method: string;
  answers: string[];
}

type Handler = (this: unknown, call: unknown, callback: grpc.sendUnaryData<unknown>) => unknown;
type MethodDefinition = { path?: string; originalName?: string; responseStream?: boolean };

function counting(method: string, handler: Handler, self: object): Handler {
  return function (call, callback) {
    const { watched, answering } = stateOf();
    if (!watched) return handler.call(self, call, callback);
    const record: WatchedCall = { method, answers: [] };
    watched.push(record);
    const result = handler.call(self, call, (error, ...rest) => {
      record.answers.push(error ? (grpc.status[error.code ?? grpc.status.UNKNOWN] ?? String(error.code)) : "OK");
      callback(error, ...rest);
    });
    if (result instanceof Promise) answering.push(result.catch(() => undefined));
    return result;
  };
}

/** Every handler of a server runs for the server's check: what it does (throws, prints, answers) is that check's. */
function forServerCheck(server: grpc.Server, handler: grpc.UntypedHandleCall): grpc.UntypedHandleCall {
  if (typeof handler !== "function") return handler;
  return function (this: unknown, ...args: unknown[]) {
    return forCheck(serverChecks.get(server), () => (handler as (...a: unknown[]) => unknown).apply(this, args));
  } as grpc.UntypedHandleCall;
}

// Patched before the handler-error capture, so that its wrappers run inside this one's, in the check's context.
const addService = grpc.Server.prototype.addService;
grpc.Server.prototype.addService = function (this: grpc.Server, service, implementation) {
  const check = currentCheck.getStore();
  if (check !== undefined && !serverChecks.has(this)) serverChecks.set(this, check);
  stateOf(check).servers.add(this);
  const definitions = Object.entries(service as Record<string, MethodDefinition>);
  const wrapped: grpc.UntypedServiceImplementation = {};
  for (const [key, handler] of handlersOf(service, implementation)) {
    const definition = definitions.find(([name, d]) => name === key || d.originalName === key)?.[1];
    const answersOnce = typeof handler === "function" && definition !== undefined && !definition.responseStream;
    const method = definition?.path?.slice(definition.path.lastIndexOf("/") + 1) ?? key;
    wrapped[key] = forServerCheck(this, answersOnce ? (counting(method, handler as Handler, implementation) as never) : handler);
  }
  return addService.call(this, service, wrapped);
};

// Exceptions thrown by handlers: grpc-js tells the client only "UNKNOWN", so the check shows the real one.
installHandlerErrorCapture((message, error) => {
  if (typeof error === "object" && error !== null) thrownByHandlers.add(error);
  send({ t: "event", kind: "handler-error", text: message, check: currentCheck.getStore() });
}, locate);

// The module object itself, as the learner's code gets it from require(), so the learner's calls go through the spy.
const crypto = require("node:crypto") as typeof import("node:crypto");
const timingSafeEqual = crypto.timingSafeEqual;
crypto.timingSafeEqual = (a, b) => {
  checks.get(currentCheck.getStore() ?? noCheck)?.comparedLengths?.push([a.byteLength, b.byteLength]);
  return timingSafeEqual(a, b);
};

// What the learner's code prints for a check goes to the judge tagged with it; anything else, to the subject's own stdout and stderr.
for (const name of ["stdout", "stderr"] as const) {
  const stream = process[name];
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = function (chunk: unknown, ...rest: unknown[]): boolean {
    const check = currentCheck.getStore();
    if (check === undefined) return write(chunk, ...rest);
    const state = stateOf(check);
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString();
    // One character past the limit, so that the judge knows there was more.
    if (state.printed <= checkOutputLimit) send({ t: "output", stream: name, text: text.slice(0, checkOutputLimit + 1 - state.printed), check });
    state.printed += text.length;
    const done = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    if (done) process.nextTick(done);
    return true;
  } as typeof stream.write;
}

// An exception nobody caught, or process.exit(), fails the check that was running; the process goes on (or ends) as it would.
process.on("uncaughtException", (error) => send({ t: "event", kind: "uncaught", text: `your code threw "${text(error)}"${where(error)} and nothing caught it`, check: currentCheck.getStore() }));
process.on("unhandledRejection", (error) => {
  if (typeof error === "object" && error !== null && thrownByHandlers.has(error)) return;
  send({ t: "event", kind: "uncaught", text: `a promise in your code rejected with "${text(error)}"${where(error)} and nothing handled it`, check: currentCheck.getStore() });
});
const exit = process.exit.bind(process);
process.exit = ((code?: number) => {
  const at = where(new Error());
  send({ t: "event", kind: "exit", text: `your code called process.exit(${code ?? ""})${at}` }, () => exit(code));
  // The judge hears of it before the process ends; nothing after process.exit() runs.
  setTimeout(() => exit(code), 200);
  return undefined as never;
}) as typeof process.exit;

// ---- The driver's own functions, which the judge calls with target "driver" ----

const modulePath = (file: string) => path.join(options.mirror, file.replace(/\.ts$/, ".js"));

const driver = {
  /** Loads a file of the code under test ("src/server.ts"). */
  load(file: string): unknown {
    loading = file;
    nameRunning(currentCheck.getStore() ?? noCheck);
    try {
      return require(modulePath(file)) as unknown;
    } finally {
      loading = "";
      nameRunning(currentCheck.getStore() ?? noCheck);
    }
  },
  /** Binds a server the learner's code created (a grpc.Server, or an http.Server) to a free port on 127.0.0.1; resolves with the port. */
  bind(server: unknown, credentials: grpc.ServerCredentials | undefined): Promise<number> {
    const check = currentCheck.getStore();
    if (server instanceof net.Server) {
      stateOf(check).netServers.add(server);
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
      });
    }
    if (!(server instanceof grpc.Server)) {
      throw new TypeError(`expected a grpc.Server or an http.Server, got ${server === null ? "null" : typeof server === "object" ? (server.constructor?.name ?? "an object") : typeof server}`);
    }
    // The check that binds a server is the one its calls are for (even if another check's code created it).
    if (check !== undefined) serverChecks.set(server, check);
    stateOf(check).servers.add(server);
    return new Promise((resolve, reject) => {
      server.bindAsync("127.0.0.1:0", credentials ?? grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)));
    });
  },
  /** One of the lab's check fixtures, constructed in the learner's world. */
  fixture(file: string, name: string, args: unknown[]): object {
    const Fixture = (require(path.join(options.fixtures, file.replace(/\.ts$/, ".js"))) as Record<string, new (...a: unknown[]) => object>)[name];
    if (typeof Fixture !== "function") throw new TypeError(`no fixture ${name} in ${file}`);
    return new Fixture(...args);
  },
  /** After each check: shut down its servers, close its clients, abort its signals, forget its objects (those no other running check holds). */
  async endCheck(): Promise<void> {
    const check = currentCheck.getStore() ?? noCheck;
    // A timer the check's code set to fire at once (a handler that answers, then throws in a setTimeout) fires
    // first: the judge may have finished the check before this process got back to its timers.
    await new Promise((resolve) => setTimeout(resolve, 1));
    const state = stateOf(check);
    checks.delete(check);
    for (const server of state.servers) server.forceShutdown();
    for (const server of state.netServers) {
      server.close();
      (server as Partial<Pick<import("node:http").Server, "closeAllConnections">>).closeAllConnections?.();
    }
    for (const id of state.objects) {
      const holders = owners.get(id);
      holders?.delete(check);
      if (holders && holders.size > 0) continue;
      owners.delete(id);
      const value = objects.get(id);
      // Functions stay: the judge keeps the modules' exports from one check to the next.
      if (typeof value === "function" || value === driver) continue;
      if (value instanceof grpc.Client) value.close();
      objects.delete(id);
    }
    for (const id of state.signals) {
      signals.get(id)?.abort();
      signals.delete(id);
    }
  },
  /** Kinds of handle still open (servers, sockets, timers) once the code under test had time to close them. */
  async openHandles(ms: number): Promise<string[]> {
    clearInterval(heartbeat);
    const kinds = new Set(["TCPServerWrap", "TCPSocketWrap", "Timeout", "Immediate", "UDPWrap"]);
    const until = Date.now() + ms;
    for (;;) {
      const open = process.getActiveResourcesInfo().filter((kind) => kinds.has(kind));
      if (open.length === 0 || Date.now() >= until) return open;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  },
  watchAnswers(): void {
    const state = stateOf();
    state.watched = [];
    state.answering = [];
  },
  async answers(graceMs: number): Promise<WatchedCall[]> {
    const state = stateOf();
    // An async handler may answer again after an await: wait for it, then a little more.
    await Promise.all(state.answering);
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    return state.watched ?? [];
  },
  watchTimingSafeEqual(): void {
    stateOf().comparedLengths = [];
  },
  timingSafeEqualLengths(): Array<[number, number]> {
    return stateOf().comparedLengths ?? [];
  },
  /**
   * The channels open in this process, as grpc-js's channelz registry lists
   * them (its ids only grow; a channel the code closed is gone from it).
   */
  openChannels(): Promise<Array<{ id: number; target: string }>> {
    type TopChannels = { channel: Array<{ ref: { channel_id: number | string }; data: { target: string } }> };
    const { GetTopChannels } = grpc.getChannelzHandlers() as unknown as { GetTopChannels(call: { request: object }, done: (error: unknown, answer: TopChannels) => void): void };
    return new Promise((resolve, reject) => {
      GetTopChannels({ request: { start_channel_id: "0", max_results: String(Number.MAX_SAFE_INTEGER) } }, (error, answer) => {
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve(answer.channel.map((channel) => ({ id: Number(channel.ref.channel_id), target: channel.data.target })));
      });
    });
  },
  /** A round trip: everything the subject sent before the answer has reached the judge. */
  ping(): string {
    return "pong";
  },
};
objects.set("driver", driver);

// ---- Messages from the judge ----

function settle(id: number, work: () => unknown): void {
  let result: unknown;
  try {
    result = work();
  } catch (error) {
    send({ t: "reply", id, ok: false, value: encode(asError(error), refs) });
    return;
  }
  Promise.resolve(result).then(
    (value) => send({ t: "reply", id, ok: true, value: encode(value, refs) }),
    (error: unknown) => send({ t: "reply", id, ok: false, value: encode(asError(error), refs) }),
  );
}

/**
 * Whatever the learner threw, as an Error the judge can read (code, details,
 * metadata kept): a thrown object that is not an Error, such as a plain
 * { code, details, metadata }, keeps its own properties on the Error.
 */
function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  let text: string;
  try {
    text = String(error);
  } catch {
    text = Object.prototype.toString.call(error);
  }
  const crossed = new CrossedError(text);
  if (typeof error === "object" && error !== null) {
    for (const key of Object.keys(error)) if (key !== "__proto__") crossed[key] = (error as Record<string, unknown>)[key];
  }
  return Object.assign(crossed, { thrown: error as Wire });
}

function target(id: string): unknown {
  const value = objects.get(id);
  if (value === undefined) throw new Error("that object belongs to an earlier check");
  return value;
}

process.on("message", (message: ToSubject) => {
  switch (message.t) {
    case "configure":
      options = message.options;
      return;
    case "call":
      return forCheck(message.check, () => settle(message.id, () => {
        const args = message.args.map((a) => decode(a, refs));
        const self = target(message.target) as Record<string, unknown>;
        if (message.method === null) return (self as unknown as (...a: unknown[]) => unknown)(...args);
        const method = self[message.method];
        if (typeof method !== "function") throw new TypeError(`${message.method} is not a function`);
        return (method as (...a: unknown[]) => unknown).apply(self, args);
      }));
    case "construct":
      return forCheck(message.check, () => settle(message.id, () => {
        const Class = target(message.target) as new (...a: unknown[]) => object;
        return new Class(...message.args.map((a) => decode(a, refs)));
      }));
    case "get":
      return forCheck(message.check, () => settle(message.id, () => (target(message.target) as Record<string, unknown>)[message.property]));
    case "preload":
      for (const specifier of message.packages) {
        try {
          require(specifier);
        } catch {
          // Left to the code under test, which reports what it must when it loads.
        }
      }
      return;
    case "abort":
      signals.get(message.signal)?.abort(decode(message.reason, refs));
      return;
    case "reply": {
      const pending = waiting.get(message.id);
      waiting.delete(message.id);
      const value = decode(message.value, refs);
      if (message.ok) pending?.resolve(value);
      else pending?.reject(value);
      return;
    }
  }
});
// The judge went away: so does the subject.
process.on("disconnect", () => exit(0));

/** Tells the judge the event loop still turns: a blocked loop (an endless loop in a handler) goes silent. */
const heartbeat = setInterval(() => {
  const { user, system } = process.cpuUsage();
  send({ t: "beat", cpuMs: (user + system) / 1000 });
}, beatMs);
heartbeat.unref();
send({ t: "ready" });

