import * as path from "node:path";
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

/** The folder of the code under test: labs/NN-name or solutions/NN-name. */
export function targetDir(): string {
  const dir = process.env.GRPC_LABS_TARGET_DIR;
  if (!dir) throw new Error("GRPC_LABS_TARGET_DIR is not set: checks run through `npm run lab`");
  return dir;
}

/** The lab's number, for commands in messages ("npm run lab 01 -- gen"). */
export function labNumber(): string {
  return process.env.GRPC_LABS_LAB ?? "NN";
}

/** The first stack frame inside the code under test, as "src/server.ts:42", or "". */
export function learnerLocation(error: unknown): string {
  const stack = error instanceof Error ? (error.stack ?? "") : "";
  const root = targetDir();
  for (const line of stack.split("\n")) {
    const match = /\(?((?:[A-Za-z]:)?[^():]+):(\d+):\d+\)?\s*$/.exec(line.trim());
    const file = match?.[1];
    if (file && path.resolve(file).startsWith(root + path.sep) && !file.includes(`${path.sep}gen${path.sep}`)) {
      return `${path.relative(root, file).split(path.sep).join("/")}:${match[2]}`;
    }
  }
  return "";
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
