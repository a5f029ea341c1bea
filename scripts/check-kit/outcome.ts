import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectTrue } from "./assert";
import { adviceFor, cleanDetails } from "./explain";
import { rpcDeadlineMs } from "./rpc";

/**
 * Calls for checks that expect failures: instead of rejecting, they resolve
 * with how the call ended (its status: code, details and trailing metadata)
 * and whatever came before, so a check can assert the code, the trailers and
 * the messages a stream sent before it failed.
 */
export interface CallOutcome<Res> extends grpc.StatusObject {
  /** The response, when the call succeeded. */
  response?: Res;
}

export interface StreamOutcome<Res> extends grpc.StatusObject {
  messages: Res[];
}

type AnyClient = Record<string, (...args: unknown[]) => grpc.ClientUnaryCall & grpc.ClientReadableStream<unknown>>;

const options = (): grpc.CallOptions => ({ deadline: Date.now() + rpcDeadlineMs });

/** Makes a unary call (with a deadline) and resolves with how it ended, success or not. */
export function unaryOutcome<Res>(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<CallOutcome<Res>> {
  return new Promise((resolve) => {
    let response: Res | undefined;
    const call = (client as unknown as AnyClient)[method]!.call(client, request, metadata, options(), (_error: unknown, value: Res) => {
      response = value;
    });
    // The status event comes after the callback, with the trailers of a successful call too.
    call.on("status", (status: grpc.StatusObject) => resolve(response === undefined ? { ...status } : { ...status, response }));
  });
}

/** Makes a server-streaming call and resolves with the messages it got and how it ended. */
export function serverStreamOutcome<Res>(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<StreamOutcome<Res>> {
  return new Promise((resolve) => {
    const messages: Res[] = [];
    const call = (client as unknown as AnyClient)[method]!.call(client, request, metadata, options());
    call.on("data", (message: Res) => messages.push(message));
    // A failed stream also emits "error"; the status event carries the same code and the trailers.
    call.on("error", () => undefined);
    call.on("status", (status: grpc.StatusObject) => resolve({ ...status, messages }));
  });
}

/** Fails with "what: expected X, got Y (details)" unless the call ended with `code`. */
export function expectCode(outcome: grpc.StatusObject, code: grpc.status, what: string): void {
  if (outcome.code === code) return;
  if (outcome.code === grpc.status.DEADLINE_EXCEEDED) {
    throw new CheckFailure(`${what}: expected ${grpc.status[code]}, but no answer came within ${rpcDeadlineMs / 1000} s: does every path call callback() or end the stream?`);
  }
  const got = grpc.status[outcome.code] ?? String(outcome.code);
  // Details can hold a whole OpenSSL error: cleaned, its first line says enough.
  const details = cleanDetails(outcome.details).split("\n")[0]!.slice(0, 200);
  const advice = adviceFor(got, details);
  throw new CheckFailure(`${what}: expected ${grpc.status[code]}, got ${got}${details ? ` (${details})` : ""}${advice ? `: ${advice}` : ""}`);
}

/**
 * Makes a unary call that must fail with `code`, and returns the error's
 * details (to check, say, that they name the field at fault). Fails with one
 * sentence when the call succeeds or ends with another code.
 */
export async function expectCallError(client: grpc.Client, method: string, request: unknown, code: grpc.status, what: string): Promise<string> {
  const outcome = await unaryOutcome(client, method, request);
  if (outcome.code === grpc.status.OK) {
    const response = JSON.stringify(outcome.response) ?? "";
    throw new CheckFailure(`${what}: expected ${grpc.status[code]}, but the call succeeded with ${response.length > 120 ? `${response.slice(0, 117)}...` : response}`);
  }
  expectCode(outcome, code, what);
  return outcome.details;
}

/**
 * Fails unless an error message names `field`, in any wording or spelling:
 * "page_token", "pageToken" and "page token" all name page_token.
 */
export function expectNames(details: string, field: string, what: string): void {
  const bare = (text: string) => text.toLowerCase().replace(/[\s_.-]/g, "");
  expectTrue(bare(details).includes(bare(field)), `${what}: the error message should name ${field} so the caller knows what to fix, got "${details}"`);
}
