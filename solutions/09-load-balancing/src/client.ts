/**
 * Lab 09, the reference client (steps 2, 3 and 5).
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

const serviceConfig = {
  // Step 2: round_robin keeps a connection to every backend and takes the
  // READY ones in turn. The default, pick_first, sends every call to the
  // first backend that connects.
  loadBalancingConfig: [{ round_robin: {} }],
  // Step 3: a call that fails with UNAVAILABLE (its backend died, its
  // connection dropped) is sent again, and round_robin picks another backend
  // for the retry. CANCELLED is not retried: it means the call was abandoned,
  // by this client or by a server forced down (forceShutdown) mid-call, and
  // the work may have been done.
  methodConfig: [
    {
      name: [{ service: "lb.v1.Orders" }],
      retryPolicy: {
        maxAttempts: 4,
        initialBackoff: "0.1s",
        maxBackoff: "1s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
};

/** A client for the Orders backends named by `target`. Close it with client.close(). */
export function createOrdersClient(target: string): OrdersClient {
  return new OrdersClient(target, grpc.credentials.createInsecure(), {
    "grpc.service_config": JSON.stringify(serviceConfig),
    // Step 5: while calls are in flight, ping every connection every 300 ms
    // and drop it when a ping is not answered within 300 ms. A connection
    // that silently stopped forwarding is found within 0.6 s; its calls fail
    // with UNAVAILABLE and the retry policy sends them elsewhere. Servers
    // refuse pings that come too often (GOAWAY too_many_pings): 300 ms is
    // above the backends' minimum of 200 ms.
    "grpc.keepalive_time_ms": 300,
    "grpc.keepalive_timeout_ms": 300,
  });
}

/** Looks up order `id` on whichever backend the channel picks, within `timeoutMs`. */
export function getOrder(client: OrdersClient, id: string, timeoutMs: number): Promise<Order> {
  // Step 3: waitForReady. While no backend is READY (all restarting, or none
  // up yet), wait for one until the deadline instead of failing at once.
  const metadata = new grpc.Metadata({ waitForReady: true });
  return new Promise((resolve, reject) => {
    client.getOrder({ id }, metadata, { deadline: Date.now() + timeoutMs }, (error, order) => (error ? reject(error) : resolve(order)));
  });
}
