import * as fs from "node:fs";
import * as path from "node:path";
import { type Lab, labsDir, starterFile, workspaceRoot } from "./labs";

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

/** Restores the starter of every learner file of `lab` in `tree`, backing up the learner's versions first. */
export function resetLab(lab: Lab, { tree = path.join(labsDir, lab.id), backups = backupsDir, now = new Date() } = {}): ResetOutcome {
  const files = lab.learnerFiles.map((file) => ({ file, working: path.join(tree, ...file.split("/")), starter: starterFile(lab, file) }));
  const toSave = files.filter(({ working, starter }) => fs.existsSync(working) && differs(working, starter));
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
  const restored: string[] = [];
  for (const { file, working, starter } of files) {
    if (fs.existsSync(working) && !differs(working, starter)) continue;
    fs.mkdirSync(path.dirname(working), { recursive: true });
    fs.copyFileSync(starter, working);
    restored.push(file);
  }
  return { backup, saved: toSave.map((f) => f.file), restored };
}
