/**
 * Lab 11, the reference Telemetry client (steps 6 to 8).
 *
 * Where gRPC's speed comes from, on the client side: one connection for
 * many calls (no handshake per call), many calls in flight on it at once
 * (HTTP/2 multiplexes them), a stream instead of a round trip per message,
 * and compression where messages are large and the network is slow.
 */
import * as grpc from "@grpc/grpc-js";
import type { Batch, Reading, UploadSummary } from "../gen/perf/v1/telemetry";
import { TelemetryClient } from "../gen/perf/v1/telemetry";

const deadline = () => Date.now() + 5000;

/** Echoes every batch, all in flight at once on one channel; the answers in the batches' order. */
export async function echoAll(address: string, batches: Batch[]): Promise<Batch[]> {
  // Step 6: one client, so one connection, for all the calls.
  const client = new TelemetryClient(address, grpc.credentials.createInsecure());
  try {
    // Start every call before awaiting any: they share the connection as HTTP/2 streams.
    return await Promise.all(
      batches.map((batch) => new Promise<Batch>((resolve, reject) => client.echo(batch, new grpc.Metadata(), { deadline: deadline() }, (error, answer) => (error ? reject(error) : resolve(answer))))),
    );
  } finally {
    client.close();
  }
}

/** Uploads every reading in one client stream; resolves with the server's summary. */
export async function uploadAll(address: string, readings: Reading[]): Promise<UploadSummary> {
  const client = new TelemetryClient(address, grpc.credentials.createInsecure());
  try {
    // Step 7: one call, many messages, one answer at the end.
    return await new Promise<UploadSummary>((resolve, reject) => {
      const call = client.upload({ deadline: deadline() }, (error, summary) => (error ? reject(error) : resolve(summary)));
      for (const reading of readings) call.write(reading);
      call.end();
    });
  } finally {
    client.close();
  }
}

/** Echoes one large batch: compressed on the way out, up to 16 MiB on the way back. */
export async function echoLarge(address: string, batch: Batch): Promise<Batch> {
  const client = new TelemetryClient(address, grpc.credentials.createInsecure(), {
    // Step 8: gzip every request (2 is gzip; 1 deflate, 0 identity). It costs
    // CPU on both sides and pays on a slow network. grpc-js servers never
    // compress their answers, whatever the client accepts.
    "grpc.default_compression_algorithm": 2,
    // A grpc-js client refuses any answer over 4 MiB (RESOURCE_EXHAUSTED).
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
  });
  try {
    return await new Promise<Batch>((resolve, reject) => client.echo(batch, new grpc.Metadata(), { deadline: deadline() }, (error, answer) => (error ? reject(error) : resolve(answer))));
  } finally {
    client.close();
  }
}
