/**
 * Lab 11, steps 6 to 8: the learner's Telemetry client against servers of
 * the checks' own. What makes a client fast is visible from the outside: a
 * proxy counts its connections, the server counts calls in flight and
 * streams, and a server that reads the raw HTTP/2 sees grpc-encoding.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { CheckFailure, expectEqual, expectTrue, settledWithin, step, tcpProxy } from "../../../scripts/check-kit";
import { type Batch, blobBatch, clientModule, describeError, overLimit, readings, recordingServer, summaryOf, wireEchoServer } from "./perf";

/** Six small batches, each with readings of its own sensor. */
const sixBatches = (): Batch[] => Array.from({ length: 6 }, (_, i) => ({ readings: readings(3, `s-${i + 1}`), blob: Buffer.alloc(0) }));

/** Runs the learner's call, turning a gRPC error into one sentence. */
async function learnerCall<T>(work: Promise<T>, what: string, hint = ""): Promise<T> {
  const outcome = await settledWithin(work, 4000, what);
  if (outcome.resolved) return outcome.value;
  throw new CheckFailure(`${what} failed with ${describeError(outcome.error)}${hint ? `: ${hint}` : ""}`);
}

/**
 * Waits up to 1.5 s for `closed()`: the checks' servers never close a
 * connection by themselves, so a closed one is the client's doing.
 */
async function expectClosed(closed: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 150 && !closed(); i++) await sleep(10);
  expectTrue(closed(), `${what}'s connection was still open 1.5 s after it resolved: close the client once the answer is in (client.close() in a finally block)`);
}

step(6, () => {
  it("echoAll sends every call over one connection, answers in order, and closes it when done", async () => {
    const { address } = await recordingServer(6);
    const proxy = await tcpProxy(address);
    const batches = sixBatches();
    const answers = await learnerCall((await clientModule()).echoAll(proxy.address, batches), "echoAll of 6 batches");
    expectEqual(
      (answers ?? []).map((a) => a.readings[0]?.sensor),
      batches.map((b) => b.readings[0]!.sensor),
      "the sensors of echoAll's answers, in order (the answer to each batch, in the batches' order)",
    );
    const opened = proxy.connections.length;
    expectTrue(opened === 1, `echoAll opened ${opened} connections for 6 calls: create one client (one channel) for all of them, not one for each call`);
    await expectClosed(() => proxy.connections[0]!.closedAt !== undefined, "echoAll");
  });

  it("echoAll has every call in flight at once", async () => {
    const { address, seen } = await recordingServer(6);
    await learnerCall((await clientModule()).echoAll(address, sixBatches()), "echoAll of 6 batches");
    expectEqual(seen.echoes, 6, "Echo calls the server received");
    expectEqual(seen.noDeadline, 0, "echoAll's calls without a deadline (give every call one: { deadline: Date.now() + 5000 })");
    expectTrue(
      seen.maxInFlight === 6,
      `the server had at most ${seen.maxInFlight} of echoAll's 6 calls in flight at once: start every call before awaiting any (batches.map, then Promise.all), so that they share the connection instead of waiting for each other's round trip`,
    );
  });
});

step(7, () => {
  it("uploadAll sends every reading, in order, in one Upload stream, and resolves with the server's answer", async () => {
    const { address, seen } = await recordingServer();
    const proxy = await tcpProxy(address);
    const list = readings(500);
    const summary = await learnerCall((await clientModule()).uploadAll(proxy.address, list), "uploadAll of 500 readings");
    expectEqual(seen.echoes, 0, "Echo calls uploadAll made (one call per reading is one round trip per reading: use the Upload client stream)");
    expectEqual(seen.uploads.length, 1, "Upload streams uploadAll opened (one stream carries every reading)");
    expectEqual(seen.uploads[0], list, "the readings the Upload stream carried, in order");
    expectEqual(summary, summaryOf(list), "uploadAll's result (the server's UploadSummary)");
    expectEqual(seen.noDeadline, 0, "Upload calls without a deadline (give the call one: { deadline: Date.now() + 5000 })");
    await expectClosed(() => proxy.connections.every((c) => c.closedAt !== undefined), "uploadAll");
  });
});

step(8, () => {
  it("echoLarge compresses its request with gzip (grpc-encoding: gzip)", async () => {
    const { address, requests, openConnections } = await wireEchoServer();
    // 3,000 readings: about 50 KB, and very repetitive.
    const batch: Batch = { readings: readings(3000), blob: Buffer.alloc(0) };
    const answer = await learnerCall((await clientModule()).echoLarge(address, batch), "echoLarge of 3,000 readings");
    expectEqual(answer?.readings?.length, 3000, "readings in echoLarge's answer");
    const request = requests[0]!;
    expectTrue(
      request.encoding === "gzip" && request.compressed,
      `echoLarge's request arrived with grpc-encoding ${request.encoding}${request.compressed ? "" : ", uncompressed"}: set the channel option "grpc.default_compression_algorithm" to 2 (gzip)`,
    );
    expectTrue(request.timeout !== undefined, "echoLarge's call came without a deadline (no grpc-timeout): give it one, { deadline: Date.now() + 5000 }");
    await expectClosed(() => openConnections() === 0, "echoLarge");
  });

  it(`echoLarge receives an answer over 4 MiB (${overLimit} bytes)`, async () => {
    // The checks' server answers this small batch with a blob of 4 MiB + 64 KiB: only the answer needs to be large.
    const { address } = await wireEchoServer(overLimit);
    const answer = await learnerCall(
      (await clientModule()).echoLarge(address, blobBatch(16)),
      "echoLarge of a batch answered with a blob of 4 MiB + 64 KiB",
      'a grpc-js client refuses an answer over 4 MiB with RESOURCE_EXHAUSTED unless its channel has a larger "grpc.max_receive_message_length" (16 MiB)',
    );
    expectEqual(answer?.blob?.length, overLimit, "the bytes of the blob in echoLarge's answer");
  });
});
