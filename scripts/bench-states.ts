/**
 * The states a learner's code goes through, built from a lab's solution and
 * starter, for `npm run bench` (scripts/bench.ts): the solution, the starter,
 * one side done and the other not, and the solution with a typical fault.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type Lab, starterFile, treeDir } from "./lib/labs";

export const allStates = ["solution", "starter", "server-done", "client-done", "never-answers", "stream-not-ended", "endless-loop", "syntax-error"] as const;
export type State = (typeof allStates)[number];

/**
 * Code prepended to the server file: wraps the handlers the learner's code
 * adds (not grpc.* services: health, reflection). never-answers: no handler
 * answers; stream-not-ended: call.end() does nothing; endless-loop: the first
 * handler of each service loops forever.
 */
function handlerWrapper(state: "never-answers" | "stream-not-ended" | "endless-loop"): string {
  const wrap = {
    "never-answers": "() => undefined",
    "stream-not-ended": "function (this: unknown, call: { end: () => unknown }, ...rest: unknown[]) { call.end = () => call; return (handler as (...a: unknown[]) => unknown).call(this, call, ...rest); }",
    "endless-loop": "first ? () => { for (;;) {} } : handler",
  }[state];
  return `// bench: ${state}
import * as benchGrpc from "@grpc/grpc-js";
{
  const addService = benchGrpc.Server.prototype.addService;
  benchGrpc.Server.prototype.addService = function (this: benchGrpc.Server, service: benchGrpc.ServiceDefinition, implementation: benchGrpc.UntypedServiceImplementation): void {
    const paths = Object.values(service).map((d) => d.path);
    if (paths.some((p) => p.startsWith("/grpc."))) return addService.call(this, service, implementation);
    const wrapped: benchGrpc.UntypedServiceImplementation = {};
    let index = 0;
    for (const [name, handler] of Object.entries(implementation)) {
      const first = index++ === 0;
      void first;
      wrapped[name] = (${wrap}) as never;
    }
    return addService.call(this, service, wrapped);
  };
}
`;
}

const read = (file: string) => fs.readFileSync(file, "utf8");

/**
 * The learner file a fault goes into: the server file that adds the lab's
 * gRPC services (src/server.ts), or else the first file of the lab's first
 * server step (lab 10's gateway).
 */
function serverFileOf(lab: Lab): string | undefined {
  const files = lab.steps.filter((s) => s.side === "server").flatMap((s) => s.files);
  return files.find((file) => addsServices(lab, file)) ?? files[0];
}

function addsServices(lab: Lab, file: string): boolean {
  const solution = path.join(treeDir(lab, "solution"), ...file.split("/"));
  return fs.existsSync(solution) && read(solution).includes("addService");
}

const handlerStates: readonly State[] = ["never-answers", "stream-not-ended", "endless-loop"];

/**
 * Whether `state` can be built for `lab`: the handler faults need a server
 * file that adds gRPC services (lab 10's gateway is an HTTP server; its
 * handlers are Connect's).
 */
export function stateApplies(lab: Lab, state: State): boolean {
  const serverFile = serverFileOf(lab);
  if (state === "syntax-error") return serverFile !== undefined;
  if (!handlerStates.includes(state)) return true;
  return serverFile !== undefined && addsServices(lab, serverFile);
}

/** The learner's files of `lab` in `state` (one that applies): learner file → contents. */
export function stateFiles(lab: Lab, state: State): Map<string, string> {
  const solution = (file: string) => read(path.join(treeDir(lab, "solution"), ...file.split("/")));
  const starter = (file: string) => read(starterFile(lab, file));
  const clientFiles = new Set(lab.steps.filter((s) => s.side === "client").flatMap((s) => s.files));
  const serverFile = serverFileOf(lab);
  const files = new Map<string, string>();
  for (const file of lab.learnerFiles) {
    const isClient = clientFiles.has(file);
    let content: string;
    if (state === "starter") content = starter(file);
    else if (state === "server-done") content = isClient ? starter(file) : solution(file);
    else if (state === "client-done") content = isClient ? solution(file) : starter(file);
    else content = solution(file);
    if (file === serverFile && (state === "never-answers" || state === "stream-not-ended" || state === "endless-loop")) content = handlerWrapper(state) + content;
    if (file === serverFile && state === "syntax-error") content += "\nconst = ;\n";
    files.set(file, content);
  }
  return files;
}

/**
 * What the bench reports as unsteady verdicts of one state, from its runs'
 * failing checks (id → message): a check that failed the solution in any run,
 * and in any state a check that failed some runs but not all (the same code
 * judged twice must get the same verdict). One line each, with a message.
 */
export function unsteadyVerdicts(what: string, state: State, runs: ReadonlyArray<ReadonlyMap<string, string>>): string[] {
  const lines: string[] = [];
  for (const id of new Set(runs.flatMap((failing) => [...failing.keys()]))) {
    const failed = runs.filter((failing) => failing.has(id));
    if (failed.length === runs.length && state !== "solution") continue;
    const message = failed[0]!.get(id)!.split("\n")[0]!.slice(0, 300);
    lines.push(`${what}: ${id} failed ${failed.length} of ${runs.length} run${runs.length === 1 ? "" : "s"}: ${message}`);
  }
  return lines;
}
