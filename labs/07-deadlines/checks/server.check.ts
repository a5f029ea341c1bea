/**
 * Lab 07, steps 2 to 4: the learner's Worker and Frontend, called by a
 * reference client. The Worker does its work through a probe that records
 * when each step starts, so the checks see whether the work itself stops,
 * not only whether the client gave up. The Frontend's backend is a Worker
 * the check writes, which records the deadline and cancellation it sees.
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { connected, expectEqual, expectTrue, step, watchChannels, within } from "../../../scripts/check-kit";
import { beginWithinMs, cancelUnlessBegun, checkWorker, deadlineOf, expectCode, followCall, type Job, job, learnerFrontend, learnerWorker, runCall, StepProbe, whenCancelled } from "./deadlines";

/** Steps may still start this long after a cancellation or a deadline: the step in progress ends, the cancellation travels. */
const graceMs = 600;
/** How long the checks watch for steps after that grace: several steps, for work that does not stop. */
const watchMs = 600;

/** Fails unless no step started more than graceMs after `since`; `what` says what happened at `since`. */
async function expectWorkStopped(probe: StepProbe, since: number, what: string, hint: string): Promise<void> {
  await sleep(Math.max(0, since + graceMs + watchMs - Date.now()));
  const late = await probe.startedAfter(since + graceMs);
  expectTrue(late === 0, `your Worker started ${late} more steps between ${graceMs / 1000} s and ${(graceMs + watchMs) / 1000} s after ${what}: the work must stop (${hint})`);
}

step(2, () => {
  it("runs every step of a job that has time, and answers with the steps done", async () => {
    const probe = new StepProbe();
    const client = await learnerWorker(probe);
    const ended = await runCall(client, job("report-17", 3, 20), 2000);
    expectCode(ended, grpc.status.OK, "Run of 3 steps of 20 ms with a 2 s deadline");
    expectEqual(ended.response, { name: "report-17", stepsDone: 3 }, "Run of 3 steps of 20 ms");
    expectEqual(await probe.count(), 3, "steps done for a job of 3 steps");
  });

  it("fails fast with DEADLINE_EXCEEDED, before any step, when a step takes longer than the time left", async () => {
    const probe = new StepProbe();
    const client = await learnerWorker(probe);
    await connected(client); // the time measured is the call's
    const ended = await runCall(client, job("too-slow", 2, 3000), 1500);
    expectCode(ended, grpc.status.DEADLINE_EXCEEDED, "Run of steps of 3 s with a 1.5 s deadline");
    expectEqual(await probe.count(), 0, "steps started for a job whose steps take 3 s, with 1.5 s left");
    expectTrue(
      ended.elapsedMs < 1000,
      `Run of steps of 3 s with a 1.5 s deadline ended after ${ended.elapsedMs} ms, at the client's deadline: your server should answer DEADLINE_EXCEEDED at once (compare call.getDeadline() with the time a step takes)`,
    );
  });
});

step(3, () => {
  it("Run stops working soon after the client cancels", async () => {
    const probe = new StepProbe();
    const client = await learnerWorker(probe);
    let cancelledAt = Number.POSITIVE_INFINITY;
    let gaveUp = () => false;
    // 30 steps of 100 ms fit in 4 s, so a server that checks the whole job up front (step 2 allows it) runs it too.
    await runCall(client, job("abandoned", 30, 100), 4000, (call) => {
      gaveUp = cancelUnlessBegun(call, probe.started(1));
      void probe.started(3).then(() => {
        cancelledAt = Date.now();
        call.cancel();
      });
    });
    expectTrue(!gaveUp(), `Run of 30 steps of 100 ms began no step within ${beginWithinMs / 1000} s, and had not answered: begin the first step when the call arrives`);
    expectTrue(Number.isFinite(cancelledAt), `Run of 30 steps of 100 ms ended before its third step (after ${probe.starts.length} steps)`);
    await expectWorkStopped(probe, cancelledAt, "the client cancelled", "check call.cancelled before each step");
  });

  it("Run stops working once the deadline has passed, even when steps take longer than planned", async () => {
    // The job says 20 ms a step, but each step takes 150 ms: the job does not fit in its deadline after all.
    const probe = new StepProbe(() => 150);
    const client = await learnerWorker(probe);
    const deadline = Date.now() + 700;
    const ended = await runCall(client, job("overrun", 20, 20), 700);
    expectCode(ended, grpc.status.DEADLINE_EXCEEDED, "Run of 20 steps that take 150 ms each, with a 0.7 s deadline");
    await expectWorkStopped(probe, deadline, "the deadline passed", "grpc-js sets call.cancelled when the deadline passes; check it before each step");
  });

  it("Follow streams one Progress per step, then ends the stream", async () => {
    const probe = new StepProbe();
    const client = await learnerWorker(probe);
    const ended = await followCall(client, job("followed", 3, 10), 2000);
    expectCode(ended, grpc.status.OK, "Follow of 3 steps of 10 ms with a 2 s deadline");
    const progress = [1, 2, 3].map((n) => ({ name: "followed", step: n, steps: 3 }));
    expectEqual(ended.response, progress, "Progress messages streamed for a job of 3 steps");
  });

  it("Follow, like Run, fails fast with DEADLINE_EXCEEDED, before any step, when a step takes longer than the time left", async () => {
    const probe = new StepProbe();
    const client = await learnerWorker(probe);
    await connected(client); // the time measured is the call's
    const ended = await followCall(client, job("too-slow", 2, 3000), 1500);
    expectCode(ended, grpc.status.DEADLINE_EXCEEDED, "Follow of steps of 3 s with a 1.5 s deadline");
    expectEqual(await probe.count(), 0, "steps started by Follow for a job whose steps take 3 s, with 1.5 s left");
    expectTrue(
      ended.elapsedMs < 1000,
      `Follow of steps of 3 s with a 1.5 s deadline ended after ${ended.elapsedMs} ms, at the client's deadline: Follow runs the same steps as Run, and fails with DEADLINE_EXCEEDED at once`,
    );
  });

  it("Follow stops working soon after the client cancels the stream", async () => {
    const probe = new StepProbe();
    const client = await learnerWorker(probe);
    let gaveUp = () => false;
    const ended = await followCall(client, job("unwatched", 30, 100), 4000, 2, (call) => (gaveUp = cancelUnlessBegun(call, probe.started(1))));
    expectTrue(!gaveUp(), `Follow of 30 steps of 100 ms began no step within ${beginWithinMs / 1000} s, and had not ended: begin the first step when the call arrives`);
    expectTrue(ended.cancelledAt !== undefined, `Follow of 30 steps ended after ${ended.response?.length ?? 0} Progress messages, before the client could cancel it after 2`);
    await expectWorkStopped(probe, ended.cancelledAt!, "the client cancelled the stream", "check call.cancelled before each step");
  });
});

step(4, () => {
  it("runs the job on the backend and answers with the backend's answer", async () => {
    const received: Job[] = [];
    const backend = await checkWorker({
      run(call: grpc.ServerUnaryCall<Job, unknown>, callback: grpc.sendUnaryData<unknown>) {
        received.push(call.request);
        callback(null, { name: `${call.request.name} (from the backend)`, stepsDone: 99 });
      },
    });
    const client = await learnerFrontend(backend);
    const sent = job("via-frontend", 5, 10);
    const ended = await runCall(client, sent, 2000);
    expectEqual(received, [sent], "jobs the backend received");
    expectCode(ended, grpc.status.OK, "Frontend Run");
    expectEqual(ended.response, { name: "via-frontend (from the backend)", stepsDone: 99 }, "what the Frontend answered");
  });

  it("answers with the backend's error, its code unchanged", async () => {
    const backend = await checkWorker({
      run(_call: grpc.ServerUnaryCall<Job, unknown>, callback: grpc.sendUnaryData<unknown>) {
        callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: "the backend is full" });
      },
    });
    const client = await learnerFrontend(backend);
    const ended = await runCall(client, job("refused", 1, 10), 2000);
    expectCode(ended, grpc.status.RESOURCE_EXHAUSTED, "Frontend Run when the backend answers RESOURCE_EXHAUSTED (pass the backend's error to the callback as it is)");
  });

  it("gives the backend call a deadline no later than the client's", async () => {
    let backendDeadline = Number.NaN;
    const backend = await checkWorker({
      run(call: grpc.ServerUnaryCall<Job, unknown>, callback: grpc.sendUnaryData<unknown>) {
        backendDeadline = deadlineOf(call);
        callback(null, { name: call.request.name, stepsDone: 1 });
      },
    });
    const client = await learnerFrontend(backend);
    const clientDeadline = Date.now() + 1500;
    await runCall(client, job("timed", 1, 10), 1500);
    expectTrue(!Number.isNaN(backendDeadline), "the backend never received the job: call it from the Frontend's Run handler");
    expectTrue(Number.isFinite(backendDeadline), "the backend call had no deadline: pass { parent: call } in its call options, so it inherits the client's");
    // The deadline travels as a relative timeout: each hop adds its transit time, a few milliseconds.
    const later = backendDeadline - clientDeadline;
    expectTrue(later <= 500, `the backend call's deadline was ${later} ms later than the client's: pass { parent: call }, so it inherits the client's deadline`);
  });

  it("cancels the backend call when the client cancels", async () => {
    let backendCancelled: Promise<void> | undefined;
    let arrived: () => void = () => {};
    const backendGotCall = new Promise<void>((resolve) => (arrived = resolve));
    const backend = await checkWorker({
      // Never answers: the call ends only when it is cancelled.
      run(call: grpc.ServerUnaryCall<Job, unknown>) {
        backendCancelled = whenCancelled(call);
        arrived();
      },
    });
    const client = await learnerFrontend(backend);
    let gaveUp = () => false;
    await runCall(client, job("dropped", 1, 10), 3000, (call) => {
      gaveUp = cancelUnlessBegun(call, backendGotCall);
      void backendGotCall.then(() => call.cancel());
    });
    const inTime = gaveUp() ? ` within ${beginWithinMs / 1000} s` : "";
    expectTrue(backendCancelled !== undefined, `the backend never received the job${inTime}: call it from the Frontend's Run handler`);
    await within(backendCancelled!, 1500, "the backend seeing the cancellation (pass { parent: call } so that cancelling the client's call cancels the backend call)", { clientFunction: false });
  });

  it("calls the backend over one channel, shared by every call", async () => {
    // The backend holds each job until three are in, so that three calls are in flight at once.
    const held: Array<() => void> = [];
    let allIn: () => void = () => {};
    const threeIn = new Promise<void>((resolve) => (allIn = resolve));
    const backendAddress = await checkWorker({
      run(call: grpc.ServerUnaryCall<Job, unknown>, callback: grpc.sendUnaryData<unknown>) {
        held.push(() => callback(null, { name: call.request.name, stepsDone: 1 }));
        if (held.length === 3) allIn();
      },
    });
    const channels = await watchChannels();
    const client = await learnerFrontend(backendAddress);
    const calls = ["a", "b", "c"].map((name) => runCall(client, job(name, 1, 10), 3000));
    const allEnded = Promise.all(calls);
    await within(Promise.race([threeIn, allEnded]), 2000, "the backend receiving three calls the Frontend got at once", { clientFunction: false });
    if (held.length < 3) {
      // The Frontend answered without waiting for the backend: its answers say why.
      for (const call of await allEnded) expectCode(call, grpc.status.OK, "Frontend Run");
      expectTrue(false, `the backend received ${held.length} of the 3 jobs sent to the Frontend: call the backend from the Frontend's Run handler`);
    }
    const inFlight = await channels.openTo(backendAddress);
    for (const answer of held) answer();
    for (const call of await allEnded) expectCode(call, grpc.status.OK, "Frontend Run");
    const after = await channels.openTo(backendAddress);
    const most = Math.max(inFlight, after);
    expectTrue(most <= 1, `your Frontend had ${most} channels open to the backend for 3 calls (${inFlight} while they ran, ${after} after): create one WorkerClient when the Frontend is built, and share it between calls`);
  });
});
