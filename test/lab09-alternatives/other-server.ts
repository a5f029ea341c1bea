/** Lab 09, other correct server options: a shorter age, a longer grace, and an idle timeout. */
import * as grpc from "@grpc/grpc-js";
import { OrdersService } from "../../solutions/09-load-balancing/gen/lb/v1/orders";

const ageMs = 400;

export const serverOptions = (): grpc.ServerOptions => ({
  "grpc.max_connection_age_ms": ageMs,
  "grpc.max_connection_age_grace_ms": 3 * ageMs + 800,
  "grpc.max_connection_idle_ms": 60_000,
});

export function createOrdersServer(name: string): grpc.Server {
  const server = new grpc.Server(serverOptions());
  server.addService(OrdersService, {
    getOrder: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { id: call.request.id, servedBy: name }),
  });
  return server;
}
