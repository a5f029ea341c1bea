/**
 * Lab 11, another correct client: one generic grpc.Client per function with
 * hand-written method calls (makeUnaryRequest, makeClientStreamRequest), the
 * calls started in a loop, compression chosen by name, and the limit raised
 * to exactly what the answer may need.
 */
import * as grpc from "@grpc/grpc-js";
import { Batch, Reading, UploadSummary } from "../../solutions/11-performance/gen/perf/v1/telemetry";

const serialize = <T>(codec: { encode(message: T): { finish(): Uint8Array } }) => (message: T) => Buffer.from(codec.encode(message).finish());

function unaryEcho(client: grpc.Client, batch: Batch): Promise<Batch> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest("/perf.v1.Telemetry/Echo", serialize(Batch), Batch.decode, batch, new grpc.Metadata(), { deadline: Date.now() + 4000 }, (error, answer) =>
      error || !answer ? reject(error) : resolve(answer),
    ),
  );
}

export async function echoAll(address: string, batches: Batch[]): Promise<Batch[]> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const pending: Array<Promise<Batch>> = [];
  for (const batch of batches) pending.push(unaryEcho(client, batch));
  const answers = await Promise.allSettled(pending);
  client.close();
  return answers.map((a) => {
    if (a.status === "rejected") throw a.reason;
    return a.value;
  });
}

export function uploadAll(address: string, readings: Reading[]): Promise<UploadSummary> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<UploadSummary>((resolve, reject) => {
    const call = client.makeClientStreamRequest("/perf.v1.Telemetry/Upload", serialize(Reading), UploadSummary.decode, new grpc.Metadata(), { deadline: Date.now() + 4000 }, (error, summary) =>
      error || !summary ? reject(error) : resolve(summary),
    );
    readings.forEach((reading) => call.write(reading));
    call.end();
  }).finally(() => client.close());
}

export async function echoLarge(address: string, batch: Batch): Promise<Batch> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.default_compression_algorithm": grpc.compressionAlgorithms.gzip,
    "grpc.max_receive_message_length": 8 * 1024 * 1024,
  });
  try {
    return await unaryEcho(client, batch);
  } finally {
    client.close();
  }
}
