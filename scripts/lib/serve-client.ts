import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { CheckFailure } from "../check-kit/assert";
import { installHandlerErrorCapture } from "../check-kit/handler-errors";
import { learnerLocation } from "../check-kit/target";
import { UserError } from "./errors";
import type { LabHooks } from "./lab-hooks";
import { displayPath, type Lab, labsDir, type Target, treeDir } from "./labs";
import { reflectionDefinition } from "./reflection";
import { whenAskedToStop } from "./stop";
import { descriptorSetFile, ensureStubs, stubProblem, stubState } from "./stubs";

/** Loads the lab's hooks with the code under test selected, after checking its stubs. */
function loadHooks(lab: Lab, target: Target): LabHooks {
  const tree = treeDir(lab, target);
  // As for the checks: the solution's stubs are kept fresh, a learner is told to run the stub step.
  if (target === "solution") ensureStubs(lab, tree);
  const state = stubState(lab, tree);
  if (state !== "fresh") throw new UserError(stubProblem(lab, tree, state));
  process.env.GRPC_LABS_TARGET_DIR = tree;
  process.env.GRPC_LABS_LAB = lab.number;
  return (require(path.join(labsDir, lab.id, "lab.ts")) as { hooks: LabHooks }).hooks;
}

/** The descriptor set the stub step wrote for the code under test. */
function readDescriptorSet(lab: Lab, target: Target): Buffer {
  const file = descriptorSetFile(treeDir(lab, target));
  try {
    return fs.readFileSync(file);
  } catch {
    throw new UserError(`${displayPath(file)} is missing: run \`npm run lab ${lab.number} -- gen${target === "solution" ? " --solution" : ""}\`.`);
  }
}

async function fromCheckFailure<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CheckFailure) throw new UserError(`${error.message}.`);
    throw error;
  }
}

/** How long `serve` waits for a shutdown (the lab's own, or its default) before it exits anyway. */
const stopLimitMs = 15_000;

/**
 * `npm run lab NN -- serve`: the lab's server in the foreground, with server
 * reflection. It stops gracefully on Ctrl-C, SIGTERM or SIGHUP, sent to it, to
 * npm or to the process group, and when the process that started it ends.
 */
export async function serve(lab: Lab, target: Target, port: number): Promise<void> {
  // grpc-js tells a client only "UNKNOWN" when a handler throws: say here what was thrown, and where.
  installHandlerErrorCapture((message) => console.error(message.charAt(0).toUpperCase() + message.slice(1)), learnerLocation);
  const hooks = await fromCheckFailure(() => loadHooks(lab, target));
  const server = await fromCheckFailure(() => hooks.createServer());
  const credentials = await fromCheckFailure(() => hooks.serverCredentials?.() ?? grpc.ServerCredentials.createInsecure());
  if (!hooks.addsReflection) {
    // Server reflection lets grpcurl, Postman or Evans discover the services: it serves protoc's descriptors of the lab's protos.
    new ReflectionService(reflectionDefinition(readDescriptorSet(lab, target))).addToServer(server);
  }

  const address = `localhost:${port}`;
  // grpc-js also logs a failed bind; the sentence below says it better.
  if (!process.env.GRPC_VERBOSITY) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (error, bound) => {
      if (!error) return resolve(bound);
      if (/EADDRINUSE|address already in use/i.test(error.message)) {
        reject(new UserError(`Port ${port} is in use: stop the other server or pick another port with --port ${port + 1}.`));
      } else {
        reject(new UserError(`Could not listen on ${address}: ${error.message}.`));
      }
    });
  });
  const who = target === "solution" ? "reference solution" : "your server";
  const tls = credentials._isSecure() ? " (TLS)" : "";
  const reflection = hooks.addsReflection ? "" : ", with server reflection";
  console.log(`Lab ${lab.number} (${who}) listening on localhost:${boundPort}${tls}${reflection}. Press Ctrl-C to stop.`);

  // Once the terminal is closed or the parent is gone, writing may fail (EIO, EPIPE): stopping matters more than saying so.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  await new Promise<void>((resolve) => {
    whenAskedToStop((reason) => {
      // Ctrl-C needs no explanation; anything else does.
      if (reason !== "SIGINT") console.log(`Stopping: ${/^SIG/.test(reason) ? `got ${reason}` : reason}.`);
      // A shutdown that hangs must not leave a server behind.
      setTimeout(() => {
        console.error(`The server did not stop within ${stopLimitMs / 1000} s: exiting.`);
        process.exit(1);
      }, stopLimitMs).unref();
      if (hooks.shutdown) {
        // The lab's own shutdown; if it fails, close at once. A second signal kills the process.
        hooks.shutdown(server).then(resolve, (error: unknown) => {
          console.error(`The server's shutdown failed: ${error instanceof Error ? error.message : String(error)}; closing it now.`);
          server.forceShutdown();
          resolve();
        });
        return;
      }
      // Let calls in flight finish, but never wait more than two seconds.
      const force = setTimeout(() => server.forceShutdown(), 2000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
      force.unref();
      setTimeout(resolve, 2100).unref();
    });
  });
  console.log("Server stopped.");
}

/** `npm run lab NN -- client`: the lab's client demo against a running server. */
export async function runClient(lab: Lab, target: Target, address: string, args: string[]): Promise<number> {
  const hooks = await fromCheckFailure(() => loadHooks(lab, target));
  try {
    return (await hooks.runClientDemo(address, (line) => console.log(line), args)) ?? 0;
  } catch (error) {
    if (error instanceof CheckFailure) throw new UserError(`${error.message}.`);
    const { code, details, message } = error as { code?: unknown; details?: string; message?: string };
    if (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED) {
      // Either may come from a server that is there: say "no server" only when no connection can be made.
      const reachable = await connects(address);
      if (reachable === false) {
        throw new UserError(`No server answers at ${address}: start one in another terminal with \`npm run lab ${lab.number} -- serve\`, or pass --target.`);
      }
      if (code === grpc.status.DEADLINE_EXCEEDED) {
        const why = details ? ` (${details.split(",")[0]})` : "";
        if (reachable === undefined) throw new UserError(`The call to ${address} reached its deadline without an answer${why}.`);
        throw new UserError(
          `The call reached its deadline without an answer from the server at ${address}${why}: a handler that never answers or ends its stream, or that fails after an await, leaves the call waiting; see what the server printed.`,
        );
      }
    }
    if (typeof code === "number") throw new UserError(`The server at ${address} answered ${grpc.status[code]}: ${details || "(no details)"}.`);
    const where = learnerLocation(error);
    throw new UserError(`The client code threw: ${message ?? String(error)}${where ? ` (at ${where})` : ""}.`);
  }
}

/** `npm run lab NN -- bench`: the lab's measurements of the code under test (lab 11). */
export async function runBench(lab: Lab, target: Target, args: string[]): Promise<number> {
  const hooks = await fromCheckFailure(() => loadHooks(lab, target));
  if (!hooks.runBench) throw new UserError(`Lab ${lab.number} has no bench; lab 11 has one: \`npm run lab 11 -- bench\`.`);
  try {
    return (await hooks.runBench((line) => console.log(line), args)) ?? 0;
  } catch (error) {
    if (error instanceof CheckFailure) throw new UserError(`${error.message}.`);
    const { code, details, message } = error as { code?: unknown; details?: string; message?: string };
    if (typeof code === "number") throw new UserError(`A call of the bench failed with ${grpc.status[code]}: ${details || "(no details)"}; check that \`npm run lab ${lab.number}\` passes first.`);
    const where = learnerLocation(error);
    throw new UserError(`The bench failed: ${message ?? String(error)}${where ? ` (at ${where})` : ""}; check that \`npm run lab ${lab.number}\` passes first.`);
  }
}

/**
 * Whether a connection to a gRPC target ("localhost:50051", "[::1]:50051",
 * "dns:///host:port", "unix:/path") can be opened within a second; undefined
 * for a target this does not understand.
 */
function connects(target: string): Promise<boolean | undefined> {
  let options: net.NetConnectOpts;
  const unix = /^unix:(?:\/\/)?(.+)$/.exec(target);
  const tcp = /^(?:dns:(?:\/\/[^/]*\/)?|ipv4:|ipv6:)?\[?([^\]]*?)\]?:(\d+)$/.exec(target);
  if (unix) options = { path: unix[1]! };
  else if (tcp) options = { host: tcp[1] || "localhost", port: Number(tcp[2]) };
  else return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = net.connect(options);
    const done = (connected: boolean) => {
      socket.destroy();
      resolve(connected);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
