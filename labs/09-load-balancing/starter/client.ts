/**
 * Lab 09, your client (steps 2, 3 and 5).
 *
 * One channel, many backends. The target names them all
 * (ipv4:127.0.0.1:50051,127.0.0.1:50052 or, with step 4's resolver,
 * registry://127.0.0.1:8500/orders); the channel's load-balancing policy
 * decides which backend each call goes to. Everything about it is channel
 * configuration: the service config (policy and retries) and the keepalive
 * options. The call itself only adds its deadline and waitForReady.
 */
import * as grpc from "@grpc/grpc-js";
import { type Order, OrdersClient } from "../gen/lb/v1/orders";

/** A client for the Orders backends named by `target`. Close it with client.close(). */
export function createOrdersClient(target: string): OrdersClient {
  // TODO(step 2): choose round_robin in a service config, passed as the channel option "grpc.service_config".
  // TODO(step 3): add a retryPolicy for UNAVAILABLE to the same service config.
  // TODO(step 5): add the keepalive channel options.
  return new OrdersClient(target, grpc.credentials.createInsecure());
}

/** Looks up order `id` on whichever backend the channel picks, within `timeoutMs`. */
export function getOrder(client: OrdersClient, id: string, timeoutMs: number): Promise<Order> {
  // TODO(step 2): call client.getOrder with a deadline; resolve with the Order, reject with the error.
  // TODO(step 3): let the call wait for a backend (waitForReady).
  return Promise.reject(new Error("TODO(step 2): implement getOrder"));
}
