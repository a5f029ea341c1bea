/**
 * Lab 10's `serve` and `client` commands. `serve` runs the existing service:
 * the Greeter on grpc-js (HTTP/2 only, which no browser can call). `client`
 * puts your gateway in front of it and serves the lab's page with your
 * src/page.ts: open the address it prints in a browser.
 */
import * as grpc from "@grpc/grpc-js";
import { CheckFailure, loadService } from "../../scripts/check-kit";
import { closeAll } from "../../scripts/check-kit/resources";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { whenAskedToStop } from "../../scripts/lib/stop";
import { pageServer } from "./checks/browser";
import { type CountReply, type CountRequest, greeterProto, greeterService, type HelloReply, type HelloRequest, startGateway } from "./checks/web";

/** The Greeter as the existing grpc-js service implements it. */
function greeterServer(): grpc.Server {
  const server = new grpc.Server();
  server.addService(loadService(greeterProto, greeterService).service, {
    sayHello(call: grpc.ServerUnaryCall<HelloRequest, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
      const name = call.request.name.trim();
      if (!name) return callback({ code: grpc.status.INVALID_ARGUMENT, details: "name is required" });
      callback(null, { message: `Hello, ${name}! (from grpc-js)` });
    },
    count(call: grpc.ServerWritableStream<CountRequest, CountReply>) {
      const to = Math.min(Math.max(call.request.to, 0), 100);
      const interval = Math.min(Math.max(call.request.intervalMs, 0), 2000);
      let n = 0;
      const timer = setInterval(() => {
        if (n < to) call.write({ n: ++n });
        if (n >= to) {
          clearInterval(timer);
          call.end();
        }
      }, interval);
      // A browser that cancels (or goes away) cancels this call through the gateway.
      call.on("cancelled", () => clearInterval(timer));
    },
  });
  return server;
}

export const hooks: LabHooks = {
  createServer: greeterServer,

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 10's client takes no options, not "${args.join(" ")}"`);
    const page = await pageServer();
    const gateway = await startGateway(address, page.origin);
    page.useGateway(gateway);
    print(`The gateway (src/gateway.ts) listens on http://${gateway}, in front of the Greeter at ${address}, for pages from ${page.origin}.`);
    print(`Open ${page.origin}/ in a browser (Ctrl-C stops).`);
    await new Promise<void>((resolve) => whenAskedToStop(() => resolve()));
    closeAll();
  },
};
