/**
 * Lab 06, your server: JobService, which is written for you, plus what every
 * production gRPC server needs around it. Steps 2 to 5:
 *   2  the standard health service, grpc.health.v1.Health (grpc-health-check)
 *   3  JobService's health follows its dependency, the job database
 *   4  server reflection (@grpc/reflection), for grpcurl, Postman and Evans
 *   5  a graceful shutdown: NOT_SERVING, let calls in flight finish, then force
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import * as fs from "node:fs";
import * as path from "node:path";
import { JobServiceService, type JobServiceServer } from "../gen/jobs/v1/jobs";

/** The full name of the service in the .proto (package jobs.v1, service JobService): health checks name it so. */
export const jobServiceName = "jobs.v1.JobService";

/**
 * protoc's own descriptors of jobs/v1/jobs.proto and grpc/health/v1/health.proto
 * (and of anything they import), which the stub step (`npm run lab 06 -- gen`)
 * writes next to the stubs with `protoc --descriptor_set_out --include_imports`.
 */
const descriptorSetFile = path.join(__dirname, "..", "gen", "descriptors.binpb");

/** Something JobService needs, such as a database. The checks, and `serve`, take it down and bring it back. */
export interface Dependency {
  /** True while the dependency works. */
  isUp(): boolean;
  /** Calls `listener` each time the dependency goes down (false) or comes back up (true). */
  onChange(listener: (up: boolean) => void): void;
}

export interface JobsServer {
  /** The server with its services added, not bound: `serve` and the checks bind it. */
  server: grpc.Server;
  /** Step 5: stops the server, letting calls in flight finish for up to `graceMs`. */
  shutdown(graceMs: number): Promise<void>;
}

export function createJobsServer(dependency: Dependency): JobsServer {
  const server = new grpc.Server();
  server.addService(JobServiceService, jobHandlers(dependency));

  // TODO(step 2): add the standard health service: a HealthImplementation
  // from grpc-health-check reporting "" (the whole server) and jobServiceName
  // SERVING, added to the server.

  // TODO(step 3): report jobServiceName NOT_SERVING while the dependency is
  // down (dependency.isUp(), dependency.onChange) and SERVING while it is up.

  // TODO(step 4): add server reflection (ReflectionService) that serves the
  // descriptors protoc wrote to descriptorSetFile, exactly as protoc wrote them:
  // read the file, then see the README for the package definition to give it.

  return {
    server,
    async shutdown(graceMs) {
      // TODO(step 5): report NOT_SERVING for "" and jobServiceName, then
      // server.tryShutdown(); server.forceShutdown() if it is not done within graceMs.
      throw new Error(`TODO(step 5): implement shutdown (grace period ${graceMs} ms)`);
    },
  };
}

/** The health status for a dependency that is up or down. */
export function servingWhen(up: boolean): ServingStatus {
  return up ? "SERVING" : "NOT_SERVING";
}

function jobHandlers(dependency: Dependency): JobServiceServer {
  return {
    runJob(call, callback) {
      if (!dependency.isUp()) {
        callback({ code: grpc.status.UNAVAILABLE, details: "the job database is down" });
        return;
      }
      const started = Date.now();
      const job = setTimeout(() => callback(null, { name: call.request.name, elapsedMs: Date.now() - started }), call.request.durationMs);
      // A forced shutdown or a client's cancel ends the call: stop the job too.
      call.on("cancelled", () => clearTimeout(job));
    },
  };
}
