/**
 * Lab 11's `serve`, `client` and `bench` commands. `serve` runs your
 * Telemetry server. `client` runs your client's three functions against a
 * server and prints what came back. `bench` starts your gRPC server and your
 * REST twin in this process and measures them side by side, then prints the
 * comparison: every number in it comes from that run.
 */
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import { performance } from "node:perf_hooks";
import { isDeepStrictEqual } from "node:util";
import { CheckFailure, loadTarget } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { type Batch, type ClientModule, type HarnessModule, type Reading, type Report, type ServerModule, summaryOf, type UploadSummary } from "./checks/perf";

/** A generated message's proto3 JSON codec. */
interface JsonCodec<T> {
  fromJSON(object: unknown): T;
  toJSON(message: T): unknown;
}
/** What the bench needs of the stubs in gen/: the generated client, and the codecs that compare answers. */
interface Stubs {
  TelemetryClient: new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client & {
    echo(request: Batch, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, answer: Batch) => void): void;
    upload(options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, summary: UploadSummary) => void): grpc.ClientWritableStream<Reading>;
  };
  Batch: JsonCodec<Batch>;
  UploadSummary: JsonCodec<UploadSummary>;
}

/** One thing measured: each run() is one sample. */
interface Variant {
  label: string;
  run(): Promise<unknown>;
}
interface Comparison {
  name: string;
  /** Samples of each variant per round. */
  perRound: number;
  variants: [Variant, Variant];
}
export interface Measured {
  name: string;
  variants: Array<{ label: string; samples: number[]; report: Report }>;
  /** The slower variant's median over the faster one's. */
  ratio: number;
  faster: string;
}

const readingsOf = (count: number, sensor: string): Reading[] => Array.from({ length: count }, (_, i) => ({ sensor, value: (i % 100) / 4, seq: i + 1 }));
/** About 770 KB as JSON (560 KB as protobuf): many small fields, the worst case for a reflection-based codec. */
const largeBatch: Batch = { readings: readingsOf(10_000, "building-7/floor-3/room-12/thermometer-1"), blob: Buffer.alloc(0) };
const smallBatch: Batch = { readings: readingsOf(1, "hall/thermometer-1"), blob: Buffer.alloc(0) };
const uploadReadings = readingsOf(500, "hall/thermometer-1");

/** The median and p99 the learner's summarize() reports. */
export const median = (report: Report) => report.latencyDistribution.find((d) => d.percentage === 50)?.latency ?? Number.NaN;
const p99 = (report: Report) => report.latencyDistribution.find((d) => d.percentage === 99)?.latency ?? Number.NaN;

/**
 * Measures each comparison `rounds` times after one warm-up round. Within a
 * round the two variants take turns, one sample each, and the round's first
 * variant alternates: neither gets the warmer JIT or the quieter moment.
 */
export async function measure(rounds: number, scale = 1): Promise<Measured[]> {
  const harness = await loadTarget<HarnessModule>("src/harness.ts");
  const servers = await loadTarget<ServerModule>("src/server.ts");
  const { TelemetryClient, Batch, UploadSummary } = await loadTarget<Stubs>("gen/perf/v1/telemetry.ts");
  const grpcServer = await servers.createTelemetryServer();
  const restServer = await servers.createRestServer();
  let reused: InstanceType<Stubs["TelemetryClient"]> | undefined;
  // A keep-alive agent with one socket: one connection reused, like the gRPC channel.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    await new Promise<void>((resolve) => restServer.listen(0, "127.0.0.1", resolve));
    const grpcAddress = `127.0.0.1:${port}`;
    const restUrl = `http://127.0.0.1:${(restServer.address() as AddressInfo).port}`;
    const channel = new TelemetryClient(grpcAddress, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": 16 * 1024 * 1024 });
    reused = channel;

    const echo = (on: InstanceType<Stubs["TelemetryClient"]>, batch: Batch) =>
      new Promise<Batch>((resolve, reject) => on.echo(batch, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error, answer) => (error ? reject(error) : resolve(answer))));
    const post = (path: string, body: string) =>
      new Promise<unknown>((resolve, reject) => {
        const request = http.request(`${restUrl}${path}`, { method: "POST", agent, headers: { "content-type": "application/json" } }, (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () => (response.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))) : reject(new Error(`POST ${path}: HTTP ${response.statusCode}`))));
        });
        request.on("error", reject);
        request.end(body);
      });
    // The JSON a REST client sends is built for each call, as the gRPC client encodes each call.
    const restEcho = (batch: Batch) => post("/v1/echo", JSON.stringify({ readings: batch.readings }));
    const restUpload = () => post("/v1/upload", JSON.stringify({ readings: uploadReadings }));
    const upload = () =>
      new Promise<UploadSummary>((resolve, reject) => {
        const call = channel.upload({ deadline: Date.now() + 10_000 }, (error, summary) => (error ? reject(error) : resolve(summary)));
        for (const reading of uploadReadings) call.write(reading);
        call.end();
      });

    // A fast wrong answer is no result: check once what each kind of call answers, before timing any.
    const expectAnswer = <T>(codec: JsonCodec<T>, answer: T, expected: T, what: string) => {
      if (!isDeepStrictEqual(codec.toJSON(answer), codec.toJSON(expected))) throw new CheckFailure(`${what}, so the bench does not time it: make \`npm run lab 11\` pass first`);
    };
    for (const [size, batch] of [["small", smallBatch], ["large", largeBatch]] as const) {
      expectAnswer(Batch, await echo(channel, batch), batch, `Echo did not answer the ${size} batch it was sent`);
      expectAnswer(Batch, Batch.fromJSON(await restEcho(batch)), batch, `POST /v1/echo did not answer the ${size} batch it was sent`);
    }
    const summary = summaryOf(uploadReadings);
    expectAnswer(UploadSummary, await upload(), summary, `Upload did not answer the count, sum and last seq of the ${uploadReadings.length} readings it was sent`);
    expectAnswer(UploadSummary, UploadSummary.fromJSON(await restUpload()), summary, `POST /v1/upload did not answer the count, sum and last seq of the ${uploadReadings.length} readings it was sent`);

    const comparisons: Comparison[] = [
      {
        name: "small message (1 reading), unary",
        perRound: 200,
        variants: [
          { label: "gRPC", run: () => echo(channel, smallBatch) },
          { label: "REST/JSON", run: () => restEcho(smallBatch) },
        ],
      },
      {
        name: "large message (10,000 readings, ~770 KB JSON), unary",
        perRound: 4,
        variants: [
          { label: "gRPC", run: () => echo(channel, largeBatch) },
          { label: "REST/JSON", run: () => restEcho(largeBatch) },
        ],
      },
      {
        name: `${uploadReadings.length} readings uploaded`,
        perRound: 1,
        variants: [
          { label: "gRPC client stream", run: upload },
          { label: "REST/JSON, one request", run: restUpload },
        ],
      },
      {
        name: `${uploadReadings.length} readings uploaded, gRPC`,
        perRound: 1,
        variants: [
          { label: "one client stream", run: upload },
          {
            label: "one unary call each",
            run: async () => {
              for (const reading of uploadReadings) await echo(channel, { readings: [reading], blob: Buffer.alloc(0) });
            },
          },
        ],
      },
      {
        name: "small message, gRPC unary",
        perRound: 50,
        variants: [
          { label: "reused channel", run: () => echo(channel, smallBatch) },
          {
            label: "new channel per call",
            run: async () => {
              // Its own connection (no shared subchannel), closed after the call: what a client made per call costs.
              const fresh = new TelemetryClient(grpcAddress, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
              try {
                await echo(fresh, smallBatch);
              } finally {
                fresh.close();
              }
            },
          },
        ],
      },
    ];

    const samples = comparisons.map((c) => c.variants.map(() => [] as number[]));
    for (let round = 0; round <= rounds; round++) {
      for (const [i, comparison] of comparisons.entries()) {
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (let n = 0; n < Math.max(1, Math.round(comparison.perRound * scale)); n++) {
          for (const v of order) {
            const start = performance.now();
            await comparison.variants[v]!.run();
            const ms = performance.now() - start;
            // Round 0 warms up the JIT, the connections and the codecs: not measured.
            if (round > 0) samples[i]![v]!.push(ms);
          }
        }
      }
    }
    const measured: Measured[] = [];
    for (const [i, comparison] of comparisons.entries()) {
      const variants = [];
      for (const [v, variant] of comparison.variants.entries()) {
        const own = samples[i]![v]!;
        const total = own.reduce((sum, ms) => sum + ms, 0);
        variants.push({ label: variant.label, samples: own, report: await harness.summarize(own.map((ms) => ({ ms, ok: true })), total) });
      }
      const [a, b] = variants.map((v) => median(v.report)) as [number, number];
      measured.push({ name: comparison.name, variants, ratio: Math.max(a, b) / Math.min(a, b), faster: variants[a <= b ? 0 : 1]!.label });
    }
    return measured;
  } finally {
    reused?.close();
    agent.destroy();
    restServer.closeAllConnections();
    restServer.close();
    grpcServer.forceShutdown();
  }
}

const ms = (value: number) => (value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(2)} ms`);

/** The comparison table, with what it was measured on and what it does not say. */
export function table(measured: Measured[], rounds: number): string[] {
  const cpus = os.cpus();
  const lines = [
    `Lab 11 bench: ${rounds} round(s) after a warm-up round; in each round the two variants of a row take turns.`,
    `Machine: ${cpus[0]?.model.trim() ?? "unknown CPU"}, ${cpus.length} cores, ${os.platform()} ${os.arch()}; Node ${process.version}.`,
    "Loopback only: no network latency or bandwidth limit, and client and server share these cores.",
    "Numbers from one machine and one run; run it again and compare the ratios, not the times.",
    "",
  ];
  const rows = [["comparison", "variant", "samples", "median", "p99"]];
  const ratios = new Map<number, string>();
  for (const m of measured) {
    for (const [i, v] of m.variants.entries()) rows.push([i === 0 ? m.name : "", v.label, String(v.report.count), ms(median(v.report)), ms(p99(v.report))]);
    ratios.set(rows.length - 1, `→ ${m.faster} ${m.ratio.toFixed(1)}× faster by median`);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [r, row] of rows.entries()) {
    lines.push(row.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd());
    const ratio = ratios.get(r);
    if (ratio) lines.push(`${" ".repeat(widths[0]! + 2)}${ratio}`);
  }
  return lines;
}

export const hooks: LabHooks = {
  async createServer() {
    return (await loadTarget<ServerModule>("src/server.ts")).createTelemetryServer();
  },

  async runClientDemo(address, print, args) {
    if (args.length > 0) throw new CheckFailure(`lab 11's client takes no options, not "${args.join(" ")}"`);
    const learner = await loadTarget<ClientModule>("src/client.ts");
    const batches = [1, 2, 3].map((n): Batch => ({ readings: readingsOf(2, `sensor-${n}`), blob: Buffer.alloc(0) }));
    const answers = await learner.echoAll(address, batches);
    print(`echoAll of 3 batches: answers from ${answers.map((a) => a.readings[0]?.sensor).join(", ")}`);
    const summary = await learner.uploadAll(address, uploadReadings);
    print(`uploadAll of ${uploadReadings.length} readings: count ${summary.count}, sum ${summary.sum}, last seq ${summary.lastSeq}`);
    const large = await learner.echoLarge(address, { readings: [], blob: Buffer.alloc(5 * 1024 * 1024, "telemetry ") });
    print(`echoLarge of a 5 MiB blob: ${large.blob.length} bytes came back`);
  },

  async runBench(print, args) {
    const [flag, value, ...rest] = args;
    const rounds = flag === "--rounds" ? Number(value) : 5;
    if ((flag !== undefined && flag !== "--rounds") || rest.length > 0 || !Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
      throw new CheckFailure("lab 11's bench takes one option, --rounds N (1 to 100; 5 by default)");
    }
    print(`Measuring ${rounds} round(s); this takes a few seconds a round...`);
    for (const line of table(await measure(rounds), rounds)) print(line);
  },
};
