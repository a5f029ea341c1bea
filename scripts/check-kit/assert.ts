import { isDeepStrictEqual } from "node:util";

/**
 * A check failed for a reason a learner can act on. Its message is shown as
 * is: one sentence, expected versus got.
 */
export class CheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckFailure";
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** Fails with "what: expected X, got Y" unless the two are deeply equal. */
export function expectEqual<T>(actual: T, expected: T, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new CheckFailure(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function expectTrue(condition: boolean, message: string): void {
  if (!condition) throw new CheckFailure(message);
}

/** Rejects with a clear message when the learner's code does not settle in time. */
export function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
