/**
 * Lab 11, your Telemetry client (steps 6 to 8).
 *
 * It works, slowly. Make it fast where gRPC is fast: one connection for many
 * calls, many calls in flight on it at once, a stream instead of a round trip
 * per message, and large messages compressed and allowed.
 */
import * as grpc from "@grpc/grpc-js";
import type { Batch, Reading, UploadSummary } from "../gen/perf/v1/telemetry";
import { TelemetryClient } from "../gen/perf/v1/telemetry";

const deadline = () => Date.now() + 5000;

/** Echoes one batch with a client of its own. */
async function echoOnce(address: string, batch: Batch): Promise<Batch> {
  const client = new TelemetryClient(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<Batch>((resolve, reject) => client.echo(batch, new grpc.Metadata(), { deadline: deadline() }, (error, answer) => (error ? reject(error) : resolve(answer))));
  } finally {
    client.close();
  }
}

/** Echoes every batch; the answers in the batches' order. */
export async function echoAll(address: string, batches: Batch[]): Promise<Batch[]> {
  // TODO(step 6): one client for every call, and every call in flight at once.
  const answers: Batch[] = [];
  for (const batch of batches) answers.push(await echoOnce(address, batch));
  return answers;
}

/** Uploads every reading; resolves with the server's summary. */
export async function uploadAll(address: string, readings: Reading[]): Promise<UploadSummary> {
  // TODO(step 7): one Upload client stream that carries every reading.
  throw new Error(`uploadAll() of ${readings.length} readings to ${address} is not written yet (step 7)`);
}

/** Echoes one large batch. */
export async function echoLarge(address: string, batch: Batch): Promise<Batch> {
  // TODO(step 8): compress the request with gzip, and accept an answer over 4 MiB.
  return echoOnce(address, batch);
}
