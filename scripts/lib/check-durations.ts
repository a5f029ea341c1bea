/**
 * How long each check of a lab took in its last runs, so that the judge
 * starts the checks that wait longest first: a lab is done when its longest
 * check is, and one that waits 1.5 s started last adds 1.5 s to the run.
 * Kept in node_modules/.cache/grpc-labs/ (no subject can read it), one file
 * a lab; without it, checks start in step order.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { workspaceRoot } from "./labs";

const cacheDir = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", "durations");
const fileOf = (labId: string) => path.join(cacheDir, `${labId}.json`);

/** How many passing runs of a check are kept. */
const keptPasses = 3;

/** What is kept of a check: how long it took last time, and in its last passing runs (the last first). */
interface Kept {
  last: number;
  passed: number[];
}

const milliseconds = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value) && value >= 0;

/** Check id → what is kept of it (empty when nothing is, or it is unreadable). */
function keptDurations(labId: string): Map<string, Kept> {
  try {
    const entries = JSON.parse(fs.readFileSync(fileOf(labId), "utf8")) as unknown;
    if (typeof entries !== "object" || entries === null) return new Map();
    const kept = new Map<string, Kept>();
    for (const [id, value] of Object.entries(entries)) {
      // A number alone: what a workspace noted before passing runs were kept.
      const entry = (typeof value === "object" && value !== null ? value : { last: value }) as { last?: unknown; passed?: unknown };
      if (!milliseconds(entry.last)) continue;
      kept.set(id, { last: entry.last, passed: Array.isArray(entry.passed) ? entry.passed.filter(milliseconds).slice(0, keptPasses) : [] });
    }
    return kept;
  } catch {
    return new Map();
  }
}

/** Check id → milliseconds, from the lab's last run. */
export function lastDurations(labId: string): Map<string, number> {
  return new Map([...keptDurations(labId)].map(([id, { last }]) => [id, last]));
}

/**
 * Check id → how long it may take now: the longest of its last run and its
 * last passing runs. A check that waits by design (a grace period) waits
 * again once the code under test does what it asks, though it failed at once
 * the last time; one that waited out a deadline in a failing run waits again
 * only as long as that fault stays, which the last run tells.
 */
export function expectedDurations(labId: string): Map<string, number> {
  return new Map([...keptDurations(labId)].map(([id, { last, passed }]) => [id, Math.max(last, ...passed)]));
}

/**
 * Records this run's durations (`passed`: those of the checks that passed)
 * over the last ones (through a temporary file: judges grading a class write
 * at once).
 */
export function recordDurations(labId: string, durations: Map<string, number>, passed: ReadonlyMap<string, number>): void {
  if (durations.size === 0) return;
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const kept = keptDurations(labId);
    for (const [id, ms] of durations) {
      const before = kept.get(id)?.passed ?? [];
      const pass = passed.get(id);
      kept.set(id, { last: ms, passed: pass === undefined ? before : [pass, ...before].slice(0, keptPasses) });
    }
    const temporary = `${fileOf(labId)}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(Object.fromEntries(kept)));
    fs.renameSync(temporary, fileOf(labId));
  } catch {
    // A read-only workspace: the next run starts the checks in step order.
  }
}

/** Waiting longer than this, a check goes first. */
const longMs = 400;

/** `items` with the checks that took longest last time first (longest first), the others after them in their order. */
export function longestFirst<T>(items: T[], idOf: (item: T) => string, last: Map<string, number>): T[] {
  const took = (item: T) => last.get(idOf(item)) ?? 0;
  const long = items.filter((item) => took(item) >= longMs).sort((a, b) => took(b) - took(a));
  return [...long, ...items.filter((item) => took(item) < longMs)];
}

/**
 * A check that took this long last time waited (a deadline, a grace period): checks that compute take a
 * fraction of it. Such checks start first (longestFirst) and each gets a lane as soon as lanes open.
 */
const waiterMs = 1000;

/**
 * How many times as many lanes open when every running check has waited a while, the judge and its
 * subjects idle meanwhile: 1, 9, 32. Tripling (1, 3, 9, 27) took a round of about 100 ms more before a
 * dozen checks that wait out a deadline all waited, as after a change of state, when the last run does
 * not tell which checks wait (docs/performance.md, "Lanes ninefold").
 */
const idleGrowth = 9;

/**
 * How many lanes the judge wants open once every running check has run a while: idleGrowth times as
 * many as are open when the judge and its subjects were mostly idle meanwhile (the checks wait), as many
 * when they were busy (the checks compute, and more at once would only share the CPU), and in both cases
 * one more for each check at the head of the queue that waited last time (`queuedLastMs`: the queued
 * checks' durations last time, in queue order). Never more than `max`, nor more than there are checks to run.
 */
export function lanesWanted(open: number, max: number, queuedLastMs: readonly number[], idle: boolean): number {
  const firstShort = queuedLastMs.findIndex((ms) => ms < waiterMs);
  const waiters = firstShort < 0 ? queuedLastMs.length : firstShort;
  return Math.min(max, open + queuedLastMs.length, Math.max(idle ? open * idleGrowth : open, open + waiters));
}
