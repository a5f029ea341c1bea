import * as net from "node:net";
import { track } from "./resources";

/** A TCP proxy in front of a server, whose connections a check can cut. */
export interface TcpProxy {
  /** host:port to connect to instead of the server's address. */
  address: string;
  /** Drops every connection through the proxy at once, as a network failure would. */
  cut(): void;
}

/**
 * Starts a TCP proxy to `target` (host:port) on a free port of 127.0.0.1; it
 * is closed after the check. Lets a check drop a client's connection
 * mid-stream, which the server sees as neither a half-close nor a cancel.
 */
export function tcpProxy(target: string): Promise<TcpProxy> {
  const [host = "127.0.0.1", port = ""] = target.split(/:(?=\d+$)/);
  const sockets = new Set<net.Socket>();
  const cut = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      // Either side closing or failing closes both.
      socket.on("error", () => cut());
      socket.on("close", () => (socket === client ? upstream : client).destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  track(() => {
    cut();
    server.close();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, cut }));
  });
}
