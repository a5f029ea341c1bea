/**
 * Lab 08, step 3: server metrics in the Prometheus format, named as
 * go-grpc-prometheus names them, so the dashboards and alerts written for
 * Go services work for this one too.
 *
 * One Registry per server, never prom-client's global one: a second server in
 * the same process (a test, a second port) would otherwise share the counts,
 * and registering the same name twice throws.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { Counter, Histogram, Registry } from "prom-client";
import { rpcKind, watchCall } from "./logging";

/** The status codes as Go's codes.Code.String() spells them: the grpc_code label's values. */
const goCodeNames: Record<grpc.status, string> = {
  [grpc.status.OK]: "OK",
  [grpc.status.CANCELLED]: "Canceled",
  [grpc.status.UNKNOWN]: "Unknown",
  [grpc.status.INVALID_ARGUMENT]: "InvalidArgument",
  [grpc.status.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [grpc.status.NOT_FOUND]: "NotFound",
  [grpc.status.ALREADY_EXISTS]: "AlreadyExists",
  [grpc.status.PERMISSION_DENIED]: "PermissionDenied",
  [grpc.status.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [grpc.status.FAILED_PRECONDITION]: "FailedPrecondition",
  [grpc.status.ABORTED]: "Aborted",
  [grpc.status.OUT_OF_RANGE]: "OutOfRange",
  [grpc.status.UNIMPLEMENTED]: "Unimplemented",
  [grpc.status.INTERNAL]: "Internal",
  [grpc.status.UNAVAILABLE]: "Unavailable",
  [grpc.status.DATA_LOSS]: "DataLoss",
  [grpc.status.UNAUTHENTICATED]: "Unauthenticated",
};

export interface ServerMetrics {
  registry: Registry;
  interceptor: grpc.ServerInterceptor;
}

export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  const labelNames = ["grpc_type", "grpc_service", "grpc_method"] as const;
  const registers = [registry];
  const started = new Counter({ name: "grpc_server_started_total", help: "Total number of RPCs started on the server.", labelNames, registers });
  const handled = new Counter({ name: "grpc_server_handled_total", help: "Total number of RPCs completed on the server, regardless of success or failure.", labelNames: [...labelNames, "grpc_code"], registers });
  const received = new Counter({ name: "grpc_server_msg_received_total", help: "Total number of RPC stream messages received on the server.", labelNames, registers });
  const sent = new Counter({ name: "grpc_server_msg_sent_total", help: "Total number of gRPC stream messages sent by the server.", labelNames, registers });
  // Prometheus's default buckets (DefBuckets), in seconds, as go-grpc-prometheus uses them.
  const seconds = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });

  const interceptor: grpc.ServerInterceptor = (method, call) => {
    const [service = "", name = ""] = method.path.slice(1).split("/");
    const labels = { grpc_type: rpcKind(method), grpc_service: service, grpc_method: name };
    return watchCall(method, call, {
      onStart: () => started.inc(labels),
      onReceive: () => received.inc(labels),
      onSend: () => sent.inc(labels),
      onEnd(record) {
        handled.inc({ ...labels, grpc_code: goCodeNames[record.code] ?? String(record.code) });
        seconds.observe(labels, record.durationMs / 1000);
      },
    });
  };
  return { registry, interceptor };
}

/**
 * Serves the registry at GET /metrics on 127.0.0.1:port (0: a free port),
 * in the Prometheus text format; resolves once it listens.
 */
export function serveMetrics(registry: Registry, port: number): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "Content-Type": registry.contentType }).end(text),
      (error: Error) => response.writeHead(500).end(error.message),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
