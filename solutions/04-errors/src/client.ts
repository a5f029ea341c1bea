/**
 * Lab 04, the reference Inventory client (steps 6 to 8).
 *
 * A client acts on the status code, never on the message text:
 *   INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ...  retrying the same
 *       request gives the same answer: show the details and stop
 *   UNAVAILABLE          transient: retry with exponential backoff and jitter
 *   RESOURCE_EXHAUSTED   retry only when the server says when (RetryInfo)
 * and every retry loop has a bound, or one outage turns into a retry storm.
 */
import * as grpc from "@grpc/grpc-js";
import { BadRequest, ErrorInfo, RetryInfo } from "../gen/google/rpc/error_details";
import { Status } from "../gen/google/rpc/status";
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
  const result: ErrorDetails = { fieldViolations: [] };
  const [bytes] = error.metadata?.get("grpc-status-details-bin") ?? [];
  if (!Buffer.isBuffer(bytes)) return result;
  for (const detail of Status.decode(bytes).details) {
    // The type URL names the message packed in Any; skip types this client does not know.
    switch (detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1)) {
      case "google.rpc.BadRequest":
        for (const { field, description } of BadRequest.decode(detail.value).fieldViolations) result.fieldViolations.push({ field, description });
        break;
      case "google.rpc.ErrorInfo": {
        const { reason, domain, metadata } = ErrorInfo.decode(detail.value);
        result.errorInfo = { reason, domain, metadata };
        break;
      }
      case "google.rpc.RetryInfo": {
        const delay = RetryInfo.decode(detail.value).retryDelay;
        if (delay) result.retryDelayMs = Number(delay.seconds) * 1000 + delay.nanos / 1e6;
        break;
      }
    }
  }
  return result;
}

/** When and how often to retry, with the same fields as a gRPC service config's retryPolicy. */
export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
}

/**
 * Step 7: how long to wait before retry number `retry` (1 for the first retry).
 * Exponential: the ceiling grows by `backoffMultiplier` each retry, up to `maxBackoffMs`.
 * Jitter: the wait is random below that ceiling, so clients that failed together
 * do not all come back at the same moment (gRPC's own retries do the same).
 */
export function backoffMs(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.backoffMultiplier ** (retry - 1));
  return random() * ceiling;
}

/** One ReserveStock call with a deadline; rejects with the call's error. */
export function reserveOnce(client: InventoryClient, request: ReserveStockRequest): Promise<Reservation> {
  return new Promise((resolve, reject) => {
    client.reserveStock(request, new grpc.Metadata(), { deadline: Date.now() + callTimeoutMs }, (error, reservation) => (error ? reject(error) : resolve(reservation)));
  });
}

/** Step 8: ReserveStock, retried while the failure is transient, at most `policy.maxAttempts` attempts in all. */
export async function reserveStock(client: InventoryClient, request: ReserveStockRequest, policy: RetryPolicy): Promise<Reservation> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await reserveOnce(client, request);
    } catch (error) {
      const waitMs = attempt < policy.maxAttempts ? retryDelayMs(error as grpc.ServiceError, attempt, policy) : undefined;
      // Not retryable, or out of attempts: the caller gets the call's own error, code and details intact.
      if (waitMs === undefined) throw error;
      await sleep(waitMs);
    }
  }
}

/** How long to wait before retrying after `error`, or undefined when retrying cannot help. */
function retryDelayMs(error: grpc.ServiceError, attempt: number, policy: RetryPolicy): number | undefined {
  switch (error.code) {
    case grpc.status.UNAVAILABLE:
      return errorDetails(error).retryDelayMs ?? backoffMs(attempt, policy);
    case grpc.status.RESOURCE_EXHAUSTED:
      // A quota resets at a time only the server knows; without RetryInfo, do not guess.
      return errorDetails(error).retryDelayMs;
    default:
      return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
