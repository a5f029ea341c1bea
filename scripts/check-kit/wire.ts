import * as grpc from "@grpc/grpc-js";

/**
 * The wire transcript of a check: what its reference clients and recording
 * servers sent and received (calls with their deadline and metadata keys,
 * messages, half-close, cancel, status), and when the learner's functions
 * settled. A failing check shows it, short, under its message and in the
 * JSON (`wire`), so the learner sees the call and not only the assertion.
 */

/** At most this many lines are kept of a check (a demo or a long stream stops here); the report shows fewer. */
const keptLines = 200;
/** Lines a failing check shows: the first ones and the last 4, with a count of those left out between. */
export const shownLines = 14;
/** Characters of one message, status details or metadata list. */
const valueLimit = 80;

interface Line {
  at: number;
  text: string;
}

/** A call a recording server received: when, and when its handler sent the status. */
interface ServerCall {
  path: string;
  /** Whether the server streams its answer, and whether the client streams its requests. */
  responseStream: boolean;
  requestStream: boolean;
  arrivedAt: number;
  endedAt?: number;
}

const endLine = "the check ended: the judge closes its clients and servers";
/** How long after a call arrives its handler may still be about to record it (noteDeadline). */
const recordAfterArrivalMs = 100;

/** A learner's function the check waited for (within()): when the wait began and when it resolved. */
interface Settled {
  what: string;
  startedAt: number;
  resolvedAt?: number;
}

export class Wire {
  private readonly lines: Line[] = [];
  private dropped = 0;
  private calls = 0;
  private readonly serverCalls: ServerCall[] = [];
  private readonly waits: Settled[] = [];
  /** The methods whose calls the check records (noteDeadline): those calls end, so the learner's function must wait for the end. */
  private readonly recordedPaths = new Set<string>();
  /** Whether the check's own code is done (the judge is closing what it opened). */
  private ended = false;
  /** Recording servers the check started. */
  servers = 0;

  note(text: string): void {
    const line = { at: Date.now(), text };
    if (this.lines.length < keptLines) this.lines.push(line);
    else {
      // Past the limit, the last lines keep moving: the end of a call matters most.
      this.lines.splice(keptLines / 2, 1);
      this.lines.push(line);
      this.dropped++;
    }
  }

  noteCall(text: string): void {
    this.calls++;
    this.note(text);
  }

  serverCall(definition: { path: string; requestStream: boolean; responseStream: boolean }): ServerCall {
    const { path, requestStream, responseStream } = definition;
    const call = { path, requestStream, responseStream, arrivedAt: Date.now() };
    this.serverCalls.push(call);
    return call;
  }

  recorded(path: string): void {
    this.recordedPaths.add(path);
  }

  /** The check's own code is done; what follows is the judge closing what it opened. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.note(endLine);
  }

  /** within() began waiting for `what`; returns what to call when it resolved. */
  waiting(what: string): (() => void) | undefined {
    if (this.ended) return undefined;
    const wait: Settled = { what, startedAt: Date.now() };
    this.waits.push(wait);
    return () => {
      wait.resolvedAt = Date.now();
      this.note(`${functionName(what)} resolved`);
    };
  }

  /** The transcript, one line an event, times from the first one; null when no call was made or received. */
  transcript(limit = shownLines): string[] | null {
    if (this.calls === 0) return null;
    // "The check ended" tells something only when more followed it.
    const lines = this.lines[this.lines.length - 1]?.text === endLine ? this.lines.slice(0, -1) : this.lines;
    const start = lines[0]?.at ?? 0;
    const all = lines.map((line) => `+${String(line.at - start).padStart(4)} ms  ${line.text}`);
    const left = all.length + this.dropped - limit;
    if (left <= 0) return all;
    // The start of the calls and how they ended, with a count of the lines between.
    const tail = 4;
    return [...all.slice(0, limit - tail - 1), `        ... ${left + 1} more lines ...`, ...all.slice(-tail)];
  }

  /**
   * After a failed check: when a learner's function resolved and no call it
   * made has ended at a recording server by then, the call may still be on
   * its way (a client connects on its first call), or may end later. Waits up
   * to `ms` for it, before the judge closes everything, so that
   * resolvedTooEarly() can tell; not for a call that arrived and stays open
   * on a method the check does not record, whose end would tell nothing.
   */
  async settle(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.servers > 0 && this.unsettled() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private unsettled(): boolean {
    if (this.resolvedTooEarly()) return false;
    const now = Date.now();
    return this.waits.some((wait, index) => {
      if (wait.resolvedAt === undefined) return false;
      const calls = this.callsWhile(index);
      if (calls.some((call) => call.endedAt !== undefined && call.endedAt <= wait.resolvedAt!)) return false;
      // Nothing arrived yet (it may be on its way), or an open call that is recorded (or may be soon: its handler runs just after it arrives) may still end.
      return calls.length === 0 || calls.some((call) => call.endedAt === undefined && (this.recordedPaths.has(call.path) || now - call.arrivedAt < recordAfterArrivalMs));
    });
  }

  /** The calls that arrived while the check waited for its index-th function, before it waited for the next. */
  private callsWhile(index: number): ServerCall[] {
    const from = this.waits[index]!.startedAt;
    const until = this.waits[index + 1]?.startedAt ?? Infinity;
    return this.serverCalls.filter((call) => call.arrivedAt >= from && call.arrivedAt < until);
  }

  /**
   * The learner's function that resolved before a recording server ended a
   * call it made: the call had not arrived yet, or was still open. Then
   * "requests the server received: []" or "no deadline" would not be true;
   * this is. Only calls the check records count (a chat session may resolve
   * while its stream stays open), and only those that arrived while the
   * check waited for that function, before it waited for another.
   */
  resolvedTooEarly(): string | null {
    for (const [index, { what, resolvedAt }] of this.waits.entries()) {
      if (resolvedAt === undefined) continue;
      const open = this.callsWhile(index).find((call) => this.recordedPaths.has(call.path) && (call.endedAt ?? 0) > resolvedAt);
      if (!open) continue;
      const name = functionName(what);
      if (open.responseStream) return `${name} resolved before the server ended the stream: resolve on the call's "end" event, once every message has arrived (and reject on "error")`;
      if (open.requestStream) return `${name} resolved before the server answered: resolve in the call's callback, which runs once you end your stream with call.end() and the server answers`;
      return `${name} resolved before the server answered: resolve in the call's callback`;
    }
    return null;
  }
}

/** What a check waits for, without the advice in parentheses: "routeChat() (... call end())" is "routeChat()". */
const functionName = (what: string) => what.replace(/ \(.*\)$/, "");

let source: () => Wire | undefined = () => undefined;

/** Where the current check's transcript is (subject.ts: the current lane's check). */
export function setWireSource(find: () => Wire | undefined): void {
  source = find;
}

/** The current check's transcript. */
export function currentWire(): Wire | undefined {
  return source();
}

/** A value, short: JSON cut at the limit, a Buffer (a bytes field) as its length. */
export function shortValue(value: unknown): string {
  let text: string;
  try {
    // No replacer: it would cost four times as much for every message of a long stream.
    text = (JSON.stringify(value) ?? String(value)).replace(/\{"type":"Buffer","data":\[([\d,]*)\]\}/g, (_all, data: string) => `"<${data === "" ? 0 : data.split(",").length} bytes>"`);
  } catch {
    text = String(value);
  }
  return text.length > valueLimit ? `${text.slice(0, valueLimit - 3)}...` : text;
}

/** Metadata keys grpc-js sets on every call (and the date the server adds): not what the code sent. */
const transportKeys = new Set(["user-agent", "grpc-accept-encoding", "grpc-encoding", "accept-encoding", "content-type", "te", "grpc-timeout", "date"]);

function metadataKeys(metadata: grpc.Metadata): string {
  const keys = Object.keys(metadata.getMap()).filter((key) => !transportKeys.has(key));
  return keys.length === 0 ? "no metadata" : shortValue(keys).replace(/"/g, "");
}

function deadlineText(deadline: grpc.Deadline | undefined, from = Date.now()): string {
  if (deadline === undefined || deadline === Infinity) return "no deadline";
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return `deadline in ${((at - from) / 1000).toFixed(1)} s`;
}

function statusText(status: { code: grpc.status; details?: string }): string {
  const name = grpc.status[status.code] ?? String(status.code);
  return status.details && status.code !== grpc.status.OK ? `${name} ${shortValue(status.details)}` : name;
}

const method = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/** A server interceptor that writes a recording server's side of each call to `wire`. */
export function serverWire(wire: Wire): grpc.ServerInterceptor {
  wire.servers++;
  return (definition, call) => {
    const record = wire.serverCall(definition);
    const name = method(definition.path);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, go) => {
            wire.noteCall(`recording server ← ${name} call, ${deadlineText(call.getDeadline())}, ${metadataKeys(metadata)}`);
            go(metadata);
          },
          onReceiveMessage: (message, go) => {
            wire.note(`recording server ← message ${shortValue(message)}`);
            go(message);
          },
          onReceiveHalfClose: (go) => {
            wire.note("recording server ← half-close (the client's side of the call ended)");
            go();
          },
          // grpc-js also reports a call whose stream closes after its status: only a cancel before the status is one.
          onCancel: () => record.endedAt === undefined && wire.note("recording server ← cancel (the client cancelled, its deadline passed, or the connection closed)"),
        }),
      sendMetadata: (metadata, next) => {
        if (metadataKeys(metadata) !== "no metadata") wire.note(`recording server → metadata ${metadataKeys(metadata)}`);
        next(metadata);
      },
      sendMessage: (message, next) => {
        wire.note(`recording server → message ${shortValue(message)}`);
        next(message);
      },
      sendStatus: (status, next) => {
        record.endedAt = Date.now();
        wire.note(`recording server → status ${statusText({ code: status.code ?? grpc.status.OK, details: status.details })}`);
        next(status);
      },
    });
  };
}

/** A client interceptor that writes a reference client's calls to `wire`. */
export function clientWire(wire: Wire): grpc.Interceptor {
  return (options, nextCall) => {
    const name = method(options.method_definition.path);
    // A cancel after the status sends nothing: the call is over.
    let ended = false;
    return new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        wire.noteCall(`reference client → ${name} call, ${deadlineText(options.deadline)}, ${metadataKeys(metadata)}`);
        next(metadata, {
          onReceiveMetadata: (received, go) => {
            if (metadataKeys(received) !== "no metadata") wire.note(`reference client ← metadata ${metadataKeys(received)}`);
            go(received);
          },
          onReceiveMessage: (message, go) => {
            // grpc-js hands a failed unary call's listener a null message: nothing crossed the wire.
            if (message !== null) wire.note(`reference client ← message ${shortValue(message)}`);
            go(message);
          },
          onReceiveStatus: (status, go) => {
            ended = true;
            const trailers = metadataKeys(status.metadata);
            wire.note(`reference client ← status ${statusText(status)}${trailers === "no metadata" ? "" : `, trailers ${trailers}`}`);
            go(status);
          },
        });
      },
      sendMessage: (message, next) => {
        wire.note(`reference client → message ${shortValue(message)}`);
        next(message);
      },
      halfClose: (next) => {
        wire.note("reference client → half-close (its side of the call ended)");
        next();
      },
      cancel: (next) => {
        if (!ended) wire.note("reference client → cancel");
        next();
      },
    });
  };
}
