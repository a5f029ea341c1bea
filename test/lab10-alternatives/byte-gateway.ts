/**
 * A different correct gateway for lab 10: no Connect at all. It reads the
 * gRPC-Web frames itself and forwards their bytes with a plain grpc-js client
 * (no serialization: the payload is already protobuf), then writes the
 * trailer frame by hand. What Envoy's grpc_web filter does, in a page.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";

const exposed = "grpc-status, grpc-message, grpc-status-details-bin";
const allowedHeaders = "content-type, x-grpc-web, x-user-agent, grpc-timeout";
const streaming = new Set(["/web.v1.Greeter/Count"]);
const unary = new Set(["/web.v1.Greeter/SayHello"]);
const bytes = (b: Buffer) => b;

function frame(flag: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** grpc-timeout ("1500m", "2S") as a deadline. */
function deadlineOf(header: string | undefined): grpc.Deadline {
  const match = /^(\d+)([HMSmun])$/.exec(header ?? "");
  if (!match) return Infinity;
  const ms = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 }[match[2] as "H"] * Number(match[1]);
  return Date.now() + ms;
}

export function createGateway(upstream: string, allowedOrigin: string): http.Server {
  const client = new grpc.Client(upstream, grpc.credentials.createInsecure());
  const server = http.createServer((request, response) => {
    const origin = request.headers.origin;
    if (origin === allowedOrigin) response.setHeader("access-control-allow-origin", origin).setHeader("access-control-expose-headers", exposed);
    if (request.method === "OPTIONS") {
      if (origin !== allowedOrigin) return void response.writeHead(403).end();
      return void response.writeHead(204, { "access-control-allow-methods": "POST", "access-control-allow-headers": allowedHeaders }).end();
    }
    const path = request.url ?? "";
    if (request.method !== "POST" || (!unary.has(path) && !streaming.has(path))) return void response.writeHead(404).end();
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      const message = body.subarray(5, 5 + body.readUInt32BE(1));
      response.writeHead(200, { "content-type": "application/grpc-web+proto" });
      const finish = (status: grpc.StatusObject | grpc.ServiceError) => {
        const [richStatus] = status.metadata?.get("grpc-status-details-bin") ?? [];
        const text =
          `grpc-status: ${status.code}\r\n` +
          (status.details ? `grpc-message: ${encodeURIComponent(status.details)}\r\n` : "") +
          (richStatus ? `grpc-status-details-bin: ${Buffer.from(richStatus).toString("base64")}\r\n` : "");
        response.end(frame(0x80, Buffer.from(text)));
      };
      const options = { deadline: deadlineOf(request.headers["grpc-timeout"] as string | undefined) };
      if (unary.has(path)) {
        const call = client.makeUnaryRequest(path, bytes, bytes, message, new grpc.Metadata(), options, (error, reply) => {
          if (error) return finish(error);
          response.write(frame(0, reply!));
          finish({ code: grpc.status.OK, details: "", metadata: new grpc.Metadata() });
        });
        response.on("close", () => call.cancel());
        return;
      }
      const call = client.makeServerStreamRequest(path, bytes, bytes, message, new grpc.Metadata(), options);
      call.on("data", (reply: Buffer) => response.write(frame(0, reply)));
      call.on("error", () => undefined); // the status event below says how it ended
      call.on("status", finish);
      // The browser went away: cancel the upstream call.
      response.on("close", () => call.cancel());
    });
  });
  server.on("close", () => client.close());
  return server;
}
