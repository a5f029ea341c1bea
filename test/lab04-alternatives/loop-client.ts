/**
 * Lab 04, a second correct client: a table of detail decoders keyed by type
 * URL, timers/promises for the waits, and a while loop that also retries
 * RESOURCE_EXHAUSTED without RetryInfo, with backoff (the README leaves that
 * choice open).
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as wait } from "node:timers/promises";
import { BadRequest, ErrorInfo, RetryInfo } from "../../solutions/04-errors/gen/google/rpc/error_details";
import { Status } from "../../solutions/04-errors/gen/google/rpc/status";
import { InventoryClient, type Reservation, type ReserveStockRequest } from "../../solutions/04-errors/gen/inventory/v1/inventory";

export function createInventoryClient(address: string): InventoryClient {
  return new InventoryClient(address, grpc.credentials.createInsecure());
}

export interface ErrorDetails {
  fieldViolations: Array<{ field: string; description: string }>;
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  retryDelayMs?: number;
}

const decoders: Record<string, (bytes: Uint8Array, into: ErrorDetails) => void> = {
  "type.googleapis.com/google.rpc.BadRequest": (bytes, into) => {
    into.fieldViolations.push(...BadRequest.decode(bytes).fieldViolations.map(({ field, description }) => ({ field, description })));
  },
  "type.googleapis.com/google.rpc.ErrorInfo": (bytes, into) => {
    const { reason, domain, metadata } = ErrorInfo.decode(bytes);
    into.errorInfo = { reason, domain, metadata };
  },
  "type.googleapis.com/google.rpc.RetryInfo": (bytes, into) => {
    const { retryDelay } = RetryInfo.decode(bytes);
    if (retryDelay) into.retryDelayMs = parseInt(retryDelay.seconds, 10) * 1000 + Math.round(retryDelay.nanos / 1e6);
  },
};

export function errorDetails(error: grpc.ServiceError): ErrorDetails {
  const details: ErrorDetails = { fieldViolations: [] };
  const trailer = error.metadata?.get("grpc-status-details-bin")[0];
  if (trailer instanceof Buffer) for (const { typeUrl, value } of Status.decode(trailer).details) decoders[typeUrl]?.(value, details);
  return details;
}

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
}

export function backoffMs(retry: number, { initialBackoffMs, backoffMultiplier, maxBackoffMs }: RetryPolicy, random = Math.random): number {
  let ceiling = initialBackoffMs;
  for (let i = 1; i < retry && ceiling < maxBackoffMs; i++) ceiling *= backoffMultiplier;
  return Math.min(ceiling, maxBackoffMs) * random();
}

export function reserveOnce(client: InventoryClient, request: ReserveStockRequest): Promise<Reservation> {
  return new Promise((resolve, reject) => {
    client.reserveStock(request, new grpc.Metadata(), { deadline: new Date(Date.now() + 2000) }, (error, reservation) => (error ? reject(error) : resolve(reservation!)));
  });
}

const retryable = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED]);

export async function reserveStock(client: InventoryClient, request: ReserveStockRequest, policy: RetryPolicy): Promise<Reservation> {
  let attempt = 0;
  while (true) {
    attempt += 1;
    try {
      return await reserveOnce(client, request);
    } catch (error) {
      const failure = error as grpc.ServiceError;
      if (!retryable.has(failure.code) || attempt >= policy.maxAttempts) throw failure;
      await wait(errorDetails(failure).retryDelayMs ?? backoffMs(attempt, policy));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return wait(ms).then(() => undefined);
}
