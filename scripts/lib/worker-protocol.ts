/** Messages between the runner (run-checks.ts) and the judge, the check worker (check-worker.ts). */
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
  /** What the code under test printed, during the check `id` (null: between checks). Checks run several at a time, so output says whose it is. */
  | { type: "output"; id: string | null; stream: "stdout" | "stderr"; text: string }
  | { type: "result"; id: string; status: "pass" | "fail"; message: string | null; duration_ms: number; wire?: string[] }
  /**
   * Every check has run. `open` lists what the code under test left open
   * after its checks (kinds of handle, e.g. "TCPServerWrap"). A one-shot judge
   * then exits; a kept-alive one (watch mode, grading) waits for the next
   * request, unless it is `leaving`: it has grown too large to keep.
   */
  | { type: "done"; open: string[]; leaving?: boolean };

/** From the runner to the worker: check one lab tree. */
export interface WorkerRequest {
  checkFiles: string[];
  /** The folder of the code under test (labs/NN-name, solutions/NN-name or a test tree). */
  tree: string;
  /** The lab's number, for commands in messages. */
  lab: string;
  /** The lab's folder name ("01-route-guide"), where the subject finds the code under test. */
  labId: string;
  /** The lab's checks folder (fixtures that run in the subject live there). */
  checksDir: string;
  /** The folders of the tree that the subject gets (the learner files' and gen/). */
  sourceDirs: string[];
  /** The subject is stopped above this resident size. */
  subjectMemoryMb: number;
  /** Only list the checks (used when the stubs are missing and nothing can run). */
  listOnly: boolean;
  checkTimeoutMs: number;
  /** How many checks run at once, each with a subject of its own; the judge's default when absent. */
  lanes?: number;
  /** How many subjects the lanes share; the judge's default when absent. */
  subjects?: number;
  /**
   * A graded run: it neither uses nor keeps how long each check took last time
   * (check-durations.ts), so no student's run shapes another's, nor the
   * instructor's own runs of the lab.
   */
  graded?: boolean;
  /** Stay alive for the next request (watch mode) instead of exiting after this one. */
  keepAlive: boolean;
}

/** The resident size above which the subject (the learner's code) is stopped, unless grading sets another. */
export const defaultSubjectMemoryMb = 768;

/** From the runner to the worker: check one lab tree. */
export interface RunMessage {
  type: "run";
  request: WorkerRequest;
}
