import { UserError } from "./errors";
import type { Target } from "./labs";

export type Command =
  | { kind: "help" }
  | { kind: "list" }
  | { kind: "gen-all" }
  | { kind: "next" }
  | { kind: "check"; lab: string; target: Target; json: boolean }
  | { kind: "watch"; lab: string; target: Target; poll: boolean }
  | { kind: "reset"; lab: string }
  | { kind: "diff"; lab: string; force: boolean }
  | { kind: "solution"; lab: string; force: boolean }
  | { kind: "gen"; lab: string; target: Target }
  | { kind: "hint"; lab: string }
  | { kind: "serve"; lab: string; target: Target; port: number }
  | { kind: "client"; lab: string; target: Target; address: string; args: string[] };

export interface ParsedArgs {
  command: Command;
  debug: boolean;
}

export const defaultPort = 50051;

export const usage = `Usage (npm passes everything after -- to the runner):
  npm run lab                                  list the labs and your progress
  npm run lab next                             check the next lab you have not finished
  npm run lab 01                               check your code for lab 01, step by step
  npm run lab 01 -- --watch [--poll]           check again on every save (--poll where file events do not arrive)
  npm run lab 01 -- --solution                 check the reference solution instead
  npm run lab 01 -- --json                     print the result as JSON (docs/results-format.md)
  npm run lab 01 -- gen                        generate the typed stubs (the protoc step)
  npm run lab 01 -- hint                       a hint for the first failing step; again: a more specific one
  npm run lab 01 -- reset                      back up your files, then restore the starter
  npm run lab 01 -- diff [--force]             your files against the solution (once the lab passes)
  npm run lab 01 -- solution [--force]         where the reference solution is (once the lab passes)
  npm run lab 01 -- serve [--port 50051]       run the lab's server, with server reflection
  npm run lab 01 -- client [--target localhost:50051] [options of the lab's client]
                                               run the lab's client against a running server
serve and client take --solution to run the reference solution.
Add --debug to see stack traces of the runner itself.`;

const subcommands = ["check", "gen", "hint", "serve", "client", "reset", "diff", "solution"] as const;
type Subcommand = (typeof subcommands)[number];

export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const takesValue = new Set(["--port", "--target"]);
  const known = new Set(["--solution", "--json", "--port", "--target", "--all", "--debug", "--help", "--watch", "--poll", "--force"]);
  // After `NN client`, what the runner does not know is the lab client's own (`--room lobby`).
  const clientArgs: string[] = [];
  const inClient = () => positional.length >= 2 && positional[1] === "client";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name = arg, inline] = arg.split("=", 2);
    if (inClient() && !known.has(name) && arg !== "-h") {
      clientArgs.push(arg);
    } else if (arg.startsWith("--")) {
      if (takesValue.has(name)) {
        const value = inline ?? argv[++i];
        if (value === undefined || value.startsWith("--")) throw new UserError(`${name} needs a value, for example ${name === "--port" ? "--port 50051" : "--target localhost:50051"}.`);
        flags.set(name, value);
      } else {
        flags.set(name, true);
      }
    } else if (arg === "-h") {
      flags.set("--help", true);
    } else {
      positional.push(arg);
    }
  }
  for (const name of flags.keys()) {
    if (!known.has(name)) throw new UserError(`Unknown option ${name}; run \`npm run lab -- --help\` to see the options.`);
  }
  const debug = flags.has("--debug");
  const target: Target = flags.has("--solution") ? "solution" : "learner";
  if (flags.has("--help")) return { command: { kind: "help" }, debug };

  const [lab, sub = "check", ...extra] = positional;
  if (lab === undefined) return { command: { kind: "list" }, debug };
  if (lab === "next" && positional.length === 1) return { command: { kind: "next" }, debug };
  if (lab === "gen") {
    if (flags.has("--all")) return { command: { kind: "gen-all" }, debug };
    throw new UserError("Say which lab to generate stubs for, as in `npm run lab 01 -- gen`, or use `npm run lab -- gen --all`.");
  }
  if (extra.length > 0) throw new UserError(`Unexpected "${extra.join(" ")}"; run \`npm run lab -- --help\` to see the commands.`);
  if (!subcommands.includes(sub as Subcommand)) {
    throw new UserError(`Unknown command "${sub}"; use one of: ${subcommands.join(", ")}.`);
  }
  switch (sub as Subcommand) {
    case "check":
      if (flags.has("--watch")) return { command: { kind: "watch", lab, target, poll: flags.has("--poll") }, debug };
      return { command: { kind: "check", lab, target, json: flags.has("--json") }, debug };
    case "reset":
      return { command: { kind: "reset", lab }, debug };
    case "diff":
    case "solution":
      return { command: { kind: sub as "diff" | "solution", lab, force: flags.has("--force") }, debug };
    case "gen":
      return { command: { kind: "gen", lab, target }, debug };
    case "hint":
      return { command: { kind: "hint", lab }, debug };
    case "serve": {
      const portFlag = flags.get("--port");
      const port = portFlag === undefined ? defaultPort : Number(portFlag);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port takes a number from 0 to 65535, not "${String(portFlag)}".`);
      return { command: { kind: "serve", lab, target, port }, debug };
    }
    case "client": {
      const address = flags.get("--target");
      return { command: { kind: "client", lab, target, address: typeof address === "string" ? address : `localhost:${defaultPort}`, args: clientArgs }, debug };
    }
  }
}
