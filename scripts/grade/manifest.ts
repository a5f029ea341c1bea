/**
 * The pristine-workspace manifest: a SHA-256 of every file that decides a
 * grade (checks, lab metadata, starters, the runner, the workshop's tests,
 * solutions, protos, package files). `npm run grade` compares a workspace
 * with it, so a self-graded workspace whose checks were edited is flagged;
 * class grading compares each submission with it to report who edited what
 * (their edits never count: grading uses the instructor's files).
 * Regenerate it with `npm run grade -- --write-manifest` after changing any
 * of those files; test/grade.test.ts fails until then.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { workspaceRoot } from "../lib/labs";

export const manifestFile = path.join(__dirname, "manifest.json");
const manifestPath = "scripts/grade/manifest.json";

export interface Manifest {
  version: 1;
  /** A hash of every path and file hash below: one value to compare by eye. */
  hash: string;
  files: Record<string, string>;
}

const protectedRoots = new Set(["labs", "proto", "scripts", "solutions", "test"]);
const protectedTopFiles = new Set([".mocharc.json", "package-lock.json", "package.json", "tsconfig.json"]);
/** Folders never walked: dependencies, git, generated stubs and certificates (lab 05), temporary trees. */
export const skippedFolders = new Set([".git", ".test-trees", "certs", "gen", "node_modules"]);
const junkFiles = new Set([".DS_Store", "Thumbs.db", "desktop.ini"]);

/** Whether a workspace-relative path (forward slashes) is one of the files grading depends on. */
export function isProtected(relative: string): boolean {
  const parts = relative.split("/");
  const name = parts[parts.length - 1] ?? "";
  if (parts.length === 1) return protectedTopFiles.has(name);
  if (!protectedRoots.has(parts[0]!) || relative === manifestPath) return false;
  if (junkFiles.has(name) || name.endsWith(".md") || parts.some((p) => skippedFolders.has(p))) return false;
  // The learner's working copy is what is graded, not what grades.
  return !(parts[0] === "labs" && parts[2] === "src");
}

/** SHA-256 of a file; text is hashed with LF line ends, so a Windows checkout (CRLF) hashes the same. */
export function fileHash(content: Buffer): string {
  const text = content.includes(0) ? content : Buffer.from(content.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
  return createHash("sha256").update(text).digest("hex");
}

export function manifestOf(files: Record<string, string>): Manifest {
  const sorted = Object.keys(files).sort();
  const hash = createHash("sha256");
  for (const file of sorted) hash.update(`${file} ${files[file]}\n`);
  return { version: 1, hash: hash.digest("hex"), files: Object.fromEntries(sorted.map((f) => [f, files[f]!])) };
}

/** Every file below root, relative with forward slashes, without skipped folders; symlinks are listed, not followed. */
export function walkFiles(root: string, limit = 20000): string[] {
  const found: string[] = [];
  const visit = (dir: string, prefix: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (found.length >= limit) return;
      const relative = prefix + entry.name;
      if (entry.isDirectory()) {
        if (!skippedFolders.has(entry.name)) visit(path.join(dir, entry.name), `${relative}/`);
      } else if (entry.isFile() || entry.isSymbolicLink()) found.push(relative);
    }
  };
  visit(root, "");
  return found;
}

/** The manifest of a workspace folder as it is now. */
export function computeManifest(root = workspaceRoot): Manifest {
  const files: Record<string, string> = {};
  for (const file of walkFiles(root).filter(isProtected)) {
    const full = path.join(root, ...file.split("/"));
    if (fs.lstatSync(full).isFile()) files[file] = fileHash(fs.readFileSync(full));
  }
  return manifestOf(files);
}

export function readManifest(): Manifest | null {
  try {
    return JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Manifest;
  } catch {
    return null;
  }
}

export function writeManifest(): Manifest {
  const manifest = computeManifest();
  fs.writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export interface Differences {
  changed: string[];
  added: string[];
  missing: string[];
}

export function compareManifests(expected: Manifest, actual: Manifest): Differences {
  const changed: string[] = [];
  const added: string[] = [];
  for (const [file, hash] of Object.entries(actual.files)) {
    if (!(file in expected.files)) added.push(file);
    else if (expected.files[file] !== hash) changed.push(file);
  }
  const missing = Object.keys(expected.files).filter((f) => !(f in actual.files));
  return { changed, added, missing };
}

export function describeDifferences(d: Differences, max = 5): string {
  const parts: string[] = [];
  const list = (files: string[]) => files.slice(0, max).join(", ") + (files.length > max ? ` and ${files.length - max} more` : "");
  if (d.changed.length) parts.push(`changed ${list(d.changed)}`);
  if (d.added.length) parts.push(`added ${list(d.added)}`);
  if (d.missing.length) parts.push(`removed ${list(d.missing)}`);
  return parts.join("; ");
}
