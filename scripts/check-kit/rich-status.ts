import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as path from "node:path";
import { CheckFailure } from "./assert";

/**
 * The rich error model as the reference side sees it: a google.rpc.Status in
 * the `grpc-status-details-bin` trailer, with typed details packed in Any.
 * It is encoded and decoded with proto-loader's codecs (protobuf.js) from the
 * vendored proto/google/rpc files, independent of the learner's ts-proto
 * stubs, so these checks are also wire-compatibility checks.
 */
export const statusDetailsKey = "grpc-status-details-bin";

/** How a detail's type_url starts: the prefix gRPC libraries write and resolve types by. */
const typeUrlPrefix = "type.googleapis.com/";

/** One detail: its full type name ("google.rpc.BadRequest") and the decoded message, or undefined for an unknown type. */
export interface StatusDetail {
  type: string;
  value: Record<string, unknown> | undefined;
}

export interface RichStatus {
  code: number;
  message: string;
  details: StatusDetail[];
}

interface Codec {
  serialize(message: object): Buffer;
  deserialize(bytes: Buffer): Record<string, unknown>;
}

let definitions: protoLoader.PackageDefinition | undefined;

function codec(type: string): Codec | undefined {
  definitions ??= protoLoader.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], {
    includeDirs: [path.resolve(__dirname, "..", "..", "proto")],
    longs: String,
    defaults: true,
  });
  return definitions[type] as unknown as Codec | undefined;
}

/** Trailing metadata carrying `status` as a google.rpc.Status, for a reference server to answer with. */
export function richStatusMetadata(status: RichStatus): grpc.Metadata {
  const details = status.details.map(({ type, value }) => ({ type_url: `${typeUrlPrefix}${type}`, value: codec(type)!.serialize(value ?? {}) }));
  const metadata = new grpc.Metadata();
  metadata.set(statusDetailsKey, codec("google.rpc.Status")!.serialize({ code: status.code, message: status.message, details }));
  return metadata;
}

/** The google.rpc.Status in `metadata`, decoded; undefined when there is none. */
export function readRichStatus(metadata: grpc.Metadata | undefined, what: string): RichStatus | undefined {
  const [bytes] = metadata?.get(statusDetailsKey) ?? [];
  if (bytes === undefined) return undefined;
  let status: { code: number; message: string; details: Array<{ type_url: string; value: Buffer }> };
  try {
    status = codec("google.rpc.Status")!.deserialize(bytes as Buffer) as typeof status;
  } catch (error) {
    throw new CheckFailure(`${what}: the ${statusDetailsKey} trailer is not a google.rpc.Status (${(error as Error).message})`);
  }
  const details = status.details.map(({ type_url, value }) => {
    // The prefix every gRPC library writes and looks for: a client that resolves types by it skips any other.
    if (!type_url.startsWith(typeUrlPrefix)) {
      throw new CheckFailure(`${what}: a detail's type_url is "${type_url}": write ${typeUrlPrefix} followed by the message's full name, e.g. ${typeUrlPrefix}google.rpc.BadRequest`);
    }
    const type = type_url.slice(typeUrlPrefix.length);
    let decoded: Record<string, unknown> | undefined;
    try {
      decoded = codec(type)?.deserialize(value);
    } catch (error) {
      throw new CheckFailure(`${what}: the ${type} detail does not decode as one (${(error as Error).message})`);
    }
    return { type, value: decoded };
  });
  return { code: status.code, message: status.message, details };
}
