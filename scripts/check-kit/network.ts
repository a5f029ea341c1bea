import * as net from "node:net";

/** An address on 127.0.0.1 where nothing listens: a port that was free a moment ago. */
export function unusedAddress(): Promise<string> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(`127.0.0.1:${port}`));
    });
  });
}
