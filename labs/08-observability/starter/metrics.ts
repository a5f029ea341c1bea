/**
 * Lab 08, step 3: server metrics in the Prometheus format, named as
 * go-grpc-prometheus names them, so dashboards and alerts written for Go
 * services work for this one too:
 *
 *   grpc_server_started_total{grpc_type,grpc_service,grpc_method}            counter
 *   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}  counter
 *   grpc_server_msg_received_total{grpc_type,grpc_service,grpc_method}       counter
 *   grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}           counter
 *   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}         histogram, in seconds
 *
 * Use one prom-client Registry per server, never the global one.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { Registry } from "prom-client";

export interface ServerMetrics {
  registry: Registry;
  interceptor: grpc.ServerInterceptor;
}

export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  // TODO(step 3): create the four Counters and the Histogram with registers: [registry],
  //   and an interceptor that updates them (the grpc_code label uses Go's names: OK, NotFound, Canceled...).
  const interceptor: grpc.ServerInterceptor = (_method, call) => new grpc.ServerInterceptingCall(call);
  return { registry, interceptor };
}

/**
 * Serves the registry at GET /metrics on 127.0.0.1:port (0: a free port),
 * in the Prometheus text format; resolves once it listens.
 */
export function serveMetrics(registry: Registry, port: number): Promise<http.Server> {
  void registry;
  const server = http.createServer((_request, response) => {
    // TODO(step 3): answer GET /metrics with `await registry.metrics()` and Content-Type registry.contentType.
    response.writeHead(501).end("TODO(step 3): serve the metrics");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
