import type { Lab, StepMeta } from "./labs";
import { nextHint, progressFile } from "./progress";
import type { LabResult } from "./results";

export interface GradedHint {
  step: StepMeta;
  /** Which hint this is, from 1 (general) to `total` (most specific). */
  number: number;
  total: number;
  text: string;
}

/**
 * The hint to show after a check: for the first failing step, the first hint,
 * then on each later request for the same step the next, more specific one.
 * Null when every step passes. The state is kept in progress.json.
 */
export function gradedHint(lab: Lab, result: LabResult, file = progressFile): GradedHint | null {
  const failing = result.steps.find((s) => s.status === "fail");
  const step = lab.steps.find((s) => s.step === failing?.step);
  if (!step || step.hints.length === 0) return null;
  const number = nextHint(lab.id, step.step, step.hints.length, file);
  return { step, number, total: step.hints.length, text: step.hints[number - 1]! };
}
