/**
 * Lab 06, a second correct server: the health status computed from one
 * function of the server's state, jobs as cancellable timers/promises
 * sleeps, and the shutdown as a race between tryShutdown and the grace
 * period.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { JobServiceService } from "../../solutions/06-health/gen/jobs/v1/jobs";

export const jobServiceName = "jobs.v1.JobService";

export interface Dependency {
  isUp(): boolean;
  onChange(listener: (up: boolean) => void): void;
}

export interface JobsServer {
  server: grpc.Server;
  shutdown(graceMs: number): Promise<void>;
}

export function servingWhen(up: boolean): ServingStatus {
  return up ? "SERVING" : "NOT_SERVING";
}

export function createJobsServer(dependency: Dependency): JobsServer {
  const server = new grpc.Server();
  const state = { stopping: false };
  const jobStatus = (): ServingStatus => (state.stopping ? "NOT_SERVING" : servingWhen(dependency.isUp()));
  const health = new HealthImplementation({ "": "SERVING", [jobServiceName]: jobStatus() });
  dependency.onChange(() => {
    if (!state.stopping) health.setStatus(jobServiceName, jobStatus());
  });

  server.addService(JobServiceService, {
    runJob: async (call: grpc.ServerUnaryCall<{ name: string; durationMs: number }, unknown>, callback: grpc.sendUnaryData<{ name: string; elapsedMs: number }>) => {
      if (!dependency.isUp()) return callback({ code: grpc.status.UNAVAILABLE, details: "database down" });
      const cancelled = new AbortController();
      call.once("cancelled", () => cancelled.abort());
      const start = performance.now();
      try {
        await sleep(call.request.durationMs, undefined, { signal: cancelled.signal });
      } catch {
        return; // the call is gone: nobody to answer
      }
      callback(null, { name: call.request.name, elapsedMs: Math.round(performance.now() - start) });
    },
  });
  health.addToServer(server);

  // Reflection serves protoc's descriptors, as the stub step wrote them.
  const descriptorSet = readFileSync(join(__dirname, "..", "gen", "descriptors.binpb"));
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet);
  const protocFiles = fromBinary(FileDescriptorSetSchema, descriptorSet).file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  // Messages and enums carry the files; services do not.
  for (const type of Object.values(definition)) if ("format" in type) type.fileDescriptorProtos = protocFiles;
  new ReflectionService(definition).addToServer(server);

  return {
    server,
    async shutdown(graceMs) {
      state.stopping = true;
      health.setStatus("", "NOT_SERVING");
      health.setStatus(jobServiceName, jobStatus());
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const grace = new AbortController();
      const late = sleep(graceMs, "late", { signal: grace.signal }).catch(() => "drained");
      if ((await Promise.race([drained.then(() => "drained"), late])) === "late") server.forceShutdown();
      grace.abort();
      await drained;
    },
  };
}
