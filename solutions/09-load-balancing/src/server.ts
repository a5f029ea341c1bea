/**
 * Lab 09, the reference Orders backend (step 6: its options).
 *
 * A load-balancing client spreads calls over the connections it has; it only
 * learns about a new backend, or gets a fresh share of the backends behind a
 * proxy, when it connects again. A server that ends each connection after a
 * while (max connection age) makes every client reconnect now and then, so
 * load rebalances by itself; the grace period lets the calls in flight end.
 */
import * as grpc from "@grpc/grpc-js";
import { type OrdersServer, OrdersService } from "../gen/lb/v1/orders";

/** The options every Orders backend is created with. */
export function serverOptions(): grpc.ServerOptions {
  return {
    // Send each connection a GOAWAY after about 0.5 s (grpc-js adds ±10%
    // jitter so that clients do not all reconnect at once). The client
    // finishes its calls there and opens a new connection for new ones.
    // In production: minutes, e.g. 30 min.
    "grpc.max_connection_age_ms": 500,
    // Then give the calls still in flight 1 s more before closing the
    // connection under them.
    "grpc.max_connection_age_grace_ms": 1000,
    // No server keepalive here: in grpc-js 1.14 a server ping sent after the
    // GOAWAY fails and closes the connection at once, cutting the grace
    // period short (the README shows it).
  };
}

/** One Orders backend, named `name` in every answer. */
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
