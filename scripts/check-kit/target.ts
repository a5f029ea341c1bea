import * as path from "node:path";
import { CheckFailure } from "./assert";

/** The folder of the code under test: labs/NN-name or solutions/NN-name. */
export function targetDir(): string {
  const dir = process.env.GRPC_LABS_TARGET_DIR;
  if (!dir) throw new Error("GRPC_LABS_TARGET_DIR is not set: checks run through `npm run lab`");
  return dir;
}

/** The lab's number, for commands in messages ("npm run lab 01 -- gen"). */
export function labNumber(): string {
  return process.env.GRPC_LABS_LAB ?? "NN";
}

/** The first stack frame inside the code under test, as "src/server.ts:42", or "". */
export function learnerLocation(error: unknown): string {
  const stack = error instanceof Error ? (error.stack ?? "") : "";
  const root = targetDir();
  for (const line of stack.split("\n")) {
    // "at fn (/path/file.ts:12:5)" or "at /path/file.ts:12:5"; paths may hold spaces.
    const match = /(?:at |\()((?:[A-Za-z]:)?[^():]+):(\d+):\d+\)?$/.exec(line.trim());
    const file = match?.[1];
    if (file && path.resolve(file).startsWith(root + path.sep) && !file.includes(`${path.sep}gen${path.sep}`)) {
      return `${path.relative(root, file).split(path.sep).join("/")}:${match[2]}`;
    }
  }
  return "";
}

/** Explains why a learner file could not be loaded, as "file:line: message". */
export function describeLoadError(error: unknown, relativeFile: string): string {
  const message = error instanceof Error ? error.message : String(error);
  // tsx (esbuild) reports syntax errors as "<abs path>:<line>:<col>: ERROR: <message>".
  const syntax = /^(.+\.ts):(\d+):\d+: ERROR: (.*)$/m.exec(message);
  if (syntax) {
    const file = path.relative(targetDir(), syntax[1] ?? "").split(path.sep).join("/");
    return `${file}:${syntax[2]}: syntax error: ${syntax[3]}`;
  }
  const missing = /Cannot find module '([^']+)'/.exec(message);
  if (missing && (error as { code?: string }).code === "MODULE_NOT_FOUND") {
    const hint = missing[1]?.includes("gen/") ? `: run \`npm run lab ${labNumber()} -- gen\`` : "";
    return `${relativeFile} imports ${missing[1]}, which does not exist${hint}`;
  }
  const where = learnerLocation(error);
  return `${relativeFile} threw while loading: ${message}${where ? ` (at ${where})` : ""}`;
}

/** Loads a file of the code under test, e.g. loadTarget<ServerModule>("src/server.ts"). */
export function loadTarget<T>(relativeFile: string): T {
  const file = path.join(targetDir(), relativeFile);
  try {
    return require(file) as T;
  } catch (error) {
    throw new CheckFailure(describeLoadError(error, relativeFile));
  }
}

/** Returns the named export if it is a function, or fails saying what is missing. */
export function exportedFunction<F extends (...args: never[]) => unknown>(
  module: object,
  name: string,
  relativeFile: string,
): F {
  const value = (module as Record<string, unknown>)[name];
  if (typeof value !== "function") {
    throw new CheckFailure(`${relativeFile} must export a function named ${name} (the starter has one; was it renamed?)`);
  }
  return value as F;
}
