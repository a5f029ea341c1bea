/**
 * Lab 06's checks against variants of its reference solution: each known
 * mistake fails exactly the checks about it, and a different but correct
 * solution passes. The mistakes are the ones graceful shutdown and health
 * clients are known for: no forced shutdown, forcing at once, no deadline,
 * no retry, no "shutting down" guard, repeated statuses. (Different but
 * correct solutions are in test/alternatives.test.ts.)
 */
import * as assert from "node:assert/strict";
import { findLab } from "../scripts/lib/labs";
import { checkVariant as checkVariantOf, type Edit, expectFailing, removeTrees } from "./trees";

const lab = findLab("06");
const server = "src/server.ts";
const client = "src/client.ts";


const checkVariant = (name: string, edits: Edit[]) => checkVariantOf(lab, name, edits);


describe("lab 06's checks against known mistakes", function () {
  this.timeout(120_000);
  after(removeTrees);

  it("tryShutdown with no forceShutdown, and a watcher that gives up when its stream fails", async () => {
    const result = await checkVariant("no-force", [
      { file: server, from: "setTimeout(() => server.forceShutdown(), graceMs)", to: "setTimeout(() => undefined, 0)" },
      { file: client, from: "if (failure?.code === grpc.status.UNIMPLEMENTED) throw failure;", to: "$&\n      if (failure) return;" },
    ]);
    expectFailing(result, ["s5.ends-within-the-grace-period", "s5.keeps-reporting-not-serving", "s7.watches-again", "s7.backs-off"]);
  });

  it("forceShutdown at once, and a probe with no deadline", async () => {
    const result = await checkVariant("force-at-once", [
      { file: server, from: "setTimeout(() => server.forceShutdown(), graceMs)", to: "setTimeout(() => server.forceShutdown(), 0)" },
      { file: client, from: "{ deadline }, (error, reply)", to: "{}, (error, reply)" },
    ]);
    // Forced at once, the NOT_SERVING writes may or may not leave before the connection is cut.
    const racy = ["s5.reports-not-serving", "s5.keeps-reporting-not-serving"];
    expectFailing(result, ["s5.lets-a-call-in-flight-finish", "s5.refuses-new-calls", "s5.ends-within-the-grace-period", "s6.exits-0-for-serving", "s6.exits-3-when-the-server-does-not-answer"], racy);
  });

  it("health that ignores shutdown and makes the whole server follow the dependency, and a watcher that repeats statuses", async () => {
    const result = await checkVariant("no-guard", [
      { file: server, from: "if (!shuttingDown) health.setStatus(jobServiceName, servingWhen(up));", to: 'health.setStatus(jobServiceName, servingWhen(up));\n    health.setStatus("", servingWhen(up));' },
      { file: client, from: "if (status !== last) onStatus((last = status));", to: "onStatus((last = status));" },
    ]);
    expectFailing(result, ["s3.keeps-the-whole-server-serving", "s5.keeps-reporting-not-serving", "s7.reports-each-change"]);
  });

  // Reflection from what proto-loader loads, as the lab once taught: each server lists and describes its services, but grpcurl refuses the descriptors.
  const fromLoadSync = (options: string) =>
    `new ReflectionService(protoLoader.loadSync(["jobs/v1/jobs.proto", "grpc/health/v1/health.proto"], { includeDirs: [path.join(__dirname, "..", "..", "..", "proto")]${options} }))`;
  const reflection = "new ReflectionService(reflectionDefinition(fs.readFileSync(descriptorSetFile)))";

  it("reflection from loadSync with its default options: camelCase field names and a misnamed map entry", async () => {
    const result = await checkVariant("load-sync", [{ file: server, from: reflection, to: fromLoadSync("") }]);
    expectFailing(result, ["s4.serves-descriptors-a-client-can-build", "s4.serves-the-field-names"]);
    const problem = result.tests.find((t) => t.id.startsWith("s4.serves-descriptors"))?.message ?? "";
    assert.match(problem, /HealthListResponse\.statuses has the entry message Statuses, and protoc names it StatusesEntry/);
  });

  it("reflection from loadSync with keepCase: the field names are right, the map entry is not", async () => {
    const result = await checkVariant("load-sync-keep-case", [{ file: server, from: reflection, to: fromLoadSync(", keepCase: true") }]);
    expectFailing(result, ["s4.serves-descriptors-a-client-can-build"]);
  });
});
