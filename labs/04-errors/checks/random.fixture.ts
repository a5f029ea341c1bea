/**
 * Randomness made predictable in the learner's world, a fixture
 * (scripts/check-kit/target.ts, fixture()): backoffMs() calls its `random`
 * argument, or Math.random, synchronously, so neither can be a function of
 * the checks.
 */
export class PredictableRandom {
  private readonly original = Math.random;

  /** A random function that always returns `value`, to pass to backoffMs(). */
  constant(value: number): () => number {
    return () => value;
  }

  /** Math.random() returns `value` until restore(). */
  pinMathRandom(value: number): void {
    Math.random = () => value;
  }

  restore(): void {
    Math.random = this.original;
  }
}
