import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "./errors";
import { displayPath, type Lab, protoDir, workspaceRoot } from "./labs";

/**
 * The protoc stub step: the real protoc (npm package `protoc`, which bundles the
 * compiler for every platform) runs the ts-proto plugin on a lab's .proto files
 * and writes typed stubs to <lab tree>/gen, and, in the same run, protoc's own
 * descriptors of those files and everything they import to
 * gen/descriptors.binpb: what server reflection serves (scripts/lib/reflection.ts).
 * A stamp file records a hash of everything the output depends on, so a stale
 * or missing stub is noticed without regenerating anything on the learner's hot path.
 */
export const tsProtoOptions = [
  "outputServices=grpc-js",
  "env=node",
  "esModuleInterop=true",
  "oneof=unions-value",
  "forceLong=string",
].join(",");

/** protoc-gen-es's options, for labs with `protobufEs`: TypeScript, imported without extensions like the ts-proto stubs. */
export const protobufEsOptions = "target=ts";

const stampFile = ".stamp";

/**
 * protoc's options for the descriptor set: every imported file too (reflection
 * must serve a file's imports with it), and the comments, which grpcurl's
 * `describe` shows.
 */
const descriptorSetOptions = ["--include_imports", "--include_source_info"];

/** The descriptor set protoc writes next to the stubs: a FileDescriptorSet, as `protoc --descriptor_set_out` writes it. */
export const descriptorSetName = "descriptors.binpb";

export type StubState = "fresh" | "missing" | "stale";

export function genDir(tree: string): string {
  return path.join(tree, "gen");
}

/** The lab tree's gen/descriptors.binpb. */
export function descriptorSetFile(tree: string): string {
  return path.join(genDir(tree), descriptorSetName);
}

function packageVersion(name: string): string {
  const file = require.resolve(`${name}/package.json`, { paths: [workspaceRoot] });
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
}

/** A hash of the protos, the generator versions and the options: what the stubs depend on. */
export function stubFingerprint(lab: Lab): string {
  const hash = createHash("sha256");
  hash.update(`protoc ${packageVersion("protoc")} ts-proto ${packageVersion("ts-proto")} ${tsProtoOptions}\n`);
  if (lab.protobufEs) hash.update(`protoc-gen-es ${packageVersion("@bufbuild/protoc-gen-es")} ${protobufEsOptions}\n`);
  hash.update(`${descriptorSetName} ${descriptorSetOptions.join(" ")}\n`);
  for (const proto of lab.protos) {
    hash.update(`${proto}\n`);
    hash.update(fs.readFileSync(path.join(protoDir, proto)));
  }
  return hash.digest("hex");
}

export function stubState(lab: Lab, tree: string): StubState {
  let recorded: string;
  try {
    recorded = fs.readFileSync(path.join(genDir(tree), stampFile), "utf8").trim();
  } catch {
    return "missing";
  }
  return recorded === stubFingerprint(lab) ? "fresh" : "stale";
}

/**
 * The protoc executable for this platform, straight from the `protoc` package
 * (no Node shim); GRPC_LABS_PROTOC names another one where the package has
 * none for the platform.
 */
function protocExecutable(): string {
  if (process.env.GRPC_LABS_PROTOC) return process.env.GRPC_LABS_PROTOC;
  const packageDir = path.dirname(require.resolve("protoc/package.json", { paths: [workspaceRoot] }));
  const assets = JSON.parse(fs.readFileSync(path.join(packageDir, "assets.json"), "utf8")) as Array<{
    platform: string;
    arch: string;
    executable: string;
  }>;
  const asset = assets.find((a) => a.platform === process.platform && a.arch === process.arch);
  if (!asset) {
    throw new UserError(
      `The protoc package has no compiler for ${process.platform}/${process.arch}: set GRPC_LABS_PROTOC to the path of a protoc (see docs/codegen.md).`,
    );
  }
  return path.join(packageDir, "bin", asset.executable);
}

/** A protoc plugin installed by npm: its node_modules/.bin shim. */
function plugin(name: string): string {
  return path.join(workspaceRoot, "node_modules", ".bin", process.platform === "win32" ? `${name}.cmd` : name);
}

/** protoc's arguments: the ts-proto plugin (and protoc-gen-es) and its options, the descriptor set, both include paths, the lab's protos. */
function protocArgs(lab: Lab, outDir: string): string[] {
  const includeDir = path.join(path.dirname(require.resolve("protoc/package.json", { paths: [workspaceRoot] })), "include");
  return [
    `--plugin=protoc-gen-ts_proto=${plugin("protoc-gen-ts_proto")}`,
    `--ts_proto_out=${outDir}`,
    `--ts_proto_opt=${tsProtoOptions}`,
    ...(lab.protobufEs ? [`--plugin=protoc-gen-es=${plugin("protoc-gen-es")}`, `--es_out=${outDir}`, `--es_opt=${protobufEsOptions}`] : []),
    `--descriptor_set_out=${path.join(outDir, descriptorSetName)}`,
    ...descriptorSetOptions,
    `--proto_path=${protoDir}`,
    `--proto_path=${includeDir}`,
    ...lab.protos.map((p) => path.join(protoDir, p)),
  ];
}

/** Regenerates the stubs of one lab tree. Only the gen/ folder is replaced. */
export function generateStubs(lab: Lab, tree: string): void {
  const outDir = genDir(tree);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const result = spawnSync(protocExecutable(), protocArgs(lab, outDir), { encoding: "utf8", shell: false });
  if (result.error || result.status !== 0) {
    const reason = (result.stderr || result.error?.message || "").trim().split("\n")[0];
    throw new UserError(`protoc could not compile the protos of lab ${lab.number}: ${reason}.`);
  }
  fs.writeFileSync(path.join(outDir, stampFile), `${stubFingerprint(lab)}\n`);
}

/** Generates the stubs only when they are missing or stale; returns whether it did. */
export function ensureStubs(lab: Lab, tree: string): boolean {
  if (stubState(lab, tree) === "fresh") return false;
  generateStubs(lab, tree);
  return true;
}

export function stubProblem(lab: Lab, tree: string, state: Exclude<StubState, "fresh">): string {
  const where = displayPath(genDir(tree));
  const what = state === "missing" ? `There are no stubs in ${where}` : `The stubs in ${where} are older than their .proto files`;
  return `${what}: run \`npm run lab ${lab.number} -- gen\`.`;
}
