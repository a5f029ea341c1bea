/**
 * Lab 09's `serve` and `client` commands. `serve` runs one Orders backend
 * built by your src/server.ts (named "orders-served", with your server
 * options). `client` starts two more backends of your own on local ports,
 * sends calls over all three with your client and prints where they went;
 * then it does the same through your registry:// resolver and a small
 * registry of its own, while a backend joins and another leaves.
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { CheckFailure, loadService, loadTarget } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { type ClientModule, type Endpoint, registryProto, registryService, type ResolverModule, type ServerModule } from "./checks/lb";

/** Binds a server to a free local port; the demo shuts it down at the end. */
function bindLocal(server: grpc.Server): Promise<string> {
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(`127.0.0.1:${port}`))),
  );
}

/** A registry for the demo: one service, whose endpoints `set` changes and streams to every watcher. */
function demoRegistry(addresses: string[]): { server: grpc.Server; set(addresses: string[]): void } {
  let current = addresses;
  const watchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  const answer = () => ({
    endpoints: current.map((address): Endpoint => ({ host: address.split(":")[0]!, port: Number(address.split(":")[1]) })),
  });
  const server = new grpc.Server();
  server.addService(loadService(registryProto, registryService).service, {
    list: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, answer()),
    watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      watchers.add(call);
      call.on("cancelled", () => watchers.delete(call));
      call.write(answer());
    },
  });
  return {
    server,
    set(addresses) {
      current = addresses;
      for (const call of watchers) call.write(answer());
    },
  };
}

/** Makes `count` calls through the learner's client and prints how many each backend answered. */
async function spread(learner: ClientModule, client: grpc.Client, count: number, print: (line: string) => void): Promise<void> {
  const servedBy = new Map<string, number>();
  let failed = 0;
  for (let i = 1; i <= count; i++) {
    try {
      const order = await learner.getOrder(client, `o-${i}`, 2000);
      servedBy.set(order.servedBy, (servedBy.get(order.servedBy) ?? 0) + 1);
    } catch (error) {
      failed++;
      if (failed === 1) print(`  a call failed: ${(error as Error).message}`);
      if (failed === 3) break; // with a 2 s deadline each, do not wait out every call
    }
  }
  const shares = [...servedBy].map(([name, n]) => `${name} ${n}`).join(", ");
  print(`  ${count} calls: ${shares || "none answered"}${failed ? `, ${failed} failed` : ""}`);
}

export const hooks: LabHooks = {
  async createServer() {
    const server = await loadTarget<ServerModule>("src/server.ts");
    return server.createOrdersServer("orders-served");
  },

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 09's client takes no options, not "${args.join(" ")}"`);
    const servers = await loadTarget<ServerModule>("src/server.ts");
    const learner = await loadTarget<ClientModule>("src/client.ts");
    const toClose: Array<() => void> = [];
    try {
      const local: string[] = [];
      for (const name of ["orders-local-1", "orders-local-2"]) {
        const server = await servers.createOrdersServer(name);
        toClose.push(() => server.forceShutdown());
        local.push(await bindLocal(server));
      }
      // ipv4: targets take IP addresses only: the served backend's "localhost" is 127.0.0.1 here.
      const served = address.replace(/^localhost:/, "127.0.0.1:");
      const target = `ipv4:${[served, ...local].join(",")}`;
      print(`Your client, target ${target}:`);
      const client = await learner.createOrdersClient(target);
      toClose.push(() => client.close());
      await spread(learner, client, 30, print);

      const resolver = await loadTarget<ResolverModule>("src/resolver.ts");
      await resolver.registerRegistryResolver();
      const registry = demoRegistry([served, local[0]!]);
      toClose.push(() => registry.server.forceShutdown());
      const registryTarget = `registry://${await bindLocal(registry.server)}/orders`;
      print(`Your resolver, target ${registryTarget}, with the served backend and orders-local-1 registered:`);
      const viaRegistry = await learner.createOrdersClient(registryTarget);
      toClose.push(() => viaRegistry.close());
      await spread(learner, viaRegistry, 20, print);
      print("orders-local-2 joins, the served backend leaves:");
      registry.set([local[0]!, local[1]!]);
      await sleep(300);
      await spread(learner, viaRegistry, 20, print);
    } finally {
      for (const close of toClose.reverse()) close();
    }
  },
};
