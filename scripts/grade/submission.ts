/**
 * Reading one student's submission (a folder or a .zip) without trusting it:
 * only the lab's learner files (lab.json `learnerFiles`) are taken, each one
 * checked to be a regular text file of sane size inside the submission.
 * Everything else (checks, package.json, solutions) is at most compared with
 * the manifest to report edits; it never reaches the graded tree.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type Lab, starterFile } from "../lib/labs";
import { compareManifests, type Differences, fileHash, isProtected, type Manifest, manifestOf, walkFiles } from "./manifest";
import { ZipArchive, type ZipEntry, ZipError } from "./zip";

/** A learner file larger than this is not source code. */
export const maxLearnerFileBytes = 512 * 1024;
/** Files looked at in a submission folder; a clone without node_modules has a few hundred. */
export const maxListedFiles = 20000;
const maxProtectedFileBytes = 8 * 1024 * 1024;

/** Why one file of a submission could not be used, as the end of a sentence ("is not a text file"). */
export class FileProblem extends Error {}

export interface SubmissionSource {
  /** Files and symbolic links, relative to the submission, with forward slashes. */
  paths(): string[];
  read(relative: string, maxBytes: number): Buffer;
  /** Entries that were skipped as unsafe (absolute paths, "..", zip-slip). */
  unsafe: string[];
  close(): void;
}

function isInside(file: string, root: string): boolean {
  const relative = path.relative(root, file);
  return relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative);
}

export class FolderSource implements SubmissionSource {
  readonly unsafe: string[] = [];
  private readonly realRoot: string;
  private listing?: string[];

  constructor(private readonly root: string) {
    this.realRoot = fs.realpathSync(root);
  }

  paths(): string[] {
    this.listing ??= walkFiles(this.root, maxListedFiles);
    return this.listing;
  }

  read(relative: string, maxBytes: number): Buffer {
    const full = path.join(this.root, ...relative.split("/"));
    let real: string;
    try {
      real = fs.realpathSync(full);
    } catch {
      throw new FileProblem("is a symbolic link to nothing");
    }
    if (!isInside(real, this.realRoot)) throw new FileProblem("is a symbolic link to a file outside the submission");
    const stat = fs.statSync(real);
    if (!stat.isFile()) throw new FileProblem("is not a regular file");
    if (stat.size > maxBytes) throw new FileProblem(`is larger than ${Math.round(maxBytes / 1024)} KB`);
    return fs.readFileSync(real);
  }

  close(): void {}
}

export class ZipSource implements SubmissionSource {
  readonly unsafe: string[] = [];
  private readonly byName = new Map<string, ZipEntry>();

  constructor(private readonly zip: ZipArchive) {
    for (const entry of zip.entries) {
      if (entry.isDirectory) continue;
      const segments = entry.name.split("/");
      if (entry.name.startsWith("/") || /^[A-Za-z]:/.test(entry.name) || segments.includes("..")) this.unsafe.push(entry.name);
      else if (!segments.some((s) => s === "node_modules" || s === ".git" || s === "__MACOSX")) this.byName.set(segments.filter((s) => s && s !== ".").join("/"), entry);
    }
  }

  static open(file: string): ZipSource {
    return new ZipSource(ZipArchive.open(file));
  }

  paths(): string[] {
    return [...this.byName.keys()].sort();
  }

  read(relative: string, maxBytes: number): Buffer {
    const entry = this.byName.get(relative);
    if (!entry) throw new FileProblem("is not in the zip");
    if (entry.isSymlink) throw new FileProblem("is a symbolic link, not a file");
    try {
      return this.zip.read(entry, maxBytes);
    } catch (error) {
      if (error instanceof ZipError) throw new FileProblem(error.message.replace(/^it /, ""));
      throw error;
    }
  }

  close(): void {
    this.zip.close();
  }
}

export function openSubmission(entry: string): SubmissionSource {
  if (fs.statSync(entry).isDirectory()) return new FolderSource(entry);
  try {
    return ZipSource.open(entry);
  } catch (error) {
    if (error instanceof ZipError) throw new FileProblem(`could not be read as a zip: ${error.message}`);
    throw error;
  }
}

export interface Layout {
  /** Where the lab folders are, e.g. "labs/", "" (a zip of labs/) or "alice-repo/labs/". */
  labsPrefix: string | null;
  /** Where a whole workspace clone starts, when the submission is one. */
  rootPrefix: string | null;
}

/**
 * Finds the lab folders in a submission: a clone (labs/NN-x/src/...), just its
 * labs (NN-x/src/...), either one inside a single top folder. Never
 * solutions/ or starter/: a submission is graded by its labs/ files only.
 */
export function locateLabs(paths: string[], labs: Lab[]): Layout {
  const votes = new Map<string, number>();
  for (const file of paths) {
    for (const lab of labs) {
      for (const learnerFile of lab.learnerFiles) {
        const suffix = `${lab.id}/${learnerFile}`;
        if (!file.endsWith(suffix)) continue;
        const prefix = file.slice(0, file.length - suffix.length);
        const segments = prefix.split("/").filter(Boolean);
        if (prefix !== "" && !prefix.endsWith("/")) continue;
        const shapeOk = segments.length <= 1 || (segments.length === 2 && segments[1] === "labs");
        if (shapeOk && segments[0] !== "solutions") votes.set(prefix, (votes.get(prefix) ?? 0) + 1);
      }
    }
  }
  const ranked = [...votes.entries()].sort(
    ([a, va], [b, vb]) => vb - va || Number(b.endsWith("labs/")) - Number(a.endsWith("labs/")) || a.length - b.length || (a < b ? -1 : 1),
  );
  const labsPrefix = ranked[0]?.[0] ?? null;
  const has = new Set(paths);
  // A clone has package.json beside labs/; with no lab files at all, look at the top two levels.
  const rootCandidates =
    labsPrefix === null ? ["", ...new Set(paths.map((p) => `${p.split("/")[0]}/`))] : labsPrefix.endsWith("labs/") ? [labsPrefix.slice(0, -"labs/".length)] : [];
  const rootPrefix = rootCandidates.find((p) => has.has(`${p}package.json`)) ?? null;
  return { labsPrefix, rootPrefix };
}

export interface LabSubmission {
  lab: Lab;
  /** No learner file of this lab was in the submission. */
  submitted: boolean;
  /** Every file is the unchanged starter. */
  unchanged: boolean;
  /** The learner files to grade, by lab-relative path; the starter's stands in for a missing or unusable one. */
  files: Map<string, Buffer>;
  /** Learner files that could not be used, and why ("is not a text file"). */
  problems: Map<string, string>;
  /** Files in the lab's src/ that are not learner files: ignored. */
  ignored: string[];
}

function normalized(content: Buffer): string {
  return content.toString("utf8").replace(/\r\n/g, "\n");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function readLearnerFile(source: SubmissionSource, relative: string): Buffer {
  const content = source.read(relative, maxLearnerFileBytes);
  if (content.includes(0)) throw new FileProblem("is not a text file (it holds binary data)");
  try {
    utf8.decode(content);
  } catch {
    throw new FileProblem("is not UTF-8 text");
  }
  return content;
}

/** The learner files of one lab, each one usable or with the reason it is not. */
export function extractLab(source: SubmissionSource, layout: Layout, lab: Lab): LabSubmission {
  const files = new Map<string, Buffer>();
  const problems = new Map<string, string>();
  const present = new Set(source.paths());
  const labPrefix = `${layout.labsPrefix ?? ""}${lab.id}/`;
  const submitted = layout.labsPrefix !== null && lab.learnerFiles.some((f) => present.has(labPrefix + f));
  let unchanged = true;
  for (const file of lab.learnerFiles) {
    const starter = fs.readFileSync(starterFile(lab, file));
    let content: Buffer = starter;
    if (!submitted) {
      // Nothing of this lab was handed in: graded as not submitted.
    } else if (!present.has(labPrefix + file)) {
      problems.set(file, "is missing from the submission");
    } else {
      try {
        content = readLearnerFile(source, labPrefix + file);
      } catch (error) {
        if (!(error instanceof FileProblem)) throw error;
        problems.set(file, error.message);
      }
    }
    if (normalized(content) !== normalized(starter)) unchanged = false;
    files.set(file, content);
  }
  const learner = new Set(lab.learnerFiles.map((f) => labPrefix + f));
  const ignored = submitted ? [...present].filter((p) => p.startsWith(`${labPrefix}src/`) && !learner.has(p)).map((p) => p.slice(labPrefix.length)) : [];
  return { lab, submitted, unchanged, files, problems, ignored };
}

/**
 * The files grading depends on that a workspace clone changed or added,
 * compared with the instructor's manifest. Files it lacks are not reported:
 * many submissions hold only the labs.
 */
export function tampering(source: SubmissionSource, layout: Layout, pristine: Manifest): Differences | null {
  if (layout.rootPrefix === null) return null;
  const root = layout.rootPrefix;
  const files: Record<string, string> = {};
  for (const file of source.paths()) {
    if (!file.startsWith(root)) continue;
    const relative = file.slice(root.length);
    if (!isProtected(relative)) continue;
    try {
      files[relative] = fileHash(source.read(file, maxProtectedFileBytes));
    } catch (error) {
      if (!(error instanceof FileProblem)) throw error;
      files[relative] = `unreadable: ${error.message}`;
    }
  }
  const differences = compareManifests(pristine, manifestOf(files));
  return { ...differences, missing: [] };
}
