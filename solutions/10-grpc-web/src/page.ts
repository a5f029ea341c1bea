/**
 * Lab 10: the browser side. The lab's page (labs/10-grpc-web/page.html) has
 * the elements; mount() makes them call the Greeter through the gRPC-Web
 * gateway with Connect-ES's fetch transport.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Greeter } from "../gen/web/v1/greeter_pb";

/** Wires the page's buttons to the Greeter behind the gateway at `gatewayUrl` ("http://host:port"). */
export function mount(gatewayUrl: string): void {
  const greeter = createClient(Greeter, createGrpcWebTransport({ baseUrl: gatewayUrl }));
  const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const status = element("status");
  // A failed call's status code, by name (INVALID_ARGUMENT); a cancelled stream ends with CANCELED.
  const showOutcome = (error?: unknown) => {
    status.textContent = error === undefined ? "OK" : Code[ConnectError.from(error).code];
  };

  element("hello").addEventListener("click", async () => {
    const name = element<HTMLInputElement>("name").value;
    try {
      // Every call a deadline: the gateway passes it on as grpc-timeout.
      const reply = await greeter.sayHello({ name }, { timeoutMs: 5000 });
      element("greeting").textContent = reply.message;
      showOutcome();
    } catch (error) {
      showOutcome(error);
    }
  });

  let counting: AbortController | undefined;
  element("count").addEventListener("click", async () => {
    counting?.abort();
    const controller = (counting = new AbortController());
    const list = element("counts");
    list.replaceChildren();
    try {
      const to = Number(element<HTMLInputElement>("to").value);
      // Each message is rendered as it arrives, not when the stream ends.
      for await (const reply of greeter.count({ to, intervalMs: 500 }, { signal: controller.signal })) {
        const item = document.createElement("li");
        item.textContent = String(reply.n);
        list.append(item);
      }
      showOutcome();
    } catch (error) {
      showOutcome(error);
    }
  });
  // Aborting the fetch closes its connection: the gateway cancels the upstream call.
  element("cancel").addEventListener("click", () => counting?.abort());
}
