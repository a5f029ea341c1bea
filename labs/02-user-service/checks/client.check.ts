/**
 * Lab 02, steps 8 to 12: the learner's client, calling a recording server
 * that the check controls. The server speaks proto-loader's forms (a
 * Timestamp is {seconds, nanos}, a FieldMask is {paths}); the learner's
 * functions return ts-proto's (a Date, a string[]), so each check is also a
 * wire-compatibility check.
 */
import * as grpc from "@grpc/grpc-js";
import {
  CheckFailure,
  expectDeadline,
  expectEqual,
  expectNoDeadline,
  expectRejection,
  expectTrue,
  noteDeadline,
  type Recording,
  record,
  rpcDeadlineMs,
  serviceError,
  settled,
  settledWithin,
  step,
  within,
} from "../../../scripts/check-kit";
import { eventually, learnerClientFor, sampleUser, type UserFields, type WireChange, type WireCommandResult, type WirePage, type WireUser } from "./user-service";

const settleMs = rpcDeadlineMs;
const ada: UserFields = { name: "Ada Lovelace", email: "ada@example.com", roles: ["admin"] };
const stored = sampleUser("u-42", "Recorded", 1_700_000_000_250, 1_700_000_100_500);

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

/** A unary handler that records each request and its deadline, and answers with `answer(request)`. */
function recordingUnary<Req, Res>(recording: Recording<Req>, answer: (request: Req, index: number) => Res | grpc.ServiceError): Unary<Req, Res> {
  return (call, callback) => {
    recording.requests.push(call.request);
    noteDeadline(recording, call);
    const response = answer(call.request, recording.requests.length - 1);
    if (response instanceof Error) callback(response);
    else callback(null, response);
  };
}

step(8, () => {
  it("createUser sends the fields and returns the server's user, with Date timestamps", async () => {
    const recording = record<UserFields>();
    const { learner, client } = await learnerClientFor({ createUser: recordingUnary(recording, () => stored.wire) });
    const user = await within(learner.createUser(client, ada), settleMs, "createUser()");
    expectEqual(recording.requests, [ada], "requests the server received");
    expectEqual(user, stored.decoded, "what createUser() returned (timestamps as Date)");
    expectDeadline(recording, "CreateUser");
  });

  it("createUser rejects with the call's error when the email is taken", async () => {
    const recording = record<UserFields>();
    const { learner, client } = await learnerClientFor({ createUser: recordingUnary(recording, () => serviceError(grpc.status.ALREADY_EXISTS, "email is taken")) });
    await expectRejection(learner.createUser(client, ada), grpc.status.ALREADY_EXISTS, "createUser() against a server that answers ALREADY_EXISTS");
  });

  it("getUser returns the user, undefined for NOT_FOUND, and rejects on other errors", async () => {
    const recording = record<{ id: string }>();
    const answers = [stored.wire, serviceError(grpc.status.NOT_FOUND, "no user"), serviceError(grpc.status.PERMISSION_DENIED, "not yours")];
    const { learner, client } = await learnerClientFor({ getUser: recordingUnary(recording, (_, i) => answers[i]!) });
    expectEqual(await within(learner.getUser(client, "u-42"), settleMs, "getUser()"), stored.decoded, "what getUser() returned");
    expectEqual(await within(learner.getUser(client, "u-0"), settleMs, "getUser() of an unknown id"), undefined, "what getUser() returned when the server answered NOT_FOUND");
    await expectRejection(learner.getUser(client, "u-1"), grpc.status.PERMISSION_DENIED, "getUser() against a server that answers PERMISSION_DENIED");
    expectEqual(recording.requests, [{ id: "u-42" }, { id: "u-0" }, { id: "u-1" }], "requests the server received");
    expectDeadline(recording, "GetUser");
  });

  it("updateUser sends an update mask naming exactly the fields it was given, even an empty roles list", async () => {
    const recording = record<{ user: WireUser; updateMask: { paths: string[] } | null }>();
    const { learner, client } = await learnerClientFor({ updateUser: recordingUnary(recording, () => stored.wire) });
    const cases: Array<Partial<UserFields>> = [{ name: "New name" }, { roles: [] }, { email: "new@example.com", name: "Both" }];
    for (const changes of cases) {
      expectEqual(await within(learner.updateUser(client, "u-42", changes), settleMs, "updateUser()"), stored.decoded, "what updateUser() returned");
    }
    for (const [i, changes] of cases.entries()) {
      const request = recording.requests[i];
      const what = `the request for updateUser("u-42", ${JSON.stringify(changes)})`;
      expectEqual(request?.user.id, "u-42", `user.id in ${what}`);
      expectEqual([...(request?.updateMask?.paths ?? [])].sort(), Object.keys(changes).sort(), `update_mask.paths in ${what}`);
      for (const [field, value] of Object.entries(changes)) expectEqual(request?.user[field as keyof UserFields], value, `user.${field} in ${what}`);
    }
    expectDeadline(recording, "UpdateUser");
  });
});

step(9, () => {
  const users = Array.from({ length: 7 }, (_, i) => sampleUser(`u-${i}`, `User${i}`, 1_700_000_000_000 + i * 1000));
  type ListRequest = { pageSize: number; pageToken: string; role: string };
  /** Serves `pages` in turn; each token is random, so the client can only pass it back. */
  const pagingServer = (recording: Recording<ListRequest>, pages: Array<WirePage["users"] | grpc.ServiceError>) => {
    const tokens = pages.map((_, i) => (i === pages.length - 1 ? "" : `t${i}-${Math.random().toString(36).slice(2)}`));
    return {
      tokens,
      handlers: {
        listUsers: recordingUnary<ListRequest, WirePage>(recording, (_, i) => {
          const page = pages[i];
          if (page === undefined) return serviceError(grpc.status.FAILED_PRECONDITION, "the client asked for a page after the last one");
          return page instanceof Error ? page : { users: page, nextPageToken: tokens[i]! };
        }),
      },
    };
  };

  it("passes each next_page_token back, with the same query, until it is empty", async () => {
    const recording = record<ListRequest>();
    const { tokens, handlers } = pagingServer(recording, [users.slice(0, 3), users.slice(3, 6), users.slice(6)].map((page) => page.map((u) => u.wire)));
    const { learner, client } = await learnerClientFor(handlers);
    const result = await within(learner.listAllUsers(client, "staff", 3), settleMs, "listAllUsers()");
    expectEqual(recording.requests, [{ pageSize: 3, pageToken: "", role: "staff" }, { pageSize: 3, pageToken: tokens[0]!, role: "staff" }, { pageSize: 3, pageToken: tokens[1]!, role: "staff" }], "requests the server received");
    expectEqual(result, users.map((u) => u.decoded), "what listAllUsers() returned");
    expectDeadline(recording, "ListUsers");
  });

  it("keeps going after an empty page that has a next_page_token", async () => {
    const recording = record<ListRequest>();
    const { handlers } = pagingServer(recording, [[users[0]!.wire], [], [users[1]!.wire]]);
    const { learner, client } = await learnerClientFor(handlers);
    const result = await within(learner.listAllUsers(client, "", 2), settleMs, "listAllUsers()");
    expectEqual(result.map((u) => u.id), ["u-0", "u-1"], "ids listAllUsers() returned when the middle page was empty");
  });

  it("rejects with the call's error when a page fails", async () => {
    const recording = record<ListRequest>();
    const { handlers } = pagingServer(recording, [[users[0]!.wire], serviceError(grpc.status.INVALID_ARGUMENT, "page_token is not valid"), []]);
    const { learner, client } = await learnerClientFor(handlers);
    await expectRejection(learner.listAllUsers(client, "", 1), grpc.status.INVALID_ARGUMENT, "listAllUsers() when the second page fails with INVALID_ARGUMENT");
  });
});

step(10, () => {
  const changes: WireChange[] = [
    { kind: "KIND_EXISTING", user: stored.wire },
    { kind: "KIND_CREATED", user: sampleUser("u-7", "Seven", 1_700_000_500_000).wire },
    { kind: "KIND_DELETED", user: stored.wire },
  ];
  // The same changes as ts-proto decodes them: enum values are numbers (UserChange_Kind).
  const decoded = [
    { kind: 1, user: stored.decoded },
    { kind: 2, user: sampleUser("u-7", "Seven", 1_700_000_500_000).decoded },
    { kind: 4, user: stored.decoded },
  ];

  /** Streams `count` changes, then ends, fails or stays open; records whether the client cancelled. */
  const watchServer = (state: { cancelled: boolean; recording?: Recording<object> }, count: number, then: "stay open" | "end" | "fail", code = grpc.status.UNAVAILABLE) => ({
    watchUsers(call: grpc.ServerWritableStream<object, WireChange>) {
      if (state.recording) noteDeadline(state.recording, call);
      call.on("cancelled", () => (state.cancelled = true));
      for (const change of changes.slice(0, count)) call.write(change);
      if (then === "end") call.end();
      if (then === "fail") call.emit("error", { code, details: "the server went away" });
    },
  });

  /**
   * The learner's watch, followed: it ends only when its signal aborts, so a watch that rejected while the
   * server kept its stream open has failed already, and the check says so at once instead of waiting.
   */
  const followWatch = (done: Promise<void>) => {
    let rejection: { error: unknown } | undefined;
    done.catch((error: unknown) => (rejection = { error })); // Awaited in the check, after the abort.
    return {
      rejected: () => rejection !== undefined,
      failIfRejected(): void {
        if (!rejection) return;
        const { code, message } = rejection.error as { code?: unknown; message?: string };
        if (typeof code !== "number") throw rejection.error; // the learner's own error, shown where it was thrown
        throw new CheckFailure(`watchUsers() rejected with ${grpc.status[code]} before the signal aborted, while the server kept the stream open: ${message}`);
      },
    };
  };

  it("passes each change to onChange, and cancels the call when the signal aborts", async () => {
    const state = { cancelled: false };
    const { learner, client } = await learnerClientFor(watchServer(state, 3, "stay open"));
    const received: unknown[] = [];
    const abort = new AbortController();
    const done = learner.watchUsers(client, (change) => received.push(change), abort.signal);
    const watch = followWatch(done);
    await eventually(() => received.length >= 3 || watch.rejected(), settleMs);
    watch.failIfRejected();
    expectTrue(received.length >= 3, `watchUsers(): expected onChange to get 3 changes, it got ${received.length}`);
    expectEqual(received, decoded, "the changes passed to onChange (kinds as UserChange_Kind numbers, times as Date)");
    abort.abort();
    const outcome = await settledWithin(done, settleMs, "watchUsers() after the signal aborted");
    if (!outcome.resolved) {
      throw new CheckFailure(`watchUsers() should resolve when the signal aborts (the CANCELLED it causes is expected), but it rejected with ${String((outcome.error as Error).message ?? outcome.error)}`);
    }
    expectTrue(await eventually(() => state.cancelled, settleMs), "the server never saw the call cancelled: call call.cancel() when the signal aborts");
  });

  it("gives the watch no deadline: it stays open until cancelled", async () => {
    const state = { cancelled: false, recording: record<object>() };
    const { learner, client } = await learnerClientFor(watchServer(state, 1, "stay open"));
    const abort = new AbortController();
    const done = learner.watchUsers(client, () => undefined, abort.signal);
    const watch = followWatch(done);
    await eventually(() => !Number.isNaN(state.recording.deadline) || watch.rejected(), settleMs);
    if (Number.isNaN(state.recording.deadline)) watch.failIfRejected();
    abort.abort();
    await within(done, settleMs, "watchUsers() after the signal aborted").catch(() => undefined);
    expectNoDeadline(state.recording, "WatchUsers");
  });

  it("resolves when the server ends the stream", async () => {
    const state = { cancelled: false };
    const { learner, client } = await learnerClientFor(watchServer(state, 2, "end"));
    const received: unknown[] = [];
    await within(learner.watchUsers(client, (change) => received.push(change), new AbortController().signal), settleMs, "watchUsers() when the server ends the stream");
    await settled();
    expectEqual(received, decoded.slice(0, 2), "the changes passed to onChange before the stream ended");
  });

  it("rejects with the call's error when the stream fails", async () => {
    const state = { cancelled: false };
    const { learner, client } = await learnerClientFor(watchServer(state, 1, "fail"));
    await expectRejection(learner.watchUsers(client, () => {}, new AbortController().signal), grpc.status.UNAVAILABLE, "watchUsers() against a stream that fails after 1 change");
  });

  it("rejects when the server ends the watch with CANCELLED before the signal aborts", async () => {
    const state = { cancelled: false };
    const { learner, client } = await learnerClientFor(watchServer(state, 1, "fail", grpc.status.CANCELLED));
    // Only the CANCELLED of the client's own cancel() is the normal end of a watch.
    await expectRejection(learner.watchUsers(client, () => {}, new AbortController().signal), grpc.status.CANCELLED, "watchUsers() against a server that ends the watch with CANCELLED, the signal not aborted");
  });
});

step(11, () => {
  const answer = { ids: ["u-1", "u-3"], createdCount: 2, rejected: [{ index: 1, code: grpc.status.INVALID_ARGUMENT, message: "name must not be empty" }] };
  const batchServer = (recording: Recording<UserFields>, reply: typeof answer | grpc.ServiceError = answer) => ({
    createUsers(call: grpc.ServerReadableStream<UserFields, typeof answer>, callback: grpc.sendUnaryData<typeof answer>) {
      noteDeadline(recording, call);
      call.on("data", (entry: UserFields) => recording.requests.push(entry));
      call.on("end", () => (reply instanceof Error ? callback(reply) : callback(null, reply)));
    },
  });
  const entries = [ada, { ...ada, name: "" }, { name: "Bob", email: "bob@example.com", roles: [] }];

  it("streams every entry in order, ends the stream and returns the server's report", async () => {
    const recording = record<UserFields>();
    const { learner, client } = await learnerClientFor(batchServer(recording));
    const result = await within(learner.createUsers(client, entries), settleMs, "createUsers() (the server answers when the stream ends: call end())");
    expectEqual(recording.requests, entries, "entries the server received");
    expectEqual(result, answer, "what createUsers() returned");
    expectDeadline(recording, "CreateUsers");
  });

  it("ends the stream even for an empty batch", async () => {
    const recording = record<UserFields>();
    const { learner, client } = await learnerClientFor(batchServer(recording));
    expectEqual(await within(learner.createUsers(client, []), settleMs, "createUsers([])"), answer, "what createUsers([]) returned");
  });

  it("rejects with the call's error when the batch fails", async () => {
    const recording = record<UserFields>();
    const { learner, client } = await learnerClientFor(batchServer(recording, serviceError(grpc.status.RESOURCE_EXHAUSTED, "batch too large")));
    await expectRejection(learner.createUsers(client, entries), grpc.status.RESOURCE_EXHAUSTED, "createUsers() against a server that answers RESOURCE_EXHAUSTED");
  });
});

step(12, () => {
  type WireCommand = { commandId: string; action?: string; create?: UserFields | null; delete?: { id: string } | null };
  const commands = [
    { commandId: "a", action: { $case: "create", value: ada } },
    { commandId: "b", action: { $case: "delete", value: { id: "u-42" } } },
    { commandId: "c", action: { $case: "create", value: { ...ada, name: "" } } },
  ];
  const resultFor = (command: WireCommand): WireCommandResult =>
    command.commandId === "c" ? { commandId: "c", code: grpc.status.INVALID_ARGUMENT, message: "name must not be empty", user: null } : { commandId: command.commandId, code: 0, message: "", user: stored.wire };
  const expected = [
    { commandId: "a", code: 0, message: "", user: stored.decoded },
    { commandId: "b", code: 0, message: "", user: stored.decoded },
    { commandId: "c", code: grpc.status.INVALID_ARGUMENT, message: "name must not be empty", user: undefined },
  ];

  /** Answers every command, either at once or only after the client has ended its side (after a pause), then ends; or answers `limit` and ends. */
  const commandServer = (recording: Recording<WireCommand>, mode: "at once" | "after end" | { limit: number }) => ({
    userCommands(call: grpc.ServerDuplexStream<WireCommand, WireCommandResult>) {
      noteDeadline(recording, call);
      call.on("data", (command: WireCommand) => {
        recording.requests.push(command);
        const limit = typeof mode === "object" ? mode.limit : Infinity;
        if (mode !== "after end" && recording.requests.length <= limit) call.write(resultFor(command));
      });
      call.on("end", () => {
        if (mode !== "after end") return call.end();
        // A client that stops reading when it has sent its last command misses these.
        setTimeout(() => {
          for (const command of recording.requests) call.write(resultFor(command));
          call.end();
        }, 20);
      });
    },
  });

  it("sends every command in order and returns every result in order", async () => {
    const recording = record<WireCommand>();
    const { learner, client } = await learnerClientFor(commandServer(recording, "at once"));
    const results = await within(learner.runCommands(client, commands), settleMs, "runCommands() (the server ends its stream after yours: call end())");
    expectEqual(
      recording.requests.map((c) => [c.commandId, c.action, c.create?.name ?? c.delete?.id]),
      [["a", "create", ada.name], ["b", "delete", "u-42"], ["c", "create", ""]],
      "[command_id, action, name or id] of the commands the server received",
    );
    expectEqual(results, expected, "what runCommands() returned");
    expectDeadline(recording, "UserCommands");
  });

  it("keeps reading until the server ends its stream", async () => {
    const recording = record<WireCommand>();
    const { learner, client } = await learnerClientFor(commandServer(recording, "after end"));
    const results = await within(learner.runCommands(client, commands), settleMs, "runCommands()");
    expectEqual(results, expected, "what runCommands() returned when the server answers after the client's last command");
  });

  it("rejects with the server's status code when the call fails", async () => {
    const failing = {
      userCommands(call: grpc.ServerDuplexStream<WireCommand, WireCommandResult>) {
        call.once("data", () => call.emit("error", { code: grpc.status.UNAVAILABLE, details: "the server went away" }));
      },
    };
    const { learner, client } = await learnerClientFor(failing);
    await expectRejection(learner.runCommands(client, commands), grpc.status.UNAVAILABLE, "runCommands() against a server that fails the call with UNAVAILABLE");
  });

  it("rejects when the server ends the stream before answering every command", async () => {
    const recording = record<WireCommand>();
    const { learner, client } = await learnerClientFor(commandServer(recording, { limit: 2 }));
    const outcome = await settledWithin(learner.runCommands(client, commands), settleMs, "runCommands()");
    if (outcome.resolved) {
      throw new CheckFailure(`runCommands() against a server that answered 2 of 3 commands and ended: expected it to reject, but it resolved with ${JSON.stringify(outcome.value).slice(0, 120)}`);
    }
    expectEqual(recording.requests.length, 3, "commands the server received before runCommands() rejected");
  });
});
