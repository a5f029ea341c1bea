import * as fs from "node:fs";
import * as path from "node:path";
import { workspaceRoot } from "./labs";
import type { LabResult } from "./results";

/**
 * progress.json, at the workspace root, is derived from the last check of each
 * lab (never from the reference solution). It is plain JSON, documented in
 * docs/results-format.md; delete it to start over. GRPC_LABS_PROGRESS_FILE
 * points it elsewhere (the runner's own tests do).
 */
export const progressFile = process.env.GRPC_LABS_PROGRESS_FILE ?? path.join(workspaceRoot, "progress.json");

export interface LabProgress {
  passed_steps: number[];
  total_steps: number;
  score: number;
  max_score: number;
  checked_at: string;
}

export interface Progress {
  version: 1;
  labs: Record<string, LabProgress>;
}

export function readProgress(file = progressFile): Progress {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Progress;
    if (parsed.version === 1 && typeof parsed.labs === "object" && parsed.labs !== null) return parsed;
  } catch {
    // Missing or unreadable: start from nothing.
  }
  return { version: 1, labs: {} };
}

export function recordProgress(result: LabResult, file = progressFile): void {
  const progress = readProgress(file);
  progress.labs[result.lab] = {
    passed_steps: result.steps.filter((s) => s.status === "pass").map((s) => s.step),
    total_steps: result.steps.length,
    score: result.score,
    max_score: result.max_score,
    checked_at: new Date().toISOString(),
  };
  // Write a temporary file and rename it, so an interrupted run never leaves half a file.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(progress, null, 2)}\n`);
  fs.renameSync(temporary, file);
}
