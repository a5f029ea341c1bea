/**
 * Lab 11, another correct harness: percentiles by counting ranks, the
 * histogram by bucket arithmetic, workers that share one iterator of call
 * numbers, and a deadline flag set by a timer instead of a clock read.
 */
import { performance } from "node:perf_hooks";

export interface Sample {
  ms: number;
  ok: boolean;
}

export function summarize(samples: Sample[], totalMs: number) {
  const latencies = samples.flatMap((s) => (s.ok ? [s.ms] : []));
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  const [fastest = 0] = latencies;
  const slowest = latencies[n - 1] ?? 0;
  let all = 0;
  for (const s of samples) all += s.ms;
  const latencyDistribution = [];
  for (const percentage of [10, 25, 50, 75, 90, 95, 99]) {
    // The first latency whose rank (1-based) reaches percentage% of n.
    let rank = 1;
    while (rank * 100 < percentage * n) rank++;
    if (n > 0) latencyDistribution.push({ percentage, latency: latencies[rank - 1]! });
  }
  const width = (slowest - fastest) / 10;
  const counts = new Array<number>(11).fill(0);
  for (const latency of latencies) {
    // Bucket i holds the latencies in (mark i-1, mark i]; bucket 0 only the fastest.
    const i = latency === fastest ? 0 : Math.min(10, Math.ceil((latency - fastest) / width));
    counts[i]!++;
  }
  const histogram = n === 0 ? [] : counts.map((count, i) => ({ mark: i === 10 ? slowest : fastest + width * i, count, frequency: count / n }));
  return {
    count: samples.length,
    errors: samples.length - n,
    totalMs,
    average: samples.length ? all / samples.length : 0,
    fastest,
    slowest,
    rps: totalMs > 0 ? (samples.length * 1000) / totalMs : 0,
    latencyDistribution,
    histogram,
  };
}

export async function runBench(call: () => Promise<unknown>, options: { warmup: number; concurrency: number; count?: number; durationMs?: number }) {
  for (let i = 0; i < options.warmup; i++) await call().catch(() => undefined);
  let timeUp = false;
  const timer = options.durationMs === undefined ? undefined : setTimeout(() => (timeUp = true), options.durationMs);
  function* numbers() {
    for (let i = 0; options.durationMs !== undefined ? !timeUp : i < (options.count ?? 0); i++) yield i;
  }
  const next = numbers();
  const samples: Sample[] = [];
  const began = performance.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      for (let step = next.next(); !step.done; step = next.next()) {
        const t0 = process.hrtime.bigint();
        const ok = await call().then(
          () => true,
          () => false,
        );
        samples.push({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok });
      }
    }),
  );
  clearTimeout(timer);
  return summarize(samples, performance.now() - began);
}
