/**
 * Lab 07, a second correct client: a retry policy for every method of the
 * channel (an empty name), outcomes from a table of codes, for await over
 * the progress stream, and attempts read from the headers with once().
 */
import * as grpc from "@grpc/grpc-js";
import { once } from "node:events";
import { type Job, type JobResult, type Progress, WorkerClient } from "../../solutions/07-deadlines/gen/deadlines/v1/worker";

const retryPolicy = { maxAttempts: 4, initialBackoff: "0.1s", maxBackoff: "1s", backoffMultiplier: 2, retryableStatusCodes: ["UNAVAILABLE"] };

export function createWorkerClient(address: string): WorkerClient {
  return new WorkerClient(address, grpc.credentials.createInsecure(), {
    "grpc.service_config": JSON.stringify({ methodConfig: [{ name: [{}], retryPolicy }] }),
  });
}

export type RunOutcome = { kind: "done"; result: JobResult } | { kind: "timedOut" } | { kind: "cancelled" };

const endings: Partial<Record<grpc.status, RunOutcome>> = {
  [grpc.status.DEADLINE_EXCEEDED]: { kind: "timedOut" },
  [grpc.status.CANCELLED]: { kind: "cancelled" },
};

export async function run(client: WorkerClient, job: Job, { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<RunOutcome> {
  let call: grpc.ClientUnaryCall | undefined;
  const cancel = () => call?.cancel();
  try {
    const result = await new Promise<JobResult>((resolve, reject) => {
      call = client.run(job, new grpc.Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (error, value) => (error ? reject(error) : resolve(value!)));
      signal?.addEventListener("abort", cancel, { once: true });
    });
    return { kind: "done", result };
  } catch (error) {
    const ending = endings[(error as grpc.ServiceError).code];
    if (ending) return ending;
    throw error;
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}

export async function firstProgress(client: WorkerClient, job: Job, count: number, timeoutMs: number): Promise<Progress[]> {
  const call = client.follow(job, { deadline: Date.now() + timeoutMs });
  // Once we cancel and leave the loop, the iterator no longer listens: this keeps our own CANCELLED from going unheard.
  call.on("error", () => undefined);
  const received: Progress[] = [];
  if (count <= 0) {
    call.cancel();
    return received;
  }
  try {
    for await (const progress of call) {
      received.push(progress as Progress);
      if (received.length >= count) {
        call.cancel();
        break;
      }
    }
  } catch (error) {
    if ((error as grpc.ServiceError).code !== grpc.status.CANCELLED) throw error;
  }
  return received;
}

export async function runWithRetries(client: WorkerClient, job: Job, timeoutMs: number): Promise<{ result: JobResult; attempts: number }> {
  let headers: Promise<unknown[]> | undefined;
  const result = await new Promise<JobResult>((resolve, reject) => {
    const call = client.run(job, new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + timeoutMs }, (error, value) => (error ? reject(error) : resolve(value!)));
    headers = once(call, "metadata").catch(() => []);
  });
  const [metadata] = (await headers!) as [grpc.Metadata?];
  const previous = parseInt(String(metadata?.get("grpc-previous-rpc-attempts")[0] ?? "0"), 10);
  return { result, attempts: 1 + previous };
}
