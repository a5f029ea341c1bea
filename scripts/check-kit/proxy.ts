import * as net from "node:net";
import { Transform } from "node:stream";
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
  /**
   * Holds what clients send from now on, on the connections open now, until
   * one of them has sent an HTTP/2 RST_STREAM frame, then passes it all on
   * in one write; resolves then. A grpc-js cancel of a stream the client has
   * not half-closed is two frames, END_STREAM and then RST_STREAM, and a busy
   * client can send the second tens of milliseconds after the first: the
   * server then sees a half-close its handler may answer before the cancel
   * arrives. Held, the server reads both at once, as from an idle client.
   */
  holdUntilReset(): Promise<void>;
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
  const outbound: ClientFrames[] = [];
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
    const frames = new ClientFrames();
    outbound.push(frames);
    client.pipe(frames).pipe(upstream).pipe(client);
    pairs.push([client, upstream]);
  });
  const blackhole = () => {
    silent = true;
    for (const [index, [client, upstream]] of pairs.entries()) {
      client.unpipe(outbound[index]);
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
  const holdUntilReset = () =>
    new Promise<void>((resolve) => {
      const release = () => {
        for (const frames of outbound) frames.release();
        resolve();
      };
      for (const frames of outbound) frames.hold(release);
    });
  track(() => {
    cut();
    server.close();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () =>
      resolve({ address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, cut, blackhole, kill, holdUntilReset, connections }),
    );
  });
}

const http2Preface = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
const frameHeader = 9; // length (3 bytes), type, flags, stream id (4 bytes)
const rstStream = 0x3;

/**
 * Passes a client's bytes on, following the HTTP/2 frames in them; while
 * held, keeps them until an RST_STREAM frame has passed whole.
 */
class ClientFrames extends Transform {
  /** Bytes still to pass before the next frame header: the preface, then each frame's payload. */
  private skip = http2Preface;
  private header = Buffer.alloc(0);
  private type = -1;
  private held: Buffer[] | undefined;
  private onReset: (() => void) | undefined;

  hold(onReset: () => void): void {
    this.held = [];
    this.onReset = onReset;
  }

  release(): void {
    if (this.held === undefined) return;
    if (this.held.length > 0) this.push(Buffer.concat(this.held));
    this.held = undefined;
    this.onReset = undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    if (this.held) this.held.push(chunk);
    else this.push(chunk);
    this.follow(chunk);
    done();
  }

  private follow(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const taken = Math.min(this.skip, chunk.length - at);
        this.skip -= taken;
        at += taken;
      } else {
        const taken = Math.min(frameHeader - this.header.length, chunk.length - at);
        this.header = Buffer.concat([this.header, chunk.subarray(at, at + taken)]);
        at += taken;
        if (this.header.length < frameHeader) return;
        this.skip = this.header.readUIntBE(0, 3);
        this.type = this.header[3]!;
        this.header = Buffer.alloc(0);
      }
      if (this.skip === 0 && this.type === rstStream) {
        this.type = -1;
        this.onReset?.();
      }
    }
  }
}
