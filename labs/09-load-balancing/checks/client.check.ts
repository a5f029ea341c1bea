/**
 * Lab 09, steps 2 to 5: the learner's client (and resolver) in front of
 * several backends that the checks run, stop, kill, silence and register.
 * Each backend counts the calls it receives; the checks assert shares and
 * losses, never an exact split.
 */
import * as grpc from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterFirstTries, CheckFailure, expectEqual, expectTrue, notServingYet, ownSubject, step, tcpProxy } from "../../../scripts/check-kit";
import {
  Backend,
  callMany,
  callOnce,
  counts,
  describeCounts,
  expectNoFailure,
  ipv4Target,
  learnerClient,
  minPingIntervalMs,
  Registry,
  resolverModule,
  startBackends,
  StrictBackend,
  waitFor,
} from "./lb";

/** Fails unless each backend received at least `least` calls since `since`. */
function expectShare(backends: Backend[], least: number, what: string, hint: string, since = 0): void {
  const got = counts(backends, since);
  expectTrue(
    got.every((n) => n >= least),
    `${what}: calls each backend received: ${describeCounts(backends, since)}; expected at least ${least} each: ${hint}`,
  );
}

const hintRoundRobin = 'by default a channel uses pick_first and sends every call to one backend: choose round_robin in the service config ({ loadBalancingConfig: [{ round_robin: {} }] })';
const hintRetry = "add a retryPolicy for UNAVAILABLE to the service config's methodConfig: the retry goes to another backend";

step(2, () => {
  it("returns the backend's answer, and gives each call a deadline timeoutMs from now", async () => {
    const [backend] = await startBackends(1);
    const { learner, client } = await learnerClient(ipv4Target([backend!.address]));
    // Two timeouts whose expected deadlines cannot both hold for one fixed deadline.
    for (const [id, timeoutMs] of [["o-17", 1500], ["o-18", 4000]] as const) {
      const begin = Date.now();
      const outcome = await callOnce(learner, client, id, timeoutMs);
      expectTrue(outcome.code === undefined, `getOrder("${id}") failed with ${grpc.status[outcome.code!] ?? outcome.code} (${outcome.details})`);
      expectEqual(outcome.order, { id, servedBy: "orders-1" }, `what getOrder("${id}") returned`);
      const deadline = backend!.received.find((r) => r.id === id)?.deadline ?? Number.NaN;
      expectTrue(Number.isFinite(deadline), "getOrder() called GetOrder without a deadline: pass { deadline: Date.now() + timeoutMs } in the call options");
      const ms = deadline - begin;
      expectTrue(
        ms >= timeoutMs - 100 && ms <= timeoutMs + 800,
        `getOrder("${id}", ${timeoutMs}) gave GetOrder a deadline ${ms} ms after the call started instead of about ${timeoutMs} ms: pass { deadline: Date.now() + timeoutMs } in the call options`,
      );
    }
  });

  it("spreads the calls over every backend of the target (round_robin)", async () => {
    const backends = await startBackends(3);
    const { learner, client } = await learnerClient(ipv4Target(backends.map((b) => b.address)));
    const outcomes = await callMany(learner, client, { count: 30, prefix: "rr" });
    expectNoFailure(outcomes, "30 calls over 3 healthy backends", "every backend is up");
    expectShare(backends, 3, "30 calls, one after the other, over 3 backends", hintRoundRobin);
  });
});

step(3, () => {
  // Backends stopped, killed and forced down race the learner's next calls: no other check's work in its event loop reorders them.
  ownSubject(() => {
    it("loses no call when a backend is stopped gracefully mid-run", async () => {
      const backends = await startBackends(3, { holdMs: () => 30 });
      const { learner, client } = await learnerClient(ipv4Target(backends.map((b) => b.address)));
      let stoppedAt = Number.POSITIVE_INFINITY;
      const outcomes = await callMany(learner, client, {
        count: 24,
        prefix: "graceful",
        concurrency: 4,
        afterEach: (done) => {
          if (done === 8) {
            stoppedAt = Date.now();
            backends[0]!.server.tryShutdown(() => undefined);
          }
        },
      });
      expectNoFailure(outcomes, "24 calls while orders-1 shut down gracefully (tryShutdown) after 8", hintRetry);
      expectTrue(backends[0]!.receivedAfter(stoppedAt + 200) === 0, "orders-1 still received calls 0.2 s after it began shutting down");
    });

    it("loses no call when a backend dies with calls in flight (retry policy)", async () => {
      // orders-3 sits behind a proxy and never answers: when it has calls, the check kills it.
      const [first, second] = await startBackends(2);
      const third = await Backend.start("orders-3", { holdMs: () => Number.POSITIVE_INFINITY });
      const proxy = await tcpProxy(third.address);
      const backends = [first!, second!, third];
      const { learner, client } = await learnerClient(ipv4Target([first!.address, second!.address, proxy.address]));
      // Warm up one call at a time, so that every connection is up and orders-3 holds a call.
      const warmUp = callMany(learner, client, { count: 6, prefix: "warm-up", timeoutMs: 2500 });
      let warmedUp = false;
      warmUp.then(
        () => (warmedUp = true),
        () => (warmedUp = true), // awaited below, where its error fails the check
      );
      const held = await waitFor(() => third.received.length > 0 || warmedUp, 1500) && third.received.length > 0;
      if (!held) {
        await warmUp;
        throw new CheckFailure(`no call reached orders-3 within 1.5 s (calls each backend received: ${describeCounts(backends)}): ${hintRoundRobin}`);
      }
      const inFlight = callMany(learner, client, { count: 6, prefix: "in-flight", concurrency: 6, timeoutMs: 2500 });
      await waitFor(() => third.received.length >= 2, 300);
      const heldCalls = third.received.length;
      await proxy.kill();
      const outcomes = [...(await warmUp), ...(await inFlight)];
      expectNoFailure(outcomes, `calls while orders-3, holding ${heldCalls} of them, was killed`, `a call whose connection dropped fails with UNAVAILABLE: ${hintRetry}`);
    });

    it("loses no call when a backend is forced down between calls", async () => {
      const backends = await startBackends(3);
      const { learner, client } = await learnerClient(ipv4Target(backends.map((b) => b.address)));
      const outcomes = await callMany(learner, client, {
        count: 18,
        prefix: "forced",
        afterEach: (done) => {
          if (done === 6) backends[1]!.server.forceShutdown();
        },
      });
      expectNoFailure(outcomes, "18 calls, one after the other, while orders-2 was forced down (forceShutdown) after 6", `a call sent on a connection that just closed fails with UNAVAILABLE: ${hintRetry}`);
    });

    it("fails a call in flight on a backend that is forced down with CANCELLED, and does not send it again", async () => {
      // Every backend holds the call "held" until the check ends: wherever it lands, that backend is forced down under it.
      const backends = await startBackends(3, { holdMs: (id) => (id === "held" ? Number.POSITIVE_INFINITY : 0) });
      const { learner, client } = await learnerClient(ipv4Target(backends.map((b) => b.address)));
      expectNoFailure(await callMany(learner, client, { count: 3, prefix: "before" }), "3 calls to 3 healthy backends", "every backend is up");
      const held = callOnce(learner, client, "held", 2500);
      held.catch(() => undefined); // awaited below, where its error fails the check
      const holders = () => backends.filter((b) => b.received.some((r) => r.id === "held"));
      if (!(await waitFor(() => holders().length > 0, 1500))) {
        await held;
        throw new CheckFailure('getOrder("held") reached none of the 3 backends within 1.5 s, though the 3 calls before it were answered: make getOrder() call GetOrder every time');
      }
      const holder = holders()[0]!;
      holder.server.forceShutdown();
      const outcome = await held;
      const others = holders().filter((b) => b !== holder);
      expectTrue(
        others.length === 0,
        `the call that ${holder.name} held when it was forced down was sent again, to ${others.map((b) => b.name).join(" and ")}: keep CANCELLED out of retryableStatusCodes, since the backend may have done the work (retry UNAVAILABLE only)`,
      );
      expectTrue(
        outcome.code === grpc.status.CANCELLED,
        `getOrder("held"), in flight on ${holder.name} when it was forced down (forceShutdown), ${outcome.code === undefined ? "resolved" : `failed with ${grpc.status[outcome.code] ?? outcome.code} (${outcome.details})`}: reject with the call's own error, CANCELLED`,
      );
    });

    it("waits for backends that are not up yet (waitForReady)", async () => {
      const ports = await Promise.all([notServingYet(), notServingYet(), notServingYet()]);
      const { learner, client } = await learnerClient(ipv4Target(ports.map((port) => port.address)));
      // The channel's first connection attempts fail at once; the next come after
      // grpc-js's reconnect backoff (1 s ± 20 %, then 1.6 s ± 20 %). 5 s lets a
      // slow machine start the backends late and still be served by the second try.
      const pending = callMany(learner, client, { count: 3, prefix: "early", concurrency: 3, timeoutMs: 5000 });
      pending.catch(() => undefined); // awaited below, where its error fails the check
      // The backends start once the channel has tried every address and found no one.
      await afterFirstTries(ports, pending);
      await Promise.all(ports.map((port, i) => Backend.start(`orders-${i + 1}`, { address: port.address })));
      expectNoFailure(
        await pending,
        "3 calls made before any backend was up",
        "by default a call fails at once when no backend is ready, and so do its retries: create its metadata with new grpc.Metadata({ waitForReady: true })",
      );
    });
  });
});

step(4, () => {
  const hintWatch = "the resolver must pass every new list of endpoints to its listener (keep a Watch stream open, or ask List again at least every 0.2 s)";

  /** A registry with `orders` on `backends` and `payments` on `others`, and the learner's client for registry://.../orders. */
  async function viaRegistry(backends: Backend[], others: Backend[] = []) {
    const registry = await Registry.start({ orders: backends.map((b) => b.address), payments: others.map((b) => b.address) });
    await (await resolverModule()).registerRegistryResolver();
    return { registry, ...(await learnerClient(registry.target("orders"))) };
  }

  it("sends calls to every backend the registry lists for the target's service, and to no other", async () => {
    const backends = await startBackends(3);
    const payments = await Backend.start("payments-1");
    const { registry, learner, client } = await viaRegistry(backends, [payments]);
    const outcomes = await callMany(learner, client, { count: 30, prefix: "resolved" });
    expectNoFailure(outcomes, "30 calls to registry://.../orders", "the resolver must pass the registry's endpoints to its listener");
    expectEqual(payments.received.length, 0, "calls to registry://.../orders that reached the backend of another service (payments): resolve the service named by target.path");
    expectShare(backends, 3, "30 calls to registry://.../orders, registered on 3 backends", hintRoundRobin);
    // The same resolver, for another service of the same registry.
    const other = await learnerClient(registry.target("payments"));
    expectNoFailure(await callMany(other.learner, other.client, { count: 3, prefix: "pay" }), "3 calls to registry://.../payments", "resolve the service named by target.path");
    const strayed = backends.reduce((sum, b) => sum + b.received.filter((r) => r.id.startsWith("pay-")).length, 0);
    expectTrue(strayed === 0, `${strayed} of 3 calls to registry://.../payments reached a backend of orders: resolve the service that target.path names, not a fixed one`);
  });

  it("sends calls to a backend that joins, within 1 s", async () => {
    const [first, second, third] = await startBackends(3);
    const { registry, learner, client } = await viaRegistry([first!, second!]);
    expectNoFailure(await callMany(learner, client, { count: 6, prefix: "before" }), "6 calls to 2 registered backends", hintWatch);
    registry.set("orders", [first!.address, second!.address, third!.address]);
    const joined = Date.now();
    const outcomes = [];
    for (let i = 0; i < 100 && third!.received.length === 0 && Date.now() - joined < 1000; i++) {
      outcomes.push(await callOnce(learner, client, `after-${i}`, 2000));
      await sleep(10);
    }
    expectNoFailure(outcomes, "calls after orders-3 joined", hintWatch);
    expectTrue(third!.received.length > 0, `orders-3 joined the registry and got no call within 1 s: ${hintWatch}`);
  });

  it("sends no call to a backend that leaves, after 0.5 s", async () => {
    const backends = await startBackends(3);
    const { registry, learner, client } = await viaRegistry(backends);
    expectNoFailure(await callMany(learner, client, { count: 6, prefix: "before" }), "6 calls to 3 registered backends", hintWatch);
    registry.set("orders", [backends[0]!.address, backends[1]!.address]);
    await sleep(500);
    const since = Date.now();
    expectNoFailure(await callMany(learner, client, { count: 12, prefix: "after" }), "calls after orders-3 left the registry", hintWatch);
    expectEqual(backends[2]!.receivedAfter(since), 0, `calls orders-3 received from 0.5 s after it left the registry (${hintWatch})`);
  });

  // A backend forced down races the learner's next call: no other check's work in its event loop reorders the two.
  ownSubject(() => {
    for (const ending of ["error", "end"] as const) {
      const how = ending === "error" ? "with UNAVAILABLE" : "with OK";
      it(`keeps one Watch stream while the channel re-resolves, and opens a new one after the registry ends it ${how}`, async () => {
        const [first, second, third, fourth] = await startBackends(4);
        const { registry, learner, client } = await viaRegistry([first!, second!, third!]);
        expectNoFailure(await callMany(learner, client, { count: 6, prefix: "before" }), "6 calls to 3 registered backends", hintWatch);
        // A lost connection makes the channel call updateResolution() again, while the Watch stream is open.
        first!.server.forceShutdown();
        expectNoFailure(await callMany(learner, client, { count: 6, prefix: "re-resolved" }), "6 calls after orders-1 was forced down", hintRetry);
        const oneWatch = "updateResolution() opened a second Watch stream while one was open: a second call while watching must do nothing";
        expectTrue(registry.mostOpenWatches <= 1, `${oneWatch} (${registry.mostOpenWatches} were open at once)`);
        registry.endWatches(ending);
        await sleep(100);
        // orders-4 joins while nobody watches; losing orders-2 makes the channel ask the resolver again.
        registry.set("orders", [third!.address, fourth!.address]);
        second!.server.forceShutdown();
        const since = Date.now();
        const outcomes = [];
        for (let i = 0; i < 150 && fourth!.received.length === 0 && Date.now() - since < 1500; i++) {
          outcomes.push(await callOnce(learner, client, `after-${i}`, 2000));
          await sleep(10);
        }
        expectNoFailure(outcomes, `calls after the registry ended the Watch stream ${how}`, hintRetry);
        expectTrue(
          fourth!.received.length > 0,
          `the registry ended the Watch stream ${how}, and orders-4, registered after that, got no call within 1.5 s of the next lost connection: on the stream's ${ending === "error" ? '"error"' : '"end"'}, report it to the listener and forget the stream, so that the next updateResolution() opens a new one`,
        );
        expectTrue(registry.mostOpenWatches <= 1, `${oneWatch} (${registry.mostOpenWatches} were open at once)`);
      });
    }
  });

  it("does not ask a registry that refuses again and again, and the calls go on to the backends it last listed", async () => {
    const backends = await startBackends(2);
    const { registry, learner, client } = await viaRegistry(backends);
    expectNoFailure(await callMany(learner, client, { count: 4, prefix: "before" }), "4 calls to 2 registered backends", hintWatch);
    const asked = () => registry.watchCalls + registry.listCalls;
    registry.refusing = true;
    registry.endWatches("error");
    const [before, since] = [asked(), Date.now()];
    expectNoFailure(await callMany(learner, client, { count: 4, prefix: "refused" }), "4 calls while the registry refused every List and Watch", "the channel keeps the last list the resolver gave it");
    await sleep(500);
    // Polling every 0.1 s asks 10 times a second; asking again as soon as the registry refuses, hundreds.
    const [times, ms] = [asked() - before, Date.now() - since];
    expectTrue(
      times <= 5 + ms / 50,
      `the resolver asked the registry ${times} times in ${ms} ms while it refused every call: report the failure to the listener and wait for the channel's next updateResolution() (it backs off), never call the registry again at once from the stream's "error"`,
    );
  });

  it("closes without an error before its first call, and while no Watch stream is open", async () => {
    const backends = await startBackends(1);
    const { registry, learner, client } = await viaRegistry(backends);
    const closes = async (closing: grpc.Client, when: string) => {
      try {
        await closing.close();
      } catch (error) {
        throw new CheckFailure(
          `close() of a client ${when} threw "${(error as Error).message}": the channel calls destroy() whenever it closes, also before any updateResolution() and after the stream ended, so cancel and close only what is there (watch?.cancel())`,
        );
      }
    };
    // A channel asks its resolver for nothing before its first call.
    await closes((await learnerClient(registry.target("orders"))).client, "that made no call");
    expectNoFailure(await callMany(learner, client, { count: 2, prefix: "before" }), "2 calls to a registered backend", hintWatch);
    registry.endWatches("error");
    await waitFor(() => registry.openWatches === 0, 1000);
    await sleep(100); // the stream's end reaches the resolver, which forgets the stream; the channel asks again only later
    await closes(client, "whose resolver's Watch stream the registry had ended");
  });

  it("stops asking the registry once the channel is closed", async () => {
    const backends = await startBackends(2);
    const { registry, learner, client } = await viaRegistry(backends);
    expectNoFailure(await callMany(learner, client, { count: 4, prefix: "before" }), "4 calls to 2 registered backends", hintWatch);
    await client.close();
    const watching = !(await waitFor(() => registry.openWatches === 0, 1000));
    expectTrue(!watching, "the resolver's Watch stream was still open 1 s after the channel closed: destroy() must cancel it (and close the registry client)");
    const lists = registry.listCalls;
    await sleep(300);
    expectEqual(registry.listCalls - lists, 0, "List calls the registry received in the 0.3 s after the channel had closed and its Watch stream was cancelled (destroy() must stop the resolver's polling)");
  });
});

step(5, () => {
  // Keepalive pings and a blackholed connection, timed against the learner's channel: its event loop is its own.
  ownSubject(() => {
    it("finds a connection that silently stopped forwarding within 1.5 s, and moves its calls to the other backends", async () => {
      const backends = await startBackends(3);
      const proxies = await Promise.all(backends.map((b) => tcpProxy(b.address)));
      const { learner, client } = await learnerClient(ipv4Target(proxies.map((p) => p.address)));
      expectNoFailure(await callMany(learner, client, { count: 6, prefix: "before" }), "6 calls to 3 healthy backends", hintRoundRobin);
      const silenced = proxies[0]!;
      const open = silenced.connections.filter((c) => c.closedAt === undefined);
      silenced.blackhole();
      const since = Date.now();
      const outcomes = await callMany(learner, client, { count: 9, prefix: "after", concurrency: 3, timeoutMs: 2500 });
      expectNoFailure(
        outcomes,
        "9 calls after the connection to orders-1 silently stopped forwarding",
        'calls on that connection wait until keepalive finds it dead (set "grpc.keepalive_time_ms" and "grpc.keepalive_timeout_ms"), then the retry policy sends them elsewhere',
      );
      await waitFor(() => open.every((c) => c.closedAt !== undefined), Math.max(0, since + 1500 - Date.now()));
      for (const connection of open) {
        expectTrue(connection.closedBy === "client", 'the client did not close its silent connection to orders-1 within 1.5 s: set "grpc.keepalive_time_ms" and "grpc.keepalive_timeout_ms" (300 ms each)');
        expectTrue(connection.closedAt! - since <= 1500, `the client closed its silent connection ${connection.closedAt! - since} ms after it went silent: expected within 1.5 s (keepalive time + timeout)`);
      }
    });

    it(`pings no more often than the backends allow (one ping every ${minPingIntervalMs} ms at most, and none with no call in flight)`, async () => {
      // Each call is held 0.9 s: long enough for a few keepalive pings, with no data in between to excuse them.
      // Two calls over three backends leave at least one connection with no call in flight, where a ping is a strike.
      const strict = await Promise.all([1, 2, 3].map((n) => StrictBackend.start(`orders-${n}`, 900)));
      const { learner, client } = await learnerClient(ipv4Target(strict.map((s) => s.address)));
      await callMany(learner, client, { count: 2, prefix: "held", concurrency: 2, timeoutMs: 2500 });
      const sum = (of: (s: StrictBackend) => number) => strict.reduce((total, s) => total + of(s), 0);
      // A client that pings idle connections has a strike or two by now: the third, and the GOAWAY, follow within a few pings.
      if (sum((s) => s.idleStrikes) > 0) await waitFor(() => sum((s) => s.tooManyPings) > 0, 1500);
      const refused = sum((s) => s.tooManyPings);
      const shortest = Math.min(...strict.map((s) => s.shortestInterval));
      expectTrue(
        refused === 0 || sum((s) => s.earlyStrikes) === 0,
        `the backends answered GOAWAY too_many_pings ${refused} time(s): the client pinged ${shortest} ms after its previous ping, and the backends allow one ping every ${minPingIntervalMs} ms: set "grpc.keepalive_time_ms" to 300`,
      );
      expectTrue(
        refused === 0,
        `the backends answered GOAWAY too_many_pings ${refused} time(s) to pings on a connection with no call in flight, which they refuse as a Go server does by default: leave "grpc.keepalive_permit_without_calls" out of the channel options`,
      );
      const pings = sum((s) => s.pings.flat().length);
      expectTrue(pings > 0, 'the backends received no keepalive ping during calls of 0.9 s: set "grpc.keepalive_time_ms" (300 ms) in the client\'s channel options');
    });
  });
});
