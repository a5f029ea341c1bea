/**
 * check-kit's TCP proxy holding a client's bytes until an HTTP/2 RST_STREAM
 * (tcpProxy().holdUntilReset()): lab 08's check of a cancelled client stream
 * needs the server to see a cancel's END_STREAM and RST_STREAM together,
 * and a busy judge sends the second one late.
 */
import * as grpc from "@grpc/grpc-js";
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as net from "node:net";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { tcpProxy } from "../scripts/check-kit";
import { closeAll } from "../scripts/check-kit/resources";

/** A server whose handler answers 50 ms after the client half-closes, and prints which came first for each call: its answer or the cancel. */
const answersLateServer = `
const grpc = require("@grpc/grpc-js");
const server = new grpc.Server({ interceptors: [(method, call) => {
  const order = [];
  return new grpc.ServerInterceptingCall(call, {
    start(next) { next({ onCancel() { order.push("cancel"); console.log(order.join(",")); } }); },
    sendMessage(message, next) { order.push("answer"); next(message); },
  });
}] });
const identity = (value) => value;
server.addService({ up: { path: "/t.T/Up", requestStream: true, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } }, {
  up(call, callback) { call.on("data", () => undefined); call.on("end", () => setTimeout(() => callback(null, Buffer.from("saved")), 50)); },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => console.log(port));
`;

const block = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};

describe("tcpProxy().holdUntilReset()", function () {
  this.timeout(30_000);
  let server: ChildProcess;
  let lines: string[] = [];
  let port: string;
  const identity = (value: Buffer) => value;
  const Client = grpc.makeGenericClientConstructor({ up: { path: "/t.T/Up", requestStream: true, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: "up" } }, "T");

  before(async () => {
    server = spawn(process.execPath, ["-e", answersLateServer], { stdio: ["ignore", "pipe", "inherit"] });
    server.stdout!.setEncoding("utf8").on("data", (chunk: string) => lines.push(...chunk.split("\n").filter(Boolean)));
    while (lines.length === 0) await sleep(20);
    port = lines.shift()!;
  });
  after(() => server.kill());
  afterEach(() => closeAll());

  /** Sends 2 messages, cancels, and keeps this process busy for 100 ms right after; resolves with the server's order. */
  async function cancelWhileBusy(address: string, beforeCancel: () => Promise<void> = async () => undefined): Promise<string> {
    const client = new Client(address, grpc.credentials.createInsecure());
    lines = [];
    const call = (client as unknown as { up: (options: grpc.CallOptions, callback: () => void) => grpc.ClientWritableStream<Buffer> }).up({ deadline: Date.now() + 5000 }, () => undefined);
    call.on("error", () => undefined);
    call.write(Buffer.from("a"));
    call.write(Buffer.from("b"));
    await sleep(100);
    const passedOn = beforeCancel();
    call.cancel();
    block(100);
    await passedOn;
    while (lines.length === 0) await sleep(10);
    client.close();
    return lines[0]!;
  }

  it("lets the server see the cancel before its handler answers the half-close, however late the busy client sends the reset", async () => {
    // Without the proxy, the busy client's reset comes after the handler's answer: what the hold is for.
    assert.equal(await cancelWhileBusy(`127.0.0.1:${port}`), "answer,cancel");
    const proxy = await tcpProxy(`127.0.0.1:${port}`);
    assert.equal(await cancelWhileBusy(proxy.address, () => proxy.holdUntilReset()), "cancel");
    assert.equal(await cancelWhileBusy(proxy.address, () => proxy.holdUntilReset()), "cancel", "a second hold on the same connection");
  });

  it("passes nothing on while held, then everything at once, however the frames are cut into chunks", async () => {
    const received: Buffer[] = [];
    const upstream = net.createServer((socket) => socket.on("data", (chunk) => received.push(chunk)));
    upstream.listen(0, "127.0.0.1");
    await once(upstream, "listening");
    const proxy = await tcpProxy(`127.0.0.1:${(upstream.address() as net.AddressInfo).port}`);
    const [host, proxyPort] = proxy.address.split(":");
    const client = net.connect(Number(proxyPort), host);
    await once(client, "connect");
    const frame = (type: number, flags: number, payload: Buffer) => {
      const header = Buffer.alloc(9);
      header.writeUIntBE(payload.length, 0, 3);
      header[3] = type;
      header[4] = flags;
      header.writeUInt32BE(1, 5);
      return Buffer.concat([header, payload]);
    };
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    client.write(Buffer.concat([preface, frame(0x4, 0, Buffer.alloc(0))]));
    while (received.length === 0) await sleep(10);
    received.length = 0;
    let released = false;
    const passedOn = proxy.holdUntilReset().then(() => (released = true));
    // A DATA frame whose payload holds an RST_STREAM's bytes, then the real RST_STREAM, a byte at a time.
    const held = Buffer.concat([frame(0x0, 0x1, frame(0x3, 0, Buffer.alloc(4))), frame(0x3, 0, Buffer.from([0, 0, 0, 8]))]);
    for (const byte of held) {
      assert.equal(released, false, "released before the reset was whole");
      client.write(Buffer.from([byte]));
      await sleep(2);
    }
    await passedOn;
    while (Buffer.concat(received).length < held.length) await sleep(10);
    assert.deepEqual(received, [held]);
    client.destroy();
    upstream.close();
  });
});
