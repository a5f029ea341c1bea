import * as net from "node:net";

/**
 * Ports below every OS's ephemeral range (Linux 32768-60999, macOS and
 * Windows 49152-65535): a port the system picks for a connection or for
 * listen(0) never comes from here, so one found free stays free until a check
 * binds it (port 0 gave one that an outgoing connection took meanwhile:
 * EADDRINUSE when the check's backend started 0.3 s later).
 */
const unassignedPorts = { from: 20000, to: 32767 };

/** An address on 127.0.0.1 where nothing listens: a port that was free a moment ago, and that the system hands to no one. */
export async function unusedAddress(): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const port = unassignedPorts.from + Math.floor(Math.random() * (unassignedPorts.to - unassignedPorts.from + 1));
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return `127.0.0.1:${port}`;
    if (attempt === 20) throw new Error(`no free port between ${unassignedPorts.from} and ${unassignedPorts.to} on 127.0.0.1`);
  }
}
