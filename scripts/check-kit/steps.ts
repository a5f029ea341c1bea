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

/** The step a mocha test belongs to, or undefined for a test outside step(). */
export function stepOf(test: Mocha.Runnable): number | undefined {
  for (let suite: Mocha.Suite | undefined = test.parent; suite; suite = suite.parent) {
    const number = stepOfSuite.get(suite);
    if (number !== undefined) return number;
  }
  return undefined;
}
