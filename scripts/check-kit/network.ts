import * as net from "node:net";
import { track } from "./resources";

/**
 * Ports below every OS's ephemeral range (Linux 32768-60999, macOS and
 * Windows 49152-65535): a port the system picks for a connection or for
 * listen(0) never comes from here, so one found free stays free until a check
 * binds it (port 0 gave one that an outgoing connection took meanwhile:
 * EADDRINUSE when the check's backend started 0.3 s later).
 */
const unassignedPorts = { from: 20000, to: 32767 };

/** Listens with `server` on a free unassigned port of 127.0.0.1; resolves with its address. */
async function listenUnassigned(server: net.Server): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const port = unassignedPorts.from + Math.floor(Math.random() * (unassignedPorts.to - unassignedPorts.from + 1));
    const listening = await new Promise<boolean>((resolve) => {
      const refused = () => resolve(false);
      server.once("error", refused);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", refused);
        resolve(true);
      });
    });
    if (listening) return `127.0.0.1:${port}`;
    if (attempt === 20) throw new Error(`no free port between ${unassignedPorts.from} and ${unassignedPorts.to} on 127.0.0.1`);
  }
}

/** An address on 127.0.0.1 where nothing listens: a port that was free a moment ago, and that the system hands to no one. */
export async function unusedAddress(): Promise<string> {
  const probe = net.createServer();
  const address = await listenUnassigned(probe);
  await new Promise((resolve) => probe.close(resolve));
  return address;
}

/** A server's address before the server starts: see notServingYet(). */
export interface NotServingYet {
  address: string;
  /** Resolves once a client has tried to connect (and failed). */
  readonly tried: Promise<void>;
  /** Stops noticing; resolves once the port is free for the server. */
  free(): Promise<void>;
}

/**
 * An address where no server runs yet, that notices a client trying it: each
 * connection is reset at once, so the client fails as it would with nothing
 * listening. A check that starts the server once the client has tried, not
 * after a fixed time, tests what it means to on a busy machine too, where a
 * client can be slow to try.
 */
export async function notServingYet(): Promise<NotServingYet> {
  let noticed!: () => void;
  const tried = new Promise<void>((resolve) => (noticed = resolve));
  const server = net.createServer((socket) => {
    // A reset, not a close: the port keeps no connection in TIME_WAIT when the server binds it.
    socket.resetAndDestroy();
    noticed();
  });
  const address = await listenUnassigned(server);
  const free = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  track(free);
  return { address, tried, free };
}

/**
 * Waits until a client has tried every one of `ports`, or until `calls` have
 * settled (a function that fails at once never tries), or 1 s at most; then
 * frees the ports for the servers the check starts on them.
 */
export async function afterFirstTries(ports: readonly NotServingYet[], calls: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)));
  try {
    await Promise.race([Promise.all(ports.map((port) => port.tried)), calls.then(() => undefined, () => undefined), limit]);
  } finally {
    clearTimeout(timer);
  }
  await Promise.all(ports.map((port) => port.free()));
}
