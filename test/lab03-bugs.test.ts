/**
 * Lab 03's learner-bug corpus: for each "must" and "must not" of the README,
 * a realistic wrong solution, and the checks it must fail (every other check
 * passes). test/trees.ts checks a server bug and a client bug per lab run.
 * The flow-control bugs of step 5 and 6 are in test/lab03-faults.test.ts.
 */
import { findLab } from "../scripts/lib/labs";
import { type Bug, checkBugs, removeTrees } from "./trees";

const server = "src/server.ts";
const client = "src/client.ts";

const bugs: Bug[] = [
  // Step 2, join and talk
  {
    rule: "s2: the sender does not get its own message back",
    edits: [{ file: server, from: 'broadcast(room, { kind: { $case: "message", value: said } }, member);', to: 'broadcast(room, { kind: { $case: "message", value: said } });' }],
    caughtBy: ["s2.delivers-each-message-once"],
    mayFail: ["s2.", "s3.", "s4.", "s5."],
  },
  {
    rule: "s2: rooms are apart (one room for every name)",
    edits: [{ file: server, from: "const room = rooms.get(roomName) ?? { members: new Map(), history: [] };\n          rooms.set(roomName, room);", to: 'const room = rooms.get("") ?? { members: new Map(), history: [] };\n          rooms.set("", room);' }],
    caughtBy: ["s2.keeps-rooms-apart"],
    mayFail: ["s2.", "s3.", "s4."],
  },
  {
    rule: "s2: the welcome lists the members already there (the joiner included)",
    edits: [{ file: server, from: "const others = [...room.members.keys()];\n          member = { name, room, call, waiting: false, queue: [] };\n          room.members.set(name, member);", to: "member = { name, room, call, waiting: false, queue: [] };\n          room.members.set(name, member);\n          const others = [...room.members.keys()];" }],
    caughtBy: ["s2.answers-a-join-with-a-welcome", "s2.tells-members-who-joins"],
  },
  // Step 3, leaving
  {
    rule: "s3: a half-close ends the call with OK",
    edits: [{ file: server, from: "        leaveRoom();\n        call.end();", to: "        leaveRoom();" }],
    caughtBy: ["s3.ends-the-call-with-ok"],
    mayFail: ["s3.tells-each-leave-once", "s6.", "s7."],
  },
  // Leaving on "end" alone is not in the list: with grpc-js 1.14 a cancel and a lost connection reach
  // the server as "end" too, so such a server passes the checks of step 3, and behaves as the README asks.
  {
    rule: "s3: each leave is told once (leaving not idempotent)",
    edits: [{ file: server, from: "    if (room.members.get(name) !== member) return;\n", to: "" }],
    caughtBy: ["s3.tells-each-leave-once"],
    mayFail: ["s4.rejects-a-name-already-taken"],
  },
  // Step 4, names, joining first, history
  {
    rule: "s4: a name taken in the room is ALREADY_EXISTS",
    edits: [{ file: server, from: "if (room.members.has(name)) return fail(", to: "if (room.members.has(name) && false) return fail(" }],
    caughtBy: ["s4.rejects-a-name-already-taken"],
  },
  {
    rule: "s4: a first message that is not a join is FAILED_PRECONDITION (ignored)",
    edits: [{ file: server, from: 'if (kind?.$case !== "join") return fail(grpc.status.FAILED_PRECONDITION, "the first message must be a join");', to: 'if (kind?.$case !== "join") return;' }],
    caughtBy: ["s4.rejects-a-first-message-that-is-not-a-join"],
  },
  {
    rule: "s4: a second join is FAILED_PRECONDITION and the member leaves (ignored)",
    edits: [{ file: server, from: '          fail(grpc.status.FAILED_PRECONDITION, "already joined: send text, or a new call to join another room");', to: "          return;" }],
    caughtBy: ["s4.rejects-a-second-join"],
  },
  {
    rule: "s4: a join with an empty room or name is INVALID_ARGUMENT",
    edits: [{ file: server, from: 'if (!roomName || !name) return fail(grpc.status.INVALID_ARGUMENT, `join needs a ${roomName ? "name" : "room"}`);', to: "" }],
    caughtBy: ["s4.rejects-a-join-with-an-empty-name-or-room"],
  },
  {
    rule: "s4: the welcome has at most historySize recent messages",
    edits: [{ file: server, from: "room.history = [...room.history, said].slice(-limits.historySize);", to: "room.history = [...room.history, said];" }],
    caughtBy: ["s4.welcomes-a-late-joiner"],
  },
  // Steps 6 and 7, the client
  {
    rule: "s6: half-close when the lines run out",
    edits: [{ file: client, from: "      if (open) call.end();", to: "      void open;" }],
    caughtBy: ["s6.joins-first-then-sends-each-line", "s6.hands-each-event", "s6.keeps-reading-after-the-half-close"],
    mayFail: ["s6.", "s7."],
  },
  {
    rule: "s6: resolve on the call's end, after the events that follow the half-close",
    edits: [{ file: client, from: "      if (open) call.end();", to: "      if (open) call.end();\n      settle();" }],
    caughtBy: ["s6.keeps-reading-after-the-half-close"],
    mayFail: ["s6.joins-first-then-sends-each-line"],
  },
  {
    rule: "s6: a chat call has no deadline",
    edits: [{ file: client, from: "const call = client.chat();", to: "const call = client.chat({ deadline: Date.now() + 5000 });" }],
    caughtBy: ["s6.gives-the-chat-call-no-deadline"],
  },
  {
    rule: "s7: a failed call rejects with the call's error as is",
    edits: [{ file: client, from: "if (error && !(error.code === grpc.status.CANCELLED && signal?.aborted)) reject(error);", to: "if (error && !(error.code === grpc.status.CANCELLED && signal?.aborted)) reject(new Error(error.details));" }],
    caughtBy: ["s7.rejects-with-the-server-s-error", "s7.rejects-when-the-server-ends-the-call-with-an-error"],
  },
  {
    rule: "s7: only the CANCELLED of your own cancel resolves (any CANCELLED taken for leaving)",
    edits: [{ file: client, from: "error.code === grpc.status.CANCELLED && signal?.aborted", to: "error.code === grpc.status.CANCELLED || signal?.aborted" }],
    caughtBy: ["s7.rejects-when-the-server-ends-the-call-with-cancelled"],
  },
  {
    rule: "s7: on abort, cancel the call (only stop sending)",
    edits: [{ file: client, from: "const cancel = () => call.cancel();", to: "const cancel = () => settle();" }],
    caughtBy: ["s7.cancels-the-call-when-the-signal-aborts"],
  },
];

describe("lab 03's checks catch a bug for each rule of its README", function () {
  this.timeout(120_000);
  after(removeTrees);
  checkBugs(findLab("03"), bugs);
});
