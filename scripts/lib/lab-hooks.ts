import type * as grpc from "@grpc/grpc-js";

/**
 * What a lab's labs/NN-name/lab.ts exports for `serve` and `client`. Both load
 * the code under test with check-kit's loadTarget, so `--solution` works the
 * same way as it does for the checks.
 */
export interface LabHooks {
  /** Builds the lab's server from the code under test, with its services added but not bound. */
  createServer(): grpc.Server;
  /** Runs the lab's client demo against a server at `address`, printing what it gets. */
  runClientDemo(address: string, print: (line: string) => void): Promise<void>;
}
