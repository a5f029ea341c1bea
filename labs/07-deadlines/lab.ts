/**
 * Lab 07's `serve` and `client` commands. `serve` runs the Worker built from
 * the code under test, printing each step it starts, so that you see the work
 * stop when a call is cancelled or runs out of time. `client` makes one call
 * of each kind the lab teaches, and runs your Frontend in front of the served
 * Worker, and a Worker that fails twice, on local ports of its own.
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { CheckFailure, loadService } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { createLearnerFrontend, createLearnerWorker, flakyWorker, frontendService, job, learnerClientModule, proto, type RunOutcome, runCall, workerService } from "./checks/deadlines";

/** Binds a server to a free local port; the demo shuts it down at the end. */
function bindLocal(server: grpc.Server): Promise<string> {
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(`127.0.0.1:${port}`))),
  );
}

function describe(outcome: RunOutcome): string {
  return outcome.kind === "done" ? `done: ${outcome.result.stepsDone} steps` : outcome.kind;
}

export const hooks: LabHooks = {
  createServer: () =>
    createLearnerWorker(async (work, step) => {
      console.log(`  ${work.name}: step ${step} of ${work.steps}`);
      await sleep(work.stepMs);
    }),

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 07's client takes no options, not "${args.join(" ")}"`);
    const learner = await learnerClientModule();
    const toClose: Array<() => void> = [];
    try {
      const client = await learner.createWorkerClient(address);
      toClose.push(() => client.close());

      print("Run, 3 steps of 100 ms, timeoutMs 2000:");
      print(`  ${describe(await learner.run(client, job("quick", 3, 100), { timeoutMs: 2000 }))}`);
      print("Run, 10 steps of 300 ms, timeoutMs 1000 (the Worker should give up before the deadline):");
      print(`  ${describe(await learner.run(client, job("too-slow", 10, 300), { timeoutMs: 1000 }))}`);
      print("Run, 10 steps of 200 ms, cancelled after 0.5 s (the Worker should stop):");
      print(`  ${describe(await learner.run(client, job("abandoned", 10, 200), { timeoutMs: 5000, signal: AbortSignal.timeout(500) }))}`);

      print("Follow, 10 steps of 100 ms: the first 3 Progress messages, then cancel:");
      for (const progress of await learner.firstProgress(client, job("followed", 10, 100), 3, 5000)) print(`  step ${progress.step} of ${progress.steps}`);

      const frontend = await createLearnerFrontend(address);
      toClose.push(() => frontend.forceShutdown());
      const FrontendClient = loadService(proto, frontendService);
      const viaFrontend = new FrontendClient(await bindLocal(frontend), grpc.credentials.createInsecure());
      toClose.push(() => viaFrontend.close());
      print("Your Frontend, then the Worker: 10 steps of 200 ms, timeoutMs 700 (the deadline travels to the Worker):");
      const ended = await runCall(viaFrontend, job("via-frontend", 10, 200), 700);
      print(`  ${grpc.status[ended.code]} after ${ended.elapsedMs} ms`);

      const flaky = new grpc.Server();
      flaky.addService(loadService(proto, workerService).service, { run: flakyWorker(2).run });
      toClose.push(() => flaky.forceShutdown());
      const flakyClient = await learner.createWorkerClient(await bindLocal(flaky));
      toClose.push(() => flakyClient.close());
      print("runWithRetries against a local Worker that fails twice with UNAVAILABLE:");
      const { attempts } = await learner.runWithRetries(flakyClient, job("flaky", 1, 10), 3000);
      print(`  done after ${attempts} attempts`);
    } finally {
      for (const close of toClose.reverse()) close();
    }
  },
};
