/**
 * Lab 08, step 5: the learner's client interceptors, against a Catalog server
 * the checks write, which records the metadata and the deadline of every
 * call it receives.
 */
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { CheckFailure, expectEqual, expectTrue, referenceServer, step, within } from "../../../scripts/check-kit";
import { catalogService, fullMethod, type Item, learnerClientModule, linesWhen, pause, proto, type ServerLine } from "./catalog";

interface Received {
  method: string;
  /** Every x-request-id value the call carried. */
  requestIds: string[];
  requestId?: string;
  authorization?: string;
  priority?: string;
  /** ms since the epoch, Infinity without a deadline. */
  deadline: number;
}

/** A Catalog server that records each call; GetItem of "missing-*" answers NOT_FOUND and of "hang-*" never answers. */
async function recordingCatalog(): Promise<{ address: string; received: Received[] }> {
  const received: Received[] = [];
  const note = (method: string, call: { metadata: grpc.Metadata; getDeadline(): grpc.Deadline }) => {
    const deadline = call.getDeadline();
    const text = (key: string) => (call.metadata.get(key)[0] === undefined ? undefined : String(call.metadata.get(key)[0]));
    received.push({
      method,
      requestIds: call.metadata.get("x-request-id").map(String),
      requestId: text("x-request-id"),
      authorization: text("authorization"),
      priority: text("x-priority"),
      deadline: deadline instanceof Date ? deadline.getTime() : Number(deadline),
    });
  };
  const item = (sku: string): Item => ({ sku, name: `Item ${sku}`, priceCents: 100 });
  const address = await referenceServer(proto, catalogService, {
    getItem(call: grpc.ServerUnaryCall<{ sku: string }, Item>, callback: grpc.sendUnaryData<Item>) {
      note("GetItem", call);
      const { sku } = call.request;
      if (sku.startsWith("missing-")) return callback({ code: grpc.status.NOT_FOUND, details: "no such item" });
      if (sku.startsWith("hang-")) return;
      callback(null, item(sku));
    },
    listItems(call: grpc.ServerWritableStream<{ count: number }, Item>) {
      note("ListItems", call);
      for (let i = 1; i <= call.request.count; i++) call.write(item(`sku-${i}`));
      call.end();
    },
    addToCart(call: grpc.ServerReadableStream<{ quantity: number }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      note("AddToCart", call);
      let lines = 0;
      let totalQuantity = 0;
      call.on("data", (line: { quantity: number }) => {
        lines++;
        totalQuantity += line.quantity;
      });
      call.on("end", () => callback(null, { lines, totalQuantity }));
    },
    priceWatch(call: grpc.ServerDuplexStream<{ sku: string }, Item>) {
      note("PriceWatch", call);
      call.on("data", ({ sku }: { sku: string }) => call.write(item(sku)));
      call.on("end", () => call.end());
    },
  });
  return { address, received };
}

/** The learner's client (with a bearer token, if given) against a recording server, with the log lines it writes. */
async function learnerClient(defaultDeadlineMs: number, token?: string) {
  const learner = await learnerClientModule();
  const server = await recordingCatalog();
  const lines: unknown[] = [];
  const client = await learner.createCatalogClient(server.address, { log: (line) => void lines.push(line), defaultDeadlineMs, ...(token === undefined ? {} : { token }) });
  return { learner, client, lines, ...server };
}

async function settle<T>(work: Promise<T>, what: string): Promise<T> {
  return within(work, 2500, what);
}

const uuidish = (value: string | undefined) => typeof value === "string" && value.length >= 8;

step(5, () => {
  it("sends an x-request-id on every call, streams included, a different one each time", async () => {
    const { learner, client, received } = await learnerClient(2000);
    const answers = {
      getItem: (await settle(learner.getItem(client, "apple", 2000), "getItem()")).sku,
      listItems: (await settle(learner.listItems(client, 2), "listItems()")).map((item) => item.sku),
      addToCart: await settle(learner.addToCart(client, [{ sku: "a", quantity: 1 }]), "addToCart()"),
      priceWatch: (await settle(learner.priceWatch(client, ["a", "b"]), "priceWatch()")).map((item) => item.sku),
    };
    await settle(learner.getItem(client, "pear", 2000), "getItem()");
    expectEqual(received.map((r) => r.method), ["GetItem", "ListItems", "AddToCart", "PriceWatch", "GetItem"], "the calls the server received");
    expectEqual(answers, { getItem: "apple", listItems: ["sku-1", "sku-2"], addToCart: { lines: 1, totalQuantity: 1 }, priceWatch: ["a", "b"] }, "what the given getItem(), listItems(), addToCart() and priceWatch() resolved with (restore them from the starter)");
    const missing = received.filter((r) => !uuidish(r.requestId)).map((r) => r.method);
    expectEqual(missing, [], "the calls that arrived without an x-request-id (of at least 8 characters)");
    const ids = received.map((r) => r.requestId);
    expectEqual(new Set(ids).size, ids.length, `distinct request ids among the ${ids.length} calls (got ${JSON.stringify(ids)})`);
    expectEqual(received.filter((r) => r.authorization !== undefined).length, 0, "calls with an authorization header from a client created without a token");
  });

  it("gives each call without a deadline the default deadline from its own start, and keeps a caller's own, shorter or longer", async () => {
    const { learner, client, received } = await learnerClient(1500);
    /** Makes a call and returns the deadline the server received, with the times (Date.now()) just before and after the call. */
    const deadlineOf = async (call: () => Promise<unknown>, what: string) => {
      const index = received.length;
      const before = Date.now();
      await settle(call(), what);
      const after = Date.now();
      const arrived = received[index];
      if (!arrived) throw new CheckFailure(`${what} made no call`);
      // It travels as a timeout from when the call is sent: the server's deadline is that timeout after a moment between before and after.
      const deadline = arrived.deadline;
      return { deadline, from: deadline - before, near: (ms: number) => Number.isFinite(deadline) && deadline >= before + ms - 50 && deadline <= after + ms + 800 };
    };
    const first = await deadlineOf(() => learner.listItems(client, 1), "listItems()");
    expectTrue(Number.isFinite(first.deadline), "ListItems, which its caller made without a deadline, reached the server with none: give such calls defaultDeadlineMs (1500)");
    expectTrue(first.near(1500), `ListItems reached the server with a deadline ${first.from} ms after the call: expected about defaultDeadlineMs (1500)`);
    await pause(400);
    const later = await deadlineOf(() => learner.listItems(client, 1), "listItems()");
    expectTrue(later.near(1500), `a second ListItems, made 400 ms after the first, reached the server with a deadline ${later.from} ms after it: compute the default deadline (Date.now() + defaultDeadlineMs) in the interceptor, for each call, not once per client`);
    const shorter = await deadlineOf(() => learner.getItem(client, "apple", 600), "getItem(client, sku, 600)");
    expectTrue(shorter.near(600), `GetItem whose caller set a 600 ms deadline reached the server with a deadline ${shorter.from} ms after the call: a caller's own deadline stands (the default is only for calls without one)`);
    const longer = await deadlineOf(() => learner.getItem(client, "apple", 3000), "getItem(client, sku, 3000)");
    expectTrue(longer.near(3000), `GetItem whose caller set a 3000 ms deadline reached the server with a deadline ${longer.from} ms after the call: a caller's own deadline stands even when it is longer than the default (do not cap it)`);
  });

  it("logs one JSON line per call with the method, the code it ended with, and the request id it sent", async () => {
    const { learner, client, received, lines } = await learnerClient(2000);
    await settle(learner.getItem(client, "apple"), "getItem()");
    await settle(learner.getItem(client, "missing-3").then(() => undefined, () => undefined), "getItem() of an unknown item");
    await settle(learner.listItems(client, 2), "listItems()");
    const begin = performance.now();
    await settle(learner.getItem(client, "hang-1", 150).then(() => undefined, () => undefined), "getItem() of an item the server never answers, deadline 150 ms");
    const took = performance.now() - begin;
    const parsed = await linesWhen(lines, (l) => l.length >= 4, { who: "the client's" });
    const keys = (line: ServerLine) => ({ method: line.method, code: line.code, requestId: line.requestId });
    expectEqual(
      parsed.map(keys),
      [
        { method: fullMethod("GetItem"), code: "OK", requestId: received[0]?.requestId },
        { method: fullMethod("GetItem"), code: "NOT_FOUND", requestId: received[1]?.requestId },
        { method: fullMethod("ListItems"), code: "OK", requestId: received[2]?.requestId },
        { method: fullMethod("GetItem"), code: "DEADLINE_EXCEEDED", requestId: received[3]?.requestId },
      ],
      "the client's log lines (method, code, requestId) for an OK GetItem, a NOT_FOUND one, a ListItems and a GetItem past its deadline",
    );
    const duration = parsed[3]!.durationMs;
    expectTrue(
      typeof duration === "number" && duration >= 120 && duration <= took + 5,
      `the GetItem that ran out of its 150 ms deadline was logged with "durationMs": ${JSON.stringify(duration)}, and took ${Math.round(took)} ms as the checks measured it: log the milliseconds from the call's start to its status`,
    );
  });

  it("keeps the client's interceptors on a call with a per-call interceptor (getItemUrgent)", async () => {
    const { learner, client, received, lines } = await learnerClient(1500);
    const before = Date.now();
    const item = await settle(learner.getItemUrgent(client, "apple"), "getItemUrgent()");
    expectEqual(item.sku, "apple", 'the sku of the item getItemUrgent(client, "apple") resolved with');
    const call = received[0];
    if (!call) throw new CheckFailure("getItemUrgent() made no call");
    expectEqual(call.priority, "urgent", "the x-priority header of getItemUrgent's call");
    expectTrue(uuidish(call.requestId), "getItemUrgent's call arrived without an x-request-id: call options' interceptors replace the client's, so pass the client's along with yours");
    expectTrue(Number.isFinite(call.deadline), "getItemUrgent's call arrived without the default deadline: call options' interceptors replace the client's, so pass the client's along with yours");
    expectTrue(call.deadline <= Date.now() + 1500 + 800 && call.deadline >= before + 1500 - 50, `getItemUrgent's call arrived with a deadline ${call.deadline - before} ms after the call: give it the default deadline, defaultDeadlineMs (1500) from the call's start`);
    const parsed = await linesWhen(lines, (l) => l.length >= 1, { who: "the client's" });
    expectEqual(parsed.map((line) => line.requestId), [call.requestId], "the request ids in the client's log after getItemUrgent");
  });

  it("keeps an x-request-id its caller set, and sends the bearer token the client was given", async () => {
    const token = `tok-${randomUUID()}`;
    const { learner, client, received, lines } = await learnerClient(2000, token);
    const metadata = new grpc.Metadata();
    metadata.set("x-request-id", "caller-req-42");
    const own = new Promise((resolve, reject) =>
      (client as unknown as Record<string, (...args: unknown[]) => void>).getItem!({ sku: "apple" }, metadata, { deadline: Date.now() + 2000 }, (error: unknown, answer: unknown) => (error ? reject(error) : resolve(answer))),
    );
    await settle(own, "GetItem with the caller's own x-request-id");
    await settle(learner.getItem(client, "pear", 2000), "getItem()");
    expectEqual(received.map((r) => r.requestIds), [["caller-req-42"], received[1]?.requestIds ?? []], "the x-request-id values of a GetItem whose caller set caller-req-42, and of the next GetItem (keep the caller's own; add one only when there is none)");
    expectTrue(uuidish(received[1]?.requestId) && received[1]?.requestId !== "caller-req-42", `the GetItem after it arrived with x-request-id ${JSON.stringify(received[1]?.requestId)}: a new id for each call whose caller set none`);
    const parsed = await linesWhen(lines, (l) => l.length >= 2, { who: "the client's" });
    expectEqual(parsed.map((line) => line.requestId), ["caller-req-42", received[1]?.requestId], "the request ids in the client's log lines (the ones the calls sent)");
    expectEqual(received.map((r) => r.authorization), [`Bearer ${token}`, `Bearer ${token}`], "the authorization header of the calls of a client created with a token (the given bearer interceptor)");
  });
});
