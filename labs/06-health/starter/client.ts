/**
 * Lab 06, your health client. Steps 6 and 7:
 *   6  probe(): one health check, with the exit codes of grpc_health_probe,
 *      the command Kubernetes exec probes and load balancers run
 *   7  watchHealth(): a Watch stream that reports each status change
 *
 * HealthClient (from ../gen, step 1) has check() (unary) and watch() (server
 * streaming). Statuses arrive as the enum HealthCheckResponse_ServingStatus;
 * healthCheckResponse_ServingStatusToJSON(status) gives its name, "SERVING".
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
  // TODO(step 6): connect within options.connectTimeoutMs (client.waitForReady),
  // then call check() with a deadline of options.rpcTimeoutMs; map the outcome
  // to an ExitCode. Close the client in every case.
  throw new Error("TODO(step 6): implement probe");
}

/**
 * Step 7: watches `service` on `address` until `signal` aborts, calling
 * `onStatus` with each new status ("SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", ...).
 * Resolves when aborted; rejects with the call's error if the server has no
 * Watch (UNIMPLEMENTED).
 */
export async function watchHealth(address: string, service: string, onStatus: (status: string) => void, signal: AbortSignal): Promise<void> {
  // TODO(step 7): call watch({ service }) and report each status that differs
  // from the last one; when the stream ends, watch again after a growing pause
  // (but reject on UNIMPLEMENTED); on abort, cancel the call and resolve.
  throw new Error("TODO(step 7): implement watchHealth");
}
