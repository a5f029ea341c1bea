/**
 * Lab 06, the reference client: a health probe with grpc_health_probe's exit
 * codes, and a watcher that reports each status change.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthClient, healthCheckResponse_ServingStatusToJSON, type HealthCheckResponse } from "../gen/grpc/health/v1/health";

/**
 * The exit codes of grpc_health_probe (github.com/grpc-ecosystem/grpc-health-probe,
 * README "Exit codes"), which Kubernetes exec probes and load balancers run.
 */
export const ExitCode = {
  SERVING: 0,
  INVALID_ARGUMENTS: 1,
  CONNECTION_FAILURE: 2,
  RPC_FAILURE: 3,
  UNHEALTHY: 4,
} as const;

export interface ProbeOptions {
  /** The service to check; "" asks about the server as a whole. */
  service: string;
  connectTimeoutMs: number;
  rpcTimeoutMs: number;
}

export interface ProbeResult {
  exitCode: number;
  /** One line for a person: what happened. */
  message: string;
}

/** Step 6: one health check of `address`, as grpc_health_probe does it. */
export async function probe(address: string, options: ProbeOptions): Promise<ProbeResult> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  try {
    // First connect, with its own timeout: "no connection" (2) is a different
    // failure from "the server did not answer well" (3).
    const notConnected = await new Promise<Error | undefined>((resolve) => client.waitForReady(Date.now() + options.connectTimeoutMs, resolve));
    if (notConnected) {
      return { exitCode: ExitCode.CONNECTION_FAILURE, message: `failed to connect to ${address} within ${options.connectTimeoutMs} ms` };
    }
    // Then one Check with a deadline: a hung server must not hang the probe.
    const response = await new Promise<HealthCheckResponse>((resolve, reject) => {
      const deadline = Date.now() + options.rpcTimeoutMs;
      client.check({ service: options.service }, new grpc.Metadata(), { deadline }, (error, reply) => (error ? reject(error) : resolve(reply)));
    });
    const status = healthCheckResponse_ServingStatusToJSON(response.status);
    // Only SERVING is healthy: NOT_SERVING and UNKNOWN both fail the probe.
    if (status !== "SERVING") return { exitCode: ExitCode.UNHEALTHY, message: `service unhealthy (responded with ${status})` };
    return { exitCode: ExitCode.SERVING, message: `status: ${status}` };
  } catch (error) {
    // NOT_FOUND (an unknown service), UNIMPLEMENTED (no health service), DEADLINE_EXCEEDED...
    const { code, details } = error as grpc.ServiceError;
    return { exitCode: ExitCode.RPC_FAILURE, message: `health rpc failed: ${grpc.status[code]}: ${details}` };
  } finally {
    client.close();
  }
}

const firstRetryMs = 100;
const maxRetryMs = 5000;

/**
 * Step 7: watches `service` on `address` until `signal` aborts, calling
 * `onStatus` with each new status ("SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", ...).
 * Resolves when aborted; rejects with the call's error if the server has no
 * Watch (UNIMPLEMENTED).
 */
export async function watchHealth(address: string, service: string, onStatus: (status: string) => void, signal: AbortSignal): Promise<void> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  let last: string | undefined;
  let retryMs = firstRetryMs;
  try {
    while (!signal.aborted) {
      const failure = await watchOnce(client, service, signal, (status) => {
        retryMs = firstRetryMs; // the stream works: the next failure starts over
        // The server may repeat a status (grpc-health-check writes on every setStatus): report changes only.
        if (status !== last) onStatus((last = status));
      });
      // The health-checking spec: UNIMPLEMENTED means no Watch here, do not retry;
      // any other end, OK included, means watch again after a backoff.
      if (failure?.code === grpc.status.UNIMPLEMENTED) throw failure;
      await sleep(retryMs, signal);
      retryMs = Math.min(retryMs * 2, maxRetryMs);
    }
  } finally {
    client.close();
  }
}

/** One Watch call, with no deadline: it is meant to stay open. Resolves when it ends, with its error if it failed. */
function watchOnce(client: HealthClient, service: string, signal: AbortSignal, onStatus: (status: string) => void): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => {
    const call = client.watch({ service });
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    let failure: grpc.ServiceError | undefined;
    call.on("data", (response: HealthCheckResponse) => onStatus(healthCheckResponse_ServingStatusToJSON(response.status)));
    call.on("error", (error: grpc.ServiceError) => (failure = error)); // emitted just before "status"
    call.on("status", () => {
      signal.removeEventListener("abort", cancel);
      resolve(failure);
    });
  });
}

/** Waits `ms`, or less if `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
