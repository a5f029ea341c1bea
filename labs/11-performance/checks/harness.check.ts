/**
 * Lab 11, steps 2 and 3: the learner's benchmark harness. Step 2 feeds
 * summarize() latency samples whose report is known; step 3 gives runBench()
 * a call of the checks' own, which counts how often and how many at once it
 * is called. Nothing here depends on how fast the machine is.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { expectEqual, expectTrue, step, within } from "../../../scripts/check-kit";
import { harnessModule, type Report, type Sample } from "./perf";

const percentages = [10, 25, 50, 75, 90, 95, 99];

/** Equal up to floating-point rounding. */
function expectClose(actual: unknown, expected: number, what: string): void {
  const close = typeof actual === "number" && Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected));
  expectTrue(close, `${what}: expected ${expected}, got ${JSON.stringify(actual)}`);
}

/** Latencies in a fixed shuffled order, all successful. */
const succeeded = (latencies: number[]): Sample[] => latencies.map((ms) => ({ ms, ok: true }));
const shuffled = (values: number[]) => values.map((v, i) => ({ v, key: (i * 17) % values.length })).sort((a, b) => a.key - b.key).map((x) => x.v);

function expectPercentiles(report: Report, sortedOk: number[], what: string): void {
  const distribution = report.latencyDistribution;
  expectEqual(Array.isArray(distribution) ? distribution.map((d) => d.percentage) : distribution, percentages, `${what}: latencyDistribution's percentages`);
  for (const [i, p] of percentages.entries()) {
    // Nearest rank, as ghz: the smallest latency that at least p% of the calls do not exceed.
    const expected = sortedOk[Math.ceil((p / 100) * sortedOk.length) - 1]!;
    expectClose(distribution[i]!.latency, expected, `${what}: the ${p}th percentile (nearest rank: sorted[ceil(${p / 100} × ${sortedOk.length}) - 1])`);
  }
}

step(2, () => {
  it("reports the latency percentiles 10 to 99 by nearest rank, as ghz", async () => {
    const { summarize } = await harnessModule();
    for (const latencies of [Array.from({ length: 40 }, (_, i) => (i + 1) * 1.5), [3, 9, 4, 12, 7, 5, 20]]) {
      const report = await summarize(succeeded(shuffled(latencies)), 1000);
      expectPercentiles(report, [...latencies].sort((a, b) => a - b), `${latencies.length} samples`);
    }
  });

  it("counts every call, averages every call, and takes fastest, slowest and percentiles from the successful ones; rps = count / total seconds", async () => {
    const { summarize } = await harnessModule();
    // Two failures: one refused at once, one that ran into its deadline.
    const samples: Sample[] = [
      { ms: 4, ok: true },
      { ms: 0.5, ok: false },
      { ms: 2, ok: true },
      { ms: 8, ok: true },
      { ms: 90, ok: false },
      { ms: 6, ok: true },
    ];
    const report = await summarize(samples, 250);
    expectEqual(report.count, 6, "count (every call, failed or not)");
    expectEqual(report.errors, 2, "errors");
    expectClose(report.totalMs, 250, "totalMs");
    expectClose(report.average, 110.5 / 6, "average (over every call, as ghz)");
    expectClose(report.fastest, 2, "fastest (successful calls only: a failure's time is not a latency)");
    expectClose(report.slowest, 8, "slowest (successful calls only)");
    expectClose(report.rps, 24, "rps (6 calls in 250 ms: count / (totalMs / 1000))");
    // With the failures left out, p10 is 2 and p99 is 8; with them in, 0.5 and 90.
    const latency = (p: number) => (Array.isArray(report.latencyDistribution) ? report.latencyDistribution.find((d) => d.percentage === p)?.latency : undefined);
    expectClose(latency(10), 2, "the 10th percentile (successful calls only)");
    expectClose(latency(99), 8, "the 99th percentile (successful calls only)");
  });

  it("builds ghz's histogram: marks from fastest to slowest in 10 equal steps, each latency in the first mark at or above it", async () => {
    const { summarize } = await harnessModule();
    const samples = [...succeeded([10, 2, 7, 22, 4, 2]), { ms: 50, ok: false }];
    const report = await summarize(samples, 100);
    const histogram = report.histogram;
    expectEqual(Array.isArray(histogram) ? histogram.length : histogram, 11, "histogram entries (fastest, then 10 marks up to slowest)");
    const counts = [2, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1];
    for (const [i, entry] of histogram.entries()) {
      expectClose(entry.mark, 2 + 2 * i, `histogram[${i}].mark (fastest 2 + ${i} × width 2)`);
      expectEqual(entry.count, counts[i], `histogram[${i}].count (latencies over ${2 * i} and at most ${2 + 2 * i}; the failed call is not one)`);
      expectClose(entry.frequency, counts[i]! / 6, `histogram[${i}].frequency (count / successful calls)`);
    }
  });

  it("reports a run without a successful call with zeros and empty lists, never NaN", async () => {
    const { summarize } = await harnessModule();
    const report = await summarize([{ ms: 3, ok: false }], 0);
    expectEqual(
      { count: report.count, errors: report.errors, average: report.average, fastest: report.fastest, slowest: report.slowest, rps: report.rps },
      { count: 1, errors: 1, average: 3, fastest: 0, slowest: 0, rps: 0 },
      "the report of one failed call over 0 ms (rps 0 when totalMs is 0)",
    );
    expectEqual(report.latencyDistribution, [], "latencyDistribution with no successful call");
    expectEqual(report.histogram, [], "histogram with no successful call");
    const empty = await summarize([], 0);
    expectEqual({ count: empty.count, average: empty.average, rps: empty.rps }, { count: 0, average: 0, rps: 0 }, "the report of no call at all");
  });
});

/** A call for runBench: counts calls and how many are in flight; the nth call waits `holdMs(n)`, then fails if `fails(n)`. */
function countingCall(holdMs: (n: number) => number, fails: (n: number) => boolean = () => false) {
  const state = { calls: 0, inFlight: 0, maxInFlight: 0 };
  const call = async () => {
    const n = ++state.calls;
    state.maxInFlight = Math.max(state.maxInFlight, ++state.inFlight);
    try {
      await sleep(holdMs(n));
      if (fails(n)) throw new Error(`call ${n} failed`);
    } finally {
      state.inFlight--;
    }
  };
  return { state, call };
}

/** A timer may fire up to a millisecond early by performance.now(): a call held h ms takes at least h - 1. */
const atLeast = (holdMs: number) => holdMs - 1;

step(3, () => {
  it("makes the warm-up calls, then exactly `count` calls, and reports only those, failures included", async () => {
    const { runBench } = await harnessModule();
    // 5 warm-up calls of 30 ms, then 12 calls of 10 ms; the 3rd and 6th of those (calls 8 and 11) fail.
    const { state, call } = countingCall((n) => (n <= 5 ? 30 : 10), (n) => n === 8 || n === 11);
    const began = Date.now();
    const report = await within(runBench(call, { warmup: 5, concurrency: 1, count: 12 }), 3000, "runBench with 5 warm-up calls and a count of 12");
    const elapsed = Date.now() - began;
    expectEqual(state.calls, 17, "calls made (5 warm-up + 12)");
    expectEqual(report.count, 12, "report.count (the warm-up calls are not measured)");
    expectEqual(report.errors, 2, "report.errors (2 of the measured calls failed: a failed call is a sample, not an exception)");
    expectTrue(report.average >= 0 && report.average <= elapsed, `report.average was ${report.average} ms in a run of ${elapsed} ms: time every call, failed or not, from its start to its end`);
    // What the calls after the warm-up had of the run, at most (Date.now() counts whole milliseconds: 2 ms of rounding).
    const warmup = 5 * atLeast(30);
    const measured = elapsed - warmup + 2;
    expectTrue(report.totalMs <= measured, `report.totalMs was ${report.totalMs} ms, but runBench took ${elapsed} ms in all, at least ${warmup} of them in the warm-up: start the clock after the warm-up calls`);
    // Made one at a time, the calls' latencies add up to no more than that.
    expectTrue(
      report.average * 12 <= measured,
      `the 12 latencies add up to ${(report.average * 12).toFixed(1)} ms, more than the ${measured} ms the calls after the warm-up had, one at a time: time each call from its own start, not from the run's`,
    );
    // A failed call is a latency sample like any other: 3 calls that each fail after 20 ms.
    const failing = countingCall(() => 20, () => true);
    const failures = await within(runBench(failing.call, { warmup: 0, concurrency: 1, count: 3 }), 3000, "runBench with a count of 3 calls that fail");
    expectTrue(failures.average >= atLeast(20), `report.average was ${failures.average} ms for 3 calls that each failed after 20 ms: time every call, failed or not, from its start to its end`);
  });

  it("keeps exactly `concurrency` calls in flight", async () => {
    const { runBench } = await harnessModule();
    const { state, call } = countingCall(() => 15);
    const began = Date.now();
    // 22 is not a multiple of 4: the workers share the count, they do not split it.
    const report = await within(runBench(call, { warmup: 0, concurrency: 4, count: 22 }), 3000, "runBench with concurrency 4 and a count of 22");
    const elapsed = Date.now() - began;
    expectEqual(state.maxInFlight, 4, "calls in flight at once, at most (concurrency 4: start a new call as each one ends)");
    expectEqual(state.calls, 22, "calls made (a count of 22: the workers take calls from one count, none makes count / concurrency of its own)");
    expectEqual(report.count, 22, "report.count");
    // Each call waits 15 ms in the checks, and none can take longer than the whole run.
    expectTrue(report.fastest >= atLeast(15) && report.slowest <= elapsed, `latencies from ${report.fastest} to ${report.slowest} ms for calls of at least 15 ms in a run of ${elapsed} ms: time each call from its start to its end (performance.now() after minus before)`);
  });

  it("with a duration instead of a count, calls until the time is up and reports every call it made", async () => {
    const { runBench } = await harnessModule();
    const { state, call } = countingCall(() => 10);
    const began = Date.now();
    const report = await within(runBench(call, { warmup: 2, concurrency: 2, durationMs: 300 }), 3000, "runBench with a duration of 300 ms");
    const elapsed = Date.now() - began;
    const measured = state.calls - 2;
    expectTrue(measured > 0, "runBench with durationMs 300 and no count made no call after the warm-up: call until durationMs have passed");
    expectEqual(report.count, measured, "report.count (every call made after the warm-up)");
    // A timer may fire a fraction of a millisecond early by performance.now(): "at least" within 5%.
    expectTrue(report.totalMs >= 285, `report.totalMs was ${report.totalMs}: the run lasts durationMs (300 ms), from the first call after the warm-up to the end of the last`);
    expectTrue(report.totalMs <= elapsed + 5, `report.totalMs was ${report.totalMs}, but runBench took ${elapsed} ms in all: measure the time from the start of the measured calls to their end`);
  });
});
