/**
 * Lab 09, step 6: the learner's server options. The checks run their own
 * Orders backends created with serverOptions(), and a plain client of their
 * own (pick_first, no retries, no keepalive), so that what they see is the
 * servers' doing: connections replaced, the calls in flight finishing, and
 * the calls still open when the grace period is over ended.
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { expectEqual, expectTrue, listen, step, tcpProxy } from "../../../scripts/check-kit";
import { Backend, expectNoFailure, learnerServerOptions, type Outcome, plainCall, plainClient, serverModule, waitFor } from "./lb";

const hintAge = 'set "grpc.max_connection_age_ms" (500) in serverOptions(): the server then sends each connection a GOAWAY when it is that old, and the client connects again';

/**
 * The learner's server options, when there are any. With none, a grpc-js
 * server keeps every connection for as long as its client does (no age, no
 * idle limit by default), and the checks' backends are created with them:
 * no connection could end during a check, so it fails at once instead of
 * waiting to see that none did.
 */
async function someServerOptions(): Promise<grpc.ServerOptions> {
  const options = await learnerServerOptions();
  expectTrue(Object.keys(options).length > 0, `serverOptions() returned no options, so every connection lives as long as its client keeps it: ${hintAge}`);
  return options;
}

step(6, () => {
  it("makes a long-lived client reconnect, so that a backend that joins later gets calls, with no failed call", async () => {
    const options = await someServerOptions();
    // A connection-level balancer, as a Kubernetes Service is: it picks a backend
    // for each new TCP connection, the one with the fewest connections so far.
    const pool = [await Backend.start("orders-1", { serverOptions: options })];
    const given = new Map<Backend, number>();
    const balancer = await tcpProxy(() => {
      const backend = [...pool].reverse().reduce((best, b) => ((given.get(b) ?? 0) < (given.get(best) ?? 0) ? b : best));
      given.set(backend, (given.get(backend) ?? 0) + 1);
      return backend.address;
    });
    const client = plainClient(balancer.address);
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await plainCall(client, `before-${i}`));
    const joining = await Backend.start("orders-2", { serverOptions: options });
    pool.push(joining);
    const joined = Date.now();
    for (let i = 0; i < 200 && joining.received.length < 3 && Date.now() - joined < 2000; i++) {
      outcomes.push(await plainCall(client, `after-${i}`));
      await sleep(20);
    }
    expectNoFailure(outcomes, "calls of one client while its connections were replaced", 'give the calls in flight time to finish: "grpc.max_connection_age_grace_ms" (1000)');
    expectTrue(joining.received.length > 0, `a backend that joined got no call within 2 s: the client kept its first connection. ${hintAge}`);
  });

  it("lets a call in flight finish when its connection reaches its age (grace period)", async () => {
    const options = await someServerOptions();
    const backend = await Backend.start("orders-1", { serverOptions: options, holdMs: (id) => (id === "slow" ? 900 : 0) });
    const client = plainClient(backend.address);
    const slow = await plainCall(client, "slow", 2500);
    expectNoFailure([slow], "a call of 0.9 s on a new connection", 'set "grpc.max_connection_age_grace_ms" (1000) in serverOptions(): the calls in flight when a connection reaches its age get that long to finish before it is closed');
    const first = backend.received[0]!.peer;
    const since = Date.now();
    let replaced = false;
    for (let i = 0; i < 60 && !replaced && Date.now() - since < 1500; i++) {
      expectNoFailure([await plainCall(client, `next-${i}`)], "a call after the slow one", "");
      replaced = backend.received.at(-1)!.peer !== first;
      if (!replaced) await sleep(25);
    }
    expectTrue(replaced, `the client's connection was still the same 2.4 s after it opened. ${hintAge}`);
  });

  it("closes an old connection once its grace period is over, ending the calls still on it", async () => {
    const options = await someServerOptions();
    const backend = await Backend.start("orders-1", { serverOptions: options, holdMs: (id) => (id === "unanswered" ? Number.POSITIVE_INFINITY : 0) });
    const client = plainClient(backend.address);
    // The backend never answers this call: only the server closing its connection ends it before its deadline.
    const deadlineMs = 4000;
    const unanswered = plainCall(client, "unanswered", deadlineMs);
    const since = Date.now();
    expectTrue(await waitFor(() => backend.received.length > 0, 1000), 'a call did not reach a backend created with serverOptions() within 1 s: return only the connection age options the README names');
    const first = backend.received[0]!.peer;
    let replaced = false;
    for (let i = 0; i < 60 && !replaced && Date.now() - since < 1500; i++) {
      expectNoFailure([await plainCall(client, `next-${i}`)], "a call beside the unanswered one", "");
      replaced = backend.received.at(-1)!.peer !== first;
      if (!replaced) await sleep(25);
    }
    expectTrue(replaced, `the client's connection was still the same 1.5 s after it opened: ${hintAge}`);
    const outcome = await unanswered;
    expectTrue(
      outcome.code !== undefined && outcome.code !== grpc.status.DEADLINE_EXCEEDED,
      `a call still in flight on a connection past its age was left open until its deadline, ${deadlineMs / 1000} s after it started: set "grpc.max_connection_age_grace_ms" (1000) in serverOptions(): the server then closes an old connection that long after its GOAWAY, whatever is still in flight`,
    );
  });

  it("createOrdersServer(name) creates a backend that answers with its name, with these options", async () => {
    const server = await (await serverModule()).createOrdersServer("orders-7");
    const proxy = await tcpProxy(await listen(server));
    const client = plainClient(proxy.address);
    const first = await plainCall(client, "o-42");
    expectNoFailure([first], 'GetOrder on the backend of createOrdersServer("orders-7")', "createOrdersServer() is given complete: restore it from the starter");
    expectEqual(first.order, { id: "o-42", servedBy: "orders-7" }, 'what the backend of createOrdersServer("orders-7") answered to GetOrder("o-42")');
    const since = Date.now();
    for (let i = 0; i < 60 && proxy.connections.length < 2 && Date.now() - since < 1500; i++) {
      expectNoFailure([await plainCall(client, `next-${i}`)], "a call to the backend of createOrdersServer()", "");
      await sleep(25);
    }
    expectTrue(proxy.connections.length > 1, `the client's connection to the backend of createOrdersServer() was still the same 1.5 s later: create it with new grpc.Server(serverOptions()). ${hintAge}`);
  });
});
