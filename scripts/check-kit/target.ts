/**
 * The code under test, as the checks reach it: every learner file runs in the
 * subject process (subject.ts), never in the judge. `loadTarget` resolves with
 * the module as data, its functions as stand-ins that run there.
 */
import * as path from "node:path";
import { learnerLocationIn } from "../subject/location";
import { CheckFailure } from "./assert";
import { runningSubject, subject, subjectConfigured, unfinishedLoads } from "./subject";

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
  return learnerLocationIn(error instanceof Error ? (error.stack ?? "") : "", targetDir());
}

/** Explains why a learner file could not be loaded, as "file:line: message". */
export function describeLoadError(error: unknown, relativeFile: string): string {
  if (error instanceof CheckFailure) return error.message;
  // The judge transpiles the learner's files; one that does not parse throws this sentence when loaded.
  const transpiled = (error as { learnerSyntaxError?: unknown }).learnerSyntaxError;
  if (typeof transpiled === "string") return transpiled;
  const message = error instanceof Error ? error.message : String(error);
  // tsx (esbuild), when `serve` loads the file in this process: "<abs path>:<line>:<col>: ERROR: <message>".
  const syntax = /^(.+\.ts):(\d+):\d+: ERROR: (.*)$/m.exec(message);
  if (syntax) return `${path.relative(targetDir(), syntax[1] ?? "").split(path.sep).join("/")}:${syntax[2]}: syntax error: ${syntax[3]}`;
  const missing = /Cannot find module '([^']+)'/.exec(message);
  if (missing && (error as { code?: string }).code === "MODULE_NOT_FOUND") {
    const hint = missing[1]?.includes("gen/") ? `: run \`npm run lab ${labNumber()} -- gen\`` : "";
    return `${relativeFile} imports ${missing[1]}, which does not exist${hint}`;
  }
  const where = learnerLocation(error);
  return `${relativeFile} threw while loading: ${message}${where ? ` (at ${where})` : ""}`;
}

/** The files of the code under test the checks have loaded so far: a lane's new subject loads them before its first check. */
export const loadedFiles = new Set<string>();
let loadsUnderway = 0;
/** Whether a check is loading code under test into a subject now. */
export const loading = (): boolean => loadsUnderway > 0;

/**
 * Loads a file of the code under test, e.g. await loadTarget<ServerModule>("src/server.ts").
 * In the checks it runs in the subject; outside them (`serve` and `client`,
 * the learner's own demos) it is loaded into this process.
 */
export async function loadTarget<T>(relativeFile: string): Promise<T> {
  if (!subjectConfigured()) return loadHere<T>(relativeFile);
  const file = path.posix.normalize(relativeFile);
  const unfinished = unfinishedLoads.get(file);
  if (unfinished) throw new CheckFailure(unfinished);
  const running = await subject();
  loadedFiles.add(file);
  loadsUnderway++;
  try {
    return (await running.driver.load!(file)) as T;
  } catch (error) {
    throw new CheckFailure(describeLoadError(error, relativeFile));
  } finally {
    loadsUnderway--;
  }
}

function loadHere<T>(relativeFile: string): T {
  try {
    return require(path.join(targetDir(), relativeFile)) as T;
  } catch (error) {
    throw new CheckFailure(describeLoadError(error, relativeFile));
  }
}

/** Returns the named export if it is a function, or fails saying what is missing. */
export function exportedFunction<F extends (...args: never[]) => unknown>(module: object, name: string, relativeFile: string): F {
  const value = (module as Record<string, unknown>)[name];
  if (typeof value !== "function") {
    throw new CheckFailure(`${relativeFile} must export a function named ${name} (the starter has one; was it renamed?)`);
  }
  return value as F;
}

/** `new Class(...args)` for a class of the code under test; resolves with a stand-in for the object. */
export async function construct<T>(Class: unknown, ...args: unknown[]): Promise<T> {
  if (!subjectConfigured()) return new (Class as new (...a: unknown[]) => T)(...args);
  return (await (await subject()).construct(Class, args)) as T;
}

/**
 * Puts one of the lab's check fixtures (`checks/<file>`, e.g. a dependency the
 * checks take down) into the learner's world, where the learner's code can
 * call it synchronously; the check drives it through the stand-in it gets.
 * A fixture file imports nothing but Node's own modules.
 */
export async function fixture<T>(file: string, name: string, ...args: unknown[]): Promise<T> {
  if (!subjectConfigured()) {
    const Fixture = (require(path.join(targetDir(), "..", "..", "labs", path.basename(targetDir()), "checks", file)) as Record<string, new (...a: unknown[]) => T>)[name]!;
    return new Fixture(...args);
  }
  return (await (await subject()).driver.fixture!(file, name, args)) as T;
}

/**
 * Waits until everything the learner's code sent the checks so far (calls of
 * the callbacks a check passed it) has arrived: a round trip to the subject.
 * Use it before asserting on what a callback recorded after a call over the
 * network settled, since the two travel on different channels.
 */
export async function settled(): Promise<void> {
  if (subjectConfigured()) await (await subject()).driver.ping!();
}

/** Whether `value` is a stand-in for something in the code under test (a learner's server, client or object). */
export function isStandIn(value: unknown): boolean {
  return runningSubject()?.isStandIn(value) ?? false;
}
