/**
 * Lab 03's flow-control checks catch the mistakes they are there for: each
 * variant of the reference solution has one fault on the server side and one
 * on the client side, and exactly the checks about those faults fail.
 */
import * as assert from "node:assert/strict";
import { findLab } from "../scripts/lib/labs";
import { checkVariant, type Edit, removeTrees } from "./trees";

const lab = findLab("03");
const server = "src/server.ts";
const client = "src/client.ts";

async function failingChecks(name: string, edits: Edit[]): Promise<string[]> {
  const result = await checkVariant(lab, name, edits);
  assert.deepEqual(result.type_errors, []);
  return result.tests.filter((t) => t.status !== "pass").map((t) => t.id.split(".")[0] + " " + t.name);
}

describe("lab 03 faults", function () {
  this.timeout(60_000);
  after(removeTrees);

  it("a server that ignores write()'s return value, and a client that does not wait for drain, fail the flow-control checks", async () => {
    const failing = await failingChecks("no-backpressure", [
      { file: server, from: /if \(member\.waiting\) \{[\s\S]*?\n    return true;/, to: "member.call.write(event);\n    return true;" },
      { file: client, from: 'if (!call.write(message)) await once(call, "drain");', to: "call.write(message);" },
    ]);
    assert.deepEqual(failing, [
      "s5 drops a member that stops reading with RESOURCE_EXHAUSTED, without slowing the others",
      's6 waits for "drain" when the server does not keep up, instead of buffering every line, and goes on once it reads again',
    ]);
  });

  it("a server that drops a member as soon as write() returns false, and a client that rejects on its own cancel, fail those checks", async () => {
    const failing = await failingChecks("impatient", [
      { file: server, from: /if \(!member\.call\.write\(event\)\) \{[\s\S]*?\n    \}\n    return true;/, to: "return member.call.write(event);" },
      { file: client, from: "if (error && !(error.code === grpc.status.CANCELLED && signal?.aborted)) reject(error);", to: "if (error) reject(error);" },
    ]);
    // Dropping at the first false is wrong even for healthy members: in a burst, write() returns
    // false for a reader that keeps up too, so the 50-member check may fail here as well.
    for (const check of [
      "s5 lets a member pause reading, queues what it misses, and delivers it all once it reads again",
      "s7 cancels the call when the signal aborts, and then resolves",
    ]) {
      assert.ok(failing.includes(check), `expected "${check}" to fail; failing: ${failing.join(", ")}`);
    }
    assert.deepEqual(
      failing.filter((check) => !/^s[25] /.test(check)),
      ["s7 cancels the call when the signal aborts, and then resolves"],
    );
  });

  it("a client that waits for an event that never comes once write() returns false stops for good, and fails the flow-control check", async () => {
    const failing = await failingChecks("never-goes-on", [{ file: client, from: 'if (!call.write(message)) await once(call, "drain");', to: 'if (!call.write(message)) await once(call, "drained");' }]);
    assert.deepEqual(failing, ['s6 waits for "drain" when the server does not keep up, instead of buffering every line, and goes on once it reads again']);
  });
});
