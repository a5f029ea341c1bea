/**
 * Lab 06, steps 2 to 5: the learner's server, called over a real connection
 * by reference clients (health, reflection, JobService), with a dependency
 * the checks take down and bring back.
 */
import * as grpc from "@grpc/grpc-js";
import { expectEqual, expectTrue, openServerStream, reflectedFiles, reflectedServices, referenceClient, rpcDeadlineMs, settled, step, unaryCall, within } from "../../../scripts/check-kit";
import { descriptorProblems, fieldNameMismatches, protoFieldNames, reflectedFileSet } from "../../../scripts/check-kit/reflection";
import { changes, healthProto, healthService, type HealthResponse, jobService, jobsProto, learnerServer, type RunJobResponse, simulatedDependency, startShutdown } from "./health";

/** The outcome of one call: the status code's name and, when OK, the response. */
interface Outcome<T> {
  code: string;
  response?: T;
}

function callOutcome<T>(client: grpc.Client, method: string, request: unknown): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    const call = (client as unknown as Record<string, (...args: unknown[]) => void>)[method]!;
    call.call(client, request, new grpc.Metadata(), { deadline: Date.now() + rpcDeadlineMs }, (error: grpc.ServiceError | null, response: T) =>
      resolve(error ? { code: grpc.status[error.code] } : { code: "OK", response }),
    );
  });
}

/** Calls Check(service); expects a serving status, or the name of an error code. */
async function expectHealth(client: grpc.Client, service: string, expected: string, when: string): Promise<void> {
  const outcome = await callOutcome<HealthResponse>(client, "check", { service });
  expectEqual(outcome.code === "OK" ? outcome.response?.status : outcome.code, expected, `Check("${service}") ${when}`);
}

const runJob = (client: grpc.Client, name: string, durationMs: number) => callOutcome<RunJobResponse>(client, "runJob", { name, durationMs });
const statuses = (messages: HealthResponse[]) => messages.map((m) => m.status);
const lastIs = (status: HealthResponse["status"]) => (messages: HealthResponse[]) => messages.at(-1)?.status === status;

step(2, () => {
  it('answers Check("") for the whole server with SERVING', async () => {
    const { health } = await learnerServer();
    await expectHealth(health, "", "SERVING", "for the whole server");
  });

  it(`answers Check("${jobService}") with SERVING while its dependency is up`, async () => {
    const { health } = await learnerServer();
    await expectHealth(health, jobService, "SERVING", "with the dependency up");
  });

  it("answers Check of a service it does not know with NOT_FOUND", async () => {
    const { health } = await learnerServer();
    await expectHealth(health, "no.such.Service", "NOT_FOUND", "(an unknown service): the status code");
  });

  it("answers Watch of a service it does not know with SERVICE_UNKNOWN, and keeps the stream open", async () => {
    const { health } = await learnerServer();
    const watch = openServerStream<HealthResponse>(health, "watch", { service: "no.such.Service" });
    const received = await watch.waitUntil((m) => m.length > 0, rpcDeadlineMs, 'Watch("no.such.Service") sent no status');
    expectEqual(received[0]?.status, "SERVICE_UNKNOWN", 'the first status Watch("no.such.Service") sent');
    expectTrue(await watch.stillOpenAfter(300), 'Watch("no.such.Service") ended its stream: a Watch of an unknown service stays open, in case the service appears');
  });
});

step(3, () => {
  it(`reports ${jobService} NOT_SERVING while its dependency is down and SERVING once it is back`, async () => {
    const dependency = await simulatedDependency();
    const { health, jobClient } = await learnerServer(dependency);
    await dependency.set(false);
    await expectHealth(health, jobService, "NOT_SERVING", "with the dependency down");
    const refused = await runJob(jobClient, "while-down", 0);
    expectEqual(refused.code, "UNAVAILABLE", "the code of a RunJob while the dependency is down (JobService fails at once)");
    await dependency.set(true);
    await expectHealth(health, jobService, "SERVING", "with the dependency back up");
  });

  it('keeps the whole server ("") SERVING while the dependency is down', async () => {
    const dependency = await simulatedDependency();
    const { health } = await learnerServer(dependency);
    await dependency.set(false);
    await expectHealth(health, "", "SERVING", "with the dependency down (the process itself is fine: a liveness probe must not fail)");
  });

  it(`starts with ${jobService} NOT_SERVING when the dependency is down from the start`, async () => {
    const { health } = await learnerServer(await simulatedDependency(false));
    await expectHealth(health, jobService, "NOT_SERVING", "when the dependency was down before the server started");
  });

  it(`streams every change of ${jobService} to a Watch, in order`, async () => {
    const dependency = await simulatedDependency();
    const { health } = await learnerServer(dependency);
    const watch = openServerStream<HealthResponse>(health, "watch", { service: jobService });
    await watch.waitUntil(lastIs("SERVING"), rpcDeadlineMs, `Watch("${jobService}") sent no SERVING at first`);
    for (const up of [false, true, false]) {
      await dependency.set(up);
      const expected = up ? "SERVING" : "NOT_SERVING";
      await watch.waitUntil(lastIs(expected), 1000, `Watch("${jobService}") did not send ${expected} after the dependency went ${up ? "up" : "down"}`);
    }
    expectEqual(changes(statuses(watch.messages)), ["SERVING", "NOT_SERVING", "SERVING", "NOT_SERVING"], `statuses Watch("${jobService}") sent (repeats left out)`);
  });
});

step(4, () => {
  it("lists JobService and the health service through server reflection", async () => {
    const { address } = await learnerServer();
    const services = await reflectedServices(address);
    for (const name of [jobService, healthService]) {
      expectTrue(services.includes(name), `reflection's list of services (what \`grpcurl list\` shows) lacks ${name}: got ${JSON.stringify(services)}`);
    }
  });

  it("describes JobService's RunJob method through server reflection", async () => {
    const { address } = await learnerServer();
    const files = await reflectedFiles(address, jobService);
    const method = files
      .filter((f) => f.package === "jobs.v1")
      .flatMap((f) => f.service.filter((s) => s.name === "JobService"))
      .flatMap((s) => s.method)
      .find((m) => m.name === "RunJob");
    expectEqual(method && { input: method.inputType, output: method.outputType }, { input: ".jobs.v1.RunJobRequest", output: ".jobs.v1.RunJobResponse" }, `the RunJob method in the descriptors reflection returned for ${jobService}`);
  });

  it("describes the health service's messages through server reflection", async () => {
    const { address } = await learnerServer();
    const files = await reflectedFiles(address, "grpc.health.v1.HealthCheckResponse");
    const message = files.flatMap((f) => (f.package === "grpc.health.v1" ? f.messageType : [])).find((m) => m.name === "HealthCheckResponse");
    expectEqual(message?.enumType.map((e) => e.name), ["ServingStatus"], "the enums of grpc.health.v1.HealthCheckResponse in the descriptors reflection returned");
  });

  // What grpcurl does with those descriptors: download each file and its imports, then build them
  // as Go's protodesc does. Descriptors rebuilt by proto-loader fail here (see the README, step 4).
  const fix = "serve the descriptor set protoc wrote in the stub step (gen/descriptors.binpb), not the descriptors proto-loader rebuilds";

  it("serves descriptors a client can build: every import served, map entries named as protoc names them", async () => {
    const { address } = await learnerServer();
    const problems = descriptorProblems(await reflectedFileSet(address, [jobService, healthService]));
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
    expectTrue(problems.length === 0, `grpcurl, Postman and Evans would refuse the descriptors your reflection serves: ${problems[0]}${more}; ${fix}`);
  });

  it("serves the field names the .proto files write (duration_ms, not durationMs)", async () => {
    const { address } = await learnerServer();
    const mismatches = fieldNameMismatches(await reflectedFileSet(address, [jobService, healthService]), protoFieldNames([jobsProto, healthProto]));
    const more = mismatches.length > 1 ? ` (and ${mismatches.length - 1} more)` : "";
    expectTrue(mismatches.length === 0, `the descriptors your reflection serves rename fields: ${mismatches[0]}${more}, so grpcurl refuses -d '{"duration_ms": 1000}'; ${fix}`);
  });
});

step(5, () => {

  it('reports NOT_SERVING for "" and for JobService as soon as shutdown begins', async () => {
    const { health, jobs } = await learnerServer();
    const watches = ["", jobService].map((service) => ({ service, watch: openServerStream<HealthResponse>(health, "watch", { service }) }));
    for (const { service, watch } of watches) await watch.waitUntil(lastIs("SERVING"), rpcDeadlineMs, `Watch("${service}") sent no SERVING before shutdown`);
    const shutdown = startShutdown(jobs, 1000);
    for (const { service, watch } of watches) {
      await watch.waitUntil(lastIs("NOT_SERVING"), 800, `Watch("${service}") was not told NOT_SERVING when shutdown began`);
      watch.cancel(); // a watcher that has heard leaves; then nothing holds the shutdown up
    }
    await within(shutdown, 3000, "shutdown(1000)");
  });

  it("lets a call in flight finish, then stops without waiting out the grace period", async () => {
    const dependency = await simulatedDependency();
    const { jobs, jobClient } = await learnerServer(dependency);
    await unaryCall(jobClient, "runJob", { name: "warm-up", durationMs: 0 }); // the connection is up
    const asked = dependency.nextQuestion(500);
    await settled(); // the dependency listens before the call leaves
    const inFlight = runJob(jobClient, "in-flight-7f3a", 600);
    await asked; // RunJob has started
    const shutdown = startShutdown(jobs, 4000);
    const outcome = await inFlight;
    expectEqual(outcome, { code: "OK", response: { name: "in-flight-7f3a", elapsedMs: outcome.response?.elapsedMs ?? 0 } }, "the RunJob call in flight when shutdown began");
    const took = await within(shutdown, 2500, "shutdown(4000), once its last call had ended,");
    expectTrue(took < 3000, `shutdown(4000) took ${took} ms though its only call ended after about 600 ms: resolve when tryShutdown calls back`);
  });

  it("refuses new calls once shutdown has begun", async () => {
    const dependency = await simulatedDependency();
    const { jobs, jobClient, address } = await learnerServer(dependency);
    await unaryCall(jobClient, "runJob", { name: "warm-up", durationMs: 0 });
    const asked = dependency.nextQuestion(500);
    await settled();
    const inFlight = runJob(jobClient, "in-flight", 800); // keeps the server draining
    await asked;
    const shutdown = startShutdown(jobs, 4000);
    await settled(); // shutdown() has been called
    await new Promise((resolve) => setTimeout(resolve, 50));
    const sameChannel = await runJob(jobClient, "late", 0);
    expectEqual(sameChannel.code, "UNAVAILABLE", "a new RunJob on an open connection after shutdown began: the status code");
    const newChannel = await runJob(referenceClient(jobsProto, jobService, address), "late", 0);
    expectEqual(newChannel.code, "UNAVAILABLE", "a new RunJob on a new connection after shutdown began: the status code");
    expectEqual((await inFlight).code, "OK", "the RunJob in flight meanwhile: the status code");
    await within(shutdown, 2500, "shutdown(4000)");
  });

  it("ends within the grace period when calls never finish (a Watch, a stuck job)", async () => {
    const { health, jobs, jobClient } = await learnerServer();
    const watch = openServerStream<HealthResponse>(health, "watch", { service: "" });
    await watch.waitUntil((m) => m.length > 0, rpcDeadlineMs, 'Watch("") sent no status');
    const stuck = runJob(jobClient, "stuck", 60_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const graceMs = 1000;
    const took = await within(startShutdown(jobs, graceMs), graceMs + 1500, `shutdown(${graceMs}) with a Watch stream open and a job that never ends`);
    expectTrue(took >= graceMs - 100, `shutdown(${graceMs}) ended after ${took} ms, before the grace period: give calls in flight the whole grace period`);
    expectTrue((await within(stuck, 1000, "the stuck RunJob")).code !== "OK", "the stuck RunJob succeeded: it should have been cancelled when the grace period ran out");
    const ended = await within(watch.ended, 1000, "the Watch stream");
    expectTrue(ended.code !== grpc.status.OK, "the Watch stream ended with OK: a forced shutdown cancels it");
  });

  it("keeps reporting NOT_SERVING when the dependency recovers during shutdown", async () => {
    const dependency = await simulatedDependency();
    const { health, jobs } = await learnerServer(dependency);
    const watch = openServerStream<HealthResponse>(health, "watch", { service: jobService });
    await watch.waitUntil(lastIs("SERVING"), rpcDeadlineMs, `Watch("${jobService}") sent no SERVING before shutdown`);
    const shutdown = startShutdown(jobs, 1000);
    await watch.waitUntil(lastIs("NOT_SERVING"), 800, `Watch("${jobService}") was not told NOT_SERVING when shutdown began`);
    await dependency.set(false);
    await dependency.set(true);
    await within(shutdown, 3000, "shutdown(1000)");
    const afterShutdown = statuses(watch.messages).slice(statuses(watch.messages).indexOf("NOT_SERVING"));
    expectEqual(changes(afterShutdown), ["NOT_SERVING"], `statuses Watch("${jobService}") sent from the start of shutdown, while the dependency went down and up (repeats left out)`);
  });
});
