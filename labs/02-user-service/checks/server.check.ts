/**
 * Lab 02, steps 2 to 7: the learner's server, called by a reference client
 * over a real connection. Each check starts the server on a fresh store from
 * src/store.ts and reads that store directly (where it lives, beside the
 * server) to see what a call changed.
 */
import * as grpc from "@grpc/grpc-js";
import {
  bidiStreamCall,
  CheckFailure,
  clientStreamCall,
  connected,
  expectCallError,
  expectEqual,
  expectNames,
  expectTrue,
  readStream,
  rpcDeadlineMs,
  step,
  unaryCall,
  unaryOutcome,
} from "../../../scripts/check-kit";
import { eventually, learnerServer, millis, people, slowDown, type Store, type UserFields, type WireChange, type WireCommandResult, type WirePage, type WireUser } from "./user-service";

const ada: UserFields = { name: "Ada Lovelace", email: "ada@example.com", roles: ["admin", "dev"] };
const bob: UserFields = { name: "Bob", email: "bob@example.com", roles: [] };

const fieldsOf = (user: { name: string; email: string; roles: string[] }): UserFields => ({ name: user.name, email: user.email, roles: user.roles });

async function expectStoreSize(store: Store, size: number, what: string): Promise<void> {
  expectEqual(await store.size, size, `number of users in the store ${what}`);
}

/**
 * Resolves with `call`'s outcome; fails once the call has not answered and the store has not grown for
 * a second: a server that is slow (a busy machine) keeps creating, one that is stuck does not.
 */
async function whileStoreGrows<T>(store: Store, call: Promise<T>, what: string, stallMs = 1000): Promise<T> {
  let answered = false;
  const outcome = call.finally(() => (answered = true));
  outcome.catch(() => undefined);
  let size = await store.size;
  let grewAt = Date.now();
  while (!answered) {
    await Promise.race([outcome.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 100))]);
    if (answered) break;
    const now = await store.size;
    if (now !== size) [size, grewAt] = [now, Date.now()];
    else if (Date.now() - grewAt >= stallMs) throw new CheckFailure(`${what}: no answer, and no user created for ${stallMs / 1000} s (${size} in the store): create each entry as it arrives, and answer once the client's stream ends (call.on("end"))`);
  }
  return outcome;
}

step(2, () => {
  it("creates a user with a server-chosen id and timestamps, and GetUser returns it", async () => {
    const { client } = await learnerServer();
    const before = Date.now();
    const created = await unaryCall<WireUser>(client, "createUser", ada);
    expectTrue(created.id !== "", "CreateUser returned a user with an empty id: the store chooses one");
    expectEqual(fieldsOf(created), ada, "name, email and roles of the user CreateUser returned");
    const createMs = millis(created.createTime);
    expectTrue(createMs >= before - 1000 && createMs <= Date.now() + 1000, `create_time: expected about now, got ${JSON.stringify(created.createTime)}`);
    expectEqual(created.updateTime, created.createTime, "update_time of a new user (the same as create_time)");
    expectEqual(await unaryCall<WireUser>(client, "getUser", { id: created.id }), created, "GetUser of the user just created");
  });

  it("gives each user its own id", async () => {
    const { client } = await learnerServer();
    const ids = new Set<string>();
    for (const fields of people(3)) ids.add((await unaryCall<WireUser>(client, "createUser", fields)).id);
    expectEqual(ids.size, 3, "distinct ids for 3 users");
  });

  it("rejects an empty name with INVALID_ARGUMENT naming name, and stores nothing", async () => {
    const { client, store } = await learnerServer();
    for (const name of ["", "   "]) {
      const details = await expectCallError(client, "createUser", { ...ada, name }, grpc.status.INVALID_ARGUMENT, `CreateUser with name ${JSON.stringify(name)}`);
      expectNames(details, "name", `CreateUser with name ${JSON.stringify(name)}`);
    }
    await expectStoreSize(store, 0, "after CreateUser calls with an empty name");
  });

  it("rejects a malformed email or an empty role with INVALID_ARGUMENT naming the field, and stores nothing", async () => {
    const { client, store } = await learnerServer();
    for (const email of ["", "not-an-email", "ada@", "@example.com", "ada lovelace@example.com", "ada@example.com extra"]) {
      const details = await expectCallError(client, "createUser", { ...ada, email }, grpc.status.INVALID_ARGUMENT, `CreateUser with email ${JSON.stringify(email)}`);
      expectNames(details, "email", `CreateUser with email ${JSON.stringify(email)}`);
    }
    const details = await expectCallError(client, "createUser", { ...ada, roles: ["admin", ""] }, grpc.status.INVALID_ARGUMENT, 'CreateUser with roles ["admin", ""]');
    expectNames(details, "role", 'CreateUser with roles ["admin", ""]');
    await expectStoreSize(store, 0, "after CreateUser calls with bad fields");
  });

  it("rejects a taken email, in any case, with ALREADY_EXISTS naming email", async () => {
    const { client, store } = await learnerServer([ada]);
    for (const email of [ada.email, ada.email.toUpperCase()]) {
      const details = await expectCallError(client, "createUser", { ...bob, email }, grpc.status.ALREADY_EXISTS, `CreateUser with the taken email ${email}`);
      expectNames(details, "email", `CreateUser with the taken email ${email}`);
    }
    await expectStoreSize(store, 1, "after CreateUser calls with a taken email");
  });

  it("answers GetUser with NOT_FOUND for an unknown id, and INVALID_ARGUMENT naming id for an empty one", async () => {
    const { client } = await learnerServer([ada]);
    await expectCallError(client, "getUser", { id: "no-such-user" }, grpc.status.NOT_FOUND, 'GetUser("no-such-user")');
    expectNames(await expectCallError(client, "getUser", { id: "" }, grpc.status.INVALID_ARGUMENT, 'GetUser("")'), "id", 'GetUser("")');
  });

  it("lets exactly one of 20 concurrent CreateUser calls with the same email succeed", async () => {
    const { client, store } = await learnerServer();
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => unaryOutcome(client, "createUser", { ...bob, name: `Bob ${i}` })));
    expectEqual(outcomes.filter((o) => o.code === grpc.status.OK).length, 1, "successful calls among 20 concurrent CreateUser calls with one email");
    const others = [...new Set(outcomes.filter((o) => o.code !== grpc.status.OK).map((o) => grpc.status[o.code]))];
    expectEqual(others, ["ALREADY_EXISTS"], "the codes of the other 19 calls");
    await expectStoreSize(store, 1, "after 20 concurrent CreateUser calls with one email");
  });
});

step(3, () => {
  const update = (client: grpc.Client, user: Partial<WireUser>, paths: string[]) => unaryCall<WireUser>(client, "updateUser", { user, updateMask: { paths } });

  it("changes only the fields named in the update mask, and the update time", async () => {
    const { client, store, seeded } = await learnerServer([ada]);
    const original = seeded[0]!;
    // The unnamed fields hold values that would be invalid: they must be ignored.
    const updated = await update(client, { id: original.id, name: "Ada King", email: "", roles: [] }, ["name"]);
    expectEqual(fieldsOf(updated), { ...ada, name: "Ada King" }, "the user UpdateUser returned for update_mask [name]");
    expectEqual(fieldsOf(await store.get(original.id)), { ...ada, name: "Ada King" }, "the stored user after update_mask [name]");
    expectEqual(millis(updated.createTime), original.createTime?.getTime(), "create_time after an update (unchanged)");
    expectTrue(millis(updated.updateTime) >= millis(updated.createTime), `update_time after an update: expected no earlier than create_time, got ${JSON.stringify(updated.updateTime)}`);
  });

  it("sets every field named, including an empty roles list", async () => {
    const { client, store, seeded } = await learnerServer([ada]);
    const id = seeded[0]!.id;
    await update(client, { id, name: "Not in the mask", email: "ada.king@example.com", roles: [] }, ["email", "roles"]);
    expectEqual(fieldsOf(await store.get(id)), { name: ada.name, email: "ada.king@example.com", roles: [] }, "the stored user after update_mask [email, roles]");
  });

  it("rejects an empty mask, or one naming a field that cannot be updated, with INVALID_ARGUMENT, and changes nothing", async () => {
    const { client, store, seeded } = await learnerServer([ada]);
    const id = seeded[0]!.id;
    for (const paths of [[], ["nickname"], ["name", "nickname"], ["id"], ["create_time"]]) {
      const what = `UpdateUser with update_mask ${JSON.stringify(paths)}`;
      const details = await expectCallError(client, "updateUser", { user: { id, name: "Changed" }, updateMask: { paths } }, grpc.status.INVALID_ARGUMENT, what);
      // Naming the mask or the path at fault both tell the client what to fix.
      if (!details.includes(paths.find((p) => p !== "name") ?? "update_mask")) expectNames(details, "update_mask", what);
    }
    expectEqual(fieldsOf(await store.get(id)), ada, "the stored user after rejected updates");
  });

  it("checks the fields it changes: empty name, malformed email, taken email", async () => {
    const { client, store, seeded } = await learnerServer([ada, bob]);
    const id = seeded[0]!.id;
    const cases: Array<[Partial<WireUser>, string, grpc.status, string]> = [
      [{ name: " " }, "name", grpc.status.INVALID_ARGUMENT, "name"],
      [{ email: "not-an-email" }, "email", grpc.status.INVALID_ARGUMENT, "email"],
      [{ email: bob.email }, "email", grpc.status.ALREADY_EXISTS, "email"],
      [{ roles: [""] }, "roles", grpc.status.INVALID_ARGUMENT, "role"],
    ];
    for (const [fields, path, code, field] of cases) {
      const what = `UpdateUser of ${path} to ${JSON.stringify(Object.values(fields)[0])}`;
      expectNames(await expectCallError(client, "updateUser", { user: { id, ...fields }, updateMask: { paths: [path] } }, code, what), field, what);
    }
    expectEqual(fieldsOf(await store.get(id)), ada, "the stored user after rejected updates");
    await update(client, { id, email: ada.email.toUpperCase() }, ["email"]);
    expectEqual((await store.get(id)).email, ada.email.toUpperCase(), "the email after changing it to its own address in capitals (allowed)");
  });

  it("answers NOT_FOUND for an unknown id and INVALID_ARGUMENT naming id for an empty one, in UpdateUser and DeleteUser", async () => {
    const { client } = await learnerServer([ada]);
    await expectCallError(client, "updateUser", { user: { id: "no-such-user", name: "X" }, updateMask: { paths: ["name"] } }, grpc.status.NOT_FOUND, "UpdateUser of an unknown id");
    expectNames(await expectCallError(client, "updateUser", { user: { id: "", name: "X" }, updateMask: { paths: ["name"] } }, grpc.status.INVALID_ARGUMENT, "UpdateUser with an empty id"), "id", "UpdateUser with an empty id");
    expectNames(await expectCallError(client, "updateUser", { updateMask: { paths: ["name"] } }, grpc.status.INVALID_ARGUMENT, "UpdateUser without a user (so without an id)"), "id", "UpdateUser without a user (so without an id)");
    await expectCallError(client, "deleteUser", { id: "no-such-user" }, grpc.status.NOT_FOUND, "DeleteUser of an unknown id");
    expectNames(await expectCallError(client, "deleteUser", { id: "" }, grpc.status.INVALID_ARGUMENT, "DeleteUser with an empty id"), "id", "DeleteUser with an empty id");
  });

  it("deletes a user: GetUser then answers NOT_FOUND and the email is free again", async () => {
    const { client, store, seeded } = await learnerServer([ada, bob]);
    const id = seeded[0]!.id;
    expectEqual(await unaryCall<object>(client, "deleteUser", { id }), {}, "what DeleteUser returned (google.protobuf.Empty)");
    await expectStoreSize(store, 1, "after deleting one of two users");
    await expectCallError(client, "getUser", { id }, grpc.status.NOT_FOUND, "GetUser of a deleted user");
    await expectCallError(client, "deleteUser", { id }, grpc.status.NOT_FOUND, "DeleteUser of a deleted user");
    await unaryCall<WireUser>(client, "createUser", ada);
  });

  it("keeps every change when concurrent updates name different fields", async () => {
    const { client, store, seeded } = await learnerServer([ada]);
    const id = seeded[0]!.id;
    await Promise.all([
      update(client, { id, name: "Countess" }, ["name"]),
      update(client, { id, email: "countess@example.com" }, ["email"]),
      update(client, { id, roles: ["owner"] }, ["roles"]),
    ]);
    expectEqual(fieldsOf(await store.get(id)), { name: "Countess", email: "countess@example.com", roles: ["owner"] }, "the stored user after three concurrent updates of different fields");
  });
});

step(4, () => {
  const list = (client: grpc.Client, request: { pageSize?: number; pageToken?: string; role?: string }) => unaryCall<WirePage>(client, "listUsers", request);

  /** Follows next_page_token to the end; `between` runs after each page. */
  async function listAll(client: grpc.Client, pageSize: number, role = "", between?: (page: WirePage) => Promise<void>): Promise<WireUser[][]> {
    const pages: WireUser[][] = [];
    let pageToken = "";
    do {
      const page = await list(client, { pageSize, pageToken, role });
      pages.push(page.users);
      pageToken = page.nextPageToken;
      await between?.(page);
      expectTrue(pages.length <= 50, "ListUsers kept returning a next_page_token: after 50 pages the list had not ended");
    } while (pageToken !== "");
    return pages;
  }

  it("returns every user exactly once across pages, in the same order each time", async () => {
    const { client, seeded } = await learnerServer(people(23));
    const pages = await listAll(client, 5);
    expectTrue(pages.every((page) => page.length <= 5), `page sizes with page_size 5: expected at most 5 each, got ${JSON.stringify(pages.map((p) => p.length))}`);
    const ids = pages.flat().map((u) => u.id);
    expectEqual([...ids].sort(), seeded.map((u) => u.id).sort(), "the ids of every user listed with page_size 5 (each exactly once)");
    const again = (await listAll(client, 7)).flat().map((u) => u.id);
    expectEqual(again, ids, "the order of users listed with page_size 7, compared with page_size 5");
  });

  it("lists only the users with the role asked for", async () => {
    const { client, seeded } = await learnerServer(people(10, (i) => (i % 3 === 0 ? ["admin"] : ["dev"])));
    const admins = (await listAll(client, 2, "admin")).flat().map((u) => u.id);
    expectEqual([...admins].sort(), seeded.filter((u) => u.roles.includes("admin")).map((u) => u.id).sort(), 'the ids listed for role "admin"');
  });

  it("keeps its place when users are created and deleted between pages", async () => {
    const { client, store, seeded } = await learnerServer(people(10));
    const deleted = new Set<string>();
    let round = 0;
    const pages = await listAll(client, 4, "", async (page) => {
      // After each page: delete the last user listed, and add one.
      const last = page.users.at(-1);
      if (last) deleted.add((await store.delete(last.id)).id);
      await store.create({ name: "Newcomer", email: `new${round++}@example.com`, roles: [] });
    });
    const ids = pages.flat().map((u) => u.id);
    expectEqual(new Set(ids).size, ids.length, "users listed twice while users were created and deleted between pages: the number of distinct ids");
    const kept = seeded.filter((u) => !deleted.has(u.id)).map((u) => u.id);
    const missing = kept.filter((id) => !ids.includes(id));
    expectEqual(missing.length, 0, "users that existed throughout but were never listed (a token that counts positions skips users after a delete)");
  });

  it("rejects a page token from another query, or one it never issued, with INVALID_ARGUMENT naming page_token", async () => {
    const { client } = await learnerServer(people(6, () => ["admin"]));
    const first = await list(client, { pageSize: 2, role: "admin" });
    expectTrue(first.nextPageToken !== "", "ListUsers of 6 admins with page_size 2 returned no next_page_token");
    const what = 'ListUsers with role "" and a page token from role "admin"';
    expectNames(await expectCallError(client, "listUsers", { pageSize: 2, pageToken: first.nextPageToken, role: "" }, grpc.status.INVALID_ARGUMENT, what), "page_token", what);
    // The last one is the README's example format with a position no token of this server has.
    const forged = Buffer.from(JSON.stringify({ role: "admin", after: -1 })).toString("base64url");
    for (const pageToken of ["not-a-token", "eyJyb2xlIjoxfQ", "%%%", forged]) {
      const bad = `ListUsers with page_token ${JSON.stringify(pageToken)}`;
      expectNames(await expectCallError(client, "listUsers", { pageSize: 2, pageToken, role: "admin" }, grpc.status.INVALID_ARGUMENT, bad), "page_token", bad);
    }
  });

  it("caps a large page size, uses a default for 0, and rejects a negative one", async () => {
    const { client } = await learnerServer(people(120));
    for (const pageSize of [1000, 0]) {
      const page = await list(client, { pageSize });
      expectTrue(page.users.length >= 1 && page.users.length <= 100, `ListUsers with page_size ${pageSize} over 120 users: expected 1 to 100 users, got ${page.users.length}`);
      expectTrue(page.nextPageToken !== "", `ListUsers with page_size ${pageSize} over 120 users returned no next_page_token`);
    }
    expectNames(await expectCallError(client, "listUsers", { pageSize: -1 }, grpc.status.INVALID_ARGUMENT, "ListUsers with page_size -1"), "page_size", "ListUsers with page_size -1");
  });
});

step(5, () => {
  const watch = (client: grpc.Client, deadlineMs = rpcDeadlineMs) => {
    const call = (client as unknown as { watchUsers(request: object, metadata: grpc.Metadata, options: grpc.CallOptions): grpc.ClientReadableStream<WireChange> }).watchUsers(
      {},
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
    );
    call.on("error", () => {}); // Cancelling below fails the call with CANCELLED; the reader reports other errors.
    return { call, reader: readStream(call) };
  };
  const summary = (change: WireChange) => ({ kind: change.kind, name: change.user?.name, id: change.user?.id });
  const waitMs = 1000;

  it("streams every existing user, then users created, updated and deleted", async () => {
    const { client, store, seeded } = await learnerServer([ada, bob]);
    const { call, reader } = watch(client);
    const existing = [await reader.next(waitMs, "the first existing user"), await reader.next(waitMs, "the second existing user")];
    expectEqual(existing.map(summary).sort((a, b) => a.name!.localeCompare(b.name!)), seeded.map((u) => ({ kind: "KIND_EXISTING", name: u.name, id: u.id })), "the first two changes of a watch over 2 users");
    const carol = await store.create({ name: "Carol", email: "carol@example.com", roles: [] });
    expectEqual(summary(await reader.next(waitMs, "the change for a new user")), { kind: "KIND_CREATED", name: "Carol", id: carol.id }, "the change after a user was created");
    await store.update(carol.id, { name: "Caroline" });
    expectEqual(summary(await reader.next(waitMs, "the change for an updated user")), { kind: "KIND_UPDATED", name: "Caroline", id: carol.id }, "the change after a user was updated");
    await store.delete(seeded[0]!.id);
    expectEqual(summary(await reader.next(waitMs, "the change for a deleted user")), { kind: "KIND_DELETED", name: ada.name, id: seeded[0]!.id }, "the change after a user was deleted");
    call.cancel();
  });

  it("sends nothing before the first change when there are no users, and every change to every watcher", async () => {
    const { client, store } = await learnerServer();
    const watchers = [watch(client), watch(client)];
    // A watch stream that ended already can never carry the change to come: no need to wait for the store.
    const endedEarly = () => watchers.findIndex(({ reader }) => reader.ended !== undefined);
    await eventually(async () => (await store.watcherCount) === 2 || endedEarly() >= 0, waitMs);
    const ended = endedEarly();
    if (ended >= 0) throw new CheckFailure(`watcher ${ended + 1}'s stream ended before any user changed: ${watchers[ended]!.reader.ended} (a watch stays open until the client cancels it)`);
    expectTrue((await store.watcherCount) === 2, `two WatchUsers calls: expected 2 watches on the store (store.watch()), got ${await store.watcherCount}`);
    await store.create(bob);
    for (const [i, { reader }] of watchers.entries()) {
      expectEqual(summary(await reader.next(waitMs, `watcher ${i + 1}'s first change`)).kind, "KIND_CREATED", `watcher ${i + 1}'s first change, with no users before it`);
    }
    for (const { call } of watchers) call.cancel();
  });

  it("stops watching the store when the client cancels", async () => {
    const { client, store } = await learnerServer([ada]);
    const { call, reader } = watch(client);
    await reader.next(waitMs, "the existing user");
    expectEqual(await store.watcherCount, 1, "watches on the store during one WatchUsers call");
    call.cancel();
    expectTrue(await eventually(async () => (await store.watcherCount) === 0, waitMs), `watches on the store 1 s after the client cancelled: expected 0 (call watch.stop() on "cancelled"), got ${await store.watcherCount}`);
    await store.create(bob);
  });

  it("stops watching the store when the call's deadline passes", async () => {
    const { client, store } = await learnerServer([ada]);
    await connected(client); // the 300 ms are the call's
    const { reader } = watch(client, 300);
    await reader.next(waitMs, "the existing user");
    expectTrue(await eventually(async () => (await store.watcherCount) === 0, 300 + waitMs), `watches on the store 1 s after the call's deadline passed: expected 0 (grpc-js emits "cancelled" then too), got ${await store.watcherCount}`);
  });
});

step(6, () => {
  interface BatchResult {
    ids: string[];
    createdCount: number;
    rejected: Array<{ index: number; code: number; message: string }>;
  }

  it("creates the good entries in order and reports each bad one with its index, code and field", async () => {
    const { client, store } = await learnerServer([bob]);
    const entries = [ada, { ...ada, name: "", email: "x@example.com" }, people(1)[0]!, { ...ada, email: "broken" }, { ...bob, name: "Bob 2" }, { ...ada, email: "ADA@example.com" }, { name: "Zed", email: "zed@example.com", roles: ["dev"] }];
    const result = await clientStreamCall<BatchResult>(client, "createUsers", entries);
    expectEqual(result.createdCount, 3, "created_count for 3 good entries of 7");
    expectEqual(result.ids.length, 3, "number of ids for 3 good entries of 7");
    const created = await Promise.all(result.ids.map((id) => store.get(id)));
    expectEqual(created.map(fieldsOf), [entries[0], entries[2], entries[6]], "the stored users of the returned ids, in order");
    expectEqual(result.rejected.map((r) => [r.index, grpc.status[r.code]]), [[1, "INVALID_ARGUMENT"], [3, "INVALID_ARGUMENT"], [4, "ALREADY_EXISTS"], [5, "ALREADY_EXISTS"]], "the index and code of each rejected entry");
    for (const [i, field] of ["name", "email", "email", "email"].entries()) expectNames(result.rejected[i]!.message, field, `the rejection of entry ${result.rejected[i]!.index}`);
    await expectStoreSize(store, 4, "after a batch of 3 good entries, with 1 user before");
  });

  it("creates every entry of a batch of 50 before answering", async function () {
    this.timeout(8000); // 50 creates can take seconds on a busy machine: the check waits while users keep coming
    const { client, store } = await learnerServer();
    const result = await whileStoreGrows(store, clientStreamCall<BatchResult>(client, "createUsers", people(50), { deadlineMs: 6000 }), "CreateUsers of 50 good entries");
    expectEqual([result.createdCount, new Set(result.ids).size, result.rejected.length], [50, 50, 0], "[created_count, distinct ids, rejections] for 50 good entries");
    await expectStoreSize(store, 50, "after a batch of 50 good entries");
  });

  it("answers an empty batch", async () => {
    const { client } = await learnerServer();
    expectEqual(await clientStreamCall<BatchResult>(client, "createUsers", []), { ids: [], createdCount: 0, rejected: [] }, "the answer to an empty batch");
  });
});

step(7, () => {
  const results = (client: grpc.Client, commands: object[]) => bidiStreamCall<WireCommandResult>(client, "userCommands", commands);
  const outline = (r: WireCommandResult) => [r.commandId, grpc.status[r.code], r.user?.name ?? null];

  it("answers every command with its result, in order, including failed ones", async () => {
    const { client, store } = await learnerServer();
    // A slow store: a command that fails its checks at once must still wait for the ones before it.
    await slowDown(store, 20);
    const commands = [
      { commandId: "c1", create: ada },
      { commandId: "c2", create: { ...bob, name: "" } },
      { commandId: "c3", create: bob },
      { commandId: "c4", create: { ...ada, name: "Ada again" } },
      { commandId: "c5", delete: { id: "no-such-user" } },
    ];
    const answers = await results(client, commands);
    expectEqual(answers.map(outline), [["c1", "OK", ada.name], ["c2", "INVALID_ARGUMENT", null], ["c3", "OK", bob.name], ["c4", "ALREADY_EXISTS", null], ["c5", "NOT_FOUND", null]], "[command_id, code, user name] of each result");
    expectNames(answers[1]!.message, "name", "the result of a create with an empty name");
    await expectStoreSize(store, 2, "after the commands");
  });

  it("runs the commands one after another: each sees the effect of the ones before", async () => {
    const { client, store, seeded } = await learnerServer([ada]);
    const id = seeded[0]!.id;
    const commands = [
      { commandId: "rename", update: { user: { id, name: "Ada King" }, updateMask: { paths: ["name"] } } },
      { commandId: "delete", delete: { id } },
      { commandId: "rename again", update: { user: { id, name: "Nobody" }, updateMask: { paths: ["name"] } } },
      { commandId: "recreate", create: ada },
    ];
    const answers = await results(client, commands);
    expectEqual(answers.map(outline), [["rename", "OK", "Ada King"], ["delete", "OK", "Ada King"], ["rename again", "NOT_FOUND", null], ["recreate", "OK", ada.name]], "[command_id, code, user name] of each result");
    await expectStoreSize(store, 1, "after rename, delete, rename, create");
  });

  it("answers a command with no action with INVALID_ARGUMENT, and an empty stream with none", async () => {
    const { client } = await learnerServer();
    expectEqual((await results(client, [{ commandId: "nothing" }])).map(outline), [["nothing", "INVALID_ARGUMENT", null]], "the result of a command with no action");
    expectEqual(await results(client, []), [], "the results of an empty command stream");
  });
});
