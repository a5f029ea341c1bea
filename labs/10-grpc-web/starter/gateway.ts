/**
 * Lab 10, the gRPC-Web gateway (steps 2 and 3). A browser speaks gRPC-Web
 * over HTTP/1.1 (fetch): the gateway answers it with Connect-ES's Node
 * adapter, forwards each call to the Greeter upstream over real gRPC
 * (HTTP/2), and sends the answer back with the status in a trailer frame.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import * as http from "node:http";
import { Greeter } from "../gen/web/v1/greeter_pb";

/**
 * A gateway (not listening yet) that forwards gRPC-Web calls to the Greeter
 * at `upstream` ("host:port") and lets pages from `allowedOrigin`
 * ("http://host:port") call it.
 */
export function createGateway(upstream: string, allowedOrigin: string): http.Server {
  // TODO(step 2): a client of the Greeter at `upstream` (createGrpcTransport), and
  // sayHello and count handlers that forward each call to it, with the browser's
  // signal and deadline, and rethrow its errors (code, message and details) without
  // its response headers.
  const routes = (router: ConnectRouter) => router.service(Greeter, {});
  const handler = connectNodeAdapter({ routes, grpc: false, connect: false, grpcWeb: true });

  return http.createServer((request, response) => {
    // TODO(step 3): CORS for `allowedOrigin` only: answer its preflight (OPTIONS),
    // and allow it and expose grpc-status, grpc-message and grpc-status-details-bin on every answer.
    handler(request, response);
  });
}
