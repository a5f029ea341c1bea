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
  /** The last hint shown (`npm run lab NN -- hint`): its step and how many of its hints were shown. */
  hint?: { step: number; shown: number };
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

function writeProgress(progress: Progress, file: string): void {
  // Write a temporary file and rename it, so an interrupted run never leaves half a file.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(progress, null, 2)}\n`);
  fs.renameSync(temporary, file);
}

export function recordProgress(result: LabResult, file = progressFile): void {
  const progress = readProgress(file);
  const hint = progress.labs[result.lab]?.hint;
  progress.labs[result.lab] = {
    passed_steps: result.steps.filter((s) => s.status === "pass").map((s) => s.step),
    total_steps: result.steps.length,
    score: result.score,
    max_score: result.max_score,
    checked_at: new Date().toISOString(),
    ...(hint ? { hint } : {}),
  };
  writeProgress(progress, file);
}

/**
 * Graded hints: the number of the hint to show for `step`, from 1. Asking
 * again for the same step gives the next, more specific hint (the last one
 * stays); a different step starts again from its first. Recorded in `hint`.
 */
export function nextHint(lab: string, step: number, available: number, file = progressFile): number {
  const progress = readProgress(file);
  const own = progress.labs[lab];
  const shown = own?.hint?.step === step ? Math.min(own.hint.shown + 1, available) : 1;
  if (own) {
    own.hint = { step, shown };
    writeProgress(progress, file);
  }
  return shown;
}

/** Forgets a lab's last check and hint state (after `reset`): the lab shows as not started. */
export function forgetLab(lab: string, file = progressFile): void {
  const progress = readProgress(file);
  if (!progress.labs[lab]) return;
  delete progress.labs[lab];
  writeProgress(progress, file);
}

/** True when the last check of the lab passed every step. */
export function labPassed(progress: Progress, lab: string): boolean {
  const own = progress.labs[lab];
  return own !== undefined && own.total_steps > 0 && own.passed_steps.length === own.total_steps;
}
