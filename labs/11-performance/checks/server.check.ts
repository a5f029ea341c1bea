/**
 * Lab 11, steps 4 and 5: the learner's Telemetry server and its REST twin,
 * called by the checks' own clients: the same data must come back from
 * both, and a message over grpc-js's default 4 MiB limit must be accepted.
 */
import * as grpc from "@grpc/grpc-js";
import * as http2 from "node:http2";
import { CheckFailure, clientStreamCall, expectEqual, expectTrue, listen, referenceClient, step, track, unaryCall } from "../../../scripts/check-kit";
import { type Batch, batchJson, describeError, overLimit, postJson, proto, type Reading, readings, service, serverModule, startRest, summaryOf, type UploadSummary } from "./perf";

/** proto3 JSON leaves out fields at their default (0, ""): put them back. */
const jsonReading = (r: Partial<Reading>): Reading => ({ sensor: r.sensor ?? "", value: r.value ?? 0, seq: r.seq ?? 0 });
const jsonSummary = (s: Partial<UploadSummary> | undefined): UploadSummary => ({ count: s?.count ?? 0, sum: s?.sum ?? 0, lastSeq: s?.lastSeq ?? 0 });

async function servers() {
  const learner = await serverModule();
  const grpcAddress = await listen(await learner.createTelemetryServer());
  const restUrl = await startRest(await learner.createRestServer());
  return { client: referenceClient(proto, service, grpcAddress), restUrl };
}

step(4, () => {
  it("Echo answers with the batch it received, over gRPC and over REST (POST /v1/echo), the same data", async () => {
    const { client, restUrl } = await servers();
    // A blob of 256 KiB: its JSON reaches the REST twin in several chunks, all of which make the body.
    const batch: Batch = { readings: readings(7, "hall"), blob: Buffer.alloc(256 * 1024, "raw bytes ") };
    const answer = await unaryCall<Batch>(client, "echo", batch);
    expectEqual(answer.readings, batch.readings, "Echo's readings");
    expectTrue(Buffer.from(answer.blob).equals(batch.blob), `Echo's blob was ${answer.blob.length} bytes, not the ${batch.blob.length} bytes it was sent: answer with the batch as it came`);
    const rest = await postJson(`${restUrl}/v1/echo`, batchJson(batch));
    expectEqual(rest.status, 200, 'the HTTP status of POST /v1/echo with a body of about 350 KB (it comes in several "data" chunks: parse them all, joined)');
    expectTrue(rest.contentType.startsWith("application/json"), `POST /v1/echo answered with content-type "${rest.contentType}": answer JSON as application/json`);
    const body = rest.body as { readings?: Array<Partial<Reading>>; blob?: string } | undefined;
    expectEqual((body?.readings ?? []).map(jsonReading), batch.readings, "the readings POST /v1/echo answered (proto3 JSON)");
    expectTrue(
      body?.blob === batch.blob.toString("base64"),
      `the blob POST /v1/echo answered was not the 256 KiB it was sent (proto3 JSON: base64; ${String(body?.blob?.length ?? 0)} characters of base64 instead of ${batch.blob.toString("base64").length}): read the whole body (every "data" chunk) before parsing it`,
    );
  });

  it("Upload sums up a client stream, and POST /v1/upload the same readings sent as one batch", async () => {
    const { client, restUrl } = await servers();
    const list = readings(30, "roof");
    const summary = await clientStreamCall<UploadSummary>(client, "upload", list);
    expectEqual(summary, summaryOf(list), "Upload's answer to a stream of 30 readings");
    expectEqual(await clientStreamCall<UploadSummary>(client, "upload", []), summaryOf([]), "Upload's answer to a stream of no reading");
    const rest = await postJson(`${restUrl}/v1/upload`, { readings: list });
    expectEqual(rest.status, 200, "the HTTP status of POST /v1/upload");
    expectEqual(jsonSummary(rest.body as Partial<UploadSummary>), summaryOf(list), "what POST /v1/upload answered for the same 30 readings (proto3 JSON)");
  });

  it("the REST twin answers 404 for another path or method, and 400 for a body that is not JSON", async () => {
    const { restUrl } = await servers();
    expectEqual((await postJson(`${restUrl}/v1/other`, { readings: [] })).status, 404, "the HTTP status of POST /v1/other");
    expectEqual((await postJson(`${restUrl}/v1/echo`, "", "GET")).status, 404, "the HTTP status of GET /v1/echo");
    expectEqual((await postJson(`${restUrl}/v1/echo`, "{ not json")).status, 400, "the HTTP status of POST /v1/echo with a body that is not JSON");
  });
});

/**
 * An Upload on a bare HTTP/2 stream whose first message says it is `size` bytes long, and sends none of them:
 * the grpc-status the server answers with once it has read that 5-byte prefix, or undefined if none comes within 2 s.
 */
function claimedUpload(address: string, size: number): Promise<number | undefined> {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => undefined);
  track(() => session.destroy());
  const stream = session.request({ ":method": "POST", ":path": "/perf.v1.Telemetry/Upload", "content-type": "application/grpc", te: "trailers", "grpc-timeout": "5S" });
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(size, 1);
  stream.write(prefix);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 2000);
    const statusIn = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] === undefined) return;
      clearTimeout(timer);
      resolve(Number(headers["grpc-status"]));
    };
    stream.on("response", statusIn); // a trailers-only answer
    stream.on("trailers", statusIn);
    stream.on("error", () => undefined);
  });
}

step(5, () => {
  it(`accepts a message over 4 MiB (${overLimit} bytes), and still keeps a limit`, async () => {
    const learner = await serverModule();
    const address = await listen(await learner.createTelemetryServer());
    const client = referenceClient(proto, service, address);
    // The limit is per message: one reading whose sensor name is over 4 MiB, in an Upload whose answer is small.
    const huge: Reading = { sensor: "s".repeat(overLimit), value: 1.5, seq: 7 };
    // 3 s instead of the usual 2: 4 MiB crosses in 64 KiB flow-control windows, each a round trip between two busy processes.
    const outcome = await new Promise<{ error: grpc.ServiceError | null; summary?: UploadSummary }>((resolve) => {
      const upload = (client as unknown as { upload: (o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, s?: UploadSummary) => void) => grpc.ClientWritableStream<Reading> }).upload;
      const call = upload.call(client, { deadline: Date.now() + 3000 }, (error, summary) => resolve({ error, summary }));
      call.write(huge);
      call.end();
    });
    if (outcome.error?.code === grpc.status.RESOURCE_EXHAUSTED) {
      throw new CheckFailure(
        'the server refused a message of 4 MiB + 64 KiB with RESOURCE_EXHAUSTED: a grpc-js server takes at most 4 MiB a message unless created with a larger "grpc.max_receive_message_length" (16 MiB)',
      );
    }
    if (outcome.error) throw new CheckFailure(`an Upload of one reading of 4 MiB + 64 KiB failed with ${describeError(outcome.error)}`);
    expectEqual(outcome.summary, summaryOf([huge]), "Upload's answer to one reading of 4 MiB + 64 KiB");
    const status = await claimedUpload(address, 1024 ** 3);
    expectTrue(
      status === grpc.status.RESOURCE_EXHAUSTED,
      `an Upload whose first message says it is 1 GiB long was ${status === undefined ? "not refused within 2 s: the server waits for the gigabyte" : `answered with ${grpc.status[status] ?? status}`}: keep a limit ("grpc.max_receive_message_length": 16 MiB, not -1), so that one client cannot make the server allocate gigabytes`,
    );
  });
});
