import * as grpc from "@grpc/grpc-js";
import { CheckFailure } from "./assert";
import { describeStatus } from "./explain";

/**
 * Reads a stream that stays open (a watch, a chat) one message at a time:
 * `next()` waits for the next message, failing with one sentence when none
 * comes in time or when the stream ends or fails first.
 */
export interface StreamReader<T> {
  next(ms: number, what: string): Promise<T>;
  /** The messages received and not yet taken by next(). */
  readonly pending: T[];
  /** How the stream ended or failed ("the stream ended", "the stream failed with ..."), once it has. */
  readonly ended: string | undefined;
}

export function readStream<T>(call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): StreamReader<T> {
  const pending: T[] = [];
  let ended: string | undefined;
  let wake: (() => void) | undefined;
  call.on("data", (message: T) => {
    pending.push(message);
    wake?.();
  });
  call.on("error", (error: grpc.ServiceError) => {
    ended = `the stream failed with ${describeStatus(grpc.status[error.code] ?? String(error.code), error.details || "(no details)")}`;
    wake?.();
  });
  call.on("end", () => {
    ended ??= "the stream ended";
    wake?.();
  });
  return {
    pending,
    get ended() {
      return ended;
    },
    async next(ms, what) {
      const deadline = Date.now() + ms;
      while (pending.length === 0) {
        if (ended) throw new CheckFailure(`${what} never came: ${ended}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new CheckFailure(`${what} did not come within ${ms / 1000} s`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
      return pending.shift() as T;
    },
  };
}
