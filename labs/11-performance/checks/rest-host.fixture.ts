/**
 * Listens with the learner's REST twin in the learner's world, a fixture
 * (scripts/check-kit/target.ts, fixture()): an http.Server crosses to the
 * checks as a stand-in, and listen() and close() must run where it lives.
 */
import type * as http from "node:http";
import type { AddressInfo } from "node:net";

export class RestHost {
  private server: http.Server | undefined;

  /** Binds `server` to a free port of 127.0.0.1; resolves with the port. */
  start(server: http.Server): Promise<number> {
    if (typeof server?.listen !== "function") throw new TypeError(`expected an http.Server, got ${typeof server}`);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
    });
  }

  /** Closes the server and every connection to it. */
  stop(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
