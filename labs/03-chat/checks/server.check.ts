/**
 * Lab 03, steps 2 to 5: the learner's chat server, used by reference members
 * (proto-loader clients, each on its own connection) that record every event
 * they receive.
 */
import * as grpc from "@grpc/grpc-js";
import { expectEqual, expectTrue, step, tcpProxy } from "../../../scripts/check-kit";
import { type ClientMessage, describeEvent, describeStatus, isJoined, isLeft, isMessage, learnerServer, Member, type ServerEvent } from "./chat";

const join = Member.join;
const isWelcome = (event: ServerEvent) => event.kind === "welcome";

/** Joins `names` one after the other, each once the previous one has its welcome. */
async function joinAll(address: string, room: string, names: string[]): Promise<Member[]> {
  const members: Member[] = [];
  for (const name of names) members.push(await join(address, room, name));
  return members;
}

/** What the other members said, as `member` should see it: everything but its own lines, in order. */
const linesFrom = (lines: string[], except: string) => lines.filter((line) => !line.startsWith(`${except}: `));

step(2, () => {
  it("answers a join with a welcome to the room", async () => {
    const address = await learnerServer();
    const alice = await join(address, "lobby", "alice");
    expectEqual(alice.events[0], { kind: "welcome", welcome: { room: "lobby", members: [], history: [] } }, "the first event alice gets after joining an empty room");
  });

  it("tells members who joins, and welcomes a joiner with the members present", async () => {
    const address = await learnerServer();
    const [alice, bob] = await joinAll(address, "lobby", ["alice", "bob"]);
    const carol = await join(address, "lobby", "carol");
    expectEqual(carol.events[0], { kind: "welcome", welcome: { room: "lobby", members: ["alice", "bob"], history: [] } }, "carol's welcome after alice and bob joined");
    await alice!.waitFor(isJoined("carol"), "expected to see carol join");
    await bob!.waitFor(isJoined("carol"), "expected to see carol join");
    expectEqual(alice!.events.filter((e) => e.kind === "joined"), [joinedEvent("bob"), joinedEvent("carol")], "the joins alice saw");
  });

  it("delivers each message once to every other member of 3, not to its sender", async () => {
    const address = await learnerServer();
    const members = await joinAll(address, "lobby", ["alice", "bob", "carol"]);
    const lines: string[] = [];
    for (const [i, member] of members.entries()) {
      member.say(`hello from ${member.name}`);
      lines.push(`${member.name}: hello from ${member.name}`);
      if (i === 0) await members[1]!.waitFor(isMessage, "expected alice's message");
    }
    for (const member of members) {
      await member.until(() => member.messages().length >= 2, "expected the other two members' messages");
    }
    await pause(50);
    for (const member of members) expectEqual(member.messages(), linesFrom(lines, member.name), `the messages ${member.name} received`);
  });

  it("keeps rooms apart", async () => {
    const address = await learnerServer();
    const [alice, bob] = await joinAll(address, "lobby", ["alice", "bob"]);
    const [dave] = await joinAll(address, "kitchen", ["dave", "erin"]);
    dave!.say("in the kitchen");
    alice!.say("in the lobby");
    await bob!.waitFor(isMessage, "expected alice's message");
    await pause(50);
    expectEqual(bob!.messages(), ["alice: in the lobby"], "the messages bob (lobby) received while alice spoke in the lobby and dave in the kitchen");
    expectTrue(!bob!.events.some(isJoined("erin")), "bob (lobby) was told that erin joined the kitchen: rooms must be kept apart");
  });

  it("gives every member the same order when 3 members talk at once", async () => {
    const address = await learnerServer();
    const members = await joinAll(address, "lobby", ["alice", "bob", "carol"]);
    const perMember = 20;
    for (let i = 0; i < perMember; i++) for (const member of members) member.say(`${member.name} ${i}`);
    for (const member of members) {
      await member.until(() => member.messages().length >= 2 * perMember, `expected ${2 * perMember} messages from the other two`);
    }
    for (const member of members) {
      for (const sender of members.filter((m) => m !== member)) {
        const fromSender = member.messages().filter((line) => line.startsWith(`${sender.name}: `));
        expectEqual(fromSender, Array.from({ length: perMember }, (_, i) => `${sender.name}: ${sender.name} ${i}`), `${sender.name}'s messages as ${member.name} received them`);
      }
    }
    // alice and bob both receive carol's messages; carol sees neither of her own, so compare pairs.
    for (const [a, b] of [[0, 1], [0, 2], [1, 2]] as const) {
      const x = members[a]!;
      const y = members[b]!;
      const shared = (m: Member) => m.messages().filter((line) => !line.startsWith(`${x.name}: `) && !line.startsWith(`${y.name}: `));
      expectEqual(shared(x), shared(y), `the order in which ${x.name} and ${y.name} received the third member's messages (one order, the server's)`);
    }
  });

  it("delivers every message to each of 50 members in one room", async () => {
    const address = await learnerServer();
    const names = Array.from({ length: 50 }, (_, i) => `member${String(i).padStart(2, "0")}`);
    // One connection for all 50 keeps the check light; each member still has its own stream.
    const members = await Promise.all(names.map((name) => join(address, "crowd", name, "shared", 2500)));
    const everyone = members.length - 1;
    // Wait until each member knows of all the others before anyone speaks.
    for (const member of members) {
      await member.until(() => member.events.filter((e) => e.kind === "joined").length + (member.events[0]?.kind === "welcome" ? member.events[0].welcome.members.length : 0) >= everyone, `expected to know the ${everyone} other members`);
    }
    for (const member of members) member.say(`hi from ${member.name}`);
    for (const member of members) {
      await member.until(() => member.messages().length >= everyone, `expected a message from each of the ${everyone} others`);
    }
    await pause(50);
    for (const member of members) {
      expectEqual([...member.messages()].sort(), names.filter((n) => n !== member.name).map((n) => `${n}: hi from ${n}`), `the messages ${member.name} received from the 49 others`);
    }
  });
});

step(3, () => {
  it("ends the call with OK when a member half-closes, and the others see it leave", async () => {
    const address = await learnerServer();
    const [alice, bob] = await joinAll(address, "lobby", ["alice", "bob"]);
    bob!.end();
    const status = await bob!.finished("expected the server to end bob's call after bob half-closed (call.end() once the client's stream ends)");
    expectEqual(describeStatus(status).split(" ")[0], "OK", "the status of bob's call after bob half-closed");
    await alice!.waitFor(isLeft("bob"), "expected to see bob leave after bob half-closed");
  });

  it("removes a member that cancels, and the others keep talking", async () => {
    const address = await learnerServer();
    const [alice, bob, carol] = await joinAll(address, "lobby", ["alice", "bob", "carol"]);
    bob!.cancel();
    await alice!.waitFor(isLeft("bob"), "expected to see bob leave after bob cancelled its call");
    await carol!.waitFor(isLeft("bob"), "expected to see bob leave after bob cancelled its call");
    alice!.say("still here?");
    await carol!.waitFor(isMessage, "expected alice's message after bob cancelled");
  });

  it("removes a member whose connection drops mid-stream, and the others keep talking", async () => {
    const address = await learnerServer();
    const proxy = await tcpProxy(address);
    const alice = await join(address, "lobby", "alice");
    const bob = await join(proxy.address, "lobby", "bob");
    const carol = await join(address, "lobby", "carol");
    await bob.waitFor(isJoined("carol"), "expected to see carol join");
    proxy.cut();
    await alice.waitFor(isLeft("bob"), "expected to see bob leave after bob's connection dropped");
    carol.say("bob is gone");
    await alice.waitFor(isMessage, "expected carol's message after bob's connection dropped");
    expectEqual(alice.messages(), ["carol: bob is gone"], "the messages alice received");
  });

  it("tells each leave once", async () => {
    const address = await learnerServer();
    const [alice, bob, carol] = await joinAll(address, "lobby", ["alice", "bob", "carol"]);
    bob!.end();
    await bob!.finished("expected the server to end bob's call after bob half-closed");
    carol!.cancel();
    await alice!.waitFor(isLeft("carol"), "expected to see carol leave");
    // A broadcast after both left: a server that still held them would write to their dead calls.
    alice!.say("anyone?");
    await pause(100);
    expectEqual(alice!.events.filter((e) => e.kind === "left"), [leftEvent("bob"), leftEvent("carol")], "the leaves alice saw");
  });
});

step(4, () => {
  it("rejects a name already taken in the room with ALREADY_EXISTS", async () => {
    const address = await learnerServer();
    const alice = await join(address, "lobby", "alice");
    const impostor = Member.open(address, "alice", { join: { room: "lobby", name: "alice" } });
    const status = await impostor.finished("expected the second alice's call to end with ALREADY_EXISTS");
    expectEqual(grpc.status[status.code], "ALREADY_EXISTS", "the status of a join with a name already in the room");
    alice.say("I am the real alice");
    await pause(50);
    expectEqual(alice.events.filter((e) => e.kind !== "welcome"), [], "what the first alice saw of the rejected join (nothing: no join, no leave)");
  });

  it("allows the same name in another room, and again once its member left", async () => {
    const address = await learnerServer();
    const [alice, bob] = await joinAll(address, "lobby", ["alice", "bob"]);
    await join(address, "kitchen", "bob");
    bob!.end();
    await alice!.waitFor(isLeft("bob"), "expected to see bob leave");
    await join(address, "lobby", "bob");
    await alice!.waitFor((e) => e.kind === "joined" && e.joined.name === "bob" && alice!.events.indexOf(e) > alice!.events.findIndex(isLeft("bob")), "expected to see bob join again");
  });

  it("rejects a first message that is not a join with FAILED_PRECONDITION", async () => {
    const address = await learnerServer();
    const alice = await join(address, "lobby", "alice");
    const stranger = Member.open(address, "stranger", { text: "hello before joining" });
    // Sent right behind the bad message: a call that failed joins nothing, whatever it sends afterwards.
    stranger.send({ join: { room: "lobby", name: "stranger" } });
    const status = await stranger.finished("expected a call whose first message is text to end with FAILED_PRECONDITION");
    expectEqual(grpc.status[status.code], "FAILED_PRECONDITION", "the status of a call whose first message is text");
    const empty = await Member.open(address, "nobody", {} as ClientMessage).finished("expected a call whose first message is empty (neither join nor text) to end with FAILED_PRECONDITION");
    expectEqual(grpc.status[empty.code], "FAILED_PRECONDITION", "the status of a call whose first message is empty (neither join nor text)");
    await pause(50);
    expectEqual(alice.events.filter((e) => !isWelcome(e)), [], "what a member saw of a call that never joined");
  });

  it("rejects a second join on the same call with FAILED_PRECONDITION, and the member leaves", async () => {
    const address = await learnerServer();
    const [alice, bob] = await joinAll(address, "lobby", ["alice", "bob"]);
    bob!.send({ join: { room: "kitchen", name: "bob" } });
    const status = await bob!.finished("expected a second join on bob's call to end it with FAILED_PRECONDITION");
    expectEqual(grpc.status[status.code], "FAILED_PRECONDITION", "the status of a second join on the same call");
    await alice!.waitFor(isLeft("bob"), "expected to see bob leave once the server ended his call");
  });

  it("rejects a join with an empty name or room with INVALID_ARGUMENT", async () => {
    const address = await learnerServer();
    for (const [room, name] of [["lobby", ""], ["", "alice"]] as const) {
      const status = await Member.open(address, name || "nameless", { join: { room, name } }).finished(`expected a join with room "${room}" and name "${name}" to fail`);
      expectEqual(grpc.status[status.code], "INVALID_ARGUMENT", `the status of a join with room "${room}" and name "${name}"`);
    }
  });

  it("welcomes a late joiner with the room's most recent messages, at most historySize", async () => {
    const address = await learnerServer({ historySize: 5, maxQueued: 256 });
    const [alice, bob] = await joinAll(address, "lobby", ["alice", "bob"]);
    for (let i = 1; i <= 8; i++) alice!.say(`line ${i}`);
    await bob!.until(() => bob!.messages().length >= 8, "expected alice's 8 lines");
    const carol = await join(address, "lobby", "carol");
    const welcome = carol.events[0] as Extract<ServerEvent, { kind: "welcome" }>;
    const expected = [4, 5, 6, 7, 8].map((i) => ({ from: "alice", text: `line ${i}` }));
    expectEqual(welcome.welcome.history, expected, "the history in carol's welcome after 8 messages, with a history size of 5 (oldest first)");
  });
});

step(5, () => {
  // Big messages fill the network's and grpc-js's buffers quickly.
  const bigText = (i: number) => `${i} `.padEnd(16 * 1024, "x");

  it("lets a member pause reading, queues what it misses, and delivers it all once it reads again", async () => {
    const address = await learnerServer({ historySize: 20, maxQueued: 64 });
    // carol keeps reading: once she has the whole burst, the server has dealt with every message for bob too
    // (a fixed wait is not enough: on a busy machine the burst could reach the server after bob reads again).
    const [alice, carol, bob] = await joinAll(address, "lobby", ["alice", "carol", "bob"]);
    bob!.pause();
    const burst = 60;
    for (let i = 0; i < burst; i++) alice!.say(bigText(i));
    await carol!.until(() => carol!.messages().length >= burst, `expected all ${burst} of alice's messages while another member was not reading`, 3000);
    bob!.resume();
    await bob!.until(() => bob!.messages().length >= burst, `expected all ${burst} messages alice sent while bob was not reading (the server queues up to maxQueued = 64 for him)`, 3000);
    expectEqual(bob!.messages().map((line) => line.slice(0, line.indexOf(" x"))), Array.from({ length: burst }, (_, i) => `alice: ${i}`), "the messages bob received after reading again, in order");
    expectEqual(bob!.events.slice(1).filter((event) => !isMessage(event)).map(describeEvent), [], "the events bob received after his welcome besides alice's messages");
  });

  it("drops a member that stops reading with RESOURCE_EXHAUSTED, without slowing the others", async function () {
    this.timeout(10000); // 3 MB to bob can take seconds on a busy machine: the check waits while messages keep coming
    const address = await learnerServer({ historySize: 20, maxQueued: 64 });
    const [alice, bob, slow] = await joinAll(address, "lobby", ["alice", "bob", "slow"]);
    slow!.pause();
    const burst = 200;
    for (let i = 0; i < burst; i++) alice!.say(bigText(i));
    // A server that waits for the slow reader before writing to the others stops here: nothing more comes for a second.
    await bob!.until(() => bob!.messages().length >= burst, `expected all ${burst} of alice's messages while another member was not reading`, 6000, { stallMs: 1000 });
    await bob!.waitFor(isLeft("slow"), `expected the member that stopped reading to be dropped (others see it leave) after ${burst} messages of 16 KiB, more than the network and a queue of maxQueued = 64 hold`, 500);
    slow!.resume();
    const status = await slow!.finished("expected the server to end the call of the member that stopped reading");
    expectEqual(grpc.status[status.code], "RESOURCE_EXHAUSTED", "the status of the member that stopped reading, once it read again");
  });
});

const joinedEvent = (name: string): ServerEvent => ({ kind: "joined", joined: { name } });
const leftEvent = (name: string): ServerEvent => ({ kind: "left", left: { name } });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
