import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as protoLoader from "@grpc/proto-loader";

/**
 * The package definition `@grpc/reflection`'s ReflectionService needs, from
 * the FileDescriptorSet protoc wrote in the stub step (gen/descriptors.binpb),
 * so that reflection serves the .proto files exactly: field names as written,
 * every import, map entries named as protoc names them.
 *
 * ReflectionService serves the `fileDescriptorProtos` of the definition it is
 * given. @grpc/proto-loader rebuilds those from its protobufjs objects, and the
 * rebuilt files lose their imports and merge the files of one package
 * (grpc/grpc-node#3018), loadSync's also camelCase field names and name map
 * entries `Statuses` instead of `StatusesEntry` (fullstorydev/grpcurl#519):
 * grpcurl, Postman and Evans then refuse them. So the definition comes from
 * proto-loader, as ReflectionService expects, and its files are replaced with
 * protoc's own. Lab 06's solution does the same in its src/server.ts.
 */
export function reflectionDefinition(descriptorSet: Uint8Array): protoLoader.PackageDefinition {
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(descriptorSet));
  const files = fromBinary(FileDescriptorSetSchema, descriptorSet).file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  for (const type of Object.values(definition)) {
    if ("fileDescriptorProtos" in type) type.fileDescriptorProtos = files;
  }
  return definition;
}
