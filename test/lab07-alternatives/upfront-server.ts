/**
 * Lab 07, a second correct server: the whole job checked against the time
 * left up front (the README allows it), a cancel noticed through the
 * "cancelled" event rather than call.cancelled, and a Frontend that names its
 * propagation flags.
 */
import * as grpc from "@grpc/grpc-js";
import { FrontendService, type Job, type JobResult, type Progress, WorkerClient, WorkerService } from "../../solutions/07-deadlines/gen/deadlines/v1/worker";

export type DoStep = (job: Job, step: number) => Promise<void>;

export function createWorkerServer(doStep: DoStep): grpc.Server {
  const server = new grpc.Server();
  server.addService(WorkerService, {
    run: async (call: grpc.ServerUnaryCall<Job, JobResult>, callback: grpc.sendUnaryData<JobResult>) => {
      const steps = new Steps(call, doStep);
      if (!steps.fit()) return callback(tooLong(call.request));
      if (await steps.run()) callback(null, { name: call.request.name, stepsDone: call.request.steps });
    },
    follow: async (call: grpc.ServerWritableStream<Job, Progress>) => {
      const steps = new Steps(call, doStep);
      if (!steps.fit()) return void call.emit("error", tooLong(call.request));
      if (await steps.run((step) => call.write({ name: call.request.name, step, steps: call.request.steps }))) call.end();
    },
  });
  return server;
}

const tooLong = (job: Job) => ({ code: grpc.status.DEADLINE_EXCEEDED, details: `${job.steps} steps of ${job.stepMs} ms do not fit in the time left` });

/** A job's steps on one call: they stop as soon as the call is cancelled or its deadline passes. */
class Steps {
  #over = false;

  constructor(
    private readonly call: grpc.ServerUnaryCall<Job, unknown> | grpc.ServerWritableStream<Job, unknown>,
    private readonly doStep: DoStep,
  ) {
    call.on("cancelled", () => (this.#over = true));
  }

  /** Whether the whole job fits in the time the client gave it. */
  fit(): boolean {
    const { steps, stepMs } = this.call.request;
    const deadline = this.call.getDeadline();
    const left = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
    return steps * stepMs <= left;
  }

  /** True when every step ran; false when the call ended first. */
  async run(afterStep?: (step: number) => void): Promise<boolean> {
    for (let step = 1; step <= this.call.request.steps; step++) {
      if (this.#over || this.call.cancelled) return false;
      await this.doStep(this.call.request, step);
      afterStep?.(step);
    }
    return true;
  }
}

export function createFrontendServer(backendAddress: string): grpc.Server {
  const backend = new WorkerClient(backendAddress, grpc.credentials.createInsecure());
  const server = new grpc.Server();
  server.addService(FrontendService, {
    run: (call: grpc.ServerUnaryCall<Job, JobResult>, callback: grpc.sendUnaryData<JobResult>) =>
      void backend.run(call.request, new grpc.Metadata(), { parent: call, propagate_flags: grpc.propagate.DEADLINE | grpc.propagate.CANCELLATION }, (error, result) =>
        error ? callback(error) : callback(null, result),
      ),
  });
  return server;
}
