import { isDeepStrictEqual } from "node:util";
import { currentWire } from "./wire";

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

function show(value: unknown, limit = 160): string {
  const text = Object.is(value, -0) ? "-0" : (JSON.stringify(value) ?? String(value));
  return text.length > limit ? `${text.slice(0, limit - 3)}...` : text;
}

/** Where two values first differ: a path such as `[3].location.latitude` ("" for the values themselves). */
interface Difference {
  path: string;
  actual: unknown;
  expected: unknown;
  /** Which side has nothing at `path` (a shorter list, a missing field). */
  missing?: "actual" | "expected";
  /** The list that holds the difference, when it is an item of a list. */
  list?: { actual: unknown[]; expected: unknown[]; index: number };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.getPrototypeOf({});

function firstDifference(actual: unknown, expected: unknown, path = ""): Difference {
  if (Array.isArray(actual) && Array.isArray(expected)) {
    for (let index = 0; index < Math.max(actual.length, expected.length); index++) {
      const at = `${path}[${index}]`;
      const list = { actual, expected, index };
      if (index >= actual.length) return { path: at, actual: undefined, expected: expected[index], missing: "actual", list };
      if (index >= expected.length) return { path: at, actual: actual[index], expected: undefined, missing: "expected", list };
      if (!isDeepStrictEqual(actual[index], expected[index])) {
        const inner = firstDifference(actual[index], expected[index], at);
        return inner.path === at ? { ...inner, list } : inner;
      }
    }
  } else if (isRecord(actual) && isRecord(expected)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
    for (const key of keys) {
      const at = `${path}.${key}`;
      if (!(key in actual)) return { path: at, actual: undefined, expected: expected[key], missing: "actual" };
      if (!(key in expected)) return { path: at, actual: actual[key], expected: undefined, missing: "expected" };
      if (!isDeepStrictEqual(actual[key], expected[key])) return firstDifference(actual[key], expected[key], at);
    }
  }
  return { path, actual, expected };
}

/** Two long strings around the first character where they differ, and its position. */
function stringWindow(actual: string, expected: string): string {
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  const cut = (text: string) => `${at > 20 ? "..." : ""}${JSON.stringify(text.slice(Math.max(0, at - 20), at + 40))}${text.length > at + 40 ? "..." : ""}`;
  return `at character ${at}: expected ${cut(expected)}, got ${cut(actual)}`;
}

/** The items around the difference in a list, as "[..., a, b, c, ...]". */
function listWindow(list: unknown[], index: number): string {
  const from = Math.max(0, index - 1);
  const items = list.slice(from, index + 2).map((item) => show(item, 60));
  return `[${from > 0 ? "..., " : ""}${items.join(", ")}${index + 2 < list.length ? ", ..." : ""}]`;
}

/**
 * "expected X, got Y" for values too long to read whole, or that look the
 * same when shown: where they first differ, with a little context.
 */
function describeDifference(actual: unknown, expected: unknown): string {
  const difference = firstDifference(actual, expected);
  const { path, list } = difference;
  const where = path === "" ? "" : ` at ${path}`;
  if (typeof difference.actual === "string" && typeof difference.expected === "string" && Math.max(difference.actual.length, difference.expected.length) > 60) {
    return `first difference${where} ${stringWindow(difference.actual, difference.expected)}`;
  }
  const value = (side: "actual" | "expected") => (difference.missing === side ? "nothing" : show(difference[side]));
  const lengths = list && list.actual.length !== list.expected.length ? ` (expected ${list.expected.length} items, got ${list.actual.length})` : "";
  const context = list ? `; around it, expected ${listWindow(list.expected, list.index)}, got ${listWindow(list.actual, list.index)}` : "";
  return `first difference${where}${lengths}: expected ${value("expected")}, got ${value("actual")}${context}`;
}

/**
 * Fails with "what: expected X, got Y" unless the two are deeply equal. When
 * X or Y is too long to compare by eye (over 80 characters), or both show the
 * same, it says where they first differ instead, with a little context.
 */
export function expectEqual<T>(actual: T, expected: T, what: string): void {
  if (isDeepStrictEqual(actual, expected)) return;
  const [shownExpected, shownActual] = [show(expected), show(actual)];
  const readable = shownExpected !== shownActual && Math.max(shownExpected.length, shownActual.length) <= 80;
  throw new CheckFailure(`${what}: ${readable ? `expected ${shownExpected}, got ${shownActual}` : describeDifference(actual, expected)}`);
}

export function expectTrue(condition: boolean, message: string): void {
  if (!condition) throw new CheckFailure(message);
}

/**
 * Rejects with a clear message when the learner's code does not settle in
 * time. When a function of the learner's client resolves, the check's wire
 * transcript notes it, and the calls the recording servers see while it
 * runs are its own (wire.ts: a failed check tells one that resolved before
 * its call ended). `clientFunction: false` for anything else: an answer of
 * the learner's server (lab 10's gateway), or what a recording server of
 * the check sees (lab 07's backend).
 */
export function within<T>(work: Promise<T>, ms: number, what: string, { clientFunction = true } = {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  const resolved = clientFunction ? currentWire()?.waiting(what) : undefined;
  const noted = work.then((value) => {
    resolved?.();
    return value;
  });
  return Promise.race([noted, timeout]).finally(() => clearTimeout(timer));
}

/** How a learner's promise settled: the value it resolved with, or the error it rejected with. */
export type Settlement<T> = { resolved: true; value: T } | { resolved: false; error: unknown };

/**
 * Like within(), but a rejection is an outcome, not a failure: the check
 * decides what it means (the call's own error expected, or none). Still
 * fails when the promise does not settle in time.
 */
export async function settledWithin<T>(work: Promise<T>, ms: number, what: string): Promise<Settlement<T>> {
  try {
    return { resolved: true, value: await within(work, ms, what) };
  } catch (error) {
    if (error instanceof CheckFailure) throw error;
    return { resolved: false, error };
  }
}
