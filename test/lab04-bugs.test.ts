/**
 * Lab 04's learner-bug corpus: for each "must" and "must not" of the README,
 * a realistic wrong solution, and the checks it must fail (every other check
 * passes). test/trees.ts checks a server bug and a client bug per lab run.
 * More bugs, with their messages, are in test/lab04-faults.test.ts.
 */
import { findLab } from "../scripts/lib/labs";
import { type Bug, checkBugs, removeTrees } from "./trees";

const server = "src/server.ts";
const client = "src/client.ts";

const bugs: Bug[] = [
  // Step 2, a status code for each failure
  {
    rule: "s2: an unknown SKU is NOT_FOUND (an item that is not there read anyway)",
    edits: [{ file: server, from: "    const item = items.get(sku);\n    if (!item) throw new RpcError(grpc.status.NOT_FOUND, `no item with SKU \"${sku}\"`);\n    return item;", to: "    return items.get(sku)!;" }],
    caughtBy: ["s2.getitem-answers-not-found", "s2.reservestock-answers-invalid-argument-for-a-quantity-that-is-not-positive-and-not-found"],
    mayFail: ["s2."],
  },
  {
    rule: "s2: PERMISSION_DENIED before validating the item",
    edits: [
      { file: server, from: '      if (call.metadata.get("x-role")[0] !== "admin") {\n        throw new RpcError(grpc.status.PERMISSION_DENIED, "only admins can create items");\n      }\n', to: "" },
      { file: server, from: "      if (items.has(item.sku)) throw new RpcError(grpc.status.ALREADY_EXISTS", to: '      if (call.metadata.get("x-role")[0] !== "admin") throw new RpcError(grpc.status.PERMISSION_DENIED, "only admins can create items");\n      if (items.has(item.sku)) throw new RpcError(grpc.status.ALREADY_EXISTS' },
    ],
    caughtBy: ["s2.createitem-answers-permission-denied"],
  },
  {
    rule: "s2: every bad field is named (the first one only)",
    edits: [{ file: server, from: "const violation = (field: string, description: string) => violations.push(", to: "const violation = (field: string, description: string) => violations.length === 0 && violations.push(" }],
    caughtBy: ["s2.createitem-answers-invalid-argument-naming-the-bad-fields", "s2.createitem-refuses-a-sku-of-21", "s5.invalid-argument-carries"],
  },
  {
    rule: "s2: a SKU in use is ALREADY_EXISTS and the existing item is unchanged (overwritten)",
    edits: [{ file: server, from: "if (items.has(item.sku)) throw new RpcError(grpc.status.ALREADY_EXISTS, `an item with SKU \"${item.sku}\" already exists`);", to: "" }],
    caughtBy: ["s2.createitem-answers-already-exists", "s2.answers-each-call-once", "s2.gives-every-refusal-a-message"],
  },
  {
    rule: "s2: not enough stock is FAILED_PRECONDITION (RESOURCE_EXHAUSTED)",
    edits: [{ file: server, from: "return new RpcError(grpc.status.FAILED_PRECONDITION,", to: "return new RpcError(grpc.status.RESOURCE_EXHAUSTED," }],
    caughtBy: ["s2.reservestock-answers-failed-precondition", "s2.gives-every-refusal-a-message", "s5.failed-precondition-carries"],
  },
  {
    rule: "s2: a refused quantity changes nothing (the stock taken before the check)",
    edits: [
      { file: server, from: "      if (quantity <= 0) {", to: "      findItem(sku);\n      const remaining = await warehouse.take(sku, quantity);\n      if (quantity <= 0) {" },
      { file: server, from: "      findItem(sku);\n      return { sku, quantity, remaining: await warehouse.take(sku, quantity) };", to: "      return { sku, quantity, remaining };" },
    ],
    caughtBy: ["s2.reservestock-answers-invalid-argument-for-a-quantity"],
  },
  // Step 3, transient failures and a failing stream
  {
    rule: "s3: a warehouse that is down is UNAVAILABLE (taken for a bug: INTERNAL)",
    edits: [{ file: server, from: "    if (error instanceof WarehouseUnavailableError) {", to: "    if (error instanceof WarehouseUnavailableError && false) {" }],
    caughtBy: ["s3.getitem-and-reservestock-answer-unavailable", "s3.listitems-sends-the-items-it-could"],
  },
  {
    rule: "s3: ListItems sends the items it could before the error (stock read for all first)",
    edits: [{ file: server, from: "        for (const item of [...items.values()].sort((a, b) => a.sku.localeCompare(b.sku))) {\n          call.write({ ...item, stock: await warehouse.stock(item.sku) });\n        }", to: "        const sorted = [...items.values()].sort((a, b) => a.sku.localeCompare(b.sku));\n        const stocks = await Promise.all(sorted.map((item) => warehouse.stock(item.sku)));\n        sorted.forEach((item, i) => call.write({ ...item, stock: stocks[i]! }));" }],
    caughtBy: ["s3.listitems-sends-the-items-it-could"],
    mayFail: ["s4.a-stream-that-hits"],
  },
  {
    rule: "s3: ListItems is in SKU order",
    edits: [{ file: server, from: "[...items.values()].sort((a, b) => a.sku.localeCompare(b.sku))", to: "[...items.values()]" }],
    caughtBy: ["s3.listitems-streams-every-item-in-sku-order"],
    mayFail: ["s3.listitems-sends", "s4.a-stream-that-hits"],
  },
  {
    rule: "s3: past the rate limit, RESOURCE_EXHAUSTED (no limit)",
    edits: [{ file: server, from: "      const waitMs = takeFromQuota();", to: "      const waitMs = 0 * takeFromQuota();" }],
    caughtBy: ["s3.reservestock-answers-resource-exhausted", "s5.resource-exhausted-carries"],
  },
  // Step 4, never leak internals
  {
    rule: "s4: the id of the log line goes in the x-error-id trailer",
    edits: [{ file: server, from: '    internal.metadata.set("x-error-id", errorId);\n', to: "" }],
    caughtBy: ["s4.logs-the-real-error-with-an-id"],
  },
  {
    rule: "s4: the real error is logged",
    edits: [{ file: server, from: "    logger.error(`internal error ${errorId}:`, error);", to: "    logger.error(`internal error ${errorId}`);" }],
    caughtBy: ["s4.logs-the-real-error-with-an-id"],
  },
  // Step 5, rich error details
  {
    rule: "s5: a detail's type URL is type.googleapis.com/<full name>",
    edits: [{ file: server, from: "typeUrl: `type.googleapis.com/${typeName}`", to: "typeUrl: typeName" }],
    caughtBy: ["s5.invalid-argument-carries", "s5.reservestock-s-invalid-argument", "s5.failed-precondition-carries", "s5.resource-exhausted-carries"],
  },
  {
    rule: "s5: RetryInfo carries the time left to the millisecond (whole seconds)",
    edits: [{ file: server, from: "nanos: (waitMs % 1000) * 1e6 }", to: "nanos: 0 }" }],
    caughtBy: ["s5.resource-exhausted-carries"],
  },
  {
    rule: "s5: the Status in the trailer repeats the call's code and message",
    edits: [{ file: server, from: "Status.encode({ code, message: details, details: richDetails })", to: 'Status.encode({ code, message: "", details: richDetails })' }],
    caughtBy: ["s5."],
  },
  {
    rule: "s2: each failure has a message that says what to fix (an empty one)",
    edits: [{ file: server, from: 'throw new RpcError(grpc.status.PERMISSION_DENIED, "only admins can create items");', to: 'throw new RpcError(grpc.status.PERMISSION_DENIED, "");' }],
    caughtBy: ["s2.gives-every-refusal-a-message"],
  },
  // Steps 6 to 8, the client
  {
    rule: "s6: a detail type the client does not know is skipped (it throws)",
    edits: [{ file: client, from: "        break;\n      }\n    }\n  }\n  return result;", to: "        break;\n      }\n      default:\n        throw new Error(`unknown detail ${detail.typeUrl}`);\n    }\n  }\n  return result;" }],
    caughtBy: ["s6.returns-no-details-for-an-error-without-them-and-skips"],
  },
  {
    rule: "s6: a RetryInfo without a retry_delay is no delay (it throws)",
    edits: [{ file: client, from: "if (delay) result.retryDelayMs", to: "result.retryDelayMs" }, { file: client, from: "Number(delay.seconds) * 1000 + delay.nanos / 1e6", to: "Number(delay!.seconds) * 1000 + delay!.nanos / 1e6" }],
    caughtBy: ["s6.decodes-a-google-rpc-errorinfo-and-a-google-rpc-retryinfo"],
  },
  {
    rule: "s6: retryDelayMs counts the nanos too",
    edits: [{ file: client, from: "Number(delay.seconds) * 1000 + delay.nanos / 1e6", to: "Number(delay.seconds) * 1000" }],
    caughtBy: ["s6.decodes-a-google-rpc-errorinfo-and-a-google-rpc-retryinfo"],
    // A RetryInfo of 0.4 s decodes as no wait at all.
    mayFail: ["s8.waits-the-retryinfo-delay"],
  },
  {
    rule: "s7: the ceiling grows exponentially (linearly)",
    edits: [{ file: client, from: "policy.initialBackoffMs * policy.backoffMultiplier ** (retry - 1)", to: "policy.initialBackoffMs * policy.backoffMultiplier * retry" }],
    caughtBy: ["s7.grows-exponentially"],
    mayFail: ["s8.waits-backoffms"],
  },
  {
    rule: "s7: the jitter comes from the random argument (Math.random)",
    edits: [{ file: client, from: "return random() * ceiling;", to: "return Math.random() * ceiling;" }],
    caughtBy: ["s7.adds-jitter"],
    mayFail: ["s7.grows-exponentially"],
  },
  {
    rule: "s8: at most maxAttempts attempts in all (one too many)",
    edits: [{ file: client, from: "const waitMs = attempt < policy.maxAttempts ?", to: "const waitMs = attempt <= policy.maxAttempts ?" }],
    caughtBy: ["s8.stops-after-maxattempts"],
    mayFail: ["s8.waits-backoffms"],
  },
  {
    rule: "s8: RESOURCE_EXHAUSTED waits the RetryInfo delay (backoff instead)",
    edits: [{ file: client, from: "      return errorDetails(error).retryDelayMs;\n", to: "      return backoffMs(attempt, policy);\n" }],
    caughtBy: ["s8.waits-the-retryinfo-delay"],
  },
  {
    rule: "s8: a call that is not retried rejects with its own error (wrapped)",
    edits: [{ file: client, from: "      if (waitMs === undefined) throw error;", to: "      if (waitMs === undefined) throw new Error((error as grpc.ServiceError).details);" }],
    caughtBy: ["s8.never-retries-invalid-argument", "s8.stops-after-maxattempts", "s8.does-not-retry-other-codes"],
    mayFail: ["s8.waits-backoffms"],
  },
];

describe("lab 04's checks catch a bug for each rule of its README", function () {
  this.timeout(120_000);
  after(removeTrees);
  checkBugs(findLab("04"), bugs);
});
