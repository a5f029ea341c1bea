/**
 * Lab 09, the Orders backend (step 6: its options).
 *
 * A load-balancing client spreads calls over the connections it has; it only
 * learns about a new backend, or gets a fresh share of the backends behind a
 * proxy, when it connects again. Server options decide how long a connection
 * lives.
 */
import * as grpc from "@grpc/grpc-js";
import { type OrdersServer, OrdersService } from "../gen/lb/v1/orders";

/** The options every Orders backend is created with. */
export function serverOptions(): grpc.ServerOptions {
  // TODO(step 6): a maximum connection age, and a grace period for the calls in flight.
  return {};
}

/** One Orders backend, named `name` in every answer. Nothing to change here. */
export function createOrdersServer(name: string): grpc.Server {
  const server = new grpc.Server(serverOptions());
  const orders: OrdersServer = {
    getOrder(call, callback) {
      callback(null, { id: call.request.id, servedBy: name });
    },
  };
  server.addService(OrdersService, orders);
  return server;
}
