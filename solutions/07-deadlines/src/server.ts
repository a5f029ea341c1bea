/**
 * Lab 07, the reference servers (steps 2 to 4): a Worker that runs jobs step
 * by step, and a Frontend that runs them on a backend Worker.
 *
 * A deadline is a point in time that travels with the call (the grpc-timeout
 * header): the server reads it with call.getDeadline(). When the client
 * cancels, or the deadline passes, grpc-js ends the call at once and sets
 * call.cancelled, but it cannot stop the handler's own work: the handler has
 * to notice and stop, or it goes on working for nobody.
 */
import * as grpc from "@grpc/grpc-js";
import { FrontendService, type FrontendServer, type Job, type JobResult, type Progress, WorkerClient, type WorkerServer, WorkerService } from "../gen/deadlines/v1/worker";

/**
 * One step of a job's work. `npm run lab 07 -- serve` passes one that waits
 * job.stepMs and prints the step; the checks pass one that counts the steps,
 * to see when your work stops.
 */
export type DoStep = (job: Job, step: number) => Promise<void>;

/** Builds the Worker server; the runner binds it to a port (`serve`) and the checks to a free one. */
export function createWorkerServer(doStep: DoStep): grpc.Server {
  const server = new grpc.Server();
  server.addService(WorkerService, workerHandlers(doStep));
  return server;
}

/** Builds the Frontend server, which runs every job on the Worker at `backendAddress`. */
export function createFrontendServer(backendAddress: string): grpc.Server {
  // One client (one channel) to the backend, shared by every call.
  const backend = new WorkerClient(backendAddress, grpc.credentials.createInsecure());
  const handlers: FrontendServer = {
    run(call, callback) {
      // `parent: call` ties the backend call to this one (grpc.propagate.DEFAULTS):
      // it gets this call's deadline (or its own, if earlier), and it is
      // cancelled when this call is. The backend's answer, or its error, is ours.
      backend.run(call.request, new grpc.Metadata(), { parent: call }, callback);
    },
  };
  const server = new grpc.Server();
  server.addService(FrontendService, handlers);
  return server;
}

/** The calls whose steps runSteps runs: Run's and Follow's. */
type WorkerCall = grpc.ServerUnaryCall<Job, JobResult> | grpc.ServerWritableStream<Job, Progress>;

/** Milliseconds left before the call's deadline; Infinity when the client set none. */
function remainingMs(call: WorkerCall): number {
  // getDeadline() is a Date or a number of milliseconds, Infinity for no deadline.
  return Number(call.getDeadline()) - Date.now();
}

/**
 * Runs the steps of a job, calling `afterStep` after each, and checking
 * before each one whether it is still worth doing: "cancelled" when the call
 * is over (the client cancelled, or the deadline passed), "out of time" when
 * the time left is shorter than a step, so the step could not finish in time.
 */
async function runSteps(call: WorkerCall, job: Job, doStep: DoStep, afterStep?: (step: number) => void): Promise<"done" | "cancelled" | "out of time"> {
  for (let step = 1; step <= job.steps; step++) {
    if (call.cancelled) return "cancelled";
    if (remainingMs(call) < job.stepMs) return "out of time";
    await doStep(job, step);
    afterStep?.(step);
  }
  return "done";
}

const outOfTime = (job: Job) => ({ code: grpc.status.DEADLINE_EXCEEDED, details: `job ${job.name} cannot finish before the deadline` });

function workerHandlers(doStep: DoStep): WorkerServer {
  return {
    async run(call, callback) {
      const job = call.request;
      const outcome = await runSteps(call, job, doStep);
      if (outcome === "done") callback(null, { name: job.name, stepsDone: job.steps });
      // Failing fast leaves the client time to do something else.
      else if (outcome === "out of time") callback(outOfTime(job));
      // "cancelled": grpc-js has already ended the call; nobody reads an answer.
    },

    async follow(call) {
      const job = call.request;
      const outcome = await runSteps(call, job, doStep, (step) => call.write({ name: job.name, step, steps: job.steps }));
      if (outcome === "done") call.end();
      else if (outcome === "out of time") call.emit("error", outOfTime(job));
    },
  };
}
