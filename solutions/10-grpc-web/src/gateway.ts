/**
 * Lab 10: a gRPC-Web gateway in front of a grpc-js service. A browser speaks
 * gRPC-Web over HTTP/1.1 (fetch): the gateway answers it with Connect-ES's
 * Node adapter, forwards each call to the Greeter upstream over real gRPC
 * (HTTP/2), and sends the answer back with the status in a trailer frame.
 */
import { type ConnectRouter, ConnectError, cors, createClient, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import * as http from "node:http";
import { Greeter } from "../gen/web/v1/greeter_pb";

/**
 * A gateway (not listening yet) that forwards gRPC-Web calls to the Greeter
 * at `upstream` ("host:port") and lets pages from `allowedOrigin`
 * ("http://host:port") call it.
 */
export function createGateway(upstream: string, allowedOrigin: string): http.Server {
  // One HTTP/2 connection to the upstream, shared by every call.
  const greeter = createClient(Greeter, createGrpcTransport({ baseUrl: `http://${upstream}` }));

  // What every forwarded call takes from the browser's call: its cancellation
  // (the browser went away, or aborted) and what is left of its deadline (grpc-timeout).
  const from = (context: HandlerContext) => ({ signal: context.signal, timeoutMs: context.timeoutMs() });

  const routes = (router: ConnectRouter) =>
    router.service(Greeter, {
      sayHello: (request, context) => greeter.sayHello(request, from(context)).catch(rethrow),
      async *count(request, context) {
        try {
          yield* greeter.count(request, from(context));
        } catch (error) {
          rethrow(error);
        }
      },
    });
  // gRPC-Web only: this gateway is for browsers.
  const handler = connectNodeAdapter({ routes, grpc: false, connect: false, grpcWeb: true });

  return http.createServer((request, response) => {
    if (request.headers.origin === allowedOrigin) {
      response.setHeader("Access-Control-Allow-Origin", allowedOrigin);
      response.setHeader("Vary", "Origin");
      // Without these, the browser hides the status of a call that failed before any message.
      response.setHeader("Access-Control-Expose-Headers", cors.exposedHeaders.join(", "));
    }
    if (request.method === "OPTIONS") {
      // The preflight: fetch asks first, because of content-type, x-grpc-web and grpc-timeout.
      if (request.headers.origin !== allowedOrigin) return void response.writeHead(403).end();
      response.writeHead(204, {
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": cors.allowedHeaders.join(", "),
        "Access-Control-Max-Age": "7200",
      });
      return void response.end();
    }
    handler(request, response);
  });
}

/**
 * Passes on the upstream's status, message and rich details (the
 * google.rpc.Status of grpc-status-details-bin). A new error on purpose: the
 * upstream's error carries its HTTP/2 response headers (content-type:
 * application/grpc, date...), which must not reach the browser.
 */
function rethrow(error: unknown): never {
  const upstream = ConnectError.from(error);
  const forwarded = new ConnectError(upstream.rawMessage, upstream.code);
  forwarded.details = upstream.details;
  throw forwarded;
}
