/**
 * Lab 11, the reference Telemetry server and its REST twin (steps 4 and 5).
 *
 * Both serve the same data: a Batch is protobuf on the gRPC side and proto3
 * JSON on the REST side, converted by the same generated code. That makes the
 * two comparable: what differs is the encoding and the transport, not the work.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { Batch, type Reading, type TelemetryServer, TelemetryService, UploadSummary } from "../gen/perf/v1/telemetry";

/** What Upload (and the REST twin's /v1/upload) answers for `readings`. */
function summary(readings: Reading[]): UploadSummary {
  return {
    count: readings.length,
    sum: readings.reduce((sum, r) => sum + r.value, 0),
    lastSeq: readings.at(-1)?.seq ?? 0,
  };
}

export function createTelemetryServer(): grpc.Server {
  // Step 5: a grpc-js server refuses any request over 4 MiB with
  // RESOURCE_EXHAUSTED. Raise the limit where large messages are expected
  // (and keep one: it protects the server's memory).
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  const telemetry: TelemetryServer = {
    echo(call, callback) {
      callback(null, call.request);
    },
    upload(call, callback) {
      const readings: Reading[] = [];
      call.on("data", (reading: Reading) => readings.push(reading));
      call.on("end", () => callback(null, summary(readings)));
    },
  };
  server.addService(TelemetryService, telemetry);
  return server;
}

/** The REST twin: POST /v1/echo and POST /v1/upload, JSON in and out, over HTTP/1.1. */
export function createRestServer(): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.method !== "POST" || (req.url !== "/v1/echo" && req.url !== "/v1/upload")) return answer(404, { error: "not found" });
      let batch: Batch;
      try {
        batch = Batch.fromJSON(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        return answer(400, { error: "the body must be a Batch as JSON" });
      }
      if (req.url === "/v1/echo") answer(200, Batch.toJSON(batch));
      else answer(200, UploadSummary.toJSON(summary(batch.readings)));
    });
  });
}
