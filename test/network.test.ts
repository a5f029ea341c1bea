/**
 * check-kit's notServingYet(): the address of a server that has not started,
 * which tells a check when the learner's client has tried it, so that the
 * check starts the server then and not after a fixed time.
 */
import * as grpc from "@grpc/grpc-js";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterFirstTries, notServingYet } from "../scripts/check-kit";
import { closeAll } from "../scripts/check-kit/resources";

const identity = (value: Buffer) => value;
const ping = { path: "/t.T/Ping", requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } as const;
const Client = grpc.makeGenericClientConstructor({ ping: { ...ping, originalName: "ping" } }, "T");

function callPing(client: grpc.Client, waitForReady: boolean): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    const metadata = new grpc.Metadata({ waitForReady });
    (client as unknown as { ping(request: Buffer, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void): void }).ping(Buffer.from("?"), metadata, { deadline: Date.now() + 4000 }, resolve);
  });
}

describe("notServingYet()", function () {
  this.timeout(10_000);
  afterEach(() => closeAll());

  it("notices a client's first try, fails it as an address with no server would, and frees the port for the server", async () => {
    const port = await notServingYet();
    let tried = false;
    void port.tried.then(() => (tried = true));
    await sleep(100);
    assert.equal(tried, false, "a try noticed before any client connected");

    const client = new Client(port.address, grpc.credentials.createInsecure());
    const early = callPing(client, false);
    const waiting = callPing(client, true);
    assert.equal((await early)?.code, grpc.status.UNAVAILABLE);
    await port.tried;

    await port.free();
    const server = new grpc.Server();
    server.addService({ ping }, { ping: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from("!")) });
    await new Promise<number>((resolve, reject) => server.bindAsync(port.address, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
    try {
      assert.equal(await waiting, null, "the call that waited for the server");
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it("stops waiting for a try once the calls have settled (a function that fails at once), and frees the port", async () => {
    const port = await notServingYet();
    const started = Date.now();
    await afterFirstTries([port], Promise.reject(new Error("TODO: not implemented")));
    assert.ok(Date.now() - started < 500, `waited ${Date.now() - started} ms for a try that could not come`);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(Number(port.address.split(":")[1]), "127.0.0.1", resolve));
    await new Promise((resolve) => server.close(resolve));
  });
});
