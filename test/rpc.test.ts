/**
 * check-kit's clientStreamCall() with gaps between requests: lab 01's
 * elapsedTime check needs the server to see the gap, and a loaded machine
 * can start the server's handler hundreds of milliseconds after the client
 * sent the first request.
 */
import * as grpc from "@grpc/grpc-js";
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { clientStreamCall } from "../scripts/check-kit";
import { closeAll } from "../scripts/check-kit/resources";

/** A server busy 350 ms of every 400, whose handler answers how long after it started the client half-closed. */
const laggingServer = `
const grpc = require("@grpc/grpc-js");
const identity = (value) => value;
const server = new grpc.Server();
server.addService({ up: { path: "/t.T/Up", requestStream: true, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } }, {
  up(call, callback) {
    const started = Date.now();
    call.on("data", () => undefined);
    call.on("end", () => callback(null, Buffer.from(String(Date.now() - started))));
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  console.log(port);
  setInterval(() => { const end = Date.now() + 350; while (Date.now() < end); }, 400);
});
`;

describe("clientStreamCall() with gapMs", function () {
  this.timeout(30_000);
  let server: ChildProcess;
  let client: grpc.Client;

  before(async () => {
    server = spawn(process.execPath, ["-e", laggingServer], { stdio: ["ignore", "pipe", "inherit"] });
    let port = "";
    server.stdout!.setEncoding("utf8").on("data", (chunk: string) => (port ||= chunk.trim()));
    while (!port) await sleep(20);
    const identity = (value: Buffer) => value;
    const Client = grpc.makeGenericClientConstructor({ up: { path: "/t.T/Up", requestStream: true, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: "up" } }, "T");
    client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client.close();
    server.kill();
    closeAll();
  });

  it("times each gap from when the server has the requests before it, so a lagging server sees the whole gap", async () => {
    for (let run = 0; run < 5; run++) {
      const serverMs = Number(String(await clientStreamCall<Buffer>(client, "up", [Buffer.from("a"), Buffer.from("b")], { gapMs: 500 })));
      assert.ok(serverMs >= 500, `run ${run}: the server saw ${serverMs} ms between its handler's start and the half-close`);
    }
  });
});
