/**
 * The check a piece of the judge's code works for. The judge runs several
 * checks at once, each in a lane of its own (a subject process of its own);
 * check-kit's helpers (`subject()`, `track()`, the check's events) find the
 * current check's lane and resources here, through the async context, rather
 * than in module globals. Outside a scope (the learner's `serve` and `client`,
 * the runner's own tests) they use one default lane.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface CheckScope {
  /** The lane the check runs in (subject.ts's Lane). */
  lane: unknown;
  /** How to close what the check opened (resources.ts). */
  resources: Array<() => unknown>;
}

export const checkScope = new AsyncLocalStorage<CheckScope>();
