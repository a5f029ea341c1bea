import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectTrue } from "./assert";
import { rpcDeadlineMs } from "./rpc";

type UnaryMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: unknown) => void) => void;

/** How a unary call ended: its status code, the error's details, and the response when it succeeded. */
export interface CallOutcome<Res> {
  code: grpc.status;
  details: string;
  response?: Res;
}

/** Makes a unary call (with a deadline) and resolves with how it ended, success or not. */
export function unaryOutcome<Res>(client: grpc.Client, method: string, request: unknown): Promise<CallOutcome<Res>> {
  return new Promise((resolve) => {
    const call = (client as unknown as Record<string, UnaryMethod>)[method]!.bind(client);
    call(request, new grpc.Metadata(), { deadline: Date.now() + rpcDeadlineMs }, (error, response) =>
      resolve(error ? { code: error.code, details: error.details } : { code: grpc.status.OK, details: "", response: response as Res }),
    );
  });
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
  if (outcome.code !== code) throw new CheckFailure(`${what}: expected ${grpc.status[code]}, got ${grpc.status[outcome.code] ?? outcome.code}: ${outcome.details || "(no details)"}`);
  return outcome.details;
}

/**
 * Fails unless an error message names `field`, in any wording or spelling:
 * "page_token", "pageToken" and "page token" all name page_token.
 */
export function expectNames(details: string, field: string, what: string): void {
  const bare = (text: string) => text.toLowerCase().replace(/[\s_.-]/g, "");
  expectTrue(bare(details).includes(bare(field)), `${what}: the error message should name the field ${field}, got "${details}"`);
}
