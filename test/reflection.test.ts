/**
 * What every lab's `serve` reflects, read as grpcurl, Postman and Evans read
 * it: each lab's reference server is started with `serve --solution`, every
 * file it serves (and every file those import) is downloaded over server
 * reflection, and the files are built:
 *
 * - in @bufbuild/protobuf's strict registry, and with the rules Go's protodesc
 *   (grpcurl's library) adds to it: imports present, types resolved in
 *   imported files, map entries named as protoc names them;
 * - compared with a fresh protoc run over the lab's protos: the same files,
 *   field names as the .proto writes them.
 *
 * Then the grpcurl, Evans and Postman commands of the READMEs are checked
 * against those descriptors: their symbols and methods exist and their JSON
 * requests parse, as strictly as grpcurl parses them (an unknown field fails).
 */
import { createFileRegistry, equals, fromBinary, fromJson, type FileRegistry, type JsonValue } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { closeAll } from "../scripts/check-kit/resources";
import { descriptorProblems, fieldNameMismatches, mapEntryName, protoFieldNames, reflectedFileSet, reflectedServices } from "../scripts/check-kit/reflection";
import { findLab, type Lab, listLabs, treeDir, workspaceRoot } from "../scripts/lib/labs";
import { reflectionDefinition } from "../scripts/lib/reflection";
import { descriptorSetFile, ensureStubs, generateStubs } from "../scripts/lib/stubs";
import { treesRoot } from "./trees";

const runner = path.join(workspaceRoot, "scripts", "lab.cjs");

interface Serving {
  process: ChildProcess;
  address: string;
  tls: boolean;
}

/** `serve --solution --port 0` of a lab, once it prints its address. */
function serve(lab: Lab): Promise<Serving> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, lab.number, "serve", "--solution", "--port", "0"], { cwd: workspaceRoot, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    const timer = setTimeout(() => reject(new Error(`lab ${lab.number}'s serve printed no address: ${output}`)), 20_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on localhost:(\d+)( \(TLS\))?/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ process: child, address: `localhost:${match[1]}`, tls: match[2] !== undefined });
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    child.on("exit", (code) => reject(new Error(`lab ${lab.number}'s serve exited with ${code}: ${output}`)));
  });
}

function stop(serving: Serving): Promise<number | null> {
  return new Promise((resolve) => {
    serving.process.once("exit", (code) => resolve(code));
    serving.process.kill("SIGINT");
  });
}

/** Lab 05's server asks for a client certificate: the one its README gives grpcurl. */
function credentialsFor(serving: Serving, files?: { cacert?: string; cert?: string; key?: string }): grpc.ChannelCredentials {
  if (!serving.tls) return grpc.credentials.createInsecure();
  const certs = path.join(workspaceRoot, "labs", "05-auth-tls", "certs");
  const read = (file: string | undefined, fallback: string) => fs.readFileSync(file ? path.join(workspaceRoot, file) : path.join(certs, fallback));
  return grpc.credentials.createSsl(read(files?.cacert, "ca.crt"), read(files?.key, "bob.key"), read(files?.cert, "bob.crt"));
}

/** protoc's descriptors of the lab's protos, freshly generated into a temporary tree. */
function protocFiles(lab: Lab): FileDescriptorProto[] {
  const tree = path.join(treesRoot, `reflection-${lab.id}`);
  generateStubs(lab, tree);
  try {
    return fromBinary(FileDescriptorSetSchema, fs.readFileSync(descriptorSetFile(tree))).file;
  } finally {
    fs.rmSync(tree, { recursive: true, force: true });
  }
}

/** The files with every import before the files that import it, as a FileDescriptorSet must list them. */
function dependenciesFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((file) => [file.name, file]));
  const ordered: FileDescriptorProto[] = [];
  const add = (file: FileDescriptorProto | undefined) => {
    if (!file || ordered.includes(file)) return;
    file.dependency.forEach((name) => add(byName.get(name)));
    ordered.push(file);
  };
  files.forEach(add);
  return ordered;
}

/** What a README asks of a server: a tool's command or a Postman request, with what it needs from reflection. */
interface ReadmeCommand {
  readme: string;
  line: string;
  /** grpcurl -plaintext against a TLS server: the README says it fails. */
  plaintext: boolean;
  tlsFiles?: { cacert?: string; cert?: string; key?: string };
  /** A symbol to describe, or a method ("pkg.Service/Method") to call with these JSON requests. */
  describe?: string;
  method?: string;
  requests: string[];
}

/** Splits a shell command line into words: single quotes, double quotes with backslash escapes, $(...) kept whole. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      // An unterminated quote runs to the end of the line.
      const end = line.indexOf("'", i + 1) < 0 ? line.length : line.indexOf("'", i + 1);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let text = "";
      for (i++; i < line.length && line[i] !== '"'; i++) text += line[i] === "\\" ? (line[++i] ?? "") : line[i];
      word = (word ?? "") + text;
    } else if (c === "$" && line[i + 1] === "(") {
      const end = line.indexOf(")", i) < 0 ? line.length : line.indexOf(")", i);
      word = (word ?? "") + line.slice(i, end + 1);
      i = end;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The JSON objects of a grpcurl -d argument, which may hold several one after another. */
function jsonObjects(text: string): string[] {
  const objects: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") {
      if (depth++ === 0) start = i;
    } else if (c === "}" && --depth === 0) objects.push(text.slice(start, i + 1));
  }
  return objects;
}

/** The grpcurl and Evans commands in a README's code blocks, and its Postman requests. */
function readmeCommands(readme: string): ReadmeCommand[] {
  const text = fs.readFileSync(path.join(workspaceRoot, readme), "utf8");
  const commands: ReadmeCommand[] = [];
  const lines = text.split("\n");
  let inBlock = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.startsWith("```")) inBlock = !inBlock;
    if (!inBlock || !/\b(grpcurl|evans)\b/.test(line)) continue;
    const words = shellWords(line);
    const evans = words.indexOf("evans");
    if (words[0] === "grpcurl") {
      const command: ReadmeCommand = { readme, line, plaintext: false, requests: [] };
      const positional: string[] = [];
      for (let w = 1; w < words.length; w++) {
        const flag = words[w]!;
        if (flag === "-plaintext") command.plaintext = true;
        else if (flag === "-v" || flag === "-emit-defaults") continue;
        else if (["-cacert", "-cert", "-key"].includes(flag)) command.tlsFiles = { ...command.tlsFiles, [flag.slice(1)]: words[++w] };
        else if (flag === "-H" || flag === "-rpc-header" || flag === "-reflect-header") w++;
        else if (flag === "-d") {
          const data = words[++w]!;
          if (data === "@") {
            // The requests follow on standard input: the next lines of the block.
            for (let j = i + 1; j < lines.length && !lines[j]!.trim().startsWith("```"); j++) command.requests.push(...jsonObjects(lines[j]!));
          } else {
            command.requests.push(...jsonObjects(data));
            assert.ok(command.requests.length > 0, `${readme}: no JSON in -d of ${line}`);
          }
        } else if (flag.startsWith("-")) assert.fail(`${readme}: a grpcurl flag this test does not know: ${flag} in ${line}`);
        else positional.push(flag);
      }
      const [, verb, symbol] = positional;
      if (verb === "describe") command.describe = symbol;
      else if (verb !== "list") command.method = verb;
      commands.push(command);
    } else if (evans >= 0) {
      // echo '{...}' | evans --host localhost --port 50051 --reflection cli call pkg.Service.Method
      const call = words.indexOf("call");
      const requests = words[0] === "echo" ? jsonObjects(words[1]!) : [];
      const method = call >= 0 ? words[call + 1]!.replace(/\.(\w+)$/, "/$1") : undefined;
      commands.push({ readme, line, plaintext: true, method, requests });
    }
  }
  // Inline commands in the text: `grpcurl -plaintext localhost:50051 describe chat.v1.ChatService`.
  const prose = text.replace(/```[\s\S]*?```/g, "");
  for (const match of prose.matchAll(/`(grpcurl [^`]+)`/g)) {
    const words = shellWords(match[1]!);
    const verb = words.indexOf("describe");
    if (verb >= 0) commands.push({ readme, line: match[1]!, plaintext: words.includes("-plaintext"), describe: words[verb + 1], requests: [] });
  }
  // Postman: "Pick `pkg.Service / Method`, ... type `{...}`" in one paragraph.
  for (const paragraph of text.split(/\n\s*\n/).filter((p) => p.includes("Postman") && / \/ /.test(p))) {
    const flat = paragraph.replace(/\s+/g, " ");
    const methods = [...flat.matchAll(/`([\w.]+) \/ (\w+)`/g)];
    const requests = [...flat.matchAll(/`(\{[^`]*\})`/g)].map((m) => m[1]!);
    assert.ok(methods.length > 0, `${readme}: a Postman paragraph names no method`);
    commands.push({ readme, line: flat.slice(0, 80), plaintext: true, method: `${methods[0]![1]}/${methods[0]![2]}`, requests });
    for (const other of methods.slice(1)) commands.push({ readme, line: flat.slice(0, 80), plaintext: true, method: `${other[1]}/${other[2]}`, requests: [] });
  }
  return commands;
}

/** The READMEs that tell a learner to run these tools against a lab's `serve`. */
function readmesOf(lab: Lab): string[] {
  const readmes = [`labs/${lab.id}/README.md`];
  if (lab.number === "01") readmes.push("docs/getting-started.md");
  return readmes;
}

describe("descriptorProblems and fieldNameMismatches, the rules of grpcurl's protodesc", () => {
  before(() => listLabs().forEach((lab) => ensureStubs(lab, treeDir(lab, "solution"))));
  /** What ReflectionService would serve for a package definition. */
  const servedBy = (definition: protoLoader.PackageDefinition) =>
    (Object.values(definition).find((type) => "fileDescriptorProtos" in type) as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  const load = (protos: string[], options: protoLoader.Options = {}) => servedBy(protoLoader.loadSync(protos, { includeDirs: [path.join(workspaceRoot, "proto")], ...options }));

  it("find what proto-loader's rebuilt descriptors lose: imports, map entry names, field names", () => {
    const user = ["user/v1/user.proto"];
    assert.ok(descriptorProblems(load(user, { keepCase: true })).some((p) => /uses google\.protobuf\.Timestamp from .*, but .* does not import that file/.test(p)));
    assert.ok(descriptorProblems(servedBy(protoLoader.loadFileDescriptorSetFromBuffer(fs.readFileSync(descriptorSetFile(treeDir(findLab("02"), "solution")))))).length > 0);
    const health = ["grpc/health/v1/health.proto"];
    assert.deepEqual(descriptorProblems(load(health, { keepCase: true })), [
      "map field grpc.health.v1.HealthListResponse.statuses has the entry message Statuses, and protoc names it StatusesEntry, nested in grpc.health.v1.HealthListResponse: a client refuses the file (invalid map: incorrect implicit map entry name)",
    ]);
    assert.deepEqual(fieldNameMismatches(load(["jobs/v1/jobs.proto"]), protoFieldNames(["jobs/v1/jobs.proto"])), [
      "jobs.v1.RunJobRequest has the fields name, durationMs, and the .proto names them name, duration_ms",
      "jobs.v1.RunJobResponse has the fields name, elapsedMs, and the .proto names them name, elapsed_ms",
    ]);
  });

  it("find nothing wrong with protoc's descriptors, nor with reflectionDefinition's", () => {
    for (const lab of listLabs()) {
      const set = fs.readFileSync(descriptorSetFile(treeDir(lab, "solution")));
      for (const files of [fromBinary(FileDescriptorSetSchema, set).file, servedBy(reflectionDefinition(set))]) {
        assert.deepEqual(descriptorProblems(files), [], lab.id);
        assert.deepEqual(fieldNameMismatches(files, protoFieldNames(lab.protos)), [], lab.id);
      }
    }
  });

  it("name map entries as protoc does", () => {
    assert.equal(mapEntryName("statuses"), "StatusesEntry");
    assert.equal(mapEntryName("price_by_sku"), "PriceBySkuEntry");
    assert.equal(mapEntryName("a__b_1c"), "AB1cEntry");
  });
});

describe("what every lab's serve reflects, read as grpcurl reads it", function () {
  this.timeout(60_000);
  after(() => fs.rmSync(treesRoot, { recursive: true, force: true }));

  for (const lab of listLabs()) {
    describe(`lab ${lab.number}`, () => {
      let serving: Serving;
      let registry: FileRegistry;
      let served: FileDescriptorProto[];

      before(async () => {
        serving = await serve(lab);
      });
      after(async () => {
        closeAll();
        if (serving) assert.equal(await stop(serving), 0, `lab ${lab.number}'s serve exit code`);
      });

      it("serves protoc's descriptors of the lab's protos, which a strict registry builds", async () => {
        const credentials = credentialsFor(serving);
        const services = (await reflectedServices(serving.address, credentials)).filter((s) => !s.startsWith("grpc.reflection."));
        assert.ok(services.length > 0, "reflection lists no service");
        served = await reflectedFileSet(serving.address, services, credentials);
        // Built as @bufbuild/protobuf builds them (every reference fully qualified and resolved)...
        registry = createFileRegistry({ $typeName: "google.protobuf.FileDescriptorSet", file: dependenciesFirst(served) });
        // ...and with what Go's protodesc adds: imports, and map entry names.
        assert.deepEqual(descriptorProblems(served), []);
        assert.deepEqual(fieldNameMismatches(served, protoFieldNames(lab.protos)), []);
        // Each file is the one protoc writes, comments included.
        const protoc = new Map(protocFiles(lab).map((file) => [file.name, file]));
        for (const file of served) {
          const expected = protoc.get(file.name);
          assert.ok(expected, `reflection served ${file.name}, which protoc did not compile for lab ${lab.number}`);
          assert.ok(equals(FileDescriptorProtoSchema, file, expected), `reflection's ${file.name} differs from protoc's`);
        }
        for (const proto of lab.protos.filter((p) => protoc.get(p)!.service.length > 0)) {
          assert.ok(served.some((file) => file.name === proto), `reflection serves no ${proto}`);
        }
      });

      const commands = readmesOf(lab).flatMap(readmeCommands);
      if (commands.length === 0) return;
      it(`accepts the grpcurl, Evans and Postman commands of ${readmesOf(lab).join(" and ")} (${commands.length})`, async () => {
        assert.ok(registry, "the descriptors did not load");
        for (const command of commands) {
          const where = `${command.readme}: ${command.line}`;
          if (serving.tls && command.plaintext) {
            // Lab 05's README says that this one fails: the port speaks only TLS.
            await assert.rejects(reflectedServices(serving.address, grpc.credentials.createInsecure()), where);
            continue;
          }
          if (command.tlsFiles) await reflectedServices(serving.address, credentialsFor(serving, command.tlsFiles));
          if (command.describe) assert.ok(registry.get(command.describe), `${where}: reflection knows no ${command.describe}`);
          if (!command.method) continue;
          const [serviceName, methodName] = command.method.split("/");
          const method = registry.getService(serviceName!)?.methods.find((m) => m.name === methodName);
          assert.ok(method, `${where}: reflection knows no method ${command.method}`);
          for (const request of command.requests) {
            // grpcurl parses -d with protojson, which refuses an unknown field; so does fromJson.
            assert.doesNotThrow(() => fromJson(method.input, JSON.parse(request) as JsonValue), `${where}: ${request}`);
          }
        }
      });
    });
  }
});
