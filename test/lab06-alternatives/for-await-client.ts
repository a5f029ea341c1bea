/**
 * Lab 06, a second correct client: util.promisify for the two phases of the
 * probe, a status table for the exit codes, and a watcher that reads each
 * Watch with for await and sleeps with timers/promises.
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { HealthCheckResponse_ServingStatus, HealthClient, healthCheckResponse_ServingStatusToJSON, type HealthCheckResponse } from "../../solutions/06-health/gen/grpc/health/v1/health";

export const ExitCode = { SERVING: 0, INVALID_ARGUMENTS: 1, CONNECTION_FAILURE: 2, RPC_FAILURE: 3, UNHEALTHY: 4 } as const;

export interface ProbeOptions {
  service: string;
  connectTimeoutMs: number;
  rpcTimeoutMs: number;
}

export interface ProbeResult {
  exitCode: number;
  message: string;
}

export async function probe(address: string, { service, connectTimeoutMs, rpcTimeoutMs }: ProbeOptions): Promise<ProbeResult> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  const ready = promisify((deadline: number, done: (error?: Error) => void) => client.waitForReady(deadline, done));
  const check = promisify((request: { service: string }, done: (error: grpc.ServiceError | null, response?: HealthCheckResponse) => void) =>
    client.check(request, new grpc.Metadata(), { deadline: Date.now() + rpcTimeoutMs }, done),
  );
  try {
    try {
      await ready(Date.now() + connectTimeoutMs);
    } catch (error) {
      return { exitCode: ExitCode.CONNECTION_FAILURE, message: String(error) };
    }
    let response: HealthCheckResponse;
    try {
      response = (await check({ service }))!;
    } catch (error) {
      return { exitCode: ExitCode.RPC_FAILURE, message: (error as grpc.ServiceError).details };
    }
    const healthy = response.status === HealthCheckResponse_ServingStatus.SERVING;
    return { exitCode: healthy ? ExitCode.SERVING : ExitCode.UNHEALTHY, message: healthCheckResponse_ServingStatusToJSON(response.status) };
  } finally {
    client.close();
  }
}

export async function watchHealth(address: string, service: string, onStatus: (status: string) => void, signal: AbortSignal): Promise<void> {
  const client = new HealthClient(address, grpc.credentials.createInsecure());
  let reported: string | undefined;
  let backoffMs = 100;
  try {
    while (!signal.aborted) {
      const call = client.watch({ service });
      const cancel = () => call.cancel();
      signal.addEventListener("abort", cancel);
      try {
        for await (const response of call) {
          backoffMs = 100;
          const status = healthCheckResponse_ServingStatusToJSON((response as HealthCheckResponse).status);
          if (status !== reported) onStatus((reported = status));
        }
      } catch (error) {
        if ((error as grpc.ServiceError).code === grpc.status.UNIMPLEMENTED) throw error;
      } finally {
        signal.removeEventListener("abort", cancel);
      }
      await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
      backoffMs = Math.min(2 * backoffMs, 4000);
    }
  } finally {
    client.close();
  }
}
