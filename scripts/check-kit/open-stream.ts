import * as grpc from "@grpc/grpc-js";
import { CheckFailure } from "./assert";
import { track } from "./resources";

/**
 * A server-streaming call that a check keeps open and reads as it goes, for
 * streams that do not end by themselves (a health Watch, a feed). It is
 * cancelled after the check.
 */
export interface OpenStream<T> {
  /** Every message received so far, in order. */
  readonly messages: T[];
  /** Settles with the call's status (OK or not) when the call ends. */
  readonly ended: Promise<grpc.StatusObject>;
  /** Resolves with the messages once `condition` holds for them; fails after `ms`, or if the call ends first. */
  waitUntil(condition: (messages: T[]) => boolean, ms: number, what: string): Promise<T[]>;
  /** True if the call was still open `ms` from now. */
  stillOpenAfter(ms: number): Promise<boolean>;
  cancel(): void;
}

/** Opens `method` on `client`; the call's deadline is `deadlineMs` away (the check's limit is 5 s). */
export function openServerStream<T>(client: grpc.Client, method: string, request: unknown, deadlineMs = 4500): OpenStream<T> {
  const start = (client as unknown as Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<T>>)[method]!;
  const call = start.call(client, request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs });
  track(() => call.cancel());
  const messages: T[] = [];
  const listeners = new Set<() => void>();
  let status: grpc.StatusObject | undefined;
  const ended = new Promise<grpc.StatusObject>((resolve) => {
    call.on("status", (s: grpc.StatusObject) => {
      status = s;
      resolve(s);
      for (const listener of listeners) listener();
    });
  });
  call.on("error", () => {}); // the status above carries it
  call.on("data", (message: T) => {
    messages.push(message);
    for (const listener of listeners) listener();
  });

  return {
    messages,
    ended,
    cancel: () => call.cancel(),
    waitUntil(condition, ms, what) {
      return new Promise((resolve, reject) => {
        const finish = (error?: CheckFailure) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (error) reject(error);
          else resolve(messages);
        };
        const check = () => {
          if (condition(messages)) return finish();
          if (status) finish(new CheckFailure(`${what}: the stream ended with ${grpc.status[status.code]} after ${JSON.stringify(messages)}`));
        };
        const timer = setTimeout(() => finish(new CheckFailure(`${what} within ${ms / 1000} s; received ${JSON.stringify(messages)}`)), ms);
        listeners.add(check);
        check();
      });
    },
    async stillOpenAfter(ms) {
      const timedOut = Symbol("open");
      let timer: NodeJS.Timeout | undefined;
      const wait = new Promise<symbol>((resolve) => (timer = setTimeout(() => resolve(timedOut), ms)));
      const outcome = await Promise.race([ended, wait]);
      clearTimeout(timer);
      return outcome === timedOut;
    },
  };
}
