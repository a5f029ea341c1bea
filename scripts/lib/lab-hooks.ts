import type * as grpc from "@grpc/grpc-js";

/**
 * What a lab's labs/NN-name/lab.ts exports for `serve` and `client`. Both load
 * the code under test with check-kit's loadTarget, so `--solution` works the
 * same way as it does for the checks; here, outside the checks, it loads into
 * the runner's own process (the learner's demo, not a verdict).
 */
export interface LabHooks {
  /** Builds the lab's server from the code under test, with its services added but not bound. */
  createServer(): grpc.Server | Promise<grpc.Server>;
  /**
   * Optional: the credentials `serve` binds with (lab 05: TLS from the code
   * under test); a plaintext port when absent.
   */
  serverCredentials?(): grpc.ServerCredentials | Promise<grpc.ServerCredentials>;
  /**
   * Runs the lab's client against a server at `address`, printing what it gets.
   * `args` are the options after `client` that the runner does not know
   * (`--room lobby`); resolves with an exit code, or nothing for 0.
   */
  runClientDemo(address: string, print: (line: string) => void, args: string[]): Promise<number | void>;
  /**
   * Optional: how `serve` stops the server on Ctrl-C (SIGINT) or SIGTERM.
   * Without it, `serve` lets calls in flight finish for up to 2 s, then
   * force-closes the rest.
   */
  shutdown?(server: grpc.Server): Promise<void>;
  /**
   * Optional: `npm run lab NN -- bench`, measurements of the code under test
   * printed as they are made (lab 11). `args` are the options after `bench`;
   * resolves with an exit code, or nothing for 0.
   */
  runBench?(print: (line: string) => void, args: string[]): Promise<number | void>;
  /** Optional: true when createServer's server adds server reflection itself, so `serve` adds none. */
  addsReflection?: boolean;
}

/**
 * What the module named by lab.json's optional "judgeWarmUp" exports: what
 * the lab's checks need that takes long to start and can be started before
 * the run (a browser), so that the next run of the lab finds it running.
 */
export interface JudgeWarmUp {
  /** Starts it, without waiting; a failure is the checks' to report when they use it. */
  warmUp(): void;
  /** Stops it: the run the judge serves is of another lab. */
  release(): Promise<void>;
}

/**
 * What the module named by lab.json's optional "setup" exports: work the stub
 * step does besides protoc (lab 05 writes its certificates). It must be
 * idempotent; it resolves with one line saying what it did, or nothing.
 */
export interface LabSetup {
  setup(): Promise<string | void>;
}
