import type { DescriptorProto, FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as path from "node:path";
import { CheckFailure } from "./assert";
import { track } from "./resources";
import { rpcDeadlineMs } from "./rpc";

/**
 * A client of the server reflection service (grpc.reflection.v1), the one
 * grpcurl, Postman and Evans use to discover a server's services, and what
 * those tools do with its answers: download a symbol's file and every file it
 * imports, then build the files as Go's `protodesc` (grpcurl's library) does,
 * which refuses what does not resolve.
 */
const reflectionProto = path.join(path.dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto", "grpc", "reflection", "v1", "reflection.proto");
const protoRoot = path.resolve(__dirname, "..", "..", "proto");

let ReflectionClient: grpc.ServiceClientConstructor | undefined;

interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** Sends one reflection request over a ServerReflectionInfo stream and returns the answer. */
function ask(address: string, request: object, credentials = grpc.credentials.createInsecure()): Promise<ReflectionResponse> {
  ReflectionClient ??= (grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { defaults: true, oneofs: true })) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } }).grpc.reflection.v1.ServerReflection;
  const client = new ReflectionClient(address, credentials);
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
export async function reflectedServices(address: string, credentials?: grpc.ChannelCredentials): Promise<string[]> {
  const response = await ask(address, { listServices: "" }, credentials);
  if (!response.listServicesResponse) throw new CheckFailure(`reflection's list_services got no list: ${JSON.stringify(response.errorResponse)}`);
  return response.listServicesResponse.service.map((s) => s.name);
}

async function decode(buffers: Buffer[]): Promise<FileDescriptorProto[]> {
  // Loaded here, not up front: only the checks that read descriptors pay for it.
  const [{ fromBinary }, { FileDescriptorProtoSchema }] = await Promise.all([import("@bufbuild/protobuf"), import("@bufbuild/protobuf/wkt")]);
  return buffers.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

/** The file descriptors a server returns for a symbol, as grpcurl's `describe` asks for them. */
export async function reflectedFiles(address: string, symbol: string, credentials?: grpc.ChannelCredentials): Promise<FileDescriptorProto[]> {
  const response = await ask(address, { fileContainingSymbol: symbol }, credentials);
  if (!response.fileDescriptorResponse) {
    throw new CheckFailure(`reflection knows no file for ${symbol}: ${response.errorResponse?.errorMessage ?? "no answer"}`);
  }
  return decode(response.fileDescriptorResponse.fileDescriptorProto);
}

/**
 * Every file a client such as grpcurl downloads to use `symbols`: the files
 * that contain them, then each import it has not received yet, by file name,
 * until nothing is missing. An import the server does not know is left out:
 * descriptorProblems() reports it.
 */
export async function reflectedFileSet(address: string, symbols: string[], credentials?: grpc.ChannelCredentials): Promise<FileDescriptorProto[]> {
  const files = new Map<string, FileDescriptorProto>();
  const add = (received: FileDescriptorProto[]) => received.forEach((file) => files.has(file.name) || files.set(file.name, file));
  for (const symbol of symbols) add(await reflectedFiles(address, symbol, credentials));
  const asked = new Set<string>();
  for (;;) {
    const missing = [...files.values()].flatMap((f) => f.dependency).find((name) => !files.has(name) && !asked.has(name));
    if (missing === undefined) return [...files.values()];
    asked.add(missing);
    const response = await ask(address, { fileByFilename: missing }, credentials);
    if (response.fileDescriptorResponse) add(await decode(response.fileDescriptorResponse.fileDescriptorProto));
  }
}

/** The name protoc gives the entry message of a map field: price_by_sku becomes PriceBySkuEntry. */
export function mapEntryName(fieldName: string): string {
  let name = "";
  let upperNext = true;
  for (const c of fieldName) {
    if (c === "_") upperNext = true;
    else {
      name += upperNext ? c.toUpperCase() : c;
      upperNext = false;
    }
  }
  return `${name}Entry`;
}

interface Definition {
  file: FileDescriptorProto;
  message?: DescriptorProto;
}

/**
 * What a strict descriptor builder, as Go's `protodesc` (grpcurl), Python's
 * descriptor pool or @bufbuild/protobuf's registry, finds wrong in a set of
 * file descriptors, as sentences: an import that is missing, a type that does
 * not resolve or lives in a file that is not imported, a map whose entry is
 * not named as protoc names it. Empty when the files can be built.
 */
export function descriptorProblems(files: FileDescriptorProto[]): string[] {
  const problems: string[] = [];
  const byName = new Map(files.map((f) => [f.name, f]));
  const definitions = new Map<string, Definition>();
  for (const file of files) {
    const prefix = file.package ? `${file.package}.` : "";
    const visit = (message: DescriptorProto, scope: string) => {
      const name = `${scope}${message.name}`;
      definitions.set(name, { file, message });
      for (const e of message.enumType) definitions.set(`${name}.${e.name}`, { file });
      for (const nested of message.nestedType) visit(nested, `${name}.`);
    };
    for (const message of file.messageType) visit(message, prefix);
    for (const e of file.enumType) definitions.set(`${prefix}${e.name}`, { file });
  }

  // The files whose definitions a file may use: itself, its imports, and what those import publicly.
  const visible = (file: FileDescriptorProto): Set<string> => {
    const names = new Set([file.name]);
    const add = (dependency: string) => {
      if (names.has(dependency)) return;
      names.add(dependency);
      const imported = byName.get(dependency);
      imported?.publicDependency.forEach((i) => add(imported.dependency[i]!));
    };
    file.dependency.forEach(add);
    return names;
  };

  for (const file of files) {
    for (const dependency of file.dependency) {
      if (!byName.has(dependency)) problems.push(`${file.name} imports ${dependency}, which reflection did not serve`);
    }
    const imports = visible(file);
    // protobuf's scoping rules, as protodesc applies them: a name with a leading dot is full; any
    // other is looked up in the innermost scope first, then outwards, skipping what is not imported.
    const resolve = (reference: string, scope: string, where: string): Definition | undefined => {
      const scopes = [""];
      if (!reference.startsWith(".")) {
        for (let s = scope; s; s = s.includes(".") ? s.slice(0, s.lastIndexOf(".")) : "") scopes.splice(-1, 0, s);
      }
      const relative = reference.replace(/^\./, "");
      let notImported: { name: string; definition: Definition } | undefined;
      for (const s of scopes) {
        const name = s ? `${s}.${relative}` : relative;
        const definition = definitions.get(name);
        if (definition && imports.has(definition.file.name)) return definition;
        if (definition) notImported ??= { name, definition };
      }
      if (notImported) {
        problems.push(`${where} uses ${notImported.name} from ${notImported.definition.file.name}, but ${file.name} does not import that file: a client cannot resolve the type`);
      } else {
        problems.push(`${where} refers to ${reference}, which is defined in no file reflection served: a client cannot resolve the type`);
      }
      return undefined;
    };

    const prefix = file.package ? `${file.package}.` : "";
    const visit = (message: DescriptorProto, scope: string) => {
      const name = `${scope}${message.name}`;
      for (const field of message.field) {
        if (!field.typeName) continue;
        const target = resolve(field.typeName, name, `field ${name}.${field.name}`);
        const entry = target?.message;
        if (!entry?.options?.mapEntry) continue;
        const expected = mapEntryName(field.name);
        if (entry.name !== expected || !message.nestedType.includes(entry)) {
          problems.push(`map field ${name}.${field.name} has the entry message ${entry.name}, and protoc names it ${expected}, nested in ${name}: a client refuses the file (invalid map: incorrect implicit map entry name)`);
        }
        const [key, value] = [entry.field.find((f) => f.number === 1), entry.field.find((f) => f.number === 2)];
        if (entry.field.length !== 2 || key?.name !== "key" || value?.name !== "value") {
          problems.push(`map field ${name}.${field.name}'s entry ${entry.name} does not have exactly the fields key = 1 and value = 2`);
        }
      }
      for (const nested of message.nestedType) visit(nested, `${name}.`);
    };
    for (const message of file.messageType) visit(message, prefix);
    for (const service of file.service) {
      for (const method of service.method) {
        const where = `method ${prefix}${service.name}.${method.name}`;
        resolve(method.inputType, `${prefix}${service.name}`, where);
        resolve(method.outputType, `${prefix}${service.name}`, where);
      }
    }
  }
  return problems;
}

/**
 * The field names of every message in `protos` (paths under proto/, with what
 * they import), as the .proto files write them, by full message name: the
 * truth to compare reflection's descriptors with.
 */
export function protoFieldNames(protos: string[]): Map<string, string[]> {
  const definition = protoLoader.loadSync(protos.map((p) => path.join(protoRoot, p)), { keepCase: true, includeDirs: [protoRoot] });
  const names = new Map<string, string[]>();
  for (const [name, type] of Object.entries(definition)) {
    if ("format" in type && type.format === "Protocol Buffer 3 DescriptorProto") {
      names.set(name, ((type.type as { field?: Array<{ name: string }> }).field ?? []).map((f) => f.name));
    }
  }
  return names;
}

/**
 * Each message of `files` whose field names differ from the .proto's
 * (`expected`, from protoFieldNames), as a sentence; messages the .proto files
 * do not define (map entries, other files) are not compared.
 */
export function fieldNameMismatches(files: FileDescriptorProto[], expected: Map<string, string[]>): string[] {
  const mismatches: string[] = [];
  const visit = (message: DescriptorProto, scope: string) => {
    const name = `${scope}${message.name}`;
    const want = expected.get(name);
    const got = message.field.map((f) => f.name);
    if (want && [...got].sort().join() !== [...want].sort().join()) {
      mismatches.push(`${name} has the fields ${got.join(", ")}, and the .proto names them ${want.join(", ")}`);
    }
    for (const nested of message.nestedType) visit(nested, `${name}.`);
  };
  for (const file of files) for (const message of file.messageType) visit(message, file.package ? `${file.package}.` : "");
  return mismatches;
}
