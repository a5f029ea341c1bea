/**
 * The reference side of lab 03's checks: messages as the checks see them,
 * how to start the learner's server and client, and `Member`, a reference
 * chat client (proto-loader, its own connection) that records every event.
 */
import * as grpc from "@grpc/grpc-js";
import { CheckFailure, exportedFunction, fixture, listen, loadService, loadTarget, referenceServer, track } from "../../../scripts/check-kit";

export const proto = "chat/v1/chat.proto";
export const service = "chat.v1.ChatService";

/** How long a check lets a chat call live: longer than a unary call, shorter than a check. */
export const sessionMs = 4500;
/** How long a check waits for an event that should come at once; generous for a loaded machine. */
export const promptlyMs = 2000;

export interface ChatMessage {
  from: string;
  text: string;
}
export interface Welcome {
  room: string;
  members: string[];
  history: ChatMessage[];
}

/** A ServerEvent as proto-loader decodes it: `kind` names the field of the oneof that is set. */
export type ServerEvent =
  | { kind: "welcome"; welcome: Welcome }
  | { kind: "message"; message: ChatMessage }
  | { kind: "joined"; joined: { name: string } }
  | { kind: "left"; left: { name: string } };

/** A ClientMessage as proto-loader encodes it. */
export type ClientMessage = { join: { room: string; name: string } } | { text: string };

/** The same event as the learner's ts-proto stubs decode it: a oneof is { $case, value }. */
export interface LearnerEvent {
  kind?: { $case: "welcome"; value: Welcome } | { $case: "message"; value: ChatMessage } | { $case: "joined" | "left"; value: { name: string } };
}

export interface ChatLimits {
  historySize: number;
  maxQueued: number;
}

/**
 * Lines for chat(), fed one at a time by a check (checks/lines.fixture.ts):
 * the learner's chat() gets the fixture itself, an AsyncIterable beside its
 * code; the check holds this handle to it.
 */
export interface Lines {
  push(...lines: string[]): Promise<void>;
  /** `times` copies of `line` (made beside the learner's code, not sent one by one). */
  repeat(line: string, times: number): Promise<void>;
  /** The end of input, as when the user presses Ctrl-D. */
  end(): Promise<void>;
  /** How many lines chat() has taken so far. */
  readonly taken: Promise<number>;
}

/** Lines for the learner's chat(), starting with `lines`. */
export function chatLines(lines: string[] = []): Promise<Lines> {
  return fixture<Lines>("lines.fixture.ts", "Lines", lines);
}

/**
 * What the learner's src/client.ts must export. The checks call each function
 * in the process that runs the learner's code, so each resolves there.
 */
export interface ClientModule {
  createChatClient(address: string): Promise<grpc.Client>;
  chat(client: grpc.Client, room: string, name: string, lines: AsyncIterable<string> | Lines, onEvent: (event: LearnerEvent) => void, signal?: AbortSignal): Promise<void>;
}

type CreateServer = (limits?: ChatLimits) => Promise<grpc.Server>;

export async function createLearnerServer(limits?: ChatLimits): Promise<grpc.Server> {
  const file = "src/server.ts";
  return exportedFunction<CreateServer>(await loadTarget(file), "createChatServer", file)(limits);
}

/** Starts the learner's server on a free port; returns its address. */
export async function learnerServer(limits: ChatLimits = { historySize: 20, maxQueued: 256 }): Promise<string> {
  return listen(await createLearnerServer(limits));
}

/** The learner's client module, with every function the checks call. */
export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["createChatClient", "chat"]) exportedFunction(module, name, file);
  return module;
}

/**
 * Starts a recording server whose Chat handler is `chat`; returns the
 * learner's module and a client it created for it (closed after the check
 * with everything else the learner's code opened).
 */
export async function learnerClientFor(chat: (call: grpc.ServerDuplexStream<ClientMessage, ServerEvent>) => void): Promise<{ learner: ClientModule; client: grpc.Client }> {
  const learner = await learnerClientModule();
  const address = await referenceServer(proto, service, { chat: chat as grpc.handleBidiStreamingCall<unknown, unknown> });
  const client = await learner.createChatClient(address);
  return { learner, client };
}

export function describeEvent(event: ServerEvent): string {
  const text = `${event.kind} ${JSON.stringify(event[event.kind as keyof typeof event])}`;
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}
export const isMessage = (event: ServerEvent): event is Extract<ServerEvent, { kind: "message" }> => event.kind === "message";
export const isJoined = (name: string) => (event: ServerEvent) => event.kind === "joined" && event.joined.name === name;
export const isLeft = (name: string) => (event: ServerEvent) => event.kind === "left" && event.left.name === name;

/** A member on a connection of its own, as a user, or sharing one with the other "shared" members. */
type Connection = "own" | "shared";

type Waiter = { ready: () => boolean; resolve: () => void; reject: (error: Error) => void; what: string };

/**
 * One member of a room, as a reference client: its own channel (so its
 * connection's flow control is its own, as for a real user), one Chat call
 * with a deadline, and every event it receives, in order.
 */
export class Member {
  readonly events: ServerEvent[] = [];
  /** The call's final status, whatever its code. */
  readonly status: Promise<grpc.StatusObject>;
  private readonly call: grpc.ClientDuplexStream<ClientMessage, ServerEvent>;
  private waiters: Waiter[] = [];
  private ended: grpc.StatusObject | undefined;

  private constructor(
    address: string,
    readonly name: string,
    connection: Connection,
  ) {
    const Client = loadService(proto, service);
    // A subchannel pool of its own gives this member its own connection; otherwise grpc-js shares one.
    const client = new Client(address, grpc.credentials.createInsecure(), connection === "own" ? { "grpc.use_local_subchannel_pool": 1 } : {});
    this.call = (client as unknown as { chat(options: grpc.CallOptions): grpc.ClientDuplexStream<ClientMessage, ServerEvent> }).chat({ deadline: Date.now() + sessionMs });
    track(() => {
      this.call.cancel();
      client.close();
    });
    this.call.on("data", (event: ServerEvent) => {
      this.events.push(event);
      for (const waiter of this.waiters.filter((w) => w.ready())) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
    this.call.on("error", () => {});
    this.status = new Promise((resolve) => {
      this.call.on("status", (status: grpc.StatusObject) => {
        this.ended = status;
        for (const waiter of this.waiters.splice(0)) waiter.reject(new CheckFailure(`${this.name}: ${waiter.what}, but the call ended first with ${describeStatus(status)}`));
        resolve(status);
      });
    });
  }

  /** Opens a Chat call and sends `first`, without waiting for an answer; `name` is for messages. */
  static open(address: string, name: string, first: ClientMessage, connection: Connection = "own"): Member {
    const member = new Member(address, name, connection);
    member.send(first);
    return member;
  }

  /** Joins and waits for the Welcome. */
  static async join(address: string, room: string, name: string, connection: Connection = "own", ms = promptlyMs): Promise<Member> {
    const member = Member.open(address, name, { join: { room, name } }, connection);
    await member.waitFor((e) => e.kind === "welcome", "expected a welcome as the answer to its join", ms);
    return member;
  }

  send(message: ClientMessage): boolean {
    return this.call.write(message);
  }

  say(text: string): boolean {
    return this.send({ text });
  }

  /** Half-closes: this member will send nothing more. */
  end(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }

  /** Stops reading: events pile up in the server and the network, as for a slow client. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  /** The events that are chat messages, as "from: text". */
  messages(): string[] {
    return this.events.filter(isMessage).map((e) => `${e.message.from}: ${e.message.text}`);
  }

  /**
   * Resolves once `ready()` holds, checked now and after each event; fails after `ms`, when the call ends
   * first, or, with `stallMs`, once no event has come for that long.
   */
  until(ready: () => boolean, what: string, ms = promptlyMs, { stallMs }: { stallMs?: number } = {}): Promise<void> {
    if (ready()) return Promise.resolve();
    if (this.ended) return Promise.reject(new CheckFailure(`${this.name}: ${what}, but the call ended first with ${describeStatus(this.ended)}`));
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        stop();
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const last = this.events.at(-1);
        reject(new CheckFailure(`${this.name}: ${what}, but ${why} (${this.events.length} events received${last ? `, the last: ${describeEvent(last)}` : ""})`));
      };
      const timer = setTimeout(() => fail(`it did not come within ${ms / 1000} s`), ms);
      // With stallMs, what counts is that events keep coming (a busy machine is slow), not how fast.
      let seen = this.events.length;
      let seenAt = Date.now();
      const stall =
        stallMs === undefined
          ? undefined
          : setInterval(() => {
              if (this.events.length !== seen) [seen, seenAt] = [this.events.length, Date.now()];
              else if (Date.now() - seenAt >= stallMs) fail(`no event came for ${stallMs / 1000} s`);
            }, 100);
      const stop = () => {
        clearTimeout(timer);
        clearInterval(stall);
      };
      const settle = (error?: Error) => {
        stop();
        if (error) reject(error);
        else resolve();
      };
      const waiter: Waiter = { ready, resolve: () => settle(), reject: settle, what };
      this.waiters.push(waiter);
    });
  }

  /** Resolves with the first event, received or to come, that passes `test`. */
  async waitFor(test: (event: ServerEvent) => boolean, what: string, ms = promptlyMs): Promise<ServerEvent> {
    await this.until(() => this.events.some(test), what, ms);
    return this.events.find(test)!;
  }

  /** Waits for the call to end, and returns its status. */
  async finished(what: string, ms = promptlyMs): Promise<grpc.StatusObject> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailure(`${this.name}: ${what}, but the call was still open after ${ms / 1000} s`)), ms);
    });
    return Promise.race([this.status, timeout]).finally(() => clearTimeout(timer));
  }
}

export function describeStatus(status: grpc.StatusObject): string {
  return `${grpc.status[status.code]}${status.details ? ` (${status.details})` : ""}`;
}
