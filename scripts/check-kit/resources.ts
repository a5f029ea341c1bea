/**
 * Everything a check opens (servers, channels) is registered here and closed
 * after each check by a root hook, so checks need no try/finally and a failing
 * check never leaves a port or a channel behind. Checks that run at the same
 * time (in lanes) each close their own: the list is the current check's.
 */
import { checkScope } from "./scope";

const outsideChecks: Array<() => unknown> = [];
const openResources = (): Array<() => unknown> => checkScope.getStore()?.resources ?? outsideChecks;

/** Registers how to close something after the check; a close that returns a promise (a stand-in's) may reject. */
export function track(close: () => unknown): void {
  openResources().push(close);
}

/** Closes what the current check opened. */
export function closeAll(): void {
  for (const close of openResources().splice(0).reverse()) {
    try {
      const closing = close();
      if (closing instanceof Promise) closing.catch(() => undefined);
    } catch {
      // Closing is best effort: the resource may already be closed.
    }
  }
}
