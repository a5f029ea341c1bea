/**
 * Lab 11's checks against variants of its reference solution: each known
 * mistake fails exactly the checks about it, and two different but correct
 * solutions pass. The mistakes are the ones benchmarks and fast clients are
 * known for: an off-by-one percentile, requests per second from the average,
 * failures' times taken as latencies or not timed, warm-up calls or their
 * time measured, latencies from the run's start, a count split between
 * workers, sequential calls, answers in arrival order, a client per call or
 * never closed, a unary call per reading, no compression, and the 4 MiB
 * limit left as it is. Then `bench`, with few samples: its ratios come from
 * its own samples, without the warm-up's, and it times no wrong answer.
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { findLab, labsDir, treeDir } from "../scripts/lib/labs";
import { ensureStubs } from "../scripts/lib/stubs";
import { alternativeFile, checkVariant as checkVariantOf, type Edit, expectFailing, failingIds as failing, removeTrees, solutionVariant } from "./trees";

const lab = findLab("11");
const harness = "src/harness.ts";
const server = "src/server.ts";
const client = "src/client.ts";

const checkVariant = (name: string, edits: Edit[]) => checkVariantOf(lab, name, edits);

const replaced = (file: string, alternative: string) => alternativeFile(lab, file, alternative);

const s2 = { percentiles: "s2.reports-the-latency-percentiles", totals: "s2.counts-every-call", histogram: "s2.builds-ghz-s-histogram", empty: "s2.reports-a-run-without-a-successful-call" };
const s3 = { count: "s3.makes-the-warm-up-calls", concurrency: "s3.keeps-exactly-concurrency", duration: "s3.with-a-duration" };

describe("lab 11's checks against known mistakes", function () {
  this.timeout(180_000);
  after(removeTrees);

  it("percentiles off by one (index floor(p × n) instead of ceil(p × n) - 1)", async () => {
    const result = await checkVariant("off-by-one", [{ file: harness, from: "ok[Math.ceil((percentage / 100) * n) - 1]!", to: "ok[Math.min(n - 1, Math.floor((percentage / 100) * n))]!" }]);
    expectFailing(result, [s2.percentiles]);
  });

  it("requests per second from the average latency", async () => {
    const result = await checkVariant("rps-from-average", [{ file: harness, from: "rps: totalMs > 0 ? count / (totalMs / 1000) : 0,", to: "rps: 1000 / (samples.reduce((sum, s) => sum + s.ms, 0) / count)," }]);
    // With no call, the average is 0 and its inverse Infinity.
    expectFailing(result, [s2.totals, s2.empty]);
  });

  it("failed calls' times in fastest, slowest and the percentiles", async () => {
    const result = await checkVariant("failures-as-latencies", [{ file: harness, from: "samples.filter((s) => s.ok).map", to: "samples.map" }]);
    // The histogram and empty-run checks have failed samples too, and with every sample a latency, no call counts as an error.
    expectFailing(result, [s2.totals, s2.histogram, s2.empty, s3.count]);
  });

  it("a histogram of 10 marks, without ghz's first mark at fastest", async () => {
    const result = await checkVariant("ten-marks", [{ file: harness, from: "const marks = [...Array.from({ length: 10 }, (_, i) => fastest + i * width), slowest];", to: "const marks = [...Array.from({ length: 9 }, (_, i) => fastest + (i + 1) * width), slowest];" }]);
    expectFailing(result, [s2.histogram]);
  });

  it("warm-up calls measured with the others", async () => {
    const result = await checkVariant("warmup-measured", [{ file: harness, from: "for (let i = 0; i < options.warmup; i++) await timed();", to: "const samples: Sample[] = [];\n  for (let i = 0; i < options.warmup; i++) samples.push(await timed());" }, { file: harness, from: "  const samples: Sample[] = [];\n  const start", to: "  const start" }]);
    expectFailing(result, [s3.count, s3.duration]);
  });

  it("the clock started before the warm-up (totalMs and rps include it)", async () => {
    const result = await checkVariant("clock-before-warmup", [
      { file: harness, from: "  for (let i = 0; i < options.warmup; i++) await timed();\n\n  const samples: Sample[] = [];\n  const start = performance.now();", to: "  const start = performance.now();\n  for (let i = 0; i < options.warmup; i++) await timed();\n\n  const samples: Sample[] = [];" },
    ]);
    // The 300 ms run also counts from before its warm-up: on a busy machine, the warm-up may use it all up.
    expectFailing(result, [s3.count], [s3.duration]);
  });

  it("latencies timed from the run's start instead of each call's", async () => {
    const result = await checkVariant("latency-from-run-start", [{ file: harness, from: "      samples.push(await timed());", to: "      const { ok } = await timed();\n      samples.push({ ms: performance.now() - start, ok });" }]);
    expectFailing(result, [s3.count]);
  });

  it("failed calls recorded as taking 0 ms", async () => {
    const result = await checkVariant("failures-untimed", [{ file: harness, from: "      return { ms: performance.now() - start, ok: false };", to: "      return { ms: 0, ok: false };" }]);
    expectFailing(result, [s3.count]);
  });

  it("the count split between the workers (count / concurrency calls each)", async () => {
    const result = await checkVariant("count-per-worker", [
      {
        file: harness,
        from: "    while (more()) {\n      started++;\n      samples.push(await timed());\n    }",
        to: "    for (let mine = 0; options.durationMs !== undefined ? more() : mine < (options.count ?? 0) / options.concurrency; mine++) samples.push(await timed());",
      },
    ]);
    expectFailing(result, [s3.concurrency]);
  });

  it("a failed call rejects the whole run", async () => {
    const result = await checkVariant("failure-throws", [{ file: harness, from: "    try {\n      await call();\n      return { ms: performance.now() - start, ok: true };\n    } catch {\n      return { ms: performance.now() - start, ok: false };\n    }", to: "    await call();\n    return { ms: performance.now() - start, ok: true };" }]);
    expectFailing(result, [s3.count]);
  });

  it("concurrency ignored: one call at a time", async () => {
    const result = await checkVariant("one-worker", [{ file: harness, from: "Array.from({ length: options.concurrency }, worker)", to: "[worker()]" }]);
    expectFailing(result, [s3.concurrency]);
  });

  it("a server that answers Upload at the first reading", async () => {
    const result = await checkVariant("upload-first", [{ file: server, from: 'call.on("data", (reading: Reading) => readings.push(reading));\n      call.on("end", () => callback(null, summary(readings)));', to: 'call.on("data", (reading: Reading) => callback(null, summary([reading])));' }]);
    expectFailing(result, ["s4.upload-sums-up"]);
  });

  it("a server with the default 4 MiB receive limit", async () => {
    const result = await checkVariant("server-limit", [{ file: server, from: 'new grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 })', to: "new grpc.Server()" }]);
    expectFailing(result, ["s5.accepts-a-message-over-4-mib"]);
  });

  it("a REST twin that parses the first chunk of the body only", async () => {
    const result = await checkVariant("rest-first-chunk", [{ file: server, from: "JSON.parse(Buffer.concat(chunks).toString(\"utf8\"))", to: "JSON.parse(chunks[0]!.toString(\"utf8\"))" }]);
    expectFailing(result, ["s4.echo-answers-with-the-batch"]);
  });

  it("a server with no message limit at all (-1)", async () => {
    const result = await checkVariant("server-no-limit", [{ file: server, from: '"grpc.max_receive_message_length": 16 * 1024 * 1024', to: '"grpc.max_receive_message_length": -1' }]);
    expectFailing(result, ["s5.accepts-a-message-over-4-mib"]);
  });

  it("a new client for each call, each closed after its answer", async () => {
    const result = await checkVariant("client-per-call", [
      {
        file: client,
        from: /  const client = new TelemetryClient\(address, grpc\.credentials\.createInsecure\(\)\);\n  try \{\n    \/\/ Start every call[\s\S]*?\n  \} finally \{\n    client\.close\(\);\n  \}\n\}/,
        to: [
          "  return Promise.all(",
          "    batches.map(async (batch) => {",
          "      const client = new TelemetryClient(address, grpc.credentials.createInsecure(), { \"grpc.use_local_subchannel_pool\": 1 });",
          "      try {",
          "        return await new Promise<Batch>((resolve, reject) => client.echo(batch, new grpc.Metadata(), { deadline: deadline() }, (error, answer) => (error ? reject(error) : resolve(answer))));",
          "      } finally {",
          "        client.close();",
          "      }",
          "    }),",
          "  );",
          "}",
        ].join("\n"),
      },
    ]);
    // Six connections opened side by side: whether all six calls arrive within the server's 150 ms is chance.
    expectFailing(result, ["s6.echoall-sends-every-call-over-one-connection"], ["s6.echoall-has-every-call-in-flight"]);
  });

  it("one call at a time (await in the loop)", async () => {
    const result = await checkVariant("sequential", [
      {
        file: client,
        from: "    return await Promise.all(\n      batches.map((batch) => new Promise<Batch>(",
        to: "    const answers: Batch[] = [];\n    for (const batch of batches) answers.push(await new Promise<Batch>(",
      },
      { file: client, from: "(error ? reject(error) : resolve(answer))))),\n    );", to: "(error ? reject(error) : resolve(answer)))));\n    return answers;" },
    ]);
    expectFailing(result, ["s6.echoall-has-every-call-in-flight"]);
  });

  it("answers collected in the order they arrive instead of the batches' order", async () => {
    const result = await checkVariant("arrival-order", [
      {
        file: client,
        from: /    return await Promise\.all\(\n      batches\.map\([\s\S]*?\n    \);/,
        to: [
          "    const answers: Batch[] = [];",
          "    await Promise.all(",
          "      batches.map((batch) => new Promise<void>((resolve, reject) => client.echo(batch, new grpc.Metadata(), { deadline: deadline() }, (error, answer) => {",
          "        if (error) return reject(error);",
          "        answers.push(answer);",
          "        resolve();",
          "      }))),",
          "    );",
          "    return answers;",
        ].join("\n"),
      },
    ]);
    expectFailing(result, ["s6.echoall-sends-every-call-over-one-connection"]);
  });

  it("a client never closed", async () => {
    const result = await checkVariant("never-closed", [{ file: client, from: "  } finally {\n    client.close();\n  }\n}\n\n/** Uploads", to: "  } finally {\n    void client;\n  }\n}\n\n/** Uploads" }]);
    expectFailing(result, ["s6.echoall-sends-every-call-over-one-connection"]);
  });

  it("one Echo call per reading instead of the Upload stream", async () => {
    const result = await checkVariant("unary-upload", [
      {
        file: client,
        from: /    return await new Promise<UploadSummary>\(\(resolve, reject\) => \{\n      const call = client\.upload[\s\S]*?\n    \}\);/,
        to: [
          "    for (const reading of readings) {",
          "      await new Promise<Batch>((resolve, reject) => client.echo({ readings: [reading], blob: Buffer.alloc(0) }, new grpc.Metadata(), { deadline: deadline() }, (error, answer) => (error ? reject(error) : resolve(answer))));",
          "    }",
          "    return { count: readings.length, sum: readings.reduce((sum, r) => sum + r.value, 0), lastSeq: readings.at(-1)?.seq ?? 0 };",
        ].join("\n"),
      },
    ]);
    expectFailing(result, ["s7.uploadall-sends-every-reading"]);
  });

  it("no compression", async () => {
    const result = await checkVariant("no-gzip", [{ file: client, from: '"grpc.default_compression_algorithm": 2,', to: "" }]);
    expectFailing(result, ["s8.echolarge-compresses"]);
  });

  it("a client with the default 4 MiB receive limit", async () => {
    const result = await checkVariant("client-limit", [{ file: client, from: '"grpc.max_receive_message_length": 16 * 1024 * 1024,', to: "" }]);
    expectFailing(result, ["s8.echolarge-receives"]);
  });

  it("a different but correct solution passes: another harness and another client", async () => {
    const result = await checkVariant("other-harness-client", [replaced(harness, "other-harness.ts"), replaced(client, "other-client.ts")]);
    assert.deepEqual(failing(result), []);
    assert.deepEqual(result.type_errors, []);
  });

  it("another correct solution passes: another server and REST twin", async () => {
    const result = await checkVariant("other-server", [replaced(server, "other-server.ts")]);
    assert.deepEqual(failing(result), []);
    assert.deepEqual(result.type_errors, []);
  });
});

describe("lab 11's bench", function () {
  this.timeout(120_000);
  after(removeTrees);

  /** lab.ts's bench, measuring the code of `tree`. */
  function benchOn(tree: string): typeof import("../labs/11-performance/lab") {
    ensureStubs(lab, tree);
    process.env.GRPC_LABS_TARGET_DIR = tree;
    process.env.GRPC_LABS_LAB = lab.number;
    return require(path.join(labsDir, lab.id, "lab.ts"));
  }

  it("prints ratios computed from its own samples, with the machine, Node's version and the loopback caveat", async () => {
    const bench = benchOn(treeDir(lab, "solution"));
    // Two rounds of a few samples: the numbers mean nothing, their arithmetic does.
    const measured = await bench.measure(2, 0.02);
    const nearestRankMedian = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.ceil(samples.length / 2) - 1]!;
    assert.equal(measured.length, 5);
    // 200, 4, 1, 1 and 50 samples a round, times 0.02 (at least 1), in 2 rounds: none from the warm-up round.
    assert.deepEqual(
      measured.map((row) => row.variants.map((v) => v.samples.length)),
      [[8, 8], [2, 2], [2, 2], [2, 2], [2, 2]],
      "samples of each variant (2 rounds, the warm-up round not counted)",
    );
    for (const row of measured) {
      const [a, b] = row.variants.map((v) => nearestRankMedian(v.samples)) as [number, number];
      for (const v of row.variants) assert.equal(v.report.count, v.samples.length, `${row.name}: ${v.label}'s report covers its samples`);
      assert.equal(row.ratio, Math.max(a, b) / Math.min(a, b), `${row.name}: the ratio of the medians of its samples`);
      assert.equal(row.faster, row.variants[a <= b ? 0 : 1]!.label);
    }
    const lines = bench.table(measured, 2);
    assert.ok(lines.some((l) => l.includes(`Node ${process.version}`)));
    assert.ok(lines.some((l) => /Loopback only/.test(l)));
    for (const row of measured) assert.ok(lines.some((l) => l.includes(`${row.ratio.toFixed(1)}× faster`)), `the table shows ${row.name}'s ratio`);
  });

  it("times no server that answers wrong: a REST twin that answers every path with the summary is refused", async () => {
    const tree = solutionVariant(lab, "11-bench-wrong-rest", [
      { file: server, from: 'if (req.url === "/v1/echo") answer(200, Batch.toJSON(batch));\n      else answer(', to: "answer(" },
    ]);
    await assert.rejects(benchOn(tree).measure(1, 0.02), /POST \/v1\/echo did not answer the small batch it was sent/);
  });
});
