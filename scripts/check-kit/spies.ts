import { subject } from "./subject";

/**
 * Watches crypto.timingSafeEqual in the code under test for the rest of the
 * check: `lengths()` resolves with the byte lengths of both inputs of every
 * comparison. The subject installs the spy before any learner file loads
 * (scripts/subject/driver.ts); what it reports is the learner's own
 * behaviour, read in the learner's process.
 */
export async function watchTimingSafeEqual(): Promise<{ lengths(): Promise<Array<[number, number]>> }> {
  const running = await subject();
  await running.driver.watchTimingSafeEqual!();
  return {
    async lengths() {
      const lengths = await running.driver.timingSafeEqualLengths!();
      return Array.isArray(lengths) ? lengths.map((pair) => [Number((pair as unknown[])[0]), Number((pair as unknown[])[1])] as [number, number]) : [];
    },
  };
}
