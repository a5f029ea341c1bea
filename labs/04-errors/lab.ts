/**
 * Lab 04's `serve` and `client` commands: the server built from the code
 * under test over a warehouse that fails now and then, and a client that
 * provokes each kind of failure and prints what it decoded.
 */
import * as grpc from "@grpc/grpc-js";
import { CheckFailure, construct } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { catalog, createLearnerServer, learnerClientModule, type RetryPolicy, stockLevels, type Warehouse, warehouseModule } from "./checks/inventory";

/** The rate limit of `serve`: the client demo goes past it once. */
const rateLimit = { limit: 5, windowMs: 3000 };

export const hooks: LabHooks = {
  async createServer() {
    const { InMemoryWarehouse } = await warehouseModule();
    // One warehouse call in four fails with UNAVAILABLE, so the client has something to retry.
    const warehouse = await construct<Warehouse>(InMemoryWarehouse, { ...stockLevels, "TEA-EARL": 1000 }, 0.25);
    return createLearnerServer({ catalog: catalog.map((item) => ({ ...item })), warehouse, logger: console, rateLimit });
  },

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 04's client takes no options, not "${args.join(" ")}"`);
    const learner = await learnerClientModule();
    const client = await learner.createInventoryClient(address);
    const policy: RetryPolicy = { maxAttempts: 5, initialBackoffMs: 100, backoffMultiplier: 2, maxBackoffMs: 1000 };

    /** One reserveStock() call, printed with its result or its status and decoded details. */
    const reserve = async (sku: string, quantity: number) => {
      const started = Date.now();
      try {
        const { remaining } = await learner.reserveStock(client, { sku, quantity }, policy);
        print(`  ReserveStock(${sku}, ${quantity}) -> OK, ${remaining} left (${Date.now() - started} ms)`);
      } catch (error) {
        const failed = error as grpc.ServiceError;
        print(`  ReserveStock(${sku}, ${quantity}) -> ${grpc.status[failed.code] ?? failed.code}: ${failed.details} (${Date.now() - started} ms)`);
        const details = await learner.errorDetails(failed);
        for (const { field, description } of details.fieldViolations) print(`      field ${field}: ${description}`);
        if (details.errorInfo) print(`      reason ${details.errorInfo.reason} (${details.errorInfo.domain}) ${JSON.stringify(details.errorInfo.metadata)}`);
        if (details.retryDelayMs !== undefined) print(`      retry in ${details.retryDelayMs} ms`);
      }
    };

    try {
      print("Not retried, the same request would fail the same way:");
      await reserve("MUG-RED", 0);
      await reserve("NOPE-404", 1);
      await reserve("CUP-07", 99);
      print(`Retried: eight reservations in a row. The warehouse fails one call in four (UNAVAILABLE: retried with`);
      print(`backoff) and the server allows ${rateLimit.limit} calls every ${rateLimit.windowMs / 1000} s (RESOURCE_EXHAUSTED: retried after RetryInfo); a slow line was retried:`);
      for (let i = 0; i < 8; i++) await reserve("TEA-EARL", 1);
    } finally {
      client.close();
    }
  },
};
