/**
 * The reference side of lab 07's checks: message types as the checks see
 * them, a step probe that the learner's Worker does its work through, calls
 * that record how and when they ended, and servers whose delays and failures
 * the checks control. Reference clients and servers use @grpc/proto-loader,
 * not the learner's stubs, so every check is also a wire-compatibility check.
 *
 * Timing: the checks run on slow, loaded machines. They assert what must be
 * true however late a timer fires (a retry never comes before its backoff,
 * no step starts long after a cancellation) and leave at least 300 ms, often
 * seconds, for the rest.
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { CheckFailure, exportedFunction, listen, loadService, loadTarget, referenceClient, referenceServer, settled, track } from "../../../scripts/check-kit";

export interface Job {
  name: string;
  steps: number;
  stepMs: number;
}
export interface JobResult {
  name: string;
  stepsDone: number;
}
export interface Progress {
  name: string;
  step: number;
  steps: number;
}

export const proto = "deadlines/v1/worker.proto";
export const workerService = "deadlines.v1.Worker";
export const frontendService = "deadlines.v1.Frontend";

/** What the learner's src/server.ts exports; the checks call it in the process that runs the learner's code. */
export type DoStep = (job: Job, step: number) => Promise<void>;
interface ServerModule {
  createWorkerServer(doStep: DoStep): Promise<grpc.Server>;
  createFrontendServer(backendAddress: string): Promise<grpc.Server>;
}

export type RunOutcome = { kind: "done"; result: JobResult } | { kind: "timedOut" } | { kind: "cancelled" };

/** What the learner's src/client.ts exports; each function resolves in the process that runs the learner's code. */
export interface ClientModule {
  createWorkerClient(address: string): Promise<grpc.Client>;
  run(client: grpc.Client, job: Job, options: { timeoutMs: number; signal?: AbortSignal }): Promise<RunOutcome>;
  firstProgress(client: grpc.Client, job: Job, count: number, timeoutMs: number): Promise<Progress[]>;
  runWithRetries(client: grpc.Client, job: Job, timeoutMs: number): Promise<{ result: JobResult; attempts: number }>;
}

async function serverModule(): Promise<ServerModule> {
  const file = "src/server.ts";
  const module = await loadTarget<ServerModule>(file);
  for (const name of ["createWorkerServer", "createFrontendServer"]) exportedFunction(module, name, file);
  return module;
}

export async function createLearnerWorker(doStep: DoStep): Promise<grpc.Server> {
  return (await serverModule()).createWorkerServer(doStep);
}

export async function createLearnerFrontend(backendAddress: string): Promise<grpc.Server> {
  return (await serverModule()).createFrontendServer(backendAddress);
}

/**
 * The learner's Worker does its work through this probe's doStep: it records
 * when each step starts, and lets a step last `stepMs(job)` (job.stepMs
 * unless a check says otherwise). Once the check is over, steps no longer wait.
 * doStep runs here, in the checks: the learner's Worker calls it as an async
 * function, and a step's start is the time its call arrives.
 */
export class StepProbe {
  readonly starts: number[] = [];
  private over = false;
  private waiting: Array<{ count: number; resolve: () => void }> = [];

  constructor(private readonly stepMs: (job: Job) => number = (job) => job.stepMs) {
    track(() => {
      this.over = true;
    });
  }

  readonly doStep: DoStep = async (job) => {
    this.starts.push(Date.now());
    const due = this.waiting.filter((w) => this.starts.length >= w.count);
    this.waiting = this.waiting.filter((w) => !due.includes(w));
    for (const waiter of due) waiter.resolve();
    if (!this.over) await sleep(this.stepMs(job));
  };

  /** Resolves once `count` steps have started. */
  started(count: number): Promise<void> {
    if (this.starts.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ count, resolve }));
  }

  /**
   * How many steps started after `time` (a Date.now() value), once every
   * step the Worker has begun so far has been heard of.
   */
  async startedAfter(time: number): Promise<number> {
    await settled();
    return this.starts.filter((at) => at > time).length;
  }

  /** How many steps have started, once every step the Worker has begun so far has been heard of. */
  async count(): Promise<number> {
    await settled();
    return this.starts.length;
  }
}

/** Starts the learner's Worker on a free port, doing its steps through `probe`; returns a reference client for it. */
export async function learnerWorker(probe: StepProbe): Promise<grpc.Client> {
  const address = await listen(await createLearnerWorker(probe.doStep));
  return referenceClient(proto, workerService, address);
}

/** Starts the learner's Frontend on a free port, with its backend at `backendAddress`; returns a reference client for it. */
export async function learnerFrontend(backendAddress: string): Promise<grpc.Client> {
  const address = await listen(await createLearnerFrontend(backendAddress));
  return referenceClient(proto, frontendService, address);
}

/** How a call made by a check ended. `code` is OK for a call that succeeded. */
export interface Ended<Res> {
  code: grpc.status;
  response?: Res;
  /** Milliseconds from the start of the call to its end. */
  elapsedMs: number;
}

type UnaryMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response: unknown) => void) => grpc.ClientUnaryCall;

/**
 * Calls Run on `client` with a deadline `timeoutMs` from now and resolves with
 * how it ended, never rejecting; `started` gets the call, to cancel it.
 */
export function runCall(client: grpc.Client, job: Job, timeoutMs: number, started?: (call: grpc.ClientUnaryCall) => void): Promise<Ended<JobResult>> {
  const begin = Date.now();
  return new Promise((resolve) => {
    const call = (client as unknown as { run: UnaryMethod }).run(job, new grpc.Metadata(), { deadline: begin + timeoutMs }, (error, response) =>
      resolve({ code: error ? error.code : grpc.status.OK, response: response as JobResult, elapsedMs: Date.now() - begin }),
    );
    started?.(call);
  });
}

/**
 * Calls Follow on `client` with a deadline `timeoutMs` from now and collects
 * the stream. With `cancelAfter`, cancels the call after that many messages
 * and resolves at once, with the time it cancelled. `started` gets the call.
 */
export function followCall(
  client: grpc.Client,
  job: Job,
  timeoutMs: number,
  cancelAfter?: number,
  started?: (call: grpc.ClientReadableStream<Progress>) => void,
): Promise<Ended<Progress[]> & { cancelledAt?: number }> {
  const begin = Date.now();
  const received: Progress[] = [];
  const call = (client as unknown as { follow: (request: Job, options: grpc.CallOptions) => grpc.ClientReadableStream<Progress> }).follow(job, {
    deadline: begin + timeoutMs,
  });
  started?.(call);
  return new Promise((resolve) => {
    const end = (code: grpc.status) => resolve({ code, response: received, elapsedMs: Date.now() - begin });
    call.on("data", (progress: Progress) => {
      received.push(progress);
      if (received.length === cancelAfter) {
        call.cancel();
        resolve({ code: grpc.status.CANCELLED, response: received, elapsedMs: Date.now() - begin, cancelledAt: Date.now() });
      }
    });
    call.on("error", (error: grpc.ServiceError) => end(error.code));
    call.on("end", () => end(grpc.status.OK));
  });
}

/**
 * How long a check waits for the learner's server to begin what a call asks
 * (its first step, its backend call) before it stops waiting for the call's
 * deadline: a server that has begun nothing by then is stuck, and the check
 * says so seconds sooner than the deadline would.
 */
export const beginWithinMs = 2000;

/** Cancels `call` unless `begun` resolves within beginWithinMs or the call ends first; returns whether it did. */
export function cancelUnlessBegun(call: grpc.ClientUnaryCall | grpc.ClientReadableStream<unknown>, begun: Promise<unknown>): () => boolean {
  let gaveUp = false;
  const timer = setTimeout(() => {
    gaveUp = true;
    call.cancel();
  }, beginWithinMs);
  const stop = () => clearTimeout(timer);
  void begun.then(stop);
  call.on("status", stop);
  track(stop);
  return () => gaveUp;
}

/** A call as a check's server sees it. */
type ServerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/** The deadline a server call carries, as a Date.now() value; Infinity when it has none. */
export function deadlineOf(call: ServerCall): number {
  return Number(call.getDeadline());
}

/**
 * Resolves when the server sees `call` cancelled. grpc-js also emits
 * "cancelled" when a call it has answered closes: use it only on calls the
 * server has not answered.
 */
export function whenCancelled(call: ServerCall): Promise<void> {
  return new Promise((resolve) => {
    if (call.cancelled) resolve();
    else call.once("cancelled", () => resolve());
  });
}

/** A Worker server the check writes (a backend, or a server for the learner's client); returns its address. */
export function checkWorker(handlers: Partial<Record<"run" | "follow", grpc.UntypedHandleCall>>): Promise<string> {
  return referenceServer(proto, workerService, handlers as grpc.UntypedServiceImplementation);
}

/** Starts a check's Worker at a given free `address` (see unusedAddress); it is shut down after the check. */
export function checkWorkerAt(address: string, handlers: Partial<Record<"run" | "follow", grpc.UntypedHandleCall>>): Promise<void> {
  const server = new grpc.Server();
  server.addService(loadService(proto, workerService).service, handlers as grpc.UntypedServiceImplementation);
  track(() => server.forceShutdown());
  return new Promise((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
}

/** The learner's client module, with every function the checks call. */
export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["createWorkerClient", "run", "firstProgress", "runWithRetries"]) exportedFunction(module, name, file);
  return module;
}

/** The learner's module and a client it created for `address`; the client is closed after the check. */
export async function learnerClientAt(address: string): Promise<{ learner: ClientModule; client: grpc.Client }> {
  const learner = await learnerClientModule();
  const client = await learner.createWorkerClient(address);
  track(() => void Promise.resolve(client.close()).catch(() => undefined));
  return { learner, client };
}

/** Starts a check's Worker with `handlers`; returns the learner's module and a client it created for that server. */
export async function learnerClientFor(handlers: Partial<Record<"run" | "follow", grpc.UntypedHandleCall>>): Promise<{ learner: ClientModule; client: grpc.Client }> {
  return learnerClientAt(await checkWorker(handlers));
}

export const job = (name: string, steps: number, stepMs: number): Job => ({ name, steps, stepMs });

/** Fails with "what: the call's status: expected X, got Y" unless the call ended with `code`. */
export function expectCode(ended: Ended<unknown>, code: grpc.status, what: string): void {
  if (ended.code !== code) {
    throw new CheckFailure(`${what}: expected the call to end with ${grpc.status[code]}, got ${grpc.status[ended.code] ?? ended.code}`);
  }
}

/** A status for a check's server to answer with. */
export const failure = (code: grpc.status, details: string) => ({ code, details, metadata: new grpc.Metadata() });

export type RunHandler = (call: grpc.ServerUnaryCall<Job, JobResult>, callback: grpc.sendUnaryData<JobResult>) => void;

/** What a check's Worker saw of each attempt of a call. */
interface Attempt {
  at: number;
  /** The grpc-previous-rpc-attempts header grpc-js adds to a retry, if any. */
  previous: string | undefined;
}

/** A Worker whose Run fails the first `failures` attempts with `code`, after `delayMs`, then succeeds. */
export function flakyWorker(failures: number, code = grpc.status.UNAVAILABLE, delayMs = 0): { attempts: Attempt[]; run: RunHandler } {
  const attempts: Attempt[] = [];
  const run: RunHandler = (call, callback) => {
    attempts.push({ at: Date.now(), previous: call.metadata.get("grpc-previous-rpc-attempts")[0]?.toString() });
    const attempt = attempts.length;
    setTimeout(() => {
      if (attempt <= failures) callback(failure(code, `attempt ${attempt} failed`));
      else callback(null, { name: call.request.name, stepsDone: attempt });
    }, delayMs);
  };
  return { attempts, run };
}

