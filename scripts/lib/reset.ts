import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "./errors";
import { displayPath, type Lab, labsDir, starterFile, workspaceRoot } from "./labs";

/**
 * `npm run lab NN -- reset`: the lab's starter files again, after a backup.
 * Every learner file that differs from its starter is first copied to
 * backups/NN-name/<date and time>/ at the workspace root (git-ignored, like
 * progress.json), so a reset never loses work silently.
 */
export const backupsDir = path.join(workspaceRoot, "backups");

export interface ResetOutcome {
  /** The backup folder, or null when every file was already the starter. */
  backup: string | null;
  /** Learner files (relative to the lab folder) copied to the backup. */
  saved: string[];
  /** Learner files restored from the starter. */
  restored: string[];
}

/** A folder name from the time, valid on every file system: 2026-11-23T17-05-00. */
export function timestampName(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/:/g, "-");
}

function freshFolder(parent: string, name: string): string {
  for (let n = 1; ; n++) {
    const dir = path.join(parent, n === 1 ? name : `${name}-${n}`);
    if (!fs.existsSync(dir)) return dir;
  }
}

function differs(a: string, b: string): boolean {
  return !fs.readFileSync(a).equals(fs.readFileSync(b));
}

interface Options {
  tree?: string;
  backups?: string;
  now?: Date;
}

/**
 * Puts `source(file)` in place of every learner file of `lab` that differs
 * from it, after copying each learner file that differs from its starter to
 * a new backup folder. Nothing is overwritten before every copy is made.
 */
function replaceFiles(lab: Lab, source: (file: string) => string, { tree = path.join(labsDir, lab.id), backups = backupsDir, now = new Date() }: Options): ResetOutcome {
  const files = lab.learnerFiles.map((file) => ({ file, working: path.join(tree, ...file.split("/")), starter: starterFile(lab, file), source: source(file) }));
  const toReplace = files.filter(({ working, source }) => !fs.existsSync(working) || differs(working, source));
  const toSave = toReplace.length === 0 ? [] : files.filter(({ working, starter }) => fs.existsSync(working) && differs(working, starter));
  let backup: string | null = null;
  if (toSave.length > 0) {
    backup = freshFolder(path.join(backups, lab.id), timestampName(now));
    // Copy everything first: if a copy fails, nothing has been overwritten yet.
    for (const { file, working } of toSave) {
      const copy = path.join(backup, ...file.split("/"));
      fs.mkdirSync(path.dirname(copy), { recursive: true });
      fs.copyFileSync(working, copy);
    }
  }
  for (const { working, source } of toReplace) {
    fs.mkdirSync(path.dirname(working), { recursive: true });
    fs.copyFileSync(source, working);
  }
  return { backup, saved: toSave.map((f) => f.file), restored: toReplace.map((f) => f.file) };
}

/** Restores the starter of every learner file of `lab` in `tree`, backing up the learner's versions first. */
export function resetLab(lab: Lab, options: Options = {}): ResetOutcome {
  return replaceFiles(lab, (file) => starterFile(lab, file), options);
}

/** The backup folders of a lab, oldest first: 2026-11-23T17-05-00, then 2026-11-23T17-05-00-2, ... */
export function listBackups(lab: Lab, backups = backupsDir): string[] {
  const dir = path.join(backups, lab.id);
  const order = (name: string) => [name.slice(0, 19), Number(name.slice(20) || 1)] as const;
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(-\d+)?$/.test(name)) : [];
  return names
    .sort((a, b) => {
      const [x, y] = [order(a), order(b)];
      return x[0] === y[0] ? x[1] - y[1] : x[0] < y[0] ? -1 : 1;
    })
    .map((name) => path.join(dir, name));
}

export interface RestoreOutcome extends ResetOutcome {
  /** The backup folder the files came from. */
  from: string;
}

/**
 * `npm run lab NN -- restore`: the learner files as they were in the newest
 * backup (a file the backup lacks was the starter's then). The files it
 * replaces are backed up first, so running it again switches back.
 */
export function restoreLab(lab: Lab, options: Options = {}): RestoreOutcome {
  const from = listBackups(lab, options.backups).pop();
  if (!from) {
    throw new UserError(`Lab ${lab.number} has no backup yet: \`npm run lab ${lab.number} -- reset\` makes one in ${displayPath(path.join(options.backups ?? backupsDir, lab.id))}/.`);
  }
  const source = (file: string) => {
    const saved = path.join(from, ...file.split("/"));
    return fs.existsSync(saved) ? saved : starterFile(lab, file);
  };
  return { ...replaceFiles(lab, source, options), from };
}
