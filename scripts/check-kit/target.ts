import * as path from "node:path";
import { CheckFailure, labNumber, learnerLocation, targetDir } from "./failure";

/** Explains why a learner file could not be loaded, as "file:line: message". */
export function describeLoadError(error: unknown, relativeFile: string): string {
  const message = error instanceof Error ? error.message : String(error);
  // tsx (esbuild) reports syntax errors as "<abs path>:<line>:<col>: ERROR: <message>".
  const syntax = /([^\s]+\.ts):(\d+):\d+: ERROR: (.*)/.exec(message);
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
