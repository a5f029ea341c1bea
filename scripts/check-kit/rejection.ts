import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectEqual, within } from "./assert";

/**
 * Expects the learner's promise to reject, within `ms`, with a gRPC error
 * carrying `code` (the call's own error, not a new Error wrapping it).
 * Returns the error for further checks.
 */
export async function expectRejection(work: Promise<unknown>, code: grpc.status, what: string, ms: number): Promise<grpc.ServiceError> {
  let outcome: unknown;
  try {
    outcome = await within(work, ms, what);
  } catch (error) {
    if (error instanceof CheckFailure) throw error;
    const received = (error as { code?: unknown }).code;
    if (typeof received !== "number") {
      throw new CheckFailure(`${what}: expected it to reject with the call's error (code ${grpc.status[code]}), got an error with no gRPC code: ${String((error as Error).message ?? error)}`);
    }
    expectEqual(grpc.status[received], grpc.status[code], `${what}: the code of the error it rejected with`);
    return error as grpc.ServiceError;
  }
  throw new CheckFailure(`${what}: expected it to reject with ${grpc.status[code]}, but it resolved with ${JSON.stringify(outcome)}`);
}
