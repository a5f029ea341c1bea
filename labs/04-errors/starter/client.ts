/**
 * Lab 04, your Inventory client. Steps 6 to 8 each add one part.
 *
 * A client acts on the status code, never on the message text:
 *   INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ...  retrying the same
 *       request gives the same answer: show the details and stop
 *   UNAVAILABLE          transient: retry with exponential backoff and jitter
 *   RESOURCE_EXHAUSTED   retry only when the server says when (RetryInfo)
 * and every retry loop has a bound, or one outage turns into a retry storm.
 */
import * as grpc from "@grpc/grpc-js";
import { InventoryClient, type Reservation, type ReserveStockRequest } from "../gen/inventory/v1/inventory";

/** How long one attempt may take. */
const callTimeoutMs = 2000;

/** A client on a plaintext channel to `address` (host:port). Close it with client.close(). */
export function createInventoryClient(address: string): InventoryClient {
  return new InventoryClient(address, grpc.credentials.createInsecure());
}

/** The rich error details a client acts on, decoded from a failed call. */
export interface ErrorDetails {
  /** From google.rpc.BadRequest: which fields of the request were wrong, and why. */
  fieldViolations: Array<{ field: string; description: string }>;
  /** From google.rpc.ErrorInfo: a machine-readable reason, its domain and metadata. */
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  /** From google.rpc.RetryInfo: how long the server asks the client to wait before retrying. */
  retryDelayMs?: number;
}

/** Step 6: decodes the google.rpc.Status that the server put in the `grpc-status-details-bin` trailer. */
export function errorDetails(error: grpc.ServiceError): ErrorDetails {
  // TODO(step 6): read the trailer from error.metadata, decode it with Status from
  // ../gen/google/rpc/status, then each detail by its typeUrl (BadRequest, ErrorInfo, RetryInfo).
  throw new Error("TODO(step 6): implement errorDetails");
}

/** When and how often to retry, with the same fields as a gRPC service config's retryPolicy. */
export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
}

/** Step 7: how long to wait before retry number `retry` (1 for the first retry), with jitter drawn from `random`. */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  // TODO(step 7): a random share of min(maxBackoffMs, initialBackoffMs * backoffMultiplier^(retry - 1)).
  throw new Error("TODO(step 7): implement backoffMs");
}

/** One ReserveStock call with a deadline; rejects with the call's error. */
export function reserveOnce(client: InventoryClient, request: ReserveStockRequest): Promise<Reservation> {
  return new Promise((resolve, reject) => {
    client.reserveStock(request, new grpc.Metadata(), { deadline: Date.now() + callTimeoutMs }, (error, reservation) => (error ? reject(error) : resolve(reservation)));
  });
}

/** Step 8: ReserveStock, retried while the failure is transient, at most `policy.maxAttempts` attempts in all. */
export async function reserveStock(client: InventoryClient, request: ReserveStockRequest, policy: RetryPolicy): Promise<Reservation> {
  // TODO(step 8): call reserveOnce(); retry UNAVAILABLE after backoffMs(), and RESOURCE_EXHAUSTED
  // after the RetryInfo delay; reject with the call's own error for anything else or when out of attempts.
  throw new Error("TODO(step 8): implement reserveStock");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
