/**
 * Lab 09's checks against variants of its reference solution: each known
 * mistake fails exactly the checks about it, and two different but correct
 * solutions pass. The mistakes are the ones load-balancing clients are known
 * for: pick_first by default, no retry policy or one that retries CANCELLED,
 * no waitForReady, no deadline or a fixed one, no keepalive, one that pings
 * too often or with no call in flight, a resolver that reads the registry
 * once, never stops or resolves one fixed service, and servers whose
 * connections never age, or age with too short a grace period or none.
 */
import * as assert from "node:assert/strict";
import { findLab } from "../scripts/lib/labs";
import { alternativeFile, checkVariant as checkVariantOf, type Edit, expectFailing, failingIds as failing, removeTrees } from "./trees";

const lab = findLab("09");
const client = "src/client.ts";
const resolver = "src/resolver.ts";
const server = "src/server.ts";


const checkVariant = (name: string, edits: Edit[]) => checkVariantOf(lab, name, edits);


/** A whole learner file replaced by one of test/lab09-alternatives/. */
const replaced = (file: string, alternative: string) => alternativeFile(lab, file, alternative);

describe("lab 09's checks against known mistakes", function () {
  this.timeout(180_000);
  after(removeTrees);

  it("pick_first (no loadBalancingConfig) and no deadline", async () => {
    const result = await checkVariant("pick-first", [
      { file: client, from: "loadBalancingConfig: [{ round_robin: {} }],", to: "" },
      { file: client, from: "{ deadline: Date.now() + timeoutMs }", to: "{}" },
    ]);
    expectFailing(
      result,
      ["s2.returns-the-backend-s-answer", "s2.spreads-the-calls", "s3.loses-no-call-when-a-backend-dies", "s4.sends-calls-to-every-backend", "s4.sends-calls-to-a-backend-that-joins"],
      // With every call on one backend, whether a stopped or silenced backend was that one is chance.
      ["s3.loses-no-call-when-a-backend-is", "s4.sends-no-call-to-a-backend-that-leaves", "s4.keeps-one-watch-stream", "s5.finds-a-connection"],
    );
  });

  it("no retry policy", async () => {
    const result = await checkVariant("no-retry", [{ file: client, from: /  methodConfig: \[[\s\S]*?\n  \],\n/, to: "" }]);
    // A call picked for a connection that closed a moment ago may or may not fail.
    expectFailing(result, ["s3.loses-no-call-when-a-backend-dies", "s5.finds-a-connection"], ["s3.loses-no-call-when-a-backend-is"]);
  });

  it("a deadline that ignores timeoutMs", async () => {
    const result = await checkVariant("fixed-deadline", [{ file: client, from: "{ deadline: Date.now() + timeoutMs }", to: "{ deadline: Date.now() + 2000 }" }]);
    expectFailing(result, ["s2.returns-the-backend-s-answer"]);
  });

  it("a retry policy that retries CANCELLED too", async () => {
    const result = await checkVariant("retry-cancelled", [{ file: client, from: 'retryableStatusCodes: ["UNAVAILABLE"]', to: 'retryableStatusCodes: ["UNAVAILABLE", "CANCELLED"]' }]);
    expectFailing(result, ["s3.fails-a-call-in-flight-on-a-backend-that-is-forced-down"]);
  });

  it("a resolver that opens a new Watch stream at once when one fails: against a registry that refuses, a call after call", async () => {
    const result = await checkVariant("watch-again-at-once", [
      { file: resolver, from: 'details: `registry ${this.target.authority}: ${details}` }), {}, null, "");', to: 'details: `registry ${this.target.authority}: ${details}` }), {}, null, "");\n      this.updateResolution();' },
    ]);
    expectFailing(result, ["s4.does-not-ask-a-registry-that-refuses"]);
  });

  it("a destroy() that cancels the stream and closes the registry client without asking whether there is one", async () => {
    const result = await checkVariant("destroy-unguarded", [
      { file: resolver, from: "watch?.cancel();", to: "watch!.cancel();" },
      { file: resolver, from: "this.registry?.close();", to: "this.registry!.close();" },
    ]);
    expectFailing(result, ["s4.closes-without-an-error"]);
  });

  it("no waitForReady", async () => {
    const result = await checkVariant("no-wait-for-ready", [{ file: client, from: "new grpc.Metadata({ waitForReady: true })", to: "new grpc.Metadata()" }]);
    expectFailing(result, ["s3.waits-for-backends"]);
  });

  it("no keepalive", async () => {
    const result = await checkVariant("no-keepalive", [{ file: client, from: /\s+"grpc\.keepalive_time_ms": 300,\s+"grpc\.keepalive_timeout_ms": 300,/, to: "" }]);
    expectFailing(result, ["s5.finds-a-connection", "s5.pings-no-more-often"]);
  });

  it("keepalive pings more often than the backends allow", async () => {
    const result = await checkVariant("pings-too-often", [{ file: client, from: '"grpc.keepalive_time_ms": 300', to: '"grpc.keepalive_time_ms": 100' }]);
    expectFailing(result, ["s5.pings-no-more-often"]);
  });

  it("keepalive pings with no call in flight (keepalive_permit_without_calls)", async () => {
    const result = await checkVariant("pings-without-calls", [{ file: client, from: '"grpc.keepalive_timeout_ms": 300,', to: '$&\n    "grpc.keepalive_permit_without_calls": 1,' }]);
    expectFailing(result, ["s5.pings-no-more-often"]);
  });

  it("a resolver that always resolves the service orders, whatever the target names", async () => {
    const result = await checkVariant("fixed-service", [{ file: resolver, from: "watch({ service: this.target.path })", to: 'watch({ service: "orders" })' }]);
    expectFailing(result, ["s4.sends-calls-to-every-backend"]);
  });

  it("a resolver that reads the registry once", async () => {
    const result = await checkVariant("resolve-once", [
      { file: resolver, from: 'this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, "");', to: '$&\n      this.watch = null;\n      watch.cancel();' },
    ]);
    expectFailing(result, ["s4.sends-calls-to-a-backend-that-joins", "s4.sends-no-call-to-a-backend-that-leaves"]);
  });

  it("a resolver that never stops watching", async () => {
    const result = await checkVariant("never-stops", [{ file: resolver, from: "watch?.cancel();\n    this.registry?.close();", to: "void watch;" }]);
    expectFailing(result, ["s4.stops-asking-the-registry"]);
  });

  it("a resolver that opens a Watch stream every time the channel asks", async () => {
    const result = await checkVariant("watch-every-time", [{ file: resolver, from: "    if (this.watch) return;\n", to: "" }]);
    expectFailing(result, ["s4.keeps-one-watch-stream-while-the-channel-re-resolves-and-opens-a-new-one-after-the-registry-ends-it-with-unavailable", "s4.keeps-one-watch-stream-while-the-channel-re-resolves-and-opens-a-new-one-after-the-registry-ends-it-with-ok"]);
  });

  it("a resolver that reports a lost Watch stream but keeps it, so it never opens a new one", async () => {
    const result = await checkVariant("keeps-lost-watch", [{ file: resolver, from: "      this.watch = null;\n      // The channel keeps", to: "      // The channel keeps" }]);
    expectFailing(result, ["s4.keeps-one-watch-stream-while-the-channel-re-resolves-and-opens-a-new-one-after-the-registry-ends-it-with-unavailable", "s4.keeps-one-watch-stream-while-the-channel-re-resolves-and-opens-a-new-one-after-the-registry-ends-it-with-ok"]);
  });

  it("a resolver that listens for the Watch stream's errors only, not its end", async () => {
    const result = await checkVariant("no-end-listener", [{ file: resolver, from: '    watch.on("end", () => lost("the Watch stream ended"));\n', to: "" }]);
    expectFailing(result, ["s4.keeps-one-watch-stream-while-the-channel-re-resolves-and-opens-a-new-one-after-the-registry-ends-it-with-ok"]);
  });

  it("servers whose connections never age", async () => {
    const result = await checkVariant("no-age", [{ file: server, from: '"grpc.max_connection_age_ms": 500,', to: "" }]);
    expectFailing(result, ["s6.makes-a-long-lived-client-reconnect", "s6.lets-a-call-in-flight-finish", "s6.closes-an-old-connection", "s6.createordersserver-name-creates-a-backend"]);
  });

  it("backends created without serverOptions()", async () => {
    const result = await checkVariant("server-without-options", [{ file: server, from: "new grpc.Server(serverOptions())", to: "new grpc.Server()" }]);
    expectFailing(result, ["s6.createordersserver-name-creates-a-backend"]);
  });

  it("no grace period: grpc-js then waits for the calls of an old connection forever", async () => {
    const result = await checkVariant("no-grace", [{ file: server, from: '"grpc.max_connection_age_grace_ms": 1000,', to: "" }]);
    expectFailing(result, ["s6.closes-an-old-connection"]);
  });

  it("connections closed 0.1 s after their GOAWAY", async () => {
    const result = await checkVariant("short-grace", [{ file: server, from: '"grpc.max_connection_age_grace_ms": 1000', to: '"grpc.max_connection_age_grace_ms": 100' }]);
    expectFailing(result, ["s6.lets-a-call-in-flight-finish"]);
  });

  it("server keepalive with connection age: the first ping after the GOAWAY closes the connection (grpc-js 1.14)", async () => {
    const result = await checkVariant("server-keepalive", [
      { file: server, from: '"grpc.max_connection_age_grace_ms": 1000,', to: '$&\n    "grpc.keepalive_time_ms": 300,\n    "grpc.keepalive_timeout_ms": 300,' },
    ]);
    expectFailing(result, ["s6.lets-a-call-in-flight-finish"]);
  });

  it("a different but correct solution passes: a polling resolver, another client style, other server options", async () => {
    const result = await checkVariant("polling", [
      replaced(client, "polling-client.ts"),
      replaced(resolver, "polling-resolver.ts"),
      replaced(server, "other-server.ts"),
    ]);
    assert.deepEqual(failing(result), []);
    assert.deepEqual(result.type_errors, []);
  });

  it("another correct solution passes: the resolver chooses round_robin and the retry policy in its own service config", async () => {
    const result = await checkVariant("resolver-config", [
      // The resolver's service config replaces the channel's for registry:// targets, so it carries everything.
      {
        file: resolver,
        from: 'this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, "");',
        to: [
          "const config = grpc.experimental.statusOrFromValue({",
          "        loadBalancingConfig: [{ round_robin: {} }],",
          '        methodConfig: [{ name: [{ service: "lb.v1.Orders" }], retryPolicy: { maxAttempts: 3, initialBackoff: "0.2s", maxBackoff: "2s", backoffMultiplier: 1.5, retryableStatusCodes: ["UNAVAILABLE"] } }],',
          "      });",
          '      this.listener(grpc.experimental.statusOrFromValue(endpoints), { source: "registry" }, config, "");',
        ].join("\n"),
      },
      // Keepalive at 250 ms: still above the backends' minimum of 200 ms.
      { file: client, from: '"grpc.keepalive_time_ms": 300,', to: '"grpc.keepalive_time_ms": 250,' },
    ]);
    assert.deepEqual(failing(result), []);
    assert.deepEqual(result.type_errors, []);
  });
});
