/**
 * A different correct page for lab 10: Connect's callback client (each
 * method takes callbacks and returns a function that cancels the call)
 * instead of promises and async iteration, an onclick property for #hello,
 * and one listener on the document for the stream's buttons (a click
 * bubbles up to it: event delegation).
 */
import { Code, createCallbackClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { Greeter } from "../../solutions/10-grpc-web/gen/web/v1/greeter_pb";

export function mount(gatewayUrl: string): void {
  const greeter = createCallbackClient(Greeter, createGrpcWebTransport({ baseUrl: gatewayUrl }));
  const byId = (id: string) => document.getElementById(id)!;
  const show = (error: { code: Code } | undefined) => (byId("status").textContent = error ? Code[error.code].toUpperCase() : "OK");
  let cancel = () => {};

  byId("hello").onclick = () => {
    greeter.sayHello({ name: (byId("name") as HTMLInputElement).value }, (error, reply) => {
      if (!error) byId("greeting").textContent = reply.message;
      show(error);
    });
  };
  document.addEventListener("click", (event) => {
    const clicked = (event.target as HTMLElement).id;
    if (clicked === "cancel") return cancel();
    if (clicked !== "count") return;
    cancel();
    byId("counts").innerHTML = "";
    cancel = greeter.count(
      { to: Number((byId("to") as HTMLInputElement).value), intervalMs: 500 },
      (reply) => byId("counts").insertAdjacentHTML("beforeend", `<li>${reply.n}</li>`),
      (error) => show(error),
    );
  });
}
