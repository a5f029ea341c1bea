/**
 * Lab 03, steps 6 and 7: the learner's chat() against a recording server
 * that the check scripts. The check feeds chat() its lines one at a time, so
 * it can tell what the client sent when, and it records what the server
 * received: the join, the texts, the half-close, a cancellation.
 */
import * as grpc from "@grpc/grpc-js";
import { CheckFailure, expectEqual, expectNoDeadline, expectRejection, expectTrue, noteDeadline, record, settled, settledWithin, step, within } from "../../../scripts/check-kit";
import { chatLines, type ClientMessage, type LearnerEvent, learnerClientFor, type Lines, promptlyMs, type ServerEvent } from "./chat";

type ServerCall = grpc.ServerDuplexStream<ClientMessage, ServerEvent>;

/** What the recording server saw of the call. */
interface Recording {
  received: Array<{ join: { room: string; name: string } } | { text: string }>;
  halfClosed: boolean;
  cancelled: boolean;
  call?: ServerCall;
}

/** A Chat handler that records the call and hands it to `script` once the first message arrives. */
function recorder(recording: Recording, script: { onFirst?: (call: ServerCall) => void; onEnd?: (call: ServerCall) => void } = {}) {
  return (call: ServerCall) => {
    recording.call = call;
    call.on("data", (message: { join?: { room: string; name: string }; text?: string; kind?: string }) => {
      recording.received.push(message.kind === "join" ? { join: { room: message.join!.room, name: message.join!.name } } : { text: message.text ?? "" });
      if (recording.received.length === 1) script.onFirst?.(call);
    });
    call.on("end", () => {
      recording.halfClosed = true;
      if (script.onEnd) script.onEnd(call);
      else call.end();
    });
    call.on("cancelled", () => (recording.cancelled = true));
  };
}

const newRecording = (): Recording => ({ received: [], halfClosed: false, cancelled: false });

const welcome: ServerEvent = { kind: "welcome", welcome: { room: "lobby", members: ["bob"], history: [{ from: "bob", text: "earlier" }] } };
const later: ServerEvent[] = [
  { kind: "message", message: { from: "bob", text: "hi alice" } },
  { kind: "joined", joined: { name: "carol" } },
  { kind: "left", left: { name: "bob" } },
];

/** The events above as the learner's ts-proto stubs decode them. */
function asLearnerEvent(event: ServerEvent): LearnerEvent {
  const { kind, ...fields } = event as ServerEvent & Record<string, unknown>;
  return { kind: { $case: kind, value: fields[kind] } } as LearnerEvent;
}

/** The learner's chat() under way: its promise, and how it has settled so far. */
class LearnerChat {
  readonly done: Promise<void>;
  private outcome: { resolved: true } | { error: unknown } | undefined;

  constructor(setup: Awaited<ReturnType<typeof learnerClientFor>>, lines: Lines, events: LearnerEvent[], signal?: AbortSignal) {
    this.done = setup.learner.chat(setup.client, "lobby", "alice", lines, (event) => events.push(event), signal);
    // Recorded, so the promise never goes unhandled, even when a check stops early.
    this.done.then(
      () => (this.outcome = { resolved: true }),
      (error: unknown) => (this.outcome = { error }),
    );
  }

  /**
   * Polls until `ready()` holds; fails with `what` after `ms`, at once when
   * chat() rejects first, and when it resolves first unless `resolvedFirst` is "wait".
   */
  async until(ready: () => boolean, what: string, ms = promptlyMs, resolvedFirst: "fail" | "wait" = "fail"): Promise<void> {
    const started = Date.now();
    while (!ready()) {
      const outcome = this.outcome;
      if (outcome && "error" in outcome) {
        const code = (outcome.error as { code?: unknown }).code;
        // The learner's own error (a TODO) is reported as is, with its location.
        if (typeof code !== "number") throw outcome.error;
        throw new CheckFailure(`${what}, but chat() rejected first with ${grpc.status[code]}: ${(outcome.error as Error).message}`);
      }
      if (outcome && resolvedFirst === "fail") throw new CheckFailure(`${what}, but chat() resolved first`);
      if (Date.now() - started > ms) throw new CheckFailure(`${what} within ${ms / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

step(6, () => {
  it("joins first, then sends each line in order, and half-closes at the end of input", async () => {
    const recording = newRecording();
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => call.write(welcome) }));
    const lines = await chatLines(["hello", "how are you?"]);
    const chat = new LearnerChat(setup, lines, []);
    await chat.until(() => recording.received.length >= 3, "expected the server to receive the join and both lines");
    expectEqual(recording.received, [{ join: { room: "lobby", name: "alice" } }, { text: "hello" }, { text: "how are you?" }], "what the server received");
    expectTrue(!recording.halfClosed, "the client half-closed its stream before the end of input: call end() only when the lines run out");
    await lines.end();
    await within(chat.done, promptlyMs, "chat() after the end of input (half-close with call.end(); the server then ends the call)");
    expectTrue(recording.halfClosed, "the server never saw the client half-close: call end() when the lines run out");
  });

  it("gives the chat call no deadline: it lasts as long as the user wants", async () => {
    const recording = newRecording();
    const seen = record<unknown>();
    const handler = recorder(recording, { onFirst: (call) => call.write(welcome) });
    const setup = await learnerClientFor((call: ServerCall) => {
      noteDeadline(seen, call);
      handler(call);
    });
    const lines = await chatLines(["hello"]);
    const chat = new LearnerChat(setup, lines, []);
    await chat.until(() => recording.received.length >= 2, "expected the server to receive the join and the line");
    await lines.end();
    await within(chat.done, promptlyMs, "chat() after the end of input");
    expectNoDeadline(seen, "Chat");
  });

  it("hands each event to onEvent as it arrives, in order", async () => {
    const recording = newRecording();
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => call.write(welcome) }));
    const lines = await chatLines();
    const events: LearnerEvent[] = [];
    const chat = new LearnerChat(setup, lines, events);
    await chat.until(() => events.length >= 1, "expected onEvent to get the welcome while the call is still open (hand events over from call.on(\"data\"), not at the end)");
    for (const event of later) recording.call!.write(event);
    await chat.until(() => events.length >= 1 + later.length, `expected onEvent to get the ${later.length} events the server sent after the welcome`);
    await lines.end();
    await within(chat.done, promptlyMs, "chat() after the end of input");
    await settled();
    expectEqual(events, [welcome, ...later].map(asLearnerEvent), "the events onEvent received");
  });

  it("keeps reading after the half-close until the server ends the call", async () => {
    const recording = newRecording();
    const farewell: ServerEvent[] = [
      { kind: "message", message: { from: "bob", text: "bye alice" } },
      { kind: "left", left: { name: "bob" } },
    ];
    const onEnd = (call: ServerCall) =>
      // The server answers the half-close a moment later: a client that stops reading at its own end misses this.
      setTimeout(() => {
        for (const event of farewell) call.write(event);
        call.end();
      }, 50);
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => call.write(welcome), onEnd }));
    const events: LearnerEvent[] = [];
    const lines = await chatLines(["bye"]);
    await lines.end();
    await within(new LearnerChat(setup, lines, events).done, promptlyMs, "chat() (resolve on the call's \"end\" event)");
    await settled();
    expectEqual(events, [welcome, ...farewell].map(asLearnerEvent), "the events onEvent received, including those the server sent after the client's half-close");
  });

  it("waits for \"drain\" when the server does not keep up, instead of buffering every line, and goes on once it reads again", async function () {
    const resumeMs = 4000;
    this.timeout(8000); // the usual 5 s, and time to wait for the client to go on
    const recording = newRecording();
    // This server reads the join, then stops reading: the client's writes fill the connection.
    let serverCall: ServerCall | undefined;
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => ((serverCall = call), call.write(welcome), call.pause()) }));
    const total = 2000;
    const big = "x".repeat(16 * 1024);
    const lines = await chatLines();
    await lines.repeat(big, total);
    const chat = new LearnerChat(setup, lines, []);
    await chat.until(() => recording.received.length >= 1, "expected the server to receive the join");
    // A client that waits for "drain" stops taking lines (it cannot come while the server reads nothing); one that
    // does not takes them all. Watch until the count stands still for 0.2 s, or grows too far, not for a fixed time.
    let taken = await lines.taken;
    for (let still = 0, until = Date.now() + 3000; still < 4 && taken < total / 4 && Date.now() < until; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = await lines.taken;
      still = now === taken ? still + 1 : 0;
      taken = now;
    }
    expectTrue(taken < total / 4, `chat() took ${taken} of ${total} lines of 16 KiB while the server read none: when write() returns false, wait for "drain" before taking the next line`);
    // The server reads again: "drain" comes once it has read what was sent meanwhile (up to about 1.3 MB, slow
    // on a busy machine), and chat() must take lines again: more than two rounds of "drain".
    serverCall!.resume();
    const deadline = Date.now() + resumeMs;
    let now = taken;
    while (now < taken + 40 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await lines.taken;
    }
    expectTrue(now >= taken + 40, `chat() took ${now - taken} more lines within ${resumeMs / 1000} s after the server read again, expected at least 40: wait for "drain" (once(call, "drain")) each time write() returns false, then go on`);
  });
});

step(7, () => {
  it("rejects with the server's error, even while waiting for the next line", async () => {
    const recording = newRecording();
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => call.emit("error", { code: grpc.status.ALREADY_EXISTS, details: "the name alice is taken" }) }));
    const lines = await chatLines();
    await expectRejection(new LearnerChat(setup, lines, []).done, grpc.status.ALREADY_EXISTS, "chat() against a server that answers the join with ALREADY_EXISTS", promptlyMs);
  });

  it("rejects when the server ends the call with an error midway, after handing over the events before it", async () => {
    const recording = newRecording();
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => call.write(welcome) }));
    const lines = await chatLines();
    const events: LearnerEvent[] = [];
    const chat = new LearnerChat(setup, lines, events);
    await chat.until(() => events.length >= 1, "expected onEvent to get the welcome");
    await lines.push("a line");
    await chat.until(() => recording.received.length >= 2, "expected the server to receive the line");
    recording.call!.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: "alice reads too slowly" });
    await expectRejection(chat.done, grpc.status.RESOURCE_EXHAUSTED, "chat() when the server ends the call with RESOURCE_EXHAUSTED", promptlyMs);
    await settled();
    expectEqual(events, [asLearnerEvent(welcome)], "the events onEvent received before the error");
  });

  it("rejects when the server ends the call with CANCELLED before the signal aborts", async () => {
    const recording = newRecording();
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => call.emit("error", { code: grpc.status.CANCELLED, details: "the server is closing the room" }) }));
    const lines = await chatLines();
    // Only the CANCELLED of the client's own cancel() is how the user leaves.
    const chat = new LearnerChat(setup, lines, [], new AbortController().signal);
    await expectRejection(chat.done, grpc.status.CANCELLED, "chat() against a server that ends the call with CANCELLED, the signal not aborted", promptlyMs);
  });

  it("cancels the call when the signal aborts, and then resolves", async () => {
    const recording = newRecording();
    const setup = await learnerClientFor(recorder(recording, { onFirst: (call) => call.write(welcome) }));
    const events: LearnerEvent[] = [];
    const abort = new AbortController();
    const chat = new LearnerChat(setup, await chatLines(), events, abort.signal);
    await chat.until(() => events.length >= 1, "expected onEvent to get the welcome");
    abort.abort();
    // call.cancel() ends the call in the client at once, and the server hears of it a moment
    // later: chat() may resolve before the server sees the cancel (on a busy machine it did).
    await chat.until(() => recording.cancelled, "expected the server to see the call cancelled after the signal aborted (call.cancel())", promptlyMs, "wait");
    const outcome = await settledWithin(chat.done, promptlyMs, "chat() after the signal aborted");
    if (!outcome.resolved) {
      const code = (outcome.error as { code?: number }).code;
      throw new CheckFailure(`chat() rejected after the signal aborted (${code === undefined ? String(outcome.error) : grpc.status[code]}): leaving with Ctrl-C is not an error, resolve instead`);
    }
  });
});
