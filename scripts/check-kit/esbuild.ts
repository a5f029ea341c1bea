/**
 * esbuild, for the judge's now-and-then transpiling and bundling. Its API
 * works in a child process that stays alive for the next call (about 30 MB);
 * the judge calls it only when a learner file changed and, in lab 10, once a
 * run to bundle the page, so the child process stops once no call has been
 * in flight for a moment, and the next call starts another.
 */
import type * as Esbuild from "esbuild";

type EsbuildApi = typeof Esbuild;
let api: EsbuildApi | undefined;
let inFlight = 0;
let stopTimer: NodeJS.Timeout | undefined;

/** Idle this long, the child process stops: calls made together (a tree's files) share one. */
const idleStopMs = 100;

/** Runs `work` with esbuild's API; esbuild's child process stops once no such work is left. */
export async function withEsbuild<T>(work: (esbuild: EsbuildApi) => Promise<T>): Promise<T> {
  api ??= require("esbuild") as EsbuildApi;
  clearTimeout(stopTimer);
  inFlight++;
  try {
    return await work(api);
  } finally {
    if (--inFlight === 0) {
      stopTimer = setTimeout(() => void api!.stop(), idleStopMs);
      stopTimer.unref();
    }
  }
}

/** The version of esbuild, for caches of what it produced. */
export const esbuildVersion = (): string => (require("esbuild/package.json") as { version: string }).version;
