/**
 * Lab 04's checks against its reference solution with the classic error-
 * handling bugs put back in: each bug fails the check written for it, with a
 * message that names it, and leaves the checks of the other steps passing.
 */
import * as assert from "node:assert/strict";
import { findLab } from "../scripts/lib/labs";
import type { LabResult } from "../scripts/lib/results";
import { checkVariant as checkVariantOf, type Edit, failingIds as failing, removeTrees } from "./trees";

const lab = findLab("04");
const server = "src/server.ts";
const client = "src/client.ts";

const checkVariant = (name: string, edits: Edit[]) => checkVariantOf(lab, name, edits);
const message = (result: LabResult, id: string) => result.tests.find((t) => t.id === id)?.message ?? "";

describe("lab 04's checks catch the classic error-handling bugs", function () {
  this.timeout(60_000);
  let server1: LabResult;
  let client1: LabResult;
  let client2: LabResult;

  before(async () => {
    [server1, client1, client2] = await Promise.all([
      checkVariant("answers-twice-and-leaks", [
        // A handler that goes on after callback(error), and one that sends the exception's message.
        { file: server, from: "(error: unknown) => callback(toStatus(error)),", to: "(error: unknown) => {\n          callback(toStatus(error));\n          callback(null, {} as Res);\n        }," },
        { file: server, from: "`internal error (id ${errorId})`", to: "`internal error: ${String(error)}`" },
      ]),
      checkVariant("retries-everything-without-jitter", [
        { file: client, from: "    default:\n      return undefined;", to: "    default:\n      return backoffMs(attempt, policy);" },
        { file: client, from: "return random() * ceiling;", to: "return ceiling;" },
      ]),
      checkVariant("retries-at-once", [{ file: client, from: "await sleep(waitMs);", to: "void waitMs;" }]),
    ]);
  });
  after(removeTrees);

  it("a second answer after callback(error) and a leaked exception message fail their checks, and only those", () => {
    assert.deepEqual(failing(server1), [
      "s2.answers-each-call-once-nothing-runs-after-callback-error",
      "s4.an-unexpected-error-becomes-internal-and-its-message-and-stack-stay-on-the-server",
      "s4.a-stream-that-hits-an-unexpected-error-ends-with-internal-without-the-error-s-message",
    ]);
    assert.match(message(server1, "s2.answers-each-call-once-nothing-runs-after-callback-error"), /answered one call 2 times \(INVALID_ARGUMENT, then OK\)/);
    assert.match(message(server1, "s4.an-unexpected-error-becomes-internal-and-its-message-and-stack-stay-on-the-server"), /leaks the internal error/);
  });

  it("retrying codes a retry cannot fix, and backoff without jitter, fail their checks", () => {
    assert.deepEqual(failing(client1), [
      "s7.adds-jitter-taken-from-its-random-argument",
      "s8.never-retries-invalid-argument-and-rejects-with-the-call-s-error-and-its-details",
      "s8.does-not-retry-other-codes-that-a-retry-cannot-fix",
    ]);
  });

  it("retrying at once fails the checks that time the waits", () => {
    assert.deepEqual(failing(client2), ["s8.waits-the-retryinfo-delay-before-retrying-resource-exhausted", "s8.waits-backoffms-between-unavailable-retries"]);
    // The first retry that came too soon is named: on a loaded machine the first may come late enough by chance.
    assert.match(message(client2, "s8.waits-backoffms-between-unavailable-retries"), /retry \d came \d+ ms after the attempt before it; wait backoffMs/);
  });
});
