/**
 * Everything a check opens (servers, channels) is registered here and closed
 * after each check by a root hook, so checks need no try/finally and a failing
 * check never leaves a port or a channel behind.
 */
const openResources: Array<() => void> = [];

export function track(close: () => void): void {
  openResources.push(close);
}

export function closeAll(): void {
  for (const close of openResources.splice(0).reverse()) {
    try {
      close();
    } catch {
      // Closing is best effort: the resource may already be closed.
    }
  }
}
