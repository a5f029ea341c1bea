/**
 * Lab 11, another correct server: Upload reads its stream with for await,
 * the REST twin routes with URL and answers the summary with its own JSON,
 * and the receive limit is 32 MiB.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import { Batch, type Reading, TelemetryService } from "../../solutions/11-performance/gen/perf/v1/telemetry";

const sum = (readings: Reading[]) => ({ count: readings.length, sum: readings.reduce((s, r) => s + r.value, 0), lastSeq: readings.length ? readings[readings.length - 1]!.seq : 0 });

export function createTelemetryServer(): grpc.Server {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 32 << 20 });
  server.addService(TelemetryService, {
    echo: (call: grpc.ServerUnaryCall<Batch, Batch>, callback: grpc.sendUnaryData<Batch>) => callback(null, { readings: call.request.readings, blob: call.request.blob }),
    upload: async (call: grpc.ServerReadableStream<Reading, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const readings: Reading[] = [];
      for await (const reading of call) readings.push(reading as Reading);
      callback(null, sum(readings));
    },
  });
  return server;
}

export function createRestServer(): http.Server {
  return http.createServer(async (req, res) => {
    let text = "";
    for await (const chunk of req) text += String(chunk);
    const { pathname } = new URL(req.url ?? "/", "http://twin");
    const send = (status: number, value: unknown) => {
      const body = Buffer.from(JSON.stringify(value));
      res.writeHead(status, { "content-type": "application/json", "content-length": body.length }).end(body);
    };
    if (req.method !== "POST" || !["/v1/echo", "/v1/upload"].includes(pathname)) return send(404, { error: `no ${req.method} ${pathname}` });
    let batch: Batch;
    try {
      batch = Batch.fromJSON(JSON.parse(text || "{}"));
    } catch (error) {
      return send(400, { error: String(error) });
    }
    send(200, pathname === "/v1/echo" ? Batch.toJSON(batch) : sum(batch.readings));
  });
}
