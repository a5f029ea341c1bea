/**
 * Lab 07, your client (steps 5 to 8).
 *
 * Every call gets a deadline: the point in time after which the answer is no
 * use to the caller. grpc-js ends the call with DEADLINE_EXCEEDED when it
 * passes, and tells the server. Cancelling a call (call.cancel()) ends it
 * with CANCELLED, and tells the server too: the two codes mean different
 * things to the caller, "too slow" and "no longer wanted".
 */
import * as grpc from "@grpc/grpc-js";
import { type Job, type JobResult, type Progress, WorkerClient } from "../gen/deadlines/v1/worker";

/** A client on a plaintext channel to `address`. Close it with client.close(). */
export function createWorkerClient(address: string): WorkerClient {
  // TODO(step 7): pass a service config with a retryPolicy as the channel option "grpc.service_config".
  return new WorkerClient(address, grpc.credentials.createInsecure());
}

/** How a call to Run ended, when it did not fail for another reason. */
export type RunOutcome = { kind: "done"; result: JobResult } | { kind: "timedOut" } | { kind: "cancelled" };

/**
 * Step 5: runs `job` with a deadline `timeoutMs` from now; aborting `signal`
 * cancels the call. Other failures reject with the call's error.
 */
export function run(client: WorkerClient, job: Job, options: { timeoutMs: number; signal?: AbortSignal }): Promise<RunOutcome> {
  // TODO(step 5): call client.run with a deadline; turn DEADLINE_EXCEEDED and CANCELLED into outcomes.
  return Promise.reject(new Error("TODO(step 5): implement run"));
}

/** Step 6: the first `count` Progress messages of `job` (fewer if the stream ends first); then cancels the stream. */
export function firstProgress(client: WorkerClient, job: Job, count: number, timeoutMs: number): Promise<Progress[]> {
  // TODO(step 6): call client.follow with a deadline; after `count` messages, resolve and cancel the call.
  return Promise.reject(new Error("TODO(step 6): implement firstProgress"));
}

/**
 * Steps 7 and 8: runs `job`, letting the channel's retry policy retry it, all
 * within one deadline `timeoutMs` from now. Resolves with the result and the
 * number of attempts the call took; rejects with the call's error.
 */
export function runWithRetries(client: WorkerClient, job: Job, timeoutMs: number): Promise<{ result: JobResult; attempts: number }> {
  // TODO(step 7): call client.run with a deadline; count the attempts from the grpc-previous-rpc-attempts response header.
  // TODO(step 8): wait for the server to be ready.
  return Promise.reject(new Error("TODO(step 7): implement runWithRetries"));
}
