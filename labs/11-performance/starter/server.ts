/**
 * Lab 11, your Telemetry server and its REST twin (steps 4 and 5).
 *
 * Both serve the same data: a Batch is protobuf on the gRPC side and proto3
 * JSON on the REST side, converted by the same generated code (Batch.fromJSON,
 * Batch.toJSON). What differs is the encoding and the transport, not the work.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { type TelemetryServer, TelemetryService } from "../gen/perf/v1/telemetry";

export function createTelemetryServer(): grpc.Server {
  // TODO(step 5): a grpc-js server refuses requests over 4 MiB.
  const server = new grpc.Server();
  const telemetry: TelemetryServer = {
    echo(call, callback) {
      callback(null, call.request);
    },
    upload(_call, callback) {
      // TODO(step 4): read every reading of the stream, answer with their count, sum and last seq.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "Upload is not written yet (step 4)" });
    },
  };
  server.addService(TelemetryService, telemetry);
  return server;
}

/** The REST twin: POST /v1/echo and POST /v1/upload, JSON in and out, over HTTP/1.1. */
export function createRestServer(): http.Server {
  return http.createServer((_req, res) => {
    // TODO(step 4): answer POST /v1/echo and POST /v1/upload like Echo and Upload.
    res.writeHead(501, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "not written yet (step 4)" }));
  });
}
