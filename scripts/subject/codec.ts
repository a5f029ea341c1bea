/**
 * How values cross between the judge (mocha and the checks) and the subject
 * (the learner's code): data is copied, everything else stays where it lives
 * and crosses as a reference. A learner's grpc.Server is a reference the judge
 * can bind and shut down; a check's callback or AbortSignal is a reference the
 * learner's code can call or listen to. Both sides use this file; the subject
 * runs it under Node's permission model, so it imports nothing but grpc-js.
 *
 * Nothing decoded here is trusted by the judge beyond being data: it builds
 * plain objects, arrays, errors and metadata, never code.
 */
import * as grpc from "@grpc/grpc-js";

export type Side = "judge" | "subject";

/** A value on the wire (the IPC channel uses Node's "advanced" serialization, so Buffers, Dates and BigInts cross as they are). */
export type Wire = null | undefined | boolean | number | string | bigint | Date | Uint8Array | Wire[] | Tagged;

export type Tagged =
  | { $: "o"; v: Record<string, Wire> }
  | { $: "e"; name: string; message: string; stack: string; props: Record<string, Wire> }
  | { $: "m"; v: Array<[string, string | Uint8Array]> }
  | { $: "f"; owner: Side; id: string; name: string }
  | { $: "r"; owner: Side; id: string; methods: string[] }
  | { $: "s"; id: string; aborted: boolean }
  | { $: "sc"; secure: false }
  | { $: "sc"; secure: true; ca: Uint8Array | null; pairs: Array<{ cert: Uint8Array; key: Uint8Array }>; requestCert: boolean }
  | { $: "map"; v: Array<[Wire, Wire]> }
  | { $: "set"; v: Wire[] }
  | { $: "x"; what: string };

/** What each side does with references: keeps its own objects, makes stand-ins for the other side's. */
export interface References {
  readonly side: Side;
  /** Registers one of this side's objects or functions; returns its id. */
  export(value: object): string;
  /** This side's object with `id`, if this side exported it. */
  local(id: string): object | undefined;
  /** The id and owner of a stand-in for the other side's object, if `value` is one. */
  remoteId(value: unknown): { owner: Side; id: string } | undefined;
  /** A stand-in for the other side's object or function. */
  stand(tag: Extract<Tagged, { $: "f" | "r" }>): unknown;
  /** A stand-in for the judge's AbortSignal (subject side only). */
  signal?(tag: Extract<Tagged, { $: "s" }>): AbortSignal;
}

const maxDepth = 64;

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Names of the methods of an object, its own and its class's (not Object's). */
export function methodNames(value: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = value; o && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === "constructor") continue;
      const descriptor = Object.getOwnPropertyDescriptor(o, key);
      if (descriptor && typeof descriptor.value === "function") names.add(key);
    }
  }
  return [...names];
}

function encodeCredentials(credentials: grpc.ServerCredentials): Tagged {
  if (!credentials._isSecure()) return { $: "sc", secure: false };
  const context = credentials._getSecureContextOptions() ?? {};
  const list = (v: unknown): Uint8Array[] => (Array.isArray(v) ? v : v ? [v] : []).map((x) => (typeof x === "string" ? Buffer.from(x) : (x as Uint8Array)));
  const certs = list(context.cert);
  const keys = list(context.key);
  const ca = list(context.ca)[0] ?? null;
  const requestCert = credentials._getConstructorOptions()?.requestCert === true;
  return { $: "sc", secure: true, ca, pairs: certs.map((cert, i) => ({ cert, key: keys[i] ?? new Uint8Array() })), requestCert };
}

export function encode(value: unknown, refs: References, depth = 0): Wire {
  if (depth > maxDepth) return { $: "x", what: "a value nested too deeply" };
  if (value === null || value === undefined) return value;
  switch (typeof value) {
    case "boolean":
    case "number":
    case "string":
    case "bigint":
      return value;
    case "symbol":
      return { $: "x", what: String(value) };
    case "function": {
      const remote = refs.remoteId(value);
      if (remote) return { $: "f", ...remote, name: "" };
      return { $: "f", owner: refs.side, id: refs.export(value), name: (value as { name?: string }).name ?? "" };
    }
  }
  const object = value as object;
  const remote = refs.remoteId(object);
  if (remote) return { $: "r", ...remote, methods: [] };
  if (Array.isArray(object)) return object.map((item) => encode(item, refs, depth + 1));
  if (object instanceof Uint8Array) return object;
  if (object instanceof Date) return object;
  if (object instanceof Error) {
    const props: Record<string, Wire> = {};
    for (const key of Object.keys(object)) props[key] = encode((object as unknown as Record<string, unknown>)[key], refs, depth + 1);
    return { $: "e", name: object.name, message: object.message, stack: object.stack ?? "", props };
  }
  if (object instanceof grpc.Metadata) {
    const entries: Array<[string, string | Uint8Array]> = [];
    for (const [key, values] of Object.entries(object.toJSON())) for (const v of values) entries.push([key, v]);
    return { $: "m", v: entries };
  }
  if (object instanceof grpc.ServerCredentials) return encodeCredentials(object);
  if (object instanceof Map) return { $: "map", v: [...object].map(([k, v]) => [encode(k, refs, depth + 1), encode(v, refs, depth + 1)]) };
  if (object instanceof Set) return { $: "set", v: [...object].map((v) => encode(v, refs, depth + 1)) };
  if (typeof AbortSignal !== "undefined" && object instanceof AbortSignal) {
    return { $: "s", id: refs.export(object), aborted: object.aborted };
  }
  if (isPlain(object)) {
    const v: Record<string, Wire> = {};
    for (const key of Object.keys(object)) v[key] = encode((object as Record<string, unknown>)[key], refs, depth + 1);
    return { $: "o", v };
  }
  return { $: "r", owner: refs.side, id: refs.export(object), methods: methodNames(object) };
}

function decodeCredentials(tag: Extract<Tagged, { $: "sc" }>): grpc.ServerCredentials {
  if (!tag.secure) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tag.ca ? Buffer.from(tag.ca) : null,
    tag.pairs.map((pair) => ({ cert_chain: Buffer.from(pair.cert), private_key: Buffer.from(pair.key) })),
    tag.requestCert,
  );
}

/** An error as the other side threw it: its name, message, stack and own properties (code, details, metadata...). */
export class CrossedError extends Error {
  [key: string]: unknown;
}

export function decode(wire: Wire, refs: References, depth = 0): unknown {
  if (depth > maxDepth) return undefined;
  if (wire === null || typeof wire !== "object" || wire instanceof Uint8Array || wire instanceof Date) {
    return wire instanceof Uint8Array && !Buffer.isBuffer(wire) ? Buffer.from(wire.buffer, wire.byteOffset, wire.byteLength) : wire;
  }
  if (Array.isArray(wire)) return wire.map((item) => decode(item, refs, depth + 1));
  switch (wire.$) {
    case "o": {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(wire.v)) {
        // Never let a key named __proto__ change the prototype of what the judge builds.
        Object.defineProperty(out, key, { value: decode(wire.v[key], refs, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    case "e": {
      const error = new CrossedError(String(wire.message));
      Object.defineProperty(error, "name", { value: String(wire.name), enumerable: false, writable: true, configurable: true });
      error.stack = String(wire.stack);
      for (const key of Object.keys(wire.props)) {
        if (key === "__proto__") continue;
        error[key] = decode(wire.props[key], refs, depth + 1);
      }
      return error;
    }
    case "m": {
      const metadata = new grpc.Metadata();
      for (const [key, value] of wire.v) {
        try {
          metadata.add(String(key), typeof value === "string" ? value : Buffer.from(value));
        } catch {
          // A key grpc-js refuses is dropped, as it would be on the wire.
        }
      }
      return metadata;
    }
    case "f":
    case "r":
      if (wire.owner === refs.side) return refs.local(String(wire.id));
      return refs.stand(wire);
    case "s":
      return refs.signal ? refs.signal(wire) : undefined;
    case "sc":
      return decodeCredentials(wire);
    case "map":
      return new Map(wire.v.map(([k, v]) => [decode(k, refs, depth + 1), decode(v, refs, depth + 1)]));
    case "set":
      return new Set(wire.v.map((v) => decode(v, refs, depth + 1)));
    case "x":
      return `[${String(wire.what)}]`;
    default:
      return undefined;
  }
}

/** Where a subject finds what it runs, told once it has started (it may start before its run is known). */
export interface SubjectOptions {
  /** The learner's lab folder (or the solution's), as the learner knows it: stack traces point there. */
  root: string;
  /** The same folder transpiled to JavaScript. */
  mirror: string;
  /** The lab's check fixtures, transpiled: objects the checks put into the learner's world. */
  fixtures: string;
}

/** Messages from the judge to the subject. */
export type ToSubject =
  /** The subject's run: the first message, before any request. */
  | { t: "configure"; options: SubjectOptions }
  /**
   * Call `method` of the subject's object `target` (or the function `target`
   * itself when method is null). `check` is the check it is done for: several
   * checks may share one subject, and what the code does for this call is
   * that check's.
   */
  | { t: "call"; id: number; target: string; method: string | null; args: Wire[]; check?: string }
  /** Construct the class `target` with `args`. */
  | { t: "construct"; id: number; target: string; args: Wire[]; check?: string }
  /** Read a property of the subject's object. */
  | { t: "get"; id: number; target: string; property: string; check?: string }
  /**
   * Load these installed packages now ("prom-client", "@bufbuild/protobuf/wire"): the ones the code under test
   * required last run, sent to a subject started before its run (prepareSubject), so that the run's first
   * check finds them loaded.
   */
  | { t: "preload"; packages: string[] }
  /** The judge's AbortSignal `signal` aborted. */
  | { t: "abort"; signal: string; reason: Wire }
  /** The answer to the subject's call of a judge function. */
  | { t: "reply"; id: number; ok: boolean; value: Wire };

/**
 * How much of a check's output crosses to the judge, and on to the runner
 * (which keeps 2000 characters and says it cut the rest): a learner's
 * printing loop stops here, not on the IPC channels.
 */
export const checkOutputLimit = 4000;

/**
 * The file, in the subject's working folder, that names the check whose code
 * runs now: the driver writes it as it switches between checks, and the judge
 * reads it when the subject's event loop stops (an endless loop says nothing).
 * The name fills the first line, the second names the file of the code under
 * test that is loading ("src/server.ts", empty when none), and the third counts the switches so far (a loop
 * stays in one check; many checks' work in one turn of the event loop does
 * not); spaces pad it to a fixed length.
 */
export const runningCheckFile = "running-check";
export const runningCheckLength = 1024;

/** The subject says it is alive this often, while its event loop turns. */
export const beatMs = 100;

/** Messages from the subject to the judge. */
export type FromSubject =
  | { t: "ready" }
  /** The event loop turns; cpuMs is the CPU time the subject has used so far (user and system). */
  | { t: "beat"; cpuMs: number }
  | { t: "reply"; id: number; ok: boolean; value: Wire }
  /** The learner's code called a function the judge passed it. */
  | { t: "call"; id: number; target: string; args: Wire[]; wantsReply: boolean }
  /**
   * Something the learner's code did that the check should hear of: a handler
   * threw, an exception nobody caught, process.exit(). `check`: the check the
   * code was working for, when the subject can tell.
   */
  | { t: "event"; kind: "handler-error" | "uncaught" | "exit"; text: string; check?: string }
  /** What the learner's code printed while working for the check `check`. */
  | { t: "output"; stream: "stdout" | "stderr"; text: string; check: string };
