/**
 * Lab 11, the reference benchmark harness (steps 2 and 3).
 *
 * It reports what ghz, gRPC's load-testing tool, reports, in milliseconds
 * instead of ghz's nanoseconds: how many calls, how long, how fast, and the
 * shape of the latencies (percentiles and a histogram). A median says what a
 * typical call costs; p99 says what one call in a hundred costs, which is
 * what a user who makes a hundred calls waits for.
 */
import { performance } from "node:perf_hooks";

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

const percentages = [10, 25, 50, 75, 90, 95, 99];

/** ghz's report for `samples`, measured over `totalMs` of wall time. */
export function summarize(samples: Sample[], totalMs: number): Report {
  const count = samples.length;
  // Failures count in the totals; a failure's time (often a timeout, or an
  // instant refusal) says nothing about the latency of the calls that worked.
  const ok = samples.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  const n = ok.length;
  const fastest = n > 0 ? ok[0]! : 0;
  const slowest = n > 0 ? ok[n - 1]! : 0;
  // Nearest rank: the smallest latency that at least p% of the calls do not exceed.
  const latencyDistribution = n === 0 ? [] : percentages.map((percentage) => ({ percentage, latency: ok[Math.ceil((percentage / 100) * n) - 1]! }));
  // Ten equal-width buckets from fastest to slowest; ghz also lists fastest itself first (11 marks).
  const width = (slowest - fastest) / 10;
  const marks = [...Array.from({ length: 10 }, (_, i) => fastest + i * width), slowest];
  const counts = marks.map(() => 0);
  for (const latency of ok) counts[marks.findIndex((mark) => latency <= mark)]!++;
  return {
    count,
    errors: count - n,
    totalMs,
    average: count > 0 ? samples.reduce((sum, s) => sum + s.ms, 0) / count : 0,
    fastest,
    slowest,
    rps: totalMs > 0 ? count / (totalMs / 1000) : 0,
    latencyDistribution,
    histogram: n === 0 ? [] : marks.map((mark, i) => ({ mark, count: counts[i]!, frequency: counts[i]! / n })),
  };
}

/** Runs `call` as options say and reports on the calls after the warm-up. */
export async function runBench(call: () => Promise<unknown>, options: BenchOptions): Promise<Report> {
  const timed = async (): Promise<Sample> => {
    const start = performance.now();
    try {
      await call();
      return { ms: performance.now() - start, ok: true };
    } catch {
      return { ms: performance.now() - start, ok: false };
    }
  };
  for (let i = 0; i < options.warmup; i++) await timed();

  const samples: Sample[] = [];
  const start = performance.now();
  let started = 0;
  const more = () =>
    options.durationMs !== undefined ? performance.now() - start < options.durationMs : started < (options.count ?? 0);
  // `concurrency` workers, each with one call in flight: never more, never fewer while there is work.
  const worker = async () => {
    while (more()) {
      started++;
      samples.push(await timed());
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return summarize(samples, performance.now() - start);
}
