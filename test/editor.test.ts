/**
 * The optional editor set-up: the dev container (Codespaces, VS Code dev
 * containers) against the published devcontainer.json schema, and the VS Code
 * tasks whose problem matcher must read the runner's real output: the type
 * and syntax errors of a lab tree become problems at the right file and line.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findLab, labsDir, listLabs, workspaceRoot } from "../scripts/lib/labs";
import { formatReport } from "../scripts/lib/report";
import type { LabResult } from "../scripts/lib/results";
import { checkLab } from "../scripts/lib/run-checks";
import { removeTrees, solutionVariant } from "./trees";

const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(workspaceRoot, file), "utf8")) as Record<string, unknown>;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * What devcontainers/spec schemas/devContainer.base.schema.json allows at the
 * top level of an image-based dev container (its devContainerCommon,
 * nonComposeBase and imageContainer definitions; "unevaluatedProperties": false
 * rejects anything else), and in a portsAttributes entry.
 */
const schemaTopLevel = new Set([
  "$schema", "name", "features", "overrideFeatureInstallOrder", "secrets", "forwardPorts", "portsAttributes", "otherPortsAttributes",
  "updateRemoteUserUID", "containerEnv", "containerUser", "mounts", "init", "privileged", "capAdd", "securityOpt", "remoteEnv", "remoteUser",
  "initializeCommand", "onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand", "postAttachCommand", "waitFor",
  "userEnvProbe", "hostRequirements", "customizations", "appPort", "runArgs", "shutdownAction", "overrideCommand", "workspaceFolder", "workspaceMount", "image",
]);
const schemaPortAttributes = new Set(["onAutoForward", "elevateIfNeeded", "label", "requireLocalPort", "protocol"]);
const schemaOnAutoForward = ["notify", "openBrowser", "openBrowserOnce", "openPreview", "silent", "ignore"];
const schemaWaitFor = ["initializeCommand", "onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand"];
const lifecycleCommands = ["initializeCommand", "onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand", "postAttachCommand"];

describe("the dev container", () => {
  const config = readJson(".devcontainer/devcontainer.json");

  it("has only properties the devcontainer.json schema defines, with the types it requires", () => {
    for (const key of Object.keys(config)) assert.ok(schemaTopLevel.has(key), `devcontainer.json: "${key}" is not in the schema`);
    assert.equal(typeof config.image, "string", "an image-based dev container requires image");
    for (const key of ["name", "$schema", "remoteUser"]) assert.ok(config[key] === undefined || typeof config[key] === "string", key);
    for (const key of lifecycleCommands) {
      const value = config[key];
      assert.ok(value === undefined || typeof value === "string" || Array.isArray(value) || isObject(value), key);
    }
    assert.ok(config.waitFor === undefined || schemaWaitFor.includes(config.waitFor as string), "waitFor");
    const ports = config.forwardPorts as unknown[];
    assert.ok(Array.isArray(ports));
    for (const port of ports) {
      const ok = (Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535) || (typeof port === "string" && /^([a-z0-9-]+):(\d{1,5})$/.test(port));
      assert.ok(ok, `forwardPorts: ${String(port)}`);
    }
    assert.ok(isObject(config.portsAttributes));
    for (const [port, attributes] of Object.entries(config.portsAttributes)) {
      assert.ok(isObject(attributes), `portsAttributes.${port}`);
      for (const key of Object.keys(attributes)) assert.ok(schemaPortAttributes.has(key), `portsAttributes.${port}.${key} is not in the schema`);
      assert.ok(attributes.onAutoForward === undefined || schemaOnAutoForward.includes(attributes.onAutoForward as string), "onAutoForward");
      assert.ok(attributes.label === undefined || typeof attributes.label === "string", "label");
    }
    assert.ok(isObject(config.customizations));
  });

  it("runs npm ci on a maintained Node.js 24 image, forwards and labels the serve port, and adds the Protocol Buffers extension", () => {
    assert.match(config.image as string, /^mcr\.microsoft\.com\/devcontainers\/(typescript|javascript)-node:(\d+-)?24(-[a-z]+)?$/);
    assert.equal(config.postCreateCommand, "npm ci");
    assert.deepEqual(config.forwardPorts, [50051]);
    const attributes = (config.portsAttributes as Record<string, Record<string, unknown>>)["50051"];
    assert.match(String(attributes?.label), /serve/);
    const vscode = (config.customizations as Record<string, Record<string, unknown>>).vscode;
    const extensions = vscode?.extensions as string[];
    for (const id of extensions) assert.match(id, /^[a-z0-9-]+\.[a-z0-9-]+$/i);
    assert.ok(extensions.includes("zxh404.vscode-proto3"));
  });
});

interface Matcher {
  owner: string;
  fileLocation: [string, string];
  pattern: { regexp: string; file: number; line: number; message: number };
  background?: { activeBegin?: boolean; beginsPattern: string; endsPattern: string };
}
interface Task {
  label: string;
  type: string;
  command: string;
  args: string[];
  isBackground?: boolean;
  problemMatcher: Matcher;
}
interface PickInput {
  id: string;
  type: string;
  options: Array<{ label: string; value: string }>;
}

const tasksFile = readJson(".vscode/tasks.json") as { version: string; tasks: Task[]; inputs: PickInput[] };
const task = (label: string) => {
  const found = tasksFile.tasks.find((t) => t.label === label);
  assert.ok(found, `no task "${label}"`);
  return found;
};

interface Problem {
  file: string;
  line: number;
  message: string;
}

/** The problems VS Code would show for this output: the matcher's regexp on every line, duplicates once. */
function problems(matcher: Matcher, output: string): Problem[] {
  const regexp = new RegExp(matcher.pattern.regexp);
  const found = new Map<string, Problem>();
  for (const line of output.split("\n")) {
    const match = regexp.exec(line);
    if (!match) continue;
    const problem = { file: match[matcher.pattern.file]!, line: Number(match[matcher.pattern.line]), message: match[matcher.pattern.message]! };
    found.set(JSON.stringify(problem), problem);
  }
  return [...found.values()];
}

/** The report `npm run lab 01` prints for a tree, as the editor's terminal shows it (no colour codes). */
async function runnerOutput(result: Promise<LabResult>): Promise<string> {
  return formatReport(lab, await result).replace(/\u001b\[[0-9;]*m/g, "");
}

const lab = findLab("01");

describe("the editor tasks", function () {
  this.timeout(60_000);
  after(removeTrees);

  it("ask for the lab in a list of every lab, in tasks and launch configurations", () => {
    const labs = listLabs().map((l) => l.id);
    for (const file of [".vscode/tasks.json", ".vscode/launch.json"]) {
      const input = (readJson(file).inputs as PickInput[]).find((i) => i.id === "lab");
      assert.equal(input?.type, "pickString", file);
      assert.deepEqual(
        input.options.map((o) => o.value),
        labs,
        `${file}: the lab list is out of date`,
      );
    }
  });

  it("check and watch the lab with the runner, with one problem matcher", () => {
    const check = task("check this lab");
    const watch = task("watch this lab");
    assert.deepEqual([check.command, ...check.args], ["node", "scripts/lab.cjs", "${input:lab}"]);
    assert.deepEqual([watch.command, ...watch.args], ["node", "scripts/lab.cjs", "${input:lab}", "--watch"]);
    assert.equal(watch.isBackground, true);
    assert.deepEqual(watch.problemMatcher.pattern, check.problemMatcher.pattern);
    assert.deepEqual(watch.problemMatcher.fileLocation, check.problemMatcher.fileLocation);
    // The runner prints paths relative to the lab's folder: labs/<the lab picked>.
    const [kind, base] = check.problemMatcher.fileLocation;
    assert.equal(kind, "relative");
    assert.equal(base.replace("${workspaceFolder}", workspaceRoot).replace("${input:lab}", lab.id), path.join(labsDir, lab.id).split(path.sep).join("/"));
  });

  it("turn the type errors of real runner output into problems at their file and line", async () => {
    const tree = solutionVariant(lab, "editor-type-errors", [
      { file: "src/server.ts", from: '{ name: "", location: call.request }', to: '{ nam: "", location: call.request }' },
      { file: "src/client.ts", from: "client.listFeatures(rectangle, { deadline: deadline() })", to: "client.listFeatures(rectangle, { deadline: deadline(), nope: 1 })" },
    ]);
    const result = checkLab(lab, { target: "learner", tree });
    const found = problems(task("check this lab").problemMatcher, await runnerOutput(result));
    const { type_errors: errors } = await result;
    assert.deepEqual(
      errors.map((e) => e.file),
      ["src/client.ts", "src/server.ts"],
    );
    assert.deepEqual(
      found.sort((a, b) => a.file.localeCompare(b.file)),
      errors.map((e) => ({ file: e.file, line: e.line, message: e.message })),
    );
    for (const problem of found) assert.ok(fs.existsSync(path.join(tree, problem.file)), problem.file);
  });

  it("turn a syntax error of real runner output into a problem, and nothing else", async () => {
    const tree = solutionVariant(lab, "editor-syntax-error", [{ file: "src/client.ts", from: "const call = client.listFeatures(", to: "const call = = client.listFeatures(" }]);
    const output = await runnerOutput(checkLab(lab, { target: "learner", tree }));
    const line = fs.readFileSync(path.join(tree, "src/client.ts"), "utf8").split("\n").findIndex((l) => l.includes("= = client")) + 1;
    assert.deepEqual(problems(task("check this lab").problemMatcher, output), [{ file: "src/client.ts", line, message: 'syntax error: Unexpected "="' }]);
  });

  it("watch: a run begins with the report's first line and ends once the types are checked", async () => {
    const background = task("watch this lab").problemMatcher.background;
    assert.ok(background?.activeBegin);
    const begins = new RegExp(background.beginsPattern);
    const ends = new RegExp(background.endsPattern);
    const progress = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-editor-"));
    const child = spawn(process.execPath, [path.join(workspaceRoot, "scripts", "lab.cjs"), "01", "--watch", "--solution"], {
      cwd: workspaceRoot,
      env: { ...process.env, NO_COLOR: "1", GRPC_LABS_PROGRESS_FILE: path.join(progress, "progress.json") },
    });
    let output = "";
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`watch mode never finished a run:\n${output}`)), 45_000);
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.split("\n").some((l) => ends.test(l))) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    } finally {
      child.kill("SIGINT");
      await new Promise((resolve) => child.once("exit", resolve));
      fs.rmSync(progress, { recursive: true, force: true });
    }
    const lines = output.split("\n");
    const first = lines.findIndex((l) => begins.test(l));
    const last = lines.findIndex((l) => ends.test(l));
    assert.ok(first >= 0 && first < last, output);
    assert.match(lines[first]!, /^Lab 01 · /);
    assert.match(lines[last]!, /^\s+Checked in \d+ ms\. Watching /);
    // Before the types are checked, the run is not over.
    for (const l of lines.filter((l) => /type-checking/.test(l))) assert.doesNotMatch(l, ends);
    assert.deepEqual(problems(task("watch this lab").problemMatcher, output), []);
  });
});
