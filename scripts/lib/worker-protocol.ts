/** Messages between the runner (run-checks.ts) and the check worker (check-worker.ts). */
export interface PlannedCheck {
  id: string;
  name: string;
  step: number;
}

/** From the worker to the runner. */
export type WorkerMessage =
  | { type: "plan"; checks: PlannedCheck[] }
  /** The lab's check files could not be loaded (a syntax error in a check, say): nothing runs. */
  | { type: "load-error"; message: string }
  | { type: "begin"; id: string }
  | { type: "result"; id: string; status: "pass" | "fail"; message: string | null; duration_ms: number }
  /**
   * Every check has run. A one-shot worker then exits on its own once the code
   * under test has closed everything; a kept-alive worker (watch mode) lists
   * what is still open instead (`open`: kinds of handle, e.g. "TCPServerWrap").
   */
  | { type: "done"; open?: string[] };

/** From the runner to the worker: check one lab tree. */
export interface WorkerRequest {
  checkFiles: string[];
  /** The folder of the code under test (labs/NN-name, solutions/NN-name or a test tree). */
  tree: string;
  /** The lab's number, for commands in messages. */
  lab: string;
  /** Only list the checks (used when the stubs are missing and nothing can run). */
  listOnly: boolean;
  checkTimeoutMs: number;
  /** Stay alive for the next request (watch mode) instead of exiting after this one. */
  keepAlive: boolean;
}

export interface RunMessage {
  type: "run";
  request: WorkerRequest;
}
