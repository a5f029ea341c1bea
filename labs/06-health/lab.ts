/**
 * Lab 06's `serve` and `client` commands. `serve` runs the server with a job
 * database that Enter takes down and brings back, and stops it with the
 * server's own graceful shutdown on Ctrl-C or SIGTERM. `client probe` checks
 * health once and exits with grpc_health_probe's codes; `client watch`
 * prints each status change until Ctrl-C.
 */
import * as readline from "node:readline";
import { parseArgs } from "node:util";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { createLearnerServer, exitCodes, type JobsServer, learnerClientModule, simulatedDependency } from "./checks/health";

/** How long `serve` lets calls in flight finish on Ctrl-C or SIGTERM. */
const graceMs = 5000;

let running: { jobs: JobsServer; keys: readline.Interface } | undefined;

const usage = "usage: npm run lab 06 -- client probe|watch [--service NAME]   (the service defaults to \"\", the whole server)";

export const hooks: LabHooks = {
  addsReflection: true,

  async createServer() {
    const database = await simulatedDependency();
    const jobs = await createLearnerServer(database);
    // Enter (a line on standard input) takes the job database down or brings it back up.
    const keys = readline.createInterface({ input: process.stdin, terminal: false });
    keys.on("line", async () => {
      await database.set(!(await database.isUp()));
      console.log(`The job database is ${(await database.isUp()) ? "up" : "down"}.`);
    });
    console.log("Press Enter to take the job database down or bring it back up.");
    running = { jobs, keys };
    return jobs.server;
  },

  async shutdown() {
    if (!running) return;
    running.keys.close();
    console.log(`Shutting down: waiting up to ${graceMs / 1000} s for calls in flight.`);
    await running.jobs.shutdown(graceMs);
  },

  async runClientDemo(address, print, args) {
    let parsed;
    try {
      parsed = parseArgs({ args, allowPositionals: true, options: { service: { type: "string", default: "" } } });
    } catch (error) {
      print(`${(error as Error).message}\n${usage}`);
      return exitCodes.invalidArguments;
    }
    const [command, ...extra] = parsed.positionals;
    const service = parsed.values.service;
    if (extra.length > 0 || (command !== "probe" && command !== "watch")) {
      print(usage);
      return exitCodes.invalidArguments;
    }
    const learner = await learnerClientModule();

    if (command === "probe") {
      const result = await learner.probe(address, { service, connectTimeoutMs: 1000, rpcTimeoutMs: 1000 });
      print(result.message);
      return result.exitCode;
    }

    print(`Watching ${service ? `"${service}"` : "the whole server (\"\")"} at ${address}; Ctrl-C stops.`);
    const stop = new AbortController();
    const abort = () => stop.abort();
    process.once("SIGINT", abort);
    process.once("SIGTERM", abort);
    try {
      await learner.watchHealth(address, service, (status) => print(`${new Date().toLocaleTimeString()}  ${status}`), stop.signal);
    } finally {
      process.removeListener("SIGINT", abort);
      process.removeListener("SIGTERM", abort);
    }
  },
};
