/**
 * Lab 06, the reference server: JobService with the standard health service,
 * server reflection and a graceful shutdown.
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

  // Step 2: the standard grpc.health.v1.Health service. "" is the server as a
  // whole (is the process up?), a service name is that service (can it do its
  // work?). The library answers Check of a name it does not know with
  // NOT_FOUND, and Watch of one with SERVICE_UNKNOWN.
  const health = new HealthImplementation({ "": "SERVING", [jobServiceName]: servingWhen(dependency.isUp()) });
  health.addToServer(server);

  // Step 3: JobService is only as healthy as its dependency. Every setStatus
  // reaches each client watching that name. Once shutting down, the status
  // stays NOT_SERVING whatever the dependency does.
  let shuttingDown = false;
  dependency.onChange((up) => {
    if (!shuttingDown) health.setStatus(jobServiceName, servingWhen(up));
  });

  // Step 4: server reflection serves the .proto descriptors, so grpcurl,
  // Postman and Evans can list and call the services without the files.
  new ReflectionService(reflectionDefinition(fs.readFileSync(descriptorSetFile))).addToServer(server);

  return {
    server,
    async shutdown(graceMs) {
      // Step 5, first tell health checkers and watchers: a load balancer stops
      // sending new calls here, Kubernetes takes the pod out of its Service.
      shuttingDown = true;
      for (const name of ["", jobServiceName]) health.setStatus(name, "NOT_SERVING");
      await stopWithin(server, graceMs);
    },
  };
}

/**
 * Step 4: the package definition ReflectionService serves, with protoc's
 * descriptors. ReflectionService serves the `fileDescriptorProtos` of the
 * definition it is given, and those proto-loader rebuilds from what it loaded:
 * loadSync's camelCase the field names (durationMs) and misname map entries
 * (Statuses, not StatusesEntry), and every rebuilt file loses its imports
 * (grpc/grpc-node#3018). grpcurl, Postman and Evans refuse such descriptors.
 * So take the definition from the descriptor set, and replace its files with
 * protoc's own, exactly as the .proto files write them.
 */
function reflectionDefinition(descriptorSet: Buffer): protoLoader.PackageDefinition {
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet);
  const files = fromBinary(FileDescriptorSetSchema, descriptorSet).file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  for (const type of Object.values(definition)) {
    if ("fileDescriptorProtos" in type) type.fileDescriptorProtos = files;
  }
  return definition;
}

/** The health status for a dependency that is up or down. */
export function servingWhen(up: boolean): ServingStatus {
  return up ? "SERVING" : "NOT_SERVING";
}

/**
 * tryShutdown stops accepting calls and waits for the ones in flight, but a
 * call that never ends (a Watch stream, a stuck handler) makes it wait
 * forever; forceShutdown after the grace period cancels whatever is left.
 */
function stopWithin(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => server.forceShutdown(), graceMs);
    // The callback runs once every connection has closed, after a forceShutdown too.
    server.tryShutdown(() => {
      clearTimeout(deadline);
      resolve();
    });
  });
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
