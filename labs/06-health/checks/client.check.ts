/**
 * Lab 06, steps 6 and 7: the learner's probe and watcher, against health
 * servers the checks write, which record what the client asked and answer
 * what the check decides.
 */
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { CheckFailure, expectEqual, expectNoDeadline, expectTrue, noteDeadline, record, referenceServer, settled, settledWithin, step, timed, unusedAddress, watchChannels, within } from "../../../scripts/check-kit";
import { exitCodes, healthProto, healthService, type HealthResponse, jobService, jobsProto, learnerClientModule, type ProbeResult, watchController } from "./health";

type Check = grpc.handleUnaryCall<{ service: string }, HealthResponse>;
type Watch = grpc.handleServerStreamingCall<{ service: string }, HealthResponse>;

/** A health server whose Check and Watch the check writes; the other methods answer UNIMPLEMENTED. */
function healthServer(handlers: { check?: Check; watch?: Watch }): Promise<string> {
  return referenceServer(healthProto, healthService, handlers as grpc.UntypedServiceImplementation);
}

/** A service name the learner's code cannot guess. */
const someService = () => `probe.v1.Service${randomUUID().slice(0, 8)}`;

// Room for a loaded machine: with 500 ms, a correct probe graded beside other labs on
// two cores sometimes could not connect in time and exited 2 (docs/performance.md).
const timeouts = { connectTimeoutMs: 1500, rpcTimeoutMs: 1000 };
// Where a timeout must run out (nothing listens, a server that never answers), a short one gives
// the same verdict sooner: a slow machine cannot make that connection or that answer come.
const mustRunOutMs = 300;

/** Runs the learner's probe, allowing for its timeouts and a slow machine. */
async function runProbe(address: string, service: string, wait = timeouts): Promise<ProbeResult> {
  const learner = await learnerClientModule();
  return within(learner.probe(address, { service, ...wait }), 4000, "probe()");
}

function expectExit(result: ProbeResult, expected: number, situation: string): void {
  expectEqual(result.exitCode, expected, `probe()'s exit code when ${situation}`);
}

/** Answers Check with `status`, recording the request and whether it had a deadline. */
function answering(status: HealthResponse["status"], seen: { service?: string; deadline?: number }): Check {
  return (call, callback) => {
    seen.service = call.request.service;
    const deadline = call.getDeadline();
    seen.deadline = deadline instanceof Date ? deadline.getTime() : deadline;
    callback(null, { status });
  };
}

step(6, () => {
  it("exits 0 for SERVING, asking about the service it was given, with a deadline", async () => {
    const seen: { service?: string; deadline?: number } = {};
    const service = someService();
    const result = await runProbe(await healthServer({ check: answering("SERVING", seen) }), service);
    expectEqual(seen.service, service, "the service named in the Check request");
    expectTrue(Number.isFinite(seen.deadline), "Check was called without a deadline: pass { deadline } in the call options, or a hung server hangs the probe");
    expectExit(result, exitCodes.serving, "the service is SERVING");
  });

  it("exits 4 for NOT_SERVING and for UNKNOWN", async () => {
    for (const status of ["NOT_SERVING", "UNKNOWN"] as const) {
      const result = await runProbe(await healthServer({ check: answering(status, {}) }), someService());
      expectExit(result, exitCodes.unhealthy, `the server answers ${status}`);
    }
  });

  it("exits 3 when Check fails: NOT_FOUND for an unknown service, UNIMPLEMENTED with no health service", async () => {
    const notFound = await healthServer({ check: (_call, callback) => callback({ code: grpc.status.NOT_FOUND, details: "unknown service" }) });
    expectExit(await runProbe(notFound, someService()), exitCodes.rpcFailure, "Check fails with NOT_FOUND");
    const noHealth = await referenceServer(jobsProto, jobService, {});
    expectExit(await runProbe(noHealth, ""), exitCodes.rpcFailure, "the server has no health service (UNIMPLEMENTED)");
  });

  it("exits 3 when the server does not answer within the RPC timeout", async () => {
    const silent = await healthServer({ check: () => {} });
    expectExit(await runProbe(silent, "", { ...timeouts, rpcTimeoutMs: mustRunOutMs }), exitCodes.rpcFailure, `Check gets no answer within rpcTimeoutMs (${mustRunOutMs} ms)`);
  });

  it("exits 2 when nothing listens at the address", async () => {
    expectExit(await runProbe(await unusedAddress(), "", { ...timeouts, connectTimeoutMs: mustRunOutMs }), exitCodes.connectionFailure, "no server listens at the address");
  });

  it("closes its channel whatever happens: after SERVING, after a failed Check, and when nothing listens", async () => {
    const serving = await healthServer({ check: answering("SERVING", {}) });
    const failing = await healthServer({ check: (_call, callback) => callback({ code: grpc.status.NOT_FOUND, details: "unknown service" }) });
    const nobody = await unusedAddress();
    for (const [address, situation] of [[serving, "the service is SERVING"], [failing, "Check fails with NOT_FOUND"], [nobody, "no server listens at the address"]] as const) {
      const channels = await watchChannels();
      await runProbe(address, someService(), address === nobody ? { ...timeouts, connectTimeoutMs: mustRunOutMs } : timeouts);
      const open = await channels.openTo(address);
      expectTrue(open === 0, `probe() returned with ${open} channel${open === 1 ? "" : "s"} still open when ${situation}: close the client whatever happens, in a finally block`);
    }
  });
});

step(7, () => {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Starts the learner's watcher; `reports` fills with what it reports. */
  async function watch(address: string, service: string) {
    const learner = await learnerClientModule();
    const reports: string[] = [];
    const controller = watchController();
    let outcome: { error?: unknown } | undefined;
    const done = learner.watchHealth(address, service, (status) => reports.push(status), controller.signal);
    done.then(
      () => (outcome = {}),
      (error: unknown) => (outcome = { error }),
    );
    return { reports, controller, done, settled: () => outcome };
  }

  /** A watcher keeps watching until its signal aborts: one that settled before that fails the check now, not after a wait. */
  function failIfSettled(watcher: Awaited<ReturnType<typeof watch>>): void {
    const outcome = watcher.settled();
    if (outcome && "error" in outcome) {
      const { code, message } = outcome.error as { code?: unknown; message?: string };
      if (typeof code !== "number") throw outcome.error; // the learner's own error, shown where it was thrown
      throw new CheckFailure(`watchHealth() rejected with ${grpc.status[code]} after reporting ${JSON.stringify(watcher.reports)}: ${message}`);
    }
    if (outcome) throw new CheckFailure(`watchHealth() resolved after reporting ${JSON.stringify(watcher.reports)}, before its signal aborted`);
  }

  /** Waits until the watcher has reported `count` statuses; fails early if it settles first. */
  async function reported(watcher: Awaited<ReturnType<typeof watch>>, count: number, ms: number): Promise<string[]> {
    const until = Date.now() + ms;
    while (watcher.reports.length < count && Date.now() < until) {
      failIfSettled(watcher);
      await pause(20);
    }
    if (watcher.reports.length < count) throw new CheckFailure(`watchHealth() should have reported ${count} status${count === 1 ? "" : "es"} within ${ms / 1000} s, got ${JSON.stringify(watcher.reports)}`);
    return watcher.reports;
  }

  it("reports each change of status, in order, for the service it was given", async () => {
    const service = someService();
    let asked: string | undefined;
    const address = await healthServer({
      watch(call) {
        asked = call.request.service;
        // grpc-health-check repeats a status on every setStatus: only changes are news.
        for (const status of ["SERVING", "SERVING", "NOT_SERVING", "NOT_SERVING", "SERVING"] as const) call.write({ status });
      },
    });
    const watcher = await watch(address, service);
    await reported(watcher, 3, 2000);
    await pause(100); // room for a wrong extra report
    await settled(); // every report made by now has arrived
    expectEqual(asked, service, "the service named in the Watch request");
    expectEqual(watcher.reports, ["SERVING", "NOT_SERVING", "SERVING"], "what watchHealth() reported for SERVING, SERVING, NOT_SERVING, NOT_SERVING, SERVING");
  });

  it("reports SERVICE_UNKNOWN for a service the server does not know", async () => {
    const address = await healthServer({ watch: (call) => call.write({ status: "SERVICE_UNKNOWN" }) });
    expectEqual(await reported(await watch(address, someService()), 1, 2000), ["SERVICE_UNKNOWN"], "what watchHealth() reported");
  });

  /** A server whose first Watch sends SERVING and then ends as `end` says; the next ones send NOT_SERVING. */
  const endingOnce = (end: (call: grpc.ServerWritableStream<unknown, HealthResponse>) => void) => {
    const state = { calls: 0 };
    const handlers = {
      watch(call: grpc.ServerWritableStream<unknown, HealthResponse>) {
        state.calls++;
        if (state.calls === 1) {
          call.write({ status: "SERVING" });
          setTimeout(() => end(call), 20);
        } else {
          call.write({ status: "NOT_SERVING" });
        }
      },
    };
    return { state, handlers };
  };

  it("watches again after the stream fails, and reports the status it then gets", async () => {
    const { state, handlers } = endingOnce((call) => call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the server restarts" }));
    const address = await healthServer(handlers);
    expectEqual(await reported(await watch(address, ""), 2, 3000), ["SERVING", "NOT_SERVING"], "what watchHealth() reported across a failed stream");
    expectEqual(state.calls, 2, "Watch calls the server received");
  });

  it("watches again after the stream ends with OK, and reports the status it then gets", async () => {
    const { state, handlers } = endingOnce((call) => call.end());
    const address = await healthServer(handlers);
    expectEqual(await reported(await watch(address, ""), 2, 3000), ["SERVING", "NOT_SERVING"], "what watchHealth() reported across a Watch that ended with OK (any end but UNIMPLEMENTED means watch again)");
    expectEqual(state.calls, 2, "Watch calls the server received");
  });

  // The gaps between Watch calls are timed in the judge to tens of milliseconds: it runs beside other checks only while
  // the judge keeps time (a late judge would record a too short wait as long enough), else again, alone.
  timed(() => {
    it("backs off between watches of a stream that keeps failing: about 100 ms, then twice as long each time, and stops waiting when its signal aborts", async () => {
      const starts: number[] = [];
      const address = await healthServer({
        watch(call) {
          starts.push(Date.now());
          call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the server restarts" });
        },
      });
      const watcher = await watch(address, "");
      const until = Date.now() + 2500;
      while (starts.length < 4 && Date.now() < until) {
        failIfSettled(watcher);
        await pause(20);
      }
      // Aborted during the fourth wait (about 800 ms): the watcher stops waiting and resolves at once.
      watcher.controller.abort();
      await within(watcher.done, 500, "watchHealth() after its signal aborted during a wait between Watch calls (stop the wait when the signal aborts)");
      const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
      const what = `against a Watch that always fails at once (gaps between Watch calls: ${JSON.stringify(gaps)} ms)`;
      expectTrue(starts.length >= 4, `watchHealth() made ${starts.length} Watch calls in 2.5 s ${what}: wait about 100 ms, then 200, 400 ... up to a few seconds`);
      // Timers never fire early; a loaded machine can make them late.
      [80, 160, 320].forEach((least, i) => expectTrue(gaps[i]! >= least, `retry ${i + 1} came ${gaps[i]} ms after the Watch before it ${what}: wait about ${100 * 2 ** i} ms (100 ms, twice as long each time)`));
    });
  });

  it("rejects with UNIMPLEMENTED, without retrying, when the server has no health service", async () => {
    const address = await referenceServer(jobsProto, jobService, {});
    const { done } = await watch(address, "");
    const outcome = await settledWithin(done, 2000, "watchHealth() against a server with no health service");
    if (outcome.resolved) throw new CheckFailure("watchHealth() resolved against a server with no health service: reject with the Watch call's UNIMPLEMENTED error");
    const { code, message } = outcome.error as { code?: unknown; message?: string };
    if (typeof code !== "number") throw new CheckFailure(`watchHealth() rejected with an error that has no gRPC code (${message}): reject with the Watch call's own error`);
    expectEqual(grpc.status[code], "UNIMPLEMENTED", "the code of the error watchHealth() rejected with");
  });

  it("gives the Watch call no deadline: it stays open until cancelled", async () => {
    const recording = record<unknown>();
    const address = await healthServer({
      watch(call) {
        noteDeadline(recording, call);
        call.write({ status: "SERVING" });
      },
    });
    const watcher = await watch(address, "");
    await reported(watcher, 1, 2000);
    watcher.controller.abort();
    await within(watcher.done, 1000, "watchHealth() after its signal aborted");
    expectNoDeadline(recording, "Watch");
  });

  it("cancels the Watch call and resolves when its signal aborts", async () => {
    let cancelled = false;
    const address = await healthServer({
      watch(call) {
        call.on("cancelled", () => (cancelled = true));
        call.write({ status: "SERVING" });
      },
    });
    const watcher = await watch(address, "");
    await reported(watcher, 1, 2000);
    watcher.controller.abort();
    await within(watcher.done, 1000, "watchHealth() after its signal aborted");
    const until = Date.now() + 1000;
    while (!cancelled && Date.now() < until) await pause(20);
    expectTrue(cancelled, "the server's Watch call was not cancelled after the signal aborted: call.cancel() it");
  });

  it("closes its channel when its signal aborts, and when it rejects", async () => {
    const serving = await healthServer({ watch: (call) => call.write({ status: "SERVING" }) });
    const whileServing = await watchChannels();
    const watcher = await watch(serving, "");
    await reported(watcher, 1, 2000);
    watcher.controller.abort();
    await within(watcher.done, 1000, "watchHealth() after its signal aborted");
    const afterAbort = await whileServing.openTo(serving);
    expectTrue(afterAbort === 0, `watchHealth() resolved with ${afterAbort} channel${afterAbort === 1 ? "" : "s"} still open after its signal aborted: close the client before it resolves`);
    const noHealth = await referenceServer(jobsProto, jobService, {});
    const whileRefused = await watchChannels();
    const refused = await watch(noHealth, "");
    const ended = refused.done.then(() => undefined, () => undefined);
    await Promise.race([ended, pause(2000)]);
    // A watcher that does not reject there fails another check; here, it is stopped and its channel counted all the same.
    if (!refused.settled()) refused.controller.abort();
    await within(ended, 1000, "watchHealth() against a server with no health service, after its signal aborted");
    const afterReject = await whileRefused.openTo(noHealth);
    expectTrue(afterReject === 0, `watchHealth() ended with ${afterReject} channel${afterReject === 1 ? "" : "s"} still open against a server with no health service: close the client whatever happens, in a finally block`);
  });
});
