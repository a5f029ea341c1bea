import * as grpc from "@grpc/grpc-js";
import { CheckFailure } from "./assert";
import { rpcDeadlineMs } from "./rpc";

/** How a call ended: its status and, when it succeeded, the response. */
export interface CallOutcome<Res> {
  code: grpc.status;
  details: string;
  response?: Res;
}

/**
 * Makes a unary call with a deadline and resolves with how it ended, success
 * or not: for checks where a failure (UNAUTHENTICATED, PERMISSION_DENIED) is
 * the expected answer.
 */
export function unaryOutcome<Res>(client: grpc.Client, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<CallOutcome<Res>> {
  return new Promise((resolve) => {
    const call = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!;
    call.call(client, request, metadata, { deadline: Date.now() + rpcDeadlineMs }, (error: grpc.ServiceError | null, response: Res) =>
      resolve(error ? { code: error.code, details: error.details } : { code: grpc.status.OK, details: "", response }),
    );
  });
}

/** Fails with "what: expected UNAUTHENTICATED, got OK (details)" unless the call ended with `code`. */
export function expectStatus(outcome: CallOutcome<unknown>, code: grpc.status, what: string): void {
  if (outcome.code === code) return;
  const got = grpc.status[outcome.code] ?? String(outcome.code);
  // Details can hold a whole OpenSSL error: its first line says enough.
  const details = outcome.details.split("\n")[0]!.slice(0, 200);
  throw new CheckFailure(`${what}: expected ${grpc.status[code]}, got ${got}${details ? ` (${details})` : ""}`);
}
