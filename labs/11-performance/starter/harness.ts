/**
 * Lab 11, your benchmark harness (steps 2 and 3).
 *
 * It reports what ghz, gRPC's load-testing tool, reports, in milliseconds
 * instead of ghz's nanoseconds: how many calls, how long, how fast, and the
 * shape of the latencies (percentiles and a histogram).
 */

/** One call: how long it took, and whether it succeeded. */
export interface Sample {
  ms: number;
  ok: boolean;
}

export interface Report {
  count: number;
  errors: number;
  totalMs: number;
  average: number;
  fastest: number;
  slowest: number;
  rps: number;
  latencyDistribution: Array<{ percentage: number; latency: number }>;
  histogram: Array<{ mark: number; count: number; frequency: number }>;
}

export interface BenchOptions {
  /** Calls made and thrown away first, so that the JIT, the connection and the caches are warm. */
  warmup: number;
  /** Calls in flight at once. */
  concurrency: number;
  /** Stop after this many calls ... */
  count?: number;
  /** ... or once this many milliseconds have passed. */
  durationMs?: number;
}

/** ghz's report for `samples`, measured over `totalMs` of wall time. */
export function summarize(samples: Sample[], totalMs: number): Report {
  // TODO(step 2): count, errors, average over every sample; fastest, slowest,
  // percentiles (nearest rank) and the histogram over the successful ones.
  throw new Error(`summarize() of ${samples.length} samples in ${totalMs} ms is not written yet (step 2)`);
}

/** Runs `call` as options say and reports on the calls after the warm-up. */
export async function runBench(call: () => Promise<unknown>, options: BenchOptions): Promise<Report> {
  // TODO(step 3): the warm-up calls, then `concurrency` workers until the count
  // or the duration is reached, each call timed; then summarize().
  void call;
  throw new Error(`runBench() with concurrency ${options.concurrency} is not written yet (step 3)`);
}
