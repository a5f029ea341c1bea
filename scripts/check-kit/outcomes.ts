import * as grpc from "@grpc/grpc-js";
import { CheckFailure } from "./assert";
import { rpcDeadlineMs } from "./rpc";

/**
 * Calls for checks that expect failures: instead of rejecting, they resolve
 * with how the call ended (its status: code, details and trailing metadata)
 * and whatever came before, so a check can assert the code, the trailers and
 * the messages a stream sent before it failed.
 */
export interface UnaryOutcome<Res> {
  response: Res | undefined;
  status: grpc.StatusObject;
}

export interface StreamOutcome<Res> {
  messages: Res[];
  status: grpc.StatusObject;
}

type AnyClient = Record<string, (...args: unknown[]) => grpc.ClientUnaryCall & grpc.ClientReadableStream<unknown>>;

const options = (): grpc.CallOptions => ({ deadline: Date.now() + rpcDeadlineMs });

export function unaryOutcome<Res>(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<UnaryOutcome<Res>> {
  return new Promise((resolve) => {
    let response: Res | undefined;
    const call = (client as unknown as AnyClient)[method]!(request, metadata, options(), (_error: unknown, value: Res) => {
      response = value;
    });
    // The status event comes after the callback, with the trailers of a successful call too.
    call.on("status", (status: grpc.StatusObject) => resolve({ response, status }));
  });
}

export function serverStreamOutcome<Res>(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<StreamOutcome<Res>> {
  return new Promise((resolve) => {
    const messages: Res[] = [];
    const call = (client as unknown as AnyClient)[method]!(request, metadata, options());
    call.on("data", (message: Res) => messages.push(message));
    // A failed stream also emits "error"; the status event carries the same code and the trailers.
    call.on("error", () => undefined);
    call.on("status", (status: grpc.StatusObject) => resolve({ messages, status }));
  });
}

/** Fails with "what: expected status X, got Y (details)" unless the call ended with `code`. */
export function expectCode(status: grpc.StatusObject, code: grpc.status, what: string): void {
  if (status.code === code) return;
  const got = grpc.status[status.code] ?? String(status.code);
  if (status.code === grpc.status.DEADLINE_EXCEEDED) {
    throw new CheckFailure(`${what}: expected status ${grpc.status[code]}, but no answer came within ${rpcDeadlineMs / 1000} s: does every path call callback() or end the stream?`);
  }
  throw new CheckFailure(`${what}: expected status ${grpc.status[code]}, got ${got}${status.details ? ` ("${status.details}")` : ""}`);
}
