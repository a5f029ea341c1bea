/**
 * Ties mocha suites to the lab's numbered steps:
 *   step(2, () => { it("returns the named feature", async () => { ... }); });
 * The step's title, side and hints come from the lab's lab.json.
 */
const stepOfSuite = new WeakMap<Mocha.Suite, number>();

export function step(number: number, body: () => void): void {
  describe(`step ${number}`, function (this: Mocha.Suite) {
    stepOfSuite.set(this, number);
    body();
  });
}

/** The step a mocha test or suite belongs to, or undefined outside step(). */
export function stepOf(node: Mocha.Runnable | Mocha.Suite): number | undefined {
  const first = "tests" in node ? node : node.parent;
  for (let suite: Mocha.Suite | undefined = first; suite; suite = suite.parent) {
    const number = stepOfSuite.get(suite);
    if (number !== undefined) return number;
  }
  return undefined;
}

/** Suites whose checks run alone, never beside another check (see serial()). */
export const serialSuites = new WeakSet<Mocha.Suite>();

/**
 * Checks that must run alone: the judge runs checks several at a time, and a
 * check that measures time tightly may declare that others' load would skew
 * it, rather than loosen what it measures:
 *   step(3, () => { serial(() => { it("answers within 50 ms", ...); }); });
 */
export function serial(body: () => void): void {
  describe("serial", function (this: Mocha.Suite) {
    serialSuites.add(this);
    body();
  });
}

/** Suites whose checks time the learner's code (see timed()). */
export const timedSuites = new WeakSet<Mocha.Suite>();

/**
 * Checks that time the learner's code in tens of milliseconds (a backoff
 * between retries): each runs in a subject of its own, beside other checks
 * in other subjects, and its verdict stands only if the judge's own event
 * loop kept time meanwhile. A late judge records what the learner's code did
 * late, so a backoff too short could pass; then the check runs again after
 * every other, alone, as serial() checks do. Where the judge has no subject
 * to spare (grading), it is a serial() check from the start:
 *   step(7, () => { timed(() => { it("backs off: 100 ms, then twice as long each time", ...); }); });
 */
export function timed(body: () => void): void {
  describe("timed", function (this: Mocha.Suite) {
    timedSuites.add(this);
    body();
  });
}

/** Suites whose checks run in a subject of their own (see ownSubject()). */
export const ownSubjectSuites = new WeakSet<Mocha.Suite>();

/**
 * Checks that run in a subject of their own: the judge runs many checks in
 * one subject, and a check that races the learner's code against the
 * network (a backend forced down between two calls, a backoff timed in
 * tens of milliseconds) declares that other checks' work in the same event
 * loop would reorder what it races, rather than loosen what it asserts.
 * Other checks still run beside it, in other subjects:
 *   step(3, () => { ownSubject(() => { it("loses no call when a backend is forced down", ...); }); });
 */
export function ownSubject(body: () => void): void {
  describe("own subject", function (this: Mocha.Suite) {
    ownSubjectSuites.add(this);
    body();
  });
}
