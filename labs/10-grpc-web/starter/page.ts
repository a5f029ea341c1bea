/**
 * Lab 10, the browser side (steps 4 and 5). The lab's page
 * (labs/10-grpc-web/page.html) has the elements; mount() makes them call the
 * Greeter through the gRPC-Web gateway with Connect-ES's fetch transport.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Greeter } from "../gen/web/v1/greeter_pb";

/** Wires the page's buttons to the Greeter behind the gateway at `gatewayUrl` ("http://host:port"). */
export function mount(gatewayUrl: string): void {
  const greeter = createClient(Greeter, createGrpcWebTransport({ baseUrl: gatewayUrl }));
  // TODO(step 4): on a click on #hello, call greeter.sayHello with the value of #name,
  // and show the reply's message in #greeting; when the call fails, show its code in #status.
  // TODO(step 5): on a click on #count, call greeter.count and add an <li> to #counts for
  // each message as it arrives; on a click on #cancel, abort the stream.
  void greeter;
}
