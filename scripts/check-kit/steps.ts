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
