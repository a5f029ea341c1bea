/**
 * Lab 04, steps 6 to 8: the learner's client against a scripted server whose
 * answers and failures the check controls. The checks count the attempts the
 * server received, time the gaps between them with tolerances that hold on a
 * slow machine, and compare decoded details with what the server sent.
 */
import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectEqual, expectTrue, readRichStatus, settledWithin, step, within } from "../../../scripts/check-kit";
import { type Answer, constantRandom, type ErrorDetails, learnerClientModule, pinMathRandom, receivedError, type RetryPolicy, scriptedReserveServer } from "./inventory";

/** Time allowed for the learner's function to settle, beyond the waits the script asks for. */
const settleMs = 3000;

/** Rejects unless `work` rejects; resolves with the error it rejected with. */
async function rejection(work: Promise<unknown>, what: string): Promise<grpc.ServiceError> {
  const outcome = await settledWithin(work, settleMs, what);
  if (outcome.resolved) throw new CheckFailure(`${what}: expected it to reject, but it resolved with ${JSON.stringify(outcome.value)}`);
  const { error } = outcome;
  if (typeof (error as { code?: unknown }).code !== "number") {
    throw new CheckFailure(`${what}: expected it to reject with the call's own error (with its code), got ${String((error as Error).message ?? error)}`);
  }
  return error as grpc.ServiceError;
}

function expectErrorCode(error: grpc.ServiceError, code: grpc.status, what: string): void {
  expectEqual(grpc.status[error.code] ?? error.code, grpc.status[code], `${what}: the code of the error it rejected with`);
}

/** The learner's errorDetails(), reduced to what the checks compare. */
function decoded(details: ErrorDetails): ErrorDetails {
  const result: ErrorDetails = { fieldViolations: (details.fieldViolations ?? []).map(({ field, description }) => ({ field, description })) };
  if (details.errorInfo) result.errorInfo = { reason: details.errorInfo.reason, domain: details.errorInfo.domain, metadata: { ...details.errorInfo.metadata } };
  if (details.retryDelayMs !== undefined) result.retryDelayMs = details.retryDelayMs;
  return result;
}

step(6, () => {
  // Values the learner's code cannot guess: they come from this run.
  const tag = `x${Date.now() % 100000}`;

  it("decodes the field violations of a google.rpc.BadRequest", async () => {
    const violations = [
      { field: "item.sku", description: `must be capitals ${tag}` },
      { field: "item.price_cents", description: `must be positive ${tag}` },
    ];
    const error = await receivedError(grpc.status.INVALID_ARGUMENT, [{ type: "google.rpc.BadRequest", value: { fieldViolations: violations } }]);
    const details = decoded(await (await learnerClientModule()).errorDetails(error));
    expectEqual(details.fieldViolations, violations, "errorDetails(error).fieldViolations for an INVALID_ARGUMENT with a BadRequest");
  });

  it("decodes a google.rpc.ErrorInfo and a google.rpc.RetryInfo", async () => {
    const errorInfo = { reason: "OUT_OF_STOCK", domain: `inventory.${tag}.example`, metadata: { sku: "CUP-07", available: "3", requested: tag } };
    const error = await receivedError(grpc.status.RESOURCE_EXHAUSTED, [
      { type: "google.rpc.ErrorInfo", value: errorInfo },
      { type: "google.rpc.RetryInfo", value: { retryDelay: { seconds: 2, nanos: 250000000 } } },
    ]);
    const details = decoded(await (await learnerClientModule()).errorDetails(error));
    expectEqual(details.errorInfo, errorInfo, "errorDetails(error).errorInfo");
    expectEqual(details.retryDelayMs, 2250, "errorDetails(error).retryDelayMs for a RetryInfo of 2.25 s");
    // retry_delay is a message field, and a server may leave it out.
    const withoutDelay = decoded(await (await learnerClientModule()).errorDetails(await receivedError(grpc.status.RESOURCE_EXHAUSTED, [{ type: "google.rpc.RetryInfo", value: {} }])));
    expectTrue(withoutDelay.retryDelayMs === undefined || withoutDelay.retryDelayMs === 0, `errorDetails(error).retryDelayMs for a RetryInfo without a retry_delay: expected none (or 0), got ${withoutDelay.retryDelayMs}`);
  });

  it("returns no details for an error without them, and skips detail types it does not know", async () => {
    const learner = await learnerClientModule();
    const plain = decoded(await learner.errorDetails(await receivedError(grpc.status.NOT_FOUND)));
    expectEqual(plain, { fieldViolations: [] }, "errorDetails(error) for a NOT_FOUND with no grpc-status-details-bin trailer");
    const mixed = await receivedError(grpc.status.INVALID_ARGUMENT, [
      { type: "google.rpc.DebugInfo", value: { stackEntries: ["a", "b"], detail: tag } },
      { type: "google.rpc.BadRequest", value: { fieldViolations: [{ field: "quantity", description: tag }] } },
    ]);
    expectEqual(decoded(await learner.errorDetails(mixed)), { fieldViolations: [{ field: "quantity", description: tag }] }, "errorDetails(error) for a DebugInfo followed by a BadRequest");
  });
});

step(7, () => {
  const policy: RetryPolicy = { maxAttempts: 10, initialBackoffMs: 100, backoffMultiplier: 2, maxBackoffMs: 1000 };
  const ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
  const almostOne = 0.999999;

  it("grows exponentially from initialBackoffMs by backoffMultiplier, and never past maxBackoffMs", async () => {
    const { backoffMs } = await learnerClientModule();
    const highest = await constantRandom(almostOne);
    for (const [i, ceiling] of ceilings.entries()) {
      const wait = await backoffMs(i + 1, policy, highest);
      expectTrue(wait >= ceiling / 2 && wait <= ceiling, `backoffMs(${i + 1}) with initialBackoffMs 100, multiplier 2, maxBackoffMs 1000 and the highest random value: expected between ${ceiling / 2} and ${ceiling}, got ${wait}`);
    }
    const tripled = { maxAttempts: 5, initialBackoffMs: 50, backoffMultiplier: 3, maxBackoffMs: 2000 };
    for (const [i, ceiling] of [50, 150, 450, 1350, 2000].entries()) {
      const wait = await backoffMs(i + 1, tripled, highest);
      expectTrue(wait >= ceiling / 2 && wait <= ceiling, `backoffMs(${i + 1}) with initialBackoffMs 50, multiplier 3, maxBackoffMs 2000 and the highest random value: expected between ${ceiling / 2} and ${ceiling}, got ${wait}`);
    }
  });

  it("adds jitter, taken from its random argument", async () => {
    const { backoffMs } = await learnerClientModule();
    const [zero, half, highest] = await Promise.all([constantRandom(0), constantRandom(0.5), constantRandom(almostOne)]);
    for (const [i, ceiling] of ceilings.entries()) {
      const retry = i + 1;
      const low = await backoffMs(retry, policy, zero);
      const again = await backoffMs(retry, policy, zero);
      expectTrue(low === again, `backoffMs(${retry}) gave ${low}, then ${again}, with the same random function: take the randomness from the random argument, not from Math.random directly`);
      expectTrue(low >= 0 && low < (await backoffMs(retry, policy, highest)), `backoffMs(${retry}) is ${low} whether random() returns 0 or almost 1: add jitter, a random share of the backoff`);
      const middle = await backoffMs(retry, policy, half);
      expectTrue(middle >= 0 && middle <= ceiling, `backoffMs(${retry}) with random() = 0.5: expected between 0 and ${ceiling}, got ${middle}`);
    }
  });
});

step(8, () => {
  const request = { sku: "MUG-RED", quantity: 2 };
  const reservation = { sku: "MUG-RED", quantity: 2, remaining: 41 };
  const quick: RetryPolicy = { maxAttempts: 5, initialBackoffMs: 20, backoffMultiplier: 2, maxBackoffMs: 40 };
  const unavailable: Answer = { code: grpc.status.UNAVAILABLE };
  const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

  it("retries UNAVAILABLE and returns the answer that finally comes", async () => {
    const { learner, client, attempts } = await scriptedReserveServer([unavailable, unavailable, { reservation }]);
    const result = await within(learner.reserveStock(client, request, quick), settleMs, "reserveStock() against a server that fails twice with UNAVAILABLE");
    expectEqual(attempts.length, 3, "attempts the server received (UNAVAILABLE, UNAVAILABLE, then OK)");
    expectEqual(attempts.map((a) => a.request), [request, request, request], "the request of each attempt");
    expectEqual(result, reservation, "what reserveStock() returned");
    const without = attempts.findIndex((a) => !Number.isFinite(a.deadline));
    expectTrue(without < 0, `attempt ${without + 1} came without a deadline: make each attempt with reserveOnce(), one call with a deadline`);
  });

  it("stops after maxAttempts and rejects with the last error", async () => {
    const { learner, client, attempts } = await scriptedReserveServer([unavailable]);
    const error = await rejection(learner.reserveStock(client, request, { ...quick, maxAttempts: 3 }), "reserveStock() with maxAttempts 3 against a server that is always UNAVAILABLE");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expectEqual(attempts.length, 3, "attempts the server received with maxAttempts 3 (the first attempt counts)");
    expectErrorCode(error, grpc.status.UNAVAILABLE, "reserveStock() against a server that is always UNAVAILABLE");
  });

  it("never retries INVALID_ARGUMENT, and rejects with the call's error and its details", async () => {
    const badRequest = { type: "google.rpc.BadRequest", value: { fieldViolations: [{ field: "quantity", description: "must be positive" }] } };
    const { learner, client, attempts } = await scriptedReserveServer([{ code: grpc.status.INVALID_ARGUMENT, details: [badRequest] }, { reservation }]);
    const what = "reserveStock() against a server that answers INVALID_ARGUMENT";
    const error = await rejection(learner.reserveStock(client, request, quick), what);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expectEqual(attempts.length, 1, `${what}: attempts the server received`);
    expectErrorCode(error, grpc.status.INVALID_ARGUMENT, what);
    expectTrue(readRichStatus(error.metadata, what) !== undefined, `${what}: the error it rejected with has lost its trailers (error.metadata): reject with the call's own error`);
  });

  it("does not retry other codes that a retry cannot fix", async () => {
    for (const code of [grpc.status.NOT_FOUND, grpc.status.FAILED_PRECONDITION, grpc.status.PERMISSION_DENIED, grpc.status.INTERNAL]) {
      const { learner, client, attempts } = await scriptedReserveServer([{ code }, { reservation }]);
      const what = `reserveStock() against a server that answers ${grpc.status[code]}`;
      expectErrorCode(await rejection(learner.reserveStock(client, request, quick), what), code, what);
      expectEqual(attempts.length, 1, `${what}: attempts the server received`);
    }
  });

  it("waits the RetryInfo delay before retrying RESOURCE_EXHAUSTED", async () => {
    const delayMs = 400;
    const retryInfo = { type: "google.rpc.RetryInfo", value: { retryDelay: { seconds: 0, nanos: delayMs * 1e6 } } };
    const { learner, client, attempts } = await scriptedReserveServer([{ code: grpc.status.RESOURCE_EXHAUSTED, details: [retryInfo] }, { reservation }]);
    const what = "reserveStock() against a server that answers RESOURCE_EXHAUSTED with a RetryInfo of 400 ms, then OK";
    expectEqual(await within(learner.reserveStock(client, request, quick), settleMs, what), reservation, `${what}: what it returned`);
    expectEqual(attempts.length, 2, `${what}: attempts the server received`);
    const [gap] = gaps(attempts.map((a) => a.at));
    // Timers never fire early (a few ms of clock rounding aside); a loaded machine can make them late.
    expectTrue(gap! >= delayMs - 15, `${what}: the retry came ${gap} ms after the first attempt; wait the server's RetryInfo delay (${delayMs} ms), not your own backoff`);
    expectTrue(gap! <= delayMs + 1500, `${what}: the retry came ${gap} ms after the first attempt, far past the ${delayMs} ms the server asked for`);
  });

  it("waits backoffMs() between UNAVAILABLE retries", async () => {
    // Jitter made predictable: backoffMs() draws from Math.random by default, so each wait is its ceiling.
    await pinMathRandom(0.999);
    // Waits long next to a round trip, even on a loaded machine, where a client that retries at once can take 100 ms to.
    const policy: RetryPolicy = { maxAttempts: 4, initialBackoffMs: 200, backoffMultiplier: 2, maxBackoffMs: 400 };
    const { learner, client, attempts } = await scriptedReserveServer([unavailable]);
    const what = "reserveStock() with maxAttempts 4, initialBackoffMs 200, multiplier 2 and maxBackoffMs 400 against a server that is always UNAVAILABLE";
    await rejection(learner.reserveStock(client, request, policy), what);
    expectEqual(attempts.length, 4, `${what}: attempts the server received`);
    const waits = gaps(attempts.map((a) => a.at));
    [200, 400, 400].forEach((ceiling, i) => {
      // Timers never fire early; a loaded machine can make them late.
      expectTrue(waits[i]! >= ceiling * 0.9, `${what}, with Math.random() at 0.999: retry ${i + 1} came ${waits[i]} ms after the attempt before it; wait backoffMs(${i + 1}, policy), about ${ceiling} ms here, before it`);
      expectTrue(waits[i]! <= ceiling + 750, `${what}, with Math.random() at 0.999: retry ${i + 1} came ${waits[i]} ms after the attempt before it, far past its backoff of ${ceiling} ms`);
    });
  });
});
