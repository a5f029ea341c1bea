/**
 * Lab 09, a second correct client: the same behaviour, written differently.
 * The service config applies to every method (an empty name), the status
 * codes are numbers, keepalive is a little slower, and getOrder is an async
 * function around a callback.
 */
import * as grpc from "@grpc/grpc-js";
import { type Order, OrdersClient } from "../../solutions/09-load-balancing/gen/lb/v1/orders";

export function createOrdersClient(target: string): OrdersClient {
  const config = {
    loadBalancingConfig: [{ round_robin: {} }, { pick_first: {} }],
    methodConfig: [
      {
        name: [{}],
        retryPolicy: { maxAttempts: 5, initialBackoff: "0.05s", maxBackoff: "0.5s", backoffMultiplier: 2, retryableStatusCodes: [grpc.status.UNAVAILABLE] },
      },
    ],
  };
  const options: grpc.ClientOptions = {
    "grpc.service_config": JSON.stringify(config),
    "grpc.keepalive_time_ms": 400,
    "grpc.keepalive_timeout_ms": 500,
  };
  return new OrdersClient(target, grpc.credentials.createInsecure(), options);
}

export async function getOrder(client: OrdersClient, id: string, timeoutMs: number): Promise<Order> {
  const deadline = new Date(Date.now() + timeoutMs);
  const metadata = new grpc.Metadata();
  metadata.setOptions({ waitForReady: true });
  const order = await new Promise<Order>((resolve, reject) => {
    client.getOrder({ id }, metadata, { deadline }, (error, answer) => {
      if (error) reject(error);
      else resolve(answer);
    });
  });
  return order;
}
