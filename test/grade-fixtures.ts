/**
 * Submissions for the grading tests, built at test time from solutions/ and
 * starter/ with small edits (no copy of a solution is committed), and a tiny
 * zip writer to pack some of them as learning platforms export them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { type Lab, labsDir, starterFile, treeDir, workspaceRoot } from "../scripts/lib/labs";
import { crc32 } from "../scripts/grade/zip";

export const solutionOf = (lab: Lab, file: string) => fs.readFileSync(path.join(treeDir(lab, "solution"), file), "utf8");
export const starterOf = (lab: Lab, file: string) => fs.readFileSync(starterFile(lab, file), "utf8");

/** Lab files of a submission: lab id, then learner file, then content. */
export type LabFiles = Record<string, Record<string, string | Buffer>>;

function write(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

/** A student's folder: a workspace clone (package.json, lab.json, checks, labs/.../src) or just the lab folders. */
export function folderSubmission(dir: string, files: LabFiles, shape: "clone" | "labs-only"): string {
  fs.mkdirSync(dir, { recursive: true });
  const labsRoot = shape === "clone" ? path.join(dir, "labs") : dir;
  if (shape === "clone") {
    fs.copyFileSync(path.join(workspaceRoot, "package.json"), path.join(dir, "package.json"));
    for (const labId of Object.keys(files)) {
      fs.cpSync(path.join(labsDir, labId, "checks"), path.join(labsRoot, labId, "checks"), { recursive: true });
      fs.copyFileSync(path.join(labsDir, labId, "lab.json"), path.join(labsRoot, labId, "lab.json"));
    }
  }
  for (const [labId, labFiles] of Object.entries(files)) {
    for (const [file, content] of Object.entries(labFiles)) write(path.join(labsRoot, labId, ...file.split("/")), content);
  }
  return dir;
}

export interface ZipItem {
  name: string;
  data?: string | Buffer;
  /** Stored as a Unix symbolic link to this target. */
  symlink?: string;
}

/** Writes a zip (deflated entries, Unix attributes) the way common zip tools do. */
export function writeZip(file: string, items: ZipItem[]): string {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const item of items) {
    const raw = Buffer.from(item.symlink ?? item.data ?? "");
    const deflated = item.symlink ? raw : zlib.deflateRawSync(raw);
    const method = item.symlink ? 0 : 8;
    const name = Buffer.from(item.name);
    const mode = item.symlink ? 0o120777 : 0o100644;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc32(raw), 14);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(raw.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc32(raw), 16);
    central.writeUInt32LE(deflated.length, 20);
    central.writeUInt32LE(raw.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, deflated);
    centrals.push(central, name);
    offset += local.length + name.length + deflated.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  write(file, Buffer.concat([...locals, directory, end]));
  return file;
}

/**
 * Code that runs first when a hostile learner file is loaded. Each one is
 * plain JavaScript that type-checks, so it fails no step by itself.
 */
export const hostileCode = {
  /**
   * process.kill(-1, "SIGKILL"): every process the code may signal. It fires
   * only inside the grader's PID namespace (PID 1 there is check-one): run
   * anywhere else it would kill every process of the user, the machine's
   * when that is root.
   */
  killEveryone: [
    'if ((() => { try { return require("node:fs").readFileSync("/proc/1/cmdline", "utf8").includes("check-one"); } catch { return false; } })() && process.pid < 1000) {',
    '  process.kill(-1, "SIGKILL");',
    "}",
  ].join("\n"),
  /** Kills the process that started the code under test. */
  killParent: 'process.kill(process.ppid, "SIGKILL");',
  /**
   * Sends the judge SIGUSR1, which opens Node's inspector on 127.0.0.1:9229
   * unless the judge keeps it closed; through it, code could run in the judge.
   * If one answers, it ends its own process, failing the checks it serves.
   */
  openInspector: [
    'process.kill(process.ppid, "SIGUSR1");',
    'setTimeout(() => require("node:net").connect(9229, "127.0.0.1", () => process.exit(7)).on("error", () => undefined), 300).unref();',
  ].join("\n"),
  /** Reads a file (the grader's key) and, if it can, shows it in every check's message and writes a forged result. */
  steal: (keyFile: string, forged: string) =>
    [
      "try {",
      `  const stolen = require("node:fs").readFileSync(${JSON.stringify(keyFile)}, "utf8");`,
      `  require("node:fs").writeFileSync(${JSON.stringify(forged)}, JSON.stringify({ stolen }));`,
      '  throw new Error(`stolen: ${stolen}`);',
      "} catch (error) {",
      '  if (String(error).includes("stolen:")) throw error;',
      "}",
    ].join("\n"),
};
