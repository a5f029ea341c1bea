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

/**
 * Watches the gRPC channels the code under test opens from now on (in the
 * learner's process, through grpc-js's channelz registry, which lists every
 * open channel with its target): `openTo(address)` resolves with how many of
 * them are open to that address's port now. A channel the code closed no
 * longer counts; channels opened before the watch (by earlier checks) never
 * do.
 */
export async function watchChannels(): Promise<{ openTo(address: string): Promise<number> }> {
  const running = await subject();
  const listed = async () => (await running.driver.openChannels!()) as Array<{ id: number; target: string }>;
  const before = Math.max(0, ...(await listed()).map((channel) => channel.id));
  return {
    async openTo(address) {
      const port = address.slice(address.lastIndexOf(":"));
      return (await listed()).filter((channel) => channel.id > before && channel.target.endsWith(port)).length;
    },
  };
}
