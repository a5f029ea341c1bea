/**
 * Put into the learner's world by lab 02's checks (step 7): the learner's own
 * store, with every write made to wait first, as a slow database would. Calls
 * that overlap then finish out of order, unless the server runs them one at a
 * time.
 */
type Method = (...args: unknown[]) => Promise<unknown>;

export class SlowWrites {
  constructor(store: Record<string, unknown>, ms: number) {
    for (const name of ["create", "update", "delete"]) {
      const original = (store[name] as Method).bind(store);
      store[name] = async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return original(...args);
      };
    }
  }
}
