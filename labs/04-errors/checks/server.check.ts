/**
 * Lab 04, steps 2 to 5: the learner's Inventory server, called by a
 * reference client over a real connection, with a warehouse whose failures
 * the check controls. The checks assert status codes, trailers and decoded
 * details; of a message they only check that it names the field or item.
 */
import * as grpc from "@grpc/grpc-js";
import { inspect } from "node:util";
import { expectCode, expectEqual, expectNames, expectTrue, serverStreamOutcome, step, unaryOutcome, watchAnswers } from "../../../scripts/check-kit";
import { asRole, detailOf, type Item, learnerServer, listedItems, type Reservation, richStatusOf, scriptedWarehouse } from "./inventory";

const admin = () => asRole("admin");
const product = (item: Partial<Item>) => ({ sku: "LAMP-9", name: "Desk lamp", priceCents: 2450, stock: 0, ...item });
const withoutStock = ({ sku, name, priceCents }: Item) => ({ sku, name, priceCents });

/** The code is for programs; the message is for the developer who reads the log, so it must say something. */
function expectMessage(status: grpc.StatusObject, what: string): void {
  expectTrue(status.details.trim() !== "", `${what} came with an empty message: say what went wrong, and what to fix`);
}

step(2, () => {
  it("GetItem returns a known item with its stock from the warehouse", async () => {
    const { client } = await learnerServer();
    const { response, ...status } = await unaryOutcome<Item>(client, "getItem", { sku: "MUG-RED" });
    expectCode(status, grpc.status.OK, "GetItem(MUG-RED)");
    expectEqual(response, { sku: "MUG-RED", name: "Red mug", priceCents: 1250, stock: 7 }, "GetItem(MUG-RED)");
  });

  it("GetItem answers NOT_FOUND, naming the SKU, for an unknown SKU", async () => {
    const { client } = await learnerServer();
    const status = await unaryOutcome(client, "getItem", { sku: "NOPE-404" });
    expectCode(status, grpc.status.NOT_FOUND, "GetItem(NOPE-404)");
    expectNames(status.details, "NOPE-404", "GetItem(NOPE-404)");
  });

  it("CreateItem adds an item when an admin asks", async () => {
    const { client } = await learnerServer();
    const created = await unaryOutcome<Item>(client, "createItem", { item: product({}) }, admin());
    expectCode(created, grpc.status.OK, "CreateItem(LAMP-9) as admin");
    expectEqual(withoutStock(created.response!), withoutStock(product({})), "the item CreateItem returned");
    const fetched = await unaryOutcome<Item>(client, "getItem", { sku: "LAMP-9" });
    expectCode(fetched, grpc.status.OK, "GetItem(LAMP-9) after creating it");
  });

  it("CreateItem answers INVALID_ARGUMENT, naming the bad fields", async () => {
    const { client } = await learnerServer();
    const badSkuAndName = await unaryOutcome(client, "createItem", { item: product({ sku: "lamp 9", name: "" }) }, admin());
    expectCode(badSkuAndName, grpc.status.INVALID_ARGUMENT, 'CreateItem with sku "lamp 9" and an empty name');
    expectNames(badSkuAndName.details, "sku", 'CreateItem with sku "lamp 9" and an empty name');
    expectNames(badSkuAndName.details, "name", 'CreateItem with sku "lamp 9" and an empty name');
    const badPrice = await unaryOutcome(client, "createItem", { item: product({ priceCents: -5 }) }, admin());
    expectCode(badPrice, grpc.status.INVALID_ARGUMENT, "CreateItem with priceCents -5");
    expectNames(badPrice.details, "price", "CreateItem with priceCents -5");
  });

  it("CreateItem refuses a SKU of 21 characters, and a request without an item, naming the bad fields", async () => {
    const { client } = await learnerServer();
    const longSku = "LAMP-9999999999999999";
    const tooLong = await unaryOutcome(client, "createItem", { item: product({ sku: longSku }) }, admin());
    expectCode(tooLong, grpc.status.INVALID_ARGUMENT, `CreateItem with the 21-character SKU "${longSku}" (3 to 20 allowed)`);
    expectNames(tooLong.details, "sku", `CreateItem with the 21-character SKU "${longSku}"`);
    const empty = await unaryOutcome(client, "createItem", {}, admin());
    expectCode(empty, grpc.status.INVALID_ARGUMENT, "CreateItem without an item (every field missing)");
    for (const field of ["sku", "name", "price"]) expectNames(empty.details, field, "CreateItem without an item (every field missing)");
  });

  it("CreateItem answers ALREADY_EXISTS for a SKU in use, and keeps the existing item", async () => {
    const { client } = await learnerServer();
    const status = await unaryOutcome(client, "createItem", { item: product({ sku: "MUG-RED", name: "Blue mug" }) }, admin());
    expectCode(status, grpc.status.ALREADY_EXISTS, "CreateItem(MUG-RED), a SKU in the catalogue");
    const { response } = await unaryOutcome<Item>(client, "getItem", { sku: "MUG-RED" });
    expectEqual(response?.name, "Red mug", "the name of MUG-RED after a refused CreateItem");
  });

  it("CreateItem answers PERMISSION_DENIED to a caller who is not an admin, before validating", async () => {
    const { client } = await learnerServer();
    const valid = await unaryOutcome(client, "createItem", { item: product({}) }, asRole("viewer"));
    expectCode(valid, grpc.status.PERMISSION_DENIED, "CreateItem with x-role: viewer");
    const invalid = await unaryOutcome(client, "createItem", { item: product({ sku: "" }) }, asRole("viewer"));
    expectCode(invalid, grpc.status.PERMISSION_DENIED, "CreateItem of an invalid item with x-role: viewer (permission comes first)");
    const status = await unaryOutcome(client, "getItem", { sku: "LAMP-9" });
    expectCode(status, grpc.status.NOT_FOUND, "GetItem(LAMP-9) after a refused CreateItem (it must not be stored)");
  });

  it("answers each call once: nothing runs after callback(error)", async () => {
    const answers = await watchAnswers();
    const { client } = await learnerServer();
    const invalid = await unaryOutcome(client, "createItem", { item: product({ sku: "lamp-9" }) }, admin());
    expectCode(invalid, grpc.status.INVALID_ARGUMENT, 'CreateItem with sku "lamp-9"');
    const denied = await unaryOutcome(client, "createItem", { item: product({}) }, asRole("viewer"));
    expectCode(denied, grpc.status.PERMISSION_DENIED, "CreateItem with x-role: viewer");
    const exists = await unaryOutcome(client, "createItem", { item: product({ sku: "CUP-07" }) }, admin());
    expectCode(exists, grpc.status.ALREADY_EXISTS, "CreateItem(CUP-07)");
    const missing = await unaryOutcome(client, "reserveStock", { sku: "NOPE-404", quantity: 1 });
    expectCode(missing, grpc.status.NOT_FOUND, "ReserveStock(NOPE-404)");
    await answers.expectAnsweredOnce();
    const status = await unaryOutcome(client, "getItem", { sku: "lamp-9" });
    expectCode(status, grpc.status.NOT_FOUND, 'GetItem("lamp-9") after CreateItem refused it (it must not be stored)');
  });

  it("gives every refusal a message", async () => {
    const { client } = await learnerServer();
    const refusals: Array<[string, grpc.status, () => Promise<grpc.StatusObject>]> = [
      ['CreateItem with sku "lamp-9"', grpc.status.INVALID_ARGUMENT, () => unaryOutcome(client, "createItem", { item: product({ sku: "lamp-9" }) }, admin())],
      ["CreateItem with x-role: viewer", grpc.status.PERMISSION_DENIED, () => unaryOutcome(client, "createItem", { item: product({}) }, asRole("viewer"))],
      ["CreateItem(CUP-07)", grpc.status.ALREADY_EXISTS, () => unaryOutcome(client, "createItem", { item: product({ sku: "CUP-07" }) }, admin())],
      ["ReserveStock(CUP-07, 4) with 3 in stock", grpc.status.FAILED_PRECONDITION, () => unaryOutcome(client, "reserveStock", { sku: "CUP-07", quantity: 4 })],
      ["ReserveStock(MUG-RED, 0)", grpc.status.INVALID_ARGUMENT, () => unaryOutcome(client, "reserveStock", { sku: "MUG-RED", quantity: 0 })],
    ];
    // Each call is checked as soon as it ends: a handler that never answers fails here after one deadline, not five.
    for (const [what, code, call] of refusals) {
      const status = await call();
      expectCode(status, code, what);
      expectMessage(status, what);
    }
  });

  it("ReserveStock takes stock and answers with what remains", async () => {
    const { client } = await learnerServer();
    const { response, ...status } = await unaryOutcome<Reservation>(client, "reserveStock", { sku: "MUG-RED", quantity: 2 });
    expectCode(status, grpc.status.OK, "ReserveStock(MUG-RED, 2) with 7 in stock");
    expectEqual(response, { sku: "MUG-RED", quantity: 2, remaining: 5 }, "ReserveStock(MUG-RED, 2) with 7 in stock");
  });

  it("ReserveStock answers FAILED_PRECONDITION when there is not enough stock", async () => {
    const { client } = await learnerServer();
    const status = await unaryOutcome(client, "reserveStock", { sku: "CUP-07", quantity: 4 });
    expectCode(status, grpc.status.FAILED_PRECONDITION, "ReserveStock(CUP-07, 4) with 3 in stock");
  });

  it("ReserveStock answers INVALID_ARGUMENT for a quantity that is not positive, and NOT_FOUND for an unknown SKU", async () => {
    const { client } = await learnerServer();
    const zero = await unaryOutcome(client, "reserveStock", { sku: "MUG-RED", quantity: 0 });
    expectCode(zero, grpc.status.INVALID_ARGUMENT, "ReserveStock(MUG-RED, 0)");
    expectNames(zero.details, "quantity", "ReserveStock(MUG-RED, 0)");
    const negative = await unaryOutcome(client, "reserveStock", { sku: "MUG-RED", quantity: -2 });
    expectCode(negative, grpc.status.INVALID_ARGUMENT, "ReserveStock(MUG-RED, -2)");
    const unknown = await unaryOutcome(client, "reserveStock", { sku: "NOPE-404", quantity: 1 });
    expectCode(unknown, grpc.status.NOT_FOUND, "ReserveStock(NOPE-404, 1)");
    const { response } = await unaryOutcome<Item>(client, "getItem", { sku: "MUG-RED" });
    expectEqual(response?.stock, 7, "the stock of MUG-RED (7) after ReserveStock refused the quantities 0 and -2: a refused call must change nothing, so check the quantity before taking stock");
  });
});

step(3, () => {
  it("GetItem and ReserveStock answer UNAVAILABLE while the warehouse is down", async () => {
    const warehouse = await scriptedWarehouse();
    await warehouse.failFromCall(1);
    const { client } = await learnerServer({ warehouse });
    for (const [what, call] of [
      ["GetItem(MUG-RED) while the warehouse is unavailable", () => unaryOutcome(client, "getItem", { sku: "MUG-RED" })],
      ["ReserveStock(MUG-RED, 1) while the warehouse is unavailable", () => unaryOutcome(client, "reserveStock", { sku: "MUG-RED", quantity: 1 })],
    ] as const) {
      const status = await call();
      expectCode(status, grpc.status.UNAVAILABLE, what);
      expectMessage(status, what);
    }
  });

  it("ListItems streams every item in SKU order, with its stock", async () => {
    const { client } = await learnerServer();
    const { messages, ...status } = await serverStreamOutcome<Item>(client, "listItems", {});
    expectCode(status, grpc.status.OK, "ListItems");
    expectEqual(messages, listedItems, "the items ListItems streamed");
  });

  it("ListItems sends the items it could, then fails with UNAVAILABLE when the warehouse goes down", async () => {
    const warehouse = await scriptedWarehouse();
    await warehouse.failFromCall(3);
    const { client } = await learnerServer({ warehouse });
    const { messages, ...status } = await serverStreamOutcome<Item>(client, "listItems", {});
    expectEqual(messages, listedItems.slice(0, 2), "the items ListItems streamed before the warehouse failed on its third call");
    expectCode(status, grpc.status.UNAVAILABLE, "ListItems when the warehouse fails on its third call");
  });

  it("ReserveStock answers RESOURCE_EXHAUSTED past the rate limit", async () => {
    const { client } = await learnerServer({ rateLimit: { limit: 2, windowMs: 60000 } });
    for (const n of [1, 2]) {
      expectCode((await unaryOutcome(client, "reserveStock", { sku: "TEA-EARL", quantity: 1 })), grpc.status.OK, `ReserveStock call ${n} of a limit of 2 a minute`);
    }
    const third = await unaryOutcome(client, "reserveStock", { sku: "TEA-EARL", quantity: 1 });
    expectCode(third, grpc.status.RESOURCE_EXHAUSTED, "ReserveStock call 3 with a limit of 2 a minute");
    expectMessage(third, "ReserveStock call 3 with a limit of 2 a minute");
  });
});

step(4, () => {
  // What an unexpected error may carry: internal names, addresses, credentials.
  const secret = "db-7.internal:5432 password authentication failed for inventory_admin";
  const bug = { typeError: `connect ${secret}` };

  /** Fails if the secret or a stack trace reached the client in the message or any trailer. */
  function expectNoLeak(status: grpc.StatusObject, what: string): void {
    const trailers = Object.entries(status.metadata.getMap()).map(([key, value]) => `${key}: ${Buffer.isBuffer(value) ? value.toString("latin1") : value}`);
    for (const [where, text] of [["status message", status.details], ...trailers.map((t) => ["trailer", t])] as Array<[string, string]>) {
      expectTrue(!text.includes("db-7.internal") && !text.includes("password"), `${what}: the ${where} leaks the internal error to the client: "${text.slice(0, 120)}"`);
      expectTrue(!/\bat .+:\d+:\d+/.test(text), `${what}: the ${where} leaks a stack trace to the client`);
    }
  }

  it("an unexpected error becomes INTERNAL, and its message and stack stay on the server", async () => {
    const warehouse = await scriptedWarehouse();
    await warehouse.failFromCall(1, bug);
    const { client } = await learnerServer({ warehouse });
    const status = await unaryOutcome(client, "getItem", { sku: "MUG-RED" });
    expectCode(status, grpc.status.INTERNAL, "GetItem(MUG-RED) when the warehouse throws a TypeError");
    expectNoLeak(status, "GetItem(MUG-RED) when the warehouse throws a TypeError");
    expectMessage(status, "GetItem(MUG-RED) when the warehouse throws a TypeError");
  });

  it("logs the real error with an id, and sends the id in the x-error-id trailer", async () => {
    const warehouse = await scriptedWarehouse();
    await warehouse.failFromCall(1, bug);
    const { client, logged } = await learnerServer({ warehouse });
    const status = await unaryOutcome(client, "reserveStock", { sku: "MUG-RED", quantity: 1 });
    expectCode(status, grpc.status.INTERNAL, "ReserveStock(MUG-RED, 1) when the warehouse throws a TypeError");
    const [errorId] = status.metadata.get("x-error-id");
    expectTrue(typeof errorId === "string" && errorId.length > 0, "the INTERNAL answer has no x-error-id trailer: send an id the caller can quote");
    const log = (await logged()).map((args) => args.map((arg) => (typeof arg === "string" ? arg : inspect(arg))).join(" "));
    expectTrue(log.some((line) => line.includes(secret)), `logger.error was not given the real error (logged: ${JSON.stringify(log).slice(0, 160)})`);
    expectTrue(log.some((line) => line.includes(secret) && line.includes(errorId as string)), `the logged error does not carry the id ${errorId} sent in x-error-id: log both together so the one finds the other`);
  });

  it("a stream that hits an unexpected error ends with INTERNAL, without the error's message", async () => {
    const warehouse = await scriptedWarehouse();
    await warehouse.failFromCall(2, bug);
    const { client } = await learnerServer({ warehouse });
    const { messages, ...status } = await serverStreamOutcome<Item>(client, "listItems", {});
    expectEqual(messages.length, 1, "number of items ListItems streamed before the warehouse threw on its second call");
    expectCode(status, grpc.status.INTERNAL, "ListItems when the warehouse throws a TypeError on its second call");
    expectNoLeak(status, "ListItems when the warehouse throws a TypeError");
  });
});

step(5, () => {
  interface BadRequest {
    fieldViolations: Array<{ field: string; description: string }>;
  }
  interface ErrorInfo {
    reason: string;
    domain: string;
    metadata: Record<string, string>;
  }
  interface RetryInfo {
    retryDelay: { seconds: string; nanos: number } | null;
  }
  // A field path may be written as in the .proto (price_cents) or as in JSON (priceCents).
  const protoPath = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

  it("INVALID_ARGUMENT carries a google.rpc.BadRequest with one violation per bad field", async () => {
    const { client } = await learnerServer();
    const what = 'CreateItem with sku "lamp 9", an empty name and priceCents 0';
    const status = await unaryOutcome(client, "createItem", { item: product({ sku: "lamp 9", name: "", priceCents: 0 }) }, admin());
    expectCode(status, grpc.status.INVALID_ARGUMENT, what);
    const badRequest = detailOf<BadRequest>(richStatusOf(status, what), "google.rpc.BadRequest", what);
    expectEqual(badRequest.fieldViolations.map((v) => protoPath(v.field)).sort(), ["item.name", "item.price_cents", "item.sku"], `${what}: the fields of the BadRequest violations`);
    expectTrue(badRequest.fieldViolations.every((v) => v.description.length > 0), `${what}: every field violation needs a description`);
  });

  it("ReserveStock's INVALID_ARGUMENT names the quantity field in a BadRequest", async () => {
    const { client } = await learnerServer();
    const what = "ReserveStock(MUG-RED, -1)";
    const status = await unaryOutcome(client, "reserveStock", { sku: "MUG-RED", quantity: -1 });
    expectCode(status, grpc.status.INVALID_ARGUMENT, what);
    const badRequest = detailOf<BadRequest>(richStatusOf(status, what), "google.rpc.BadRequest", what);
    expectEqual(badRequest.fieldViolations.map((v) => v.field), ["quantity"], `${what}: the fields of the BadRequest violations`);
    expectTrue(badRequest.fieldViolations.every((v) => v.description.length > 0), `${what}: every field violation needs a description`);
  });

  it("FAILED_PRECONDITION carries a google.rpc.ErrorInfo with reason OUT_OF_STOCK and the numbers", async () => {
    const { client } = await learnerServer();
    const what = "ReserveStock(CUP-07, 5) with 3 in stock";
    const status = await unaryOutcome(client, "reserveStock", { sku: "CUP-07", quantity: 5 });
    expectCode(status, grpc.status.FAILED_PRECONDITION, what);
    const info = detailOf<ErrorInfo>(richStatusOf(status, what), "google.rpc.ErrorInfo", what);
    expectEqual(info.reason, "OUT_OF_STOCK", `${what}: ErrorInfo.reason`);
    expectTrue(info.domain.length > 0, `${what}: ErrorInfo.domain is empty: name the service that defines the reason`);
    const { sku, available, requested } = info.metadata;
    expectEqual({ sku, available, requested }, { sku: "CUP-07", available: "3", requested: "5" }, `${what}: ErrorInfo.metadata`);
  });

  it("RESOURCE_EXHAUSTED carries a google.rpc.RetryInfo with the time left in the window", async () => {
    const windowMs = 60000;
    const { client } = await learnerServer({ rateLimit: { limit: 1, windowMs } });
    const before = Date.now();
    const first = await unaryOutcome(client, "reserveStock", { sku: "TEA-EARL", quantity: 1 });
    // A first call that gets no answer says all there is to say: do not wait out a second deadline.
    if (first.code === grpc.status.DEADLINE_EXCEEDED) expectCode(first, grpc.status.OK, "ReserveStock call 1 of a limit of 1 a minute");
    const what = "ReserveStock past a limit of 1 a minute";
    const status = await unaryOutcome(client, "reserveStock", { sku: "TEA-EARL", quantity: 1 });
    expectCode(status, grpc.status.RESOURCE_EXHAUSTED, what);
    const { retryDelay } = detailOf<RetryInfo>(richStatusOf(status, what), "google.rpc.RetryInfo", what);
    const delayMs = Number(retryDelay?.seconds ?? 0) * 1000 + (retryDelay?.nanos ?? 0) / 1e6;
    // The window began after `before`: at least this much of it is left (less a few ms of clock rounding).
    const least = windowMs - (Date.now() - before) - 5;
    expectTrue(delayMs >= least && delayMs <= windowMs, `${what}: RetryInfo.retryDelay should be the time until the window ends, to the millisecond (from ${least} to ${windowMs} ms), got ${delayMs} ms`);
  });
});
