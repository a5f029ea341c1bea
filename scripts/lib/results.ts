import type { Lab, Side, Target } from "./labs";
import type { TypeError } from "./typecheck";

/**
 * The machine-readable result of checking one lab (`npm run lab NN -- --json`),
 * documented in docs/results-format.md. Modelled on Exercism's results.json
 * (status per test, tests tied to instruction steps) with points as in
 * GitHub Classroom.
 */
export type Status = "pass" | "fail" | "error";

export interface CheckResult {
  /** Stable id, e.g. "s2.returns-the-named-feature-at-a-known-point". */
  id: string;
  name: string;
  step: number;
  side: Side;
  status: Exclude<Status, "error">;
  /** Why it failed, in one sentence; null when it passed. */
  message: string | null;
  /** What the code under test printed during the check (truncated). */
  output: string | null;
  /**
   * Only on a failing check that made or received a call: its wire transcript,
   * one line an event (check-kit/wire.ts), at most 14 lines.
   */
  wire?: string[];
  duration_ms: number;
  points: number;
  max_points: number;
}

export interface StepResult {
  step: number;
  title: string;
  side: Side;
  status: Exclude<Status, "error">;
  passed: number;
  total: number;
}

export interface LabResult {
  version: 1;
  lab: string;
  number: string;
  title: string;
  target: Target;
  /** "error" means the checks could not run at all; see message. */
  status: Status;
  message: string | null;
  score: number;
  max_score: number;
  duration_ms: number;
  steps: StepResult[];
  tests: CheckResult[];
  type_errors: TypeError[];
  /** Set when the code under test left a server, channel or timer running after the checks. */
  warnings: string[];
}

export function summarizeSteps(lab: Lab, tests: CheckResult[]): StepResult[] {
  return lab.steps.map((meta) => {
    const own = tests.filter((t) => t.step === meta.step);
    const passed = own.filter((t) => t.status === "pass").length;
    const status = own.length > 0 && passed === own.length ? "pass" : "fail";
    return { step: meta.step, title: meta.title, side: meta.side, status, passed, total: own.length };
  });
}

export function buildResult(
  lab: Lab,
  target: Target,
  tests: CheckResult[],
  extra: { type_errors: TypeError[]; warnings: string[]; message: string | null; duration_ms: number },
): LabResult {
  const steps = summarizeSteps(lab, tests);
  const score = tests.reduce((sum, t) => sum + t.points, 0);
  const max_score = tests.reduce((sum, t) => sum + t.max_points, 0);
  const allPass = tests.length > 0 && tests.every((t) => t.status === "pass") && steps.every((s) => s.status === "pass");
  const status: Status = extra.message && tests.length === 0 ? "error" : allPass ? "pass" : "fail";
  return {
    version: 1,
    lab: lab.id,
    number: lab.number,
    title: lab.title,
    target,
    status,
    message: extra.message,
    score,
    max_score,
    duration_ms: extra.duration_ms,
    steps,
    tests,
    type_errors: extra.type_errors,
    warnings: extra.warnings,
  };
}

/** A check id from its step and name: stable across runs, readable in a gradebook. */
export function checkId(step: number, name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
  return `s${step}.${slug}`;
}
