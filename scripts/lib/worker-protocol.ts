/** Messages from the check worker (check-worker.ts) to the runner (run-checks.ts). */
export interface PlannedCheck {
  id: string;
  name: string;
  step: number;
}

export type WorkerMessage =
  | { type: "plan"; checks: PlannedCheck[] }
  | { type: "begin"; id: string }
  | { type: "result"; id: string; status: "pass" | "fail"; message: string | null; duration_ms: number }
  | { type: "done" };

export interface WorkerRequest {
  checkFiles: string[];
  /** Only list the checks (used when the stubs are missing and nothing can run). */
  listOnly: boolean;
  checkTimeoutMs: number;
}
