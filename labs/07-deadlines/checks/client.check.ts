/**
 * Lab 07, steps 5 to 8: the learner's client, calling Worker servers whose
 * delays and failures the checks control. The servers record what the
 * client's calls carry (the deadline, grpc-previous-rpc-attempts), when each
 * attempt arrives, and whether the client cancelled.
 */
import * as grpc from "@grpc/grpc-js";
import { afterFirstTries, CheckFailure, expectEqual, expectRejection, expectTrue, notServingYet, step, unusedAddress, within } from "../../../scripts/check-kit";
import { checkWorkerAt, deadlineOf, failure, flakyWorker, type Job, job, type JobResult, learnerClientAt, learnerClientFor, type Progress, type RunHandler, whenCancelled } from "./deadlines";

/** Time the learner's function has to settle beyond its own timeout. */
const slackMs = 1500;

type FollowHandler = (call: grpc.ServerWritableStream<Job, Progress>) => void;

/** Rethrows what the learner's function threw, unless it is a call's error: then fails with `explain(code)`. */
function explainCallError(error: unknown, explain: (code: string) => string): never {
  const code = (error as { code?: unknown }).code;
  if (error instanceof CheckFailure || typeof code !== "number") throw error;
  throw new CheckFailure(explain(grpc.status[code] ?? String(code)));
}

/** Fails unless `deadline` (seen by the server) is about `timeoutMs` after `begin`. */
function expectDeadline(deadline: number, begin: number, timeoutMs: number, what: string): void {
  expectTrue(Number.isFinite(deadline), `${what} was called without a deadline: pass { deadline: Date.now() + timeoutMs } in the call options`);
  const ms = deadline - begin;
  // The deadline travels as a relative timeout, so transit time makes it a little later.
  expectTrue(ms >= timeoutMs - 100 && ms <= timeoutMs + 800, `${what}'s deadline was ${ms} ms after the call started: expected about ${timeoutMs} ms (timeoutMs)`);
}

step(5, () => {
  it("returns the server's result, and gives the call a deadline timeoutMs from now", async () => {
    const received: Job[] = [];
    let deadline = Number.NaN;
    const run: RunHandler = (call, callback) => {
      received.push(call.request);
      deadline = deadlineOf(call);
      callback(null, { name: `${call.request.name} is done`, stepsDone: 42 });
    };
    const { learner, client } = await learnerClientFor({ run });
    const begin = Date.now();
    const sent = job("j-5", 3, 10);
    const outcome = await within(learner.run(client, sent, { timeoutMs: 1500 }), 1500 + slackMs, "run()");
    expectEqual(received, [sent], "jobs the server received");
    expectEqual(outcome, { kind: "done", result: { name: "j-5 is done", stepsDone: 42 } }, "what run() returned");
    expectDeadline(deadline, begin, 1500, "Run");
  });

  it('returns { kind: "timedOut" } when the server does not answer before the deadline', async () => {
    const { learner, client } = await learnerClientFor({ run: () => {} });
    const outcome = await within(learner.run(client, job("slow", 1, 10), { timeoutMs: 300 }), 300 + slackMs, "run() with timeoutMs 300 against a server that never answers");
    expectEqual(outcome, { kind: "timedOut" }, "what run() returned when the call ended with DEADLINE_EXCEEDED");
  });

  it('returns { kind: "cancelled" } when the signal aborts, and the server sees the cancellation', async () => {
    const controller = new AbortController();
    let serverSawCancel: Promise<void> | undefined;
    // Never answers; aborts the client's signal as soon as the call arrives.
    const run: RunHandler = (call) => {
      serverSawCancel = whenCancelled(call);
      controller.abort();
    };
    const { learner, client } = await learnerClientFor({ run });
    const outcome = await within(learner.run(client, job("abandoned", 1, 10), { timeoutMs: 4000, signal: controller.signal }), slackMs, "run() after its signal aborted");
    expectEqual(outcome, { kind: "cancelled" }, "what run() returned when its signal aborted");
    expectTrue(serverSawCancel !== undefined, "the server never received the call");
    await within(serverSawCancel!, slackMs, "the server seeing the call cancelled (call call.cancel() when the signal aborts)");
  });

  it("rejects with the call's error when it fails for another reason", async () => {
    const { learner, client } = await learnerClientFor({ run: ((_, callback) => callback(failure(grpc.status.INVALID_ARGUMENT, "steps must be positive"))) as RunHandler });
    await expectRejection(learner.run(client, job("bad", -1, 10), { timeoutMs: 1500 }), grpc.status.INVALID_ARGUMENT, "run() against a server that answers INVALID_ARGUMENT", 1500 + slackMs);
  });
});

step(6, () => {
  const progress = (name: string, n: number, steps: number): Progress => ({ name, step: n, steps });

  /** Streams one Progress every 20 ms until `steps`, or ends with `error` after `failAfter` messages. */
  const streamingServer = (onCall: (call: grpc.ServerWritableStream<Job, Progress>) => void, failAfter?: number): FollowHandler => (call) => {
    onCall(call);
    let sent = 0;
    const timer = setInterval(() => {
      if (sent === failAfter) {
        clearInterval(timer);
        call.emit("error", failure(grpc.status.INTERNAL, "the job crashed"));
      } else if (sent === call.request.steps) {
        clearInterval(timer);
        call.end();
      } else {
        call.write(progress(call.request.name, ++sent, call.request.steps));
      }
    }, 20);
    call.on("cancelled", () => clearInterval(timer));
  };

  it("returns the first messages of the stream, then cancels it so that the server stops", async () => {
    let serverSawCancel: Promise<void> | undefined;
    const follow = streamingServer((call) => (serverSawCancel = whenCancelled(call)));
    const { learner, client } = await learnerClientFor({ follow });
    const first = await within(learner.firstProgress(client, job("long", 1000, 20), 3, 4000), slackMs, "firstProgress(job, 3) on a stream of 1000 messages");
    expectEqual(first, [1, 2, 3].map((n) => progress("long", n, 1000)), "what firstProgress(job, 3) returned");
    await within(serverSawCancel!, slackMs, "the server seeing the stream cancelled (call call.cancel() once you have the messages you need)");
  });

  it("returns every message when the stream ends before that many", async () => {
    const { learner, client } = await learnerClientFor({ follow: streamingServer(() => {}) });
    const all = await within(learner.firstProgress(client, job("short", 2, 20), 5, 2000), 2000 + slackMs, "firstProgress(job, 5) on a stream of 2 messages");
    expectEqual(all, [progress("short", 1, 2), progress("short", 2, 2)], "what firstProgress(job, 5) returned for a stream of 2 messages");
  });

  it("rejects when the stream fails before that many messages", async () => {
    const { learner, client } = await learnerClientFor({ follow: streamingServer(() => {}, 1) });
    await expectRejection(learner.firstProgress(client, job("crash", 10, 20), 5, 2000), grpc.status.INTERNAL, "firstProgress(job, 5) on a stream that fails with INTERNAL after 1 message (only your own cancel is not an error)", 2000 + slackMs);
  });

  it("gives the stream a deadline timeoutMs from now", async () => {
    let deadline = Number.NaN;
    const { learner, client } = await learnerClientFor({ follow: streamingServer((call) => (deadline = deadlineOf(call))) });
    const begin = Date.now();
    await within(learner.firstProgress(client, job("timed", 2, 20), 2, 1500), 1500 + slackMs, "firstProgress()");
    expectDeadline(deadline, begin, 1500, "Follow");
  });
});

const hintRetryPolicy = "set a retryPolicy in the channel's grpc.service_config option";

step(7, () => {
  it("retries UNAVAILABLE until it succeeds, and reports how many attempts the call took", async () => {
    const { attempts, run } = flakyWorker(2);
    const { learner, client } = await learnerClientFor({ run });
    let outcome: unknown;
    try {
      outcome = await within(learner.runWithRetries(client, job("flaky", 1, 10), 3000), 3000 + slackMs, "runWithRetries()");
    } catch (error) {
      explainCallError(error, (code) => `runWithRetries() against a server that fails twice with UNAVAILABLE failed with ${code} after ${attempts.length} attempt${attempts.length === 1 ? "" : "s"}: ${hintRetryPolicy}`);
    }
    expectEqual(attempts.length, 3, "attempts the server saw for a call that fails twice with UNAVAILABLE");
    expectEqual(
      attempts.map((a) => a.previous ?? "none"),
      ["none", "1", "2"],
      `grpc-previous-rpc-attempts on each attempt (grpc-js sends it on the retries it makes; ${hintRetryPolicy}, rather than retrying by hand)`,
    );
    expectEqual(outcome, { result: { name: "flaky", stepsDone: 3 }, attempts: 3 }, "what runWithRetries() returned (attempts: 1 + grpc-previous-rpc-attempts of the response headers)");
  });

  it("reports one attempt when the first one succeeds", async () => {
    const { run } = flakyWorker(0);
    const { learner, client } = await learnerClientFor({ run });
    const outcome = await within(learner.runWithRetries(client, job("steady", 1, 10), 2000), 2000 + slackMs, "runWithRetries()");
    expectEqual(outcome, { result: { name: "steady", stepsDone: 1 }, attempts: 1 }, "what runWithRetries() returned for a call that succeeded at once");
  });

  it("gives up after 4 attempts, waiting longer before each retry", async () => {
    const { attempts, run } = flakyWorker(Number.POSITIVE_INFINITY);
    const { learner, client } = await learnerClientFor({ run });
    await expectRejection(learner.runWithRetries(client, job("down", 1, 10), 3000), grpc.status.UNAVAILABLE, "runWithRetries() against a server that always answers UNAVAILABLE", 3000 + slackMs);
    expectEqual(attempts.length, 4, `attempts the server saw for a call that always fails with UNAVAILABLE (maxAttempts 4; ${hintRetryPolicy})`);
    // Backoff 0.1 s, 0.2 s, 0.4 s with ±20% jitter: a retry never comes earlier than 80% of it, less
    // a coarse timer's error (Windows). A busy machine only makes it later.
    const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
    gaps.forEach((gap, i) => {
      const least = Math.floor(100 * 2 ** i * 0.6);
      expectTrue(gap >= least, `the wait before retry ${i + 1} was ${gap} ms: expected at least ${least} ms (initialBackoff "0.1s", backoffMultiplier 2)`);
    });
  });

  it("does not retry INVALID_ARGUMENT", async () => {
    const { attempts, run } = flakyWorker(Number.POSITIVE_INFINITY, grpc.status.INVALID_ARGUMENT);
    const { learner, client } = await learnerClientFor({ run });
    await expectRejection(learner.runWithRetries(client, job("bad", 1, 10), 2000), grpc.status.INVALID_ARGUMENT, "runWithRetries() against a server that answers INVALID_ARGUMENT", 2000 + slackMs);
    expectEqual(attempts.length, 1, "attempts the server saw for a call that failed with INVALID_ARGUMENT (retrying cannot fix a bad request: list only UNAVAILABLE in retryableStatusCodes)");
  });
});

step(8, () => {
  it("waits for a server that is not up yet (waitForReady)", async () => {
    const port = await notServingYet();
    const { learner, client } = await learnerClientAt(port.address);
    const pending = learner.runWithRetries(client, job("early", 1, 10), 3500);
    pending.catch(() => undefined); // a rejection waits for the check below
    // The server starts once the client has tried to connect and found no one.
    await afterFirstTries([port], pending);
    const { run } = flakyWorker(0);
    await checkWorkerAt(port.address, { run });
    let outcome: { result: JobResult } | undefined;
    try {
      outcome = await within(pending, 3500 + slackMs, "runWithRetries() against a server that starts after the call's first try to connect");
    } catch (error) {
      explainCallError(error, (code) => `runWithRetries() against a server that starts after the call's first try to connect failed with ${code}: create the call's metadata with new grpc.Metadata({ waitForReady: true })`);
    }
    expectEqual(outcome.result, { name: "early", stepsDone: 1 }, "the result of runWithRetries() against a server that starts late");
  });

  it("waits until its deadline when no server ever answers, then fails with DEADLINE_EXCEEDED", async () => {
    const { learner, client } = await learnerClientAt(await unusedAddress());
    const begin = Date.now();
    await expectRejection(
      learner.runWithRetries(client, job("nobody", 1, 10), 1500),
      grpc.status.DEADLINE_EXCEEDED,
      "runWithRetries() with timeoutMs 1500 and no server (with waitForReady the call waits for one until its deadline, instead of failing with UNAVAILABLE)",
      1500 + slackMs,
    );
    const elapsed = Date.now() - begin;
    expectTrue(elapsed >= 1400, `runWithRetries() with timeoutMs 1500 and no server failed after ${elapsed} ms: expected it to wait until its deadline`);
  });

  it("keeps its retries inside the deadline", async () => {
    // Each attempt fails with UNAVAILABLE after 300 ms: four attempts and their backoff would take about 2 s.
    const { attempts, run } = flakyWorker(Number.POSITIVE_INFINITY, grpc.status.UNAVAILABLE, 300);
    const { learner, client } = await learnerClientFor({ run });
    await expectRejection(
      learner.runWithRetries(client, job("slow-and-down", 1, 10), 1000),
      grpc.status.DEADLINE_EXCEEDED,
      "runWithRetries() with timeoutMs 1000 against a server that fails every attempt after 0.3 s (one deadline for the whole call, retries included)",
      1000 + slackMs,
    );
    expectTrue(attempts.length < 4, `the server saw ${attempts.length} attempts within a 1 s deadline, each taking 0.3 s: retries must stop at the call's deadline`);
  });
});
