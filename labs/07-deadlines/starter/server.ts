/**
 * Lab 07, your servers (steps 2 to 4): a Worker that runs jobs step by step,
 * and a Frontend that runs them on a backend Worker.
 *
 * A deadline is a point in time that travels with the call (the grpc-timeout
 * header): the server reads it with call.getDeadline(). When the client
 * cancels, or the deadline passes, grpc-js ends the call at once and sets
 * call.cancelled, but it cannot stop the handler's own work: the handler has
 * to notice and stop, or it goes on working for nobody.
 */
import * as grpc from "@grpc/grpc-js";
import { FrontendService, type FrontendServer, type Job, type WorkerServer, WorkerService } from "../gen/deadlines/v1/worker";

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
  // TODO(step 4): create one WorkerClient for backendAddress, shared by every call.
  const handlers: FrontendServer = {
    run(call, callback) {
      // TODO(step 4): run call.request on the backend with { parent: call }, and answer with its answer.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 4): implement the Frontend's Run" });
    },
  };
  const server = new grpc.Server();
  server.addService(FrontendService, handlers);
  return server;
}

function workerHandlers(doStep: DoStep): WorkerServer {
  return {
    run(call, callback) {
      // TODO(step 2): run the job's steps with `await doStep(job, step)`; answer { name, stepsDone }.
      // Before each step, fail with DEADLINE_EXCEEDED if the time left (call.getDeadline()) is shorter than job.stepMs.
      // TODO(step 3): before each step, stop if call.cancelled.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement Run" });
    },

    follow(call) {
      // TODO(step 3): like Run, but call.write() a Progress after each step, then call.end().
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "TODO(step 3): implement Follow" });
    },
  };
}
