import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "./errors";

/** The workspace root: the folder that holds package.json, labs/ and solutions/. */
export const workspaceRoot = path.resolve(__dirname, "..", "..");
export const labsDir = path.join(workspaceRoot, "labs");
export const solutionsDir = path.join(workspaceRoot, "solutions");
export const protoDir = path.join(workspaceRoot, "proto");

/** Which copy of a lab's code is checked: the learner's or the reference solution. */
export type Target = "learner" | "solution";

/** Who a step is about: the stub step, the learner's server, or the learner's client. */
export type Side = "setup" | "server" | "client";

export interface StepMeta {
  step: number;
  title: string;
  side: Side;
  /** Learner files this step is about, relative to the lab folder. */
  files: string[];
  /** Hints from general to specific. */
  hints: string[];
}

/** The contents of labs/NN-name/lab.json. */
export interface LabJson {
  title: string;
  /** .proto files, relative to proto/, that the stub step compiles. */
  protos: string[];
  /**
   * The files a learner edits, relative to the lab folder and all under src/;
   * grading takes only these. Their pristine versions are in starter/.
   */
  learnerFiles: string[];
  steps: StepMeta[];
  /**
   * Optional: a module in the lab folder whose `setup()` the stub step runs
   * after protoc, for what the lab needs besides stubs (lab 05: certificates).
   */
  setup?: string;
  /**
   * Optional: the stub step also runs protoc-gen-es (target=ts), which writes
   * `<name>_pb.ts` next to each ts-proto stub: the descriptors and types that
   * Connect-ES (gRPC-Web, lab 10) works with.
   */
  protobufEs?: boolean;
  /**
   * Optional: a module of the lab's checks (JudgeWarmUp in lab-hooks.ts) whose
   * `warmUp()` the warm judge runs while it waits for the run after one of
   * this lab (lab 10: it starts the browser), and whose `release()` it runs
   * when that run is of another lab.
   */
  judgeWarmUp?: string;
  /**
   * Optional: how many subjects the checks share, when not the judge's
   * default (defaultHosts in check-worker.ts). Lab 10's checks wait on a
   * browser, not on a subject's CPU: one subject does, and the tree is the
   * smaller by one Node process.
   */
  subjects?: number;
}

export interface Lab extends LabJson {
  /** Folder name, e.g. "01-route-guide". */
  id: string;
  /** Two-digit number, e.g. "01". */
  number: string;
  /** Name without the number, e.g. "route-guide". */
  name: string;
}

const labFolderPattern = /^(\d{2})-([a-z0-9-]+)$/;

/** Every lab in labs/, in order. */
export function listLabs(): Lab[] {
  return fs
    .readdirSync(labsDir)
    .filter((entry) => labFolderPattern.test(entry))
    .sort()
    .map(loadLab);
}

export function loadLab(id: string): Lab {
  const [, number, name] = labFolderPattern.exec(id) ?? [];
  if (!number || !name) throw new Error(`not a lab folder name: ${id}`);
  const json = JSON.parse(fs.readFileSync(path.join(labsDir, id, "lab.json"), "utf8")) as LabJson;
  return { ...json, id, number, name };
}

/** Finds a lab from what a learner types: "1", "01", "route-guide" or "01-route-guide". */
export function findLab(query: string, labs: Lab[] = listLabs()): Lab {
  const wanted = query.trim().toLowerCase();
  const asNumber = /^\d+$/.test(wanted) ? wanted.padStart(2, "0") : undefined;
  const lab = labs.find((l) => l.number === asNumber || l.id === wanted || l.name === wanted);
  if (lab) return lab;
  const choices = labs.map((l) => `${l.number} ${l.name}`).join(", ");
  throw new UserError(`There is no lab "${query}"; choose one of: ${choices}.`);
}

/** The folder whose code is checked: labs/NN-name or solutions/NN-name. */
export function treeDir(lab: Lab, target: Target): string {
  return path.join(target === "solution" ? solutionsDir : labsDir, lab.id);
}

/** A path relative to the workspace root, with forward slashes, for messages. */
export function displayPath(absolute: string): string {
  return path.relative(workspaceRoot, absolute).split(path.sep).join("/");
}

/** The pristine starter version of a learner file: src/server.ts is starter/server.ts. */
export function starterFile(lab: Lab, learnerFile: string): string {
  const [top, ...rest] = learnerFile.split("/");
  if (top !== "src" || rest.length === 0) throw new Error(`lab ${lab.id}: learner file ${learnerFile} is not under src/`);
  return path.join(labsDir, lab.id, "starter", ...rest);
}

/**
 * Gives the learner a working copy of the lab: copies every starter file whose
 * src/ version does not exist yet. It never overwrites a file (reset does that,
 * after a backup). Returns the files it created.
 */
export function ensureWorkingCopy(lab: Lab): string[] {
  const created: string[] = [];
  for (const file of lab.learnerFiles) {
    const working = path.join(labsDir, lab.id, ...file.split("/"));
    if (fs.existsSync(working)) continue;
    fs.mkdirSync(path.dirname(working), { recursive: true });
    fs.copyFileSync(starterFile(lab, file), working, fs.constants.COPYFILE_EXCL);
    created.push(working);
  }
  return created;
}
