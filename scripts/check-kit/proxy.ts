import * as net from "node:net";
import { track } from "./resources";

/** One client connection through a proxy, as the proxy saw it. */
export interface ProxiedConnection {
  /** When the client connected (Date.now()). */
  openedAt: number;
  /** When the first side closed its socket, if one has. */
  closedAt?: number;
  /** Which side closed first: the client, the server, or the proxy (cut, kill). */
  closedBy?: "client" | "server" | "proxy";
}

/** A TCP proxy in front of a server, whose connections a check can cut. */
export interface TcpProxy {
  /** host:port to connect to instead of the server's address. */
  address: string;
  /** Drops every connection through the proxy at once, as a network failure would. */
  cut(): void;
  /**
   * From now on forwards nothing, in either direction, and closes nothing: a
   * network that silently drops packets. Connections stay open, and new ones
   * are accepted and get nothing either; only keepalive finds out.
   */
  blackhole(): void;
  /** Cuts every connection and stops accepting new ones, as a killed process would; resolves once it no longer listens. */
  kill(): Promise<void>;
  /** Every connection the proxy has accepted, in order. */
  readonly connections: readonly ProxiedConnection[];
}

/**
 * Starts a TCP proxy to `target` (host:port) on a free port of 127.0.0.1; it
 * is closed after the check. Lets a check drop a client's connection
 * mid-stream, which the server sees as neither a half-close nor a cancel, or
 * silence it. `target` may be a function, asked for each new connection: a
 * connection-level (L4) load balancer in front of several servers.
 */
export function tcpProxy(target: string | (() => string)): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const connections: ProxiedConnection[] = [];
  const pairs: Array<[net.Socket, net.Socket]> = [];
  let silent = false;
  const cut = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const swallow = (socket: net.Socket) => {
    socket.on("data", () => undefined);
    socket.resume();
  };
  const server = net.createServer((client) => {
    const connection: ProxiedConnection = { openedAt: Date.now() };
    connections.push(connection);
    const closed = (by: "client" | "server" | "proxy") => {
      if (connection.closedAt === undefined) Object.assign(connection, { closedAt: Date.now(), closedBy: by });
    };
    sockets.add(client);
    client.on("error", () => undefined);
    client.on("close", () => {
      closed(sockets.has(client) ? "client" : "proxy");
      sockets.delete(client);
    });
    if (silent) {
      swallow(client);
      return;
    }
    const [host = "127.0.0.1", port = ""] = (typeof target === "string" ? target : target()).split(/:(?=\d+$)/);
    const upstream = net.connect(Number(port), host);
    sockets.add(upstream);
    upstream.on("error", () => undefined);
    upstream.on("close", () => {
      closed(sockets.has(upstream) ? "server" : "proxy");
      sockets.delete(upstream);
    });
    // Either side closing or failing closes both, unless the network is silent.
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on("close", () => {
        if (!silent) to.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
    pairs.push([client, upstream]);
  });
  const blackhole = () => {
    silent = true;
    for (const [client, upstream] of pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      swallow(client);
      swallow(upstream);
    }
  };
  const kill = () => {
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    // Mark them first: a socket the proxy destroys is closed by the proxy.
    const all = [...sockets];
    sockets.clear();
    for (const socket of all) socket.destroy();
    return stopped;
  };
  track(() => {
    cut();
    server.close();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () =>
      resolve({ address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, cut, blackhole, kill, connections }),
    );
  });
}
