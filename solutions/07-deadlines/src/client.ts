/**
 * Lab 07, the reference client (steps 5 to 8).
 *
 * Every call gets a deadline: the point in time after which the answer is no
 * use to the caller. grpc-js ends the call with DEADLINE_EXCEEDED when it
 * passes, and tells the server. Cancelling a call (call.cancel()) ends it
 * with CANCELLED, and tells the server too: the two codes mean different
 * things to the caller, "too slow" and "no longer wanted".
 */
import * as grpc from "@grpc/grpc-js";
import { type Job, type JobResult, type Progress, WorkerClient } from "../gen/deadlines/v1/worker";

/**
 * The channel's service config (step 7): grpc-js retries a failed attempt by
 * itself, with exponential backoff and jitter, when its status is in
 * retryableStatusCodes. Retry only what is safe to repeat: UNAVAILABLE means
 * the request never reached the server's code, or failed before it did.
 */
const serviceConfig = {
  methodConfig: [
    {
      name: [{ service: "deadlines.v1.Worker" }],
      retryPolicy: {
        maxAttempts: 4, // the first attempt and up to 3 retries
        initialBackoff: "0.1s", // about 0.1 s before the first retry (±20% jitter),
        backoffMultiplier: 2, // then 0.2 s, 0.4 s ...
        maxBackoff: "1s", // ... but never more than 1 s
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
};

/** A client on a plaintext channel to `address`, with the retry policy. Close it with client.close(). */
export function createWorkerClient(address: string): WorkerClient {
  return new WorkerClient(address, grpc.credentials.createInsecure(), { "grpc.service_config": JSON.stringify(serviceConfig) });
}

/** How a call to Run ended, when it did not fail for another reason. */
export type RunOutcome = { kind: "done"; result: JobResult } | { kind: "timedOut" } | { kind: "cancelled" };

/**
 * Step 5: runs `job` with a deadline `timeoutMs` from now; aborting `signal`
 * cancels the call. Other failures reject with the call's error.
 */
export function run(client: WorkerClient, job: Job, options: { timeoutMs: number; signal?: AbortSignal }): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const call = client.run(job, new grpc.Metadata(), { deadline: Date.now() + options.timeoutMs }, (error, result) => {
      options.signal?.removeEventListener("abort", cancel);
      if (!error) resolve({ kind: "done", result });
      else if (error.code === grpc.status.DEADLINE_EXCEEDED) resolve({ kind: "timedOut" });
      else if (error.code === grpc.status.CANCELLED) resolve({ kind: "cancelled" });
      else reject(error);
    });
    // Cancelling tells the server to stop; the callback then gets CANCELLED.
    const cancel = () => call.cancel();
    options.signal?.addEventListener("abort", cancel);
  });
}

/** Step 6: the first `count` Progress messages of `job` (fewer if the stream ends first); then cancels the stream. */
export function firstProgress(client: WorkerClient, job: Job, count: number, timeoutMs: number): Promise<Progress[]> {
  return new Promise((resolve, reject) => {
    const received: Progress[] = [];
    const call = client.follow(job, { deadline: Date.now() + timeoutMs });
    call.on("data", (progress: Progress) => {
      received.push(progress);
      if (received.length === count) {
        resolve(received);
        // We have what we need: cancel, so the server stops working for us.
        call.cancel();
      }
    });
    call.on("end", () => resolve(received));
    // Our own cancel ends the stream with CANCELLED: not an error for us.
    call.on("error", (error: grpc.ServiceError) => {
      if (error.code !== grpc.status.CANCELLED) reject(error);
    });
  });
}

/**
 * Steps 7 and 8: runs `job`, letting the channel's retry policy retry it, all
 * within one deadline `timeoutMs` from now. Resolves with the result and the
 * number of attempts the call took; rejects with the call's error.
 */
export function runWithRetries(client: WorkerClient, job: Job, timeoutMs: number): Promise<{ result: JobResult; attempts: number }> {
  return new Promise((resolve, reject) => {
    // waitForReady: while the server cannot be reached, wait (until the
    // deadline) instead of failing at once. grpc-js ignores waitForReady in
    // the service config, so it is set on the call.
    const metadata = new grpc.Metadata({ waitForReady: true });
    let attempts = 1;
    // One deadline for the whole call: retries happen inside it, never after it.
    const call = client.run(job, metadata, { deadline: Date.now() + timeoutMs }, (error, result) =>
      error ? reject(error) : resolve({ result, attempts }),
    );
    // On a retried call, grpc-js adds grpc-previous-rpc-attempts to the response headers.
    call.on("metadata", (headers: grpc.Metadata) => {
      attempts += Number(headers.get("grpc-previous-rpc-attempts")[0] ?? 0);
    });
  });
}
