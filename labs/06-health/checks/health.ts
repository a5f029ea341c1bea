/**
 * The reference side of lab 06's checks: the names the health service uses,
 * a dependency the checks take down and bring back, and how to start the
 * learner's server and load the learner's client. Reference clients and
 * servers use @grpc/proto-loader, not the learner's stubs.
 */
import type * as grpc from "@grpc/grpc-js";
import { exportedFunction, fixture, listen, loadTarget, referenceClient, track } from "../../../scripts/check-kit";

export const healthProto = "grpc/health/v1/health.proto";
export const healthService = "grpc.health.v1.Health";
export const jobsProto = "jobs/v1/jobs.proto";
export const jobService = "jobs.v1.JobService";

/** HealthCheckResponse as proto-loader gives it (enums as their names). */
export interface HealthResponse {
  status: "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
}
export interface RunJobResponse {
  name: string;
  elapsedMs: number;
}

/**
 * The dependency (the job database) that the checks take down and bring back,
 * as they drive it: it lives beside the learner's server
 * (dependency.fixture.ts), which asks it isUp() synchronously.
 */
export interface SimulatedDependency {
  isUp(): Promise<boolean>;
  /** Takes it down (false) or brings it back (true); resolves once the server's listeners have run. */
  set(up: boolean): Promise<void>;
  /** Resolves when the server next asks isUp() (RunJob asks when a call arrives), or after `ms` at most. */
  nextQuestion(ms: number): Promise<void>;
}

/** A dependency, up unless told otherwise, for the learner's server. */
export function simulatedDependency(up = true): Promise<SimulatedDependency> {
  return fixture<SimulatedDependency>("dependency.fixture.ts", "SimulatedDependency", up);
}

/** What the learner's src/server.ts exports; the checks call shutdown in the process that runs it. */
export interface JobsServer {
  server: grpc.Server;
  shutdown(graceMs: number): Promise<void>;
}
type CreateJobsServer = (dependency: SimulatedDependency) => Promise<JobsServer>;

export async function createLearnerServer(dependency: SimulatedDependency): Promise<JobsServer> {
  const file = "src/server.ts";
  return exportedFunction<CreateJobsServer>(await loadTarget(file), "createJobsServer", file)(dependency);
}

export interface Running {
  jobs: JobsServer;
  address: string;
  health: grpc.Client;
  jobClient: grpc.Client;
}

/** Starts the learner's server on a free port, with reference clients for its two services. */
export async function learnerServer(dependency?: SimulatedDependency): Promise<Running> {
  const jobs = await createLearnerServer(dependency ?? (await simulatedDependency()));
  const address = await listen(jobs.server);
  return { jobs, address, health: referenceClient(healthProto, healthService, address), jobClient: referenceClient(jobsProto, jobService, address) };
}

/**
 * Starts the learner's shutdown now; resolves with how long it took. A
 * rejection stays in the promise (never unhandled) for the check to await.
 */
export function startShutdown(jobs: JobsServer, graceMs: number): Promise<number> {
  const started = Date.now();
  let done: Promise<void>;
  try {
    done = Promise.resolve(jobs.shutdown(graceMs));
  } catch (error) {
    done = Promise.reject(error);
  }
  const took = done.then(() => Date.now() - started);
  took.catch(() => {});
  return took;
}

/** What the learner's src/client.ts exports. */
export interface ProbeResult {
  exitCode: number;
  message: string;
}
export interface ClientModule {
  probe(address: string, options: { service: string; connectTimeoutMs: number; rpcTimeoutMs: number }): Promise<ProbeResult>;
  watchHealth(address: string, service: string, onStatus: (status: string) => void, signal: AbortSignal): Promise<void>;
}

export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["probe", "watchHealth"]) exportedFunction(module, name, file);
  return module;
}

/** An AbortController aborted after the check, so a learner's watcher never outlives it. */
export function watchController(): AbortController {
  const controller = new AbortController();
  track(() => controller.abort());
  return controller;
}

/** grpc_health_probe's exit codes (github.com/grpc-ecosystem/grpc-health-probe, README "Exit codes"). */
export const exitCodes = { serving: 0, invalidArguments: 1, connectionFailure: 2, rpcFailure: 3, unhealthy: 4 } as const;

/** Drops repeats in a row: the health library writes a status on every setStatus, even an unchanged one. */
export function changes<T>(values: T[]): T[] {
  return values.filter((value, i) => i === 0 || value !== values[i - 1]);
}
