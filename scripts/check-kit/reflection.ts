import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as path from "node:path";
import { CheckFailure } from "./assert";
import { track } from "./resources";
import { rpcDeadlineMs } from "./rpc";

/**
 * A client of the server reflection service (grpc.reflection.v1), the one
 * grpcurl, Postman and Evans use to discover a server's services.
 */
const reflectionProto = path.join(path.dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto", "grpc", "reflection", "v1", "reflection.proto");

let ReflectionClient: grpc.ServiceClientConstructor | undefined;

interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** Sends one reflection request over a ServerReflectionInfo stream and returns the answer. */
function ask(address: string, request: object): Promise<ReflectionResponse> {
  ReflectionClient ??= (grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { defaults: true, oneofs: true })) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } }).grpc.reflection.v1.ServerReflection;
  const client = new ReflectionClient(address, grpc.credentials.createInsecure());
  track(() => client.close());
  return new Promise((resolve, reject) => {
    const call = (client as unknown as { serverReflectionInfo(options: grpc.CallOptions): grpc.ClientDuplexStream<object, ReflectionResponse> }).serverReflectionInfo({ deadline: Date.now() + rpcDeadlineMs });
    call.on("data", (response: ReflectionResponse) => {
      resolve(response);
      call.end();
    });
    call.on("error", (error: grpc.ServiceError) => reject(new CheckFailure(`server reflection failed with ${grpc.status[error.code]}: ${error.details}`)));
    call.write(request);
  });
}

/** The services a server lists through reflection, as grpcurl's `list` shows them. */
export async function reflectedServices(address: string): Promise<string[]> {
  const response = await ask(address, { listServices: "" });
  if (!response.listServicesResponse) throw new CheckFailure(`reflection's list_services got no list: ${JSON.stringify(response.errorResponse)}`);
  return response.listServicesResponse.service.map((s) => s.name);
}

/** The file descriptors a server returns for a symbol, as grpcurl's `describe` asks for them. */
export async function reflectedFiles(address: string, symbol: string): Promise<FileDescriptorProto[]> {
  const response = await ask(address, { fileContainingSymbol: symbol });
  if (!response.fileDescriptorResponse) {
    throw new CheckFailure(`reflection knows no file for ${symbol}: ${response.errorResponse?.errorMessage ?? "no answer"}`);
  }
  // Loaded here, not up front: only the checks that read descriptors pay for it.
  const [{ fromBinary }, { FileDescriptorProtoSchema }] = await Promise.all([import("@bufbuild/protobuf"), import("@bufbuild/protobuf/wkt")]);
  return response.fileDescriptorResponse.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}
