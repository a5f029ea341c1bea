import { UserError } from "./errors";
import type { Target } from "./labs";

export type Command =
  | { kind: "help" }
  | { kind: "list" }
  | { kind: "gen-all"; solutionsOnly: boolean }
  | { kind: "next" }
  | { kind: "check"; lab: string; target: Target; json: boolean }
  | { kind: "watch"; lab: string; target: Target; poll: boolean }
  | { kind: "reset"; lab: string }
  | { kind: "restore"; lab: string }
  | { kind: "diff"; lab: string; force: boolean }
  | { kind: "solution"; lab: string; force: boolean }
  | { kind: "gen"; lab: string; target: Target }
  | { kind: "hint"; lab: string }
  | { kind: "serve"; lab: string; target: Target; port: number }
  | { kind: "client"; lab: string; target: Target; address: string; args: string[] }
  | { kind: "bench"; lab: string; target: Target; args: string[] };

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
  npm run -s lab 01 -- --json                  print the result as JSON (docs/results-format.md; -s keeps npm's banner out)
  npm run lab 01 -- gen                        generate the typed stubs (the protoc step)
  npm run lab 01 -- hint                       a hint for the first failing step; again: a more specific one
  npm run lab 01 -- reset                      back up your files, then restore the starter
  npm run lab 01 -- restore                    back up your files, then bring back the newest backup
  npm run lab 01 -- diff [--force]             your files against the solution (once the lab passes)
  npm run lab 01 -- solution [--force]         where the reference solution is (once the lab passes)
  npm run lab 01 -- serve [--port 50051]       run the lab's server, with server reflection
  npm run lab 01 -- client [--target localhost:50051] [options of the lab's client]
                                               run the lab's client against a running server
  npm run lab 11 -- bench [options of the lab's bench]
                                               measure the lab's code and print the comparison (lab 11)
serve, client and bench take --solution to run the reference solution.
Add --debug to see stack traces of the runner itself.
Exit codes: 0 every check passes (hint: no hint needed), 1 a check fails (hint: a hint was shown),
2 a usage or setup problem, or a command refused (diff and solution before the lab passes).`;

const subcommands = ["check", "gen", "hint", "serve", "client", "bench", "reset", "restore", "diff", "solution"] as const;
type Subcommand = (typeof subcommands)[number];

/** The runner's options, each with a command that uses it, for the sentence that refuses it elsewhere. */
const optionUse: Record<string, string> = {
  "--solution": "npm run lab 01 -- --solution (also with --watch, gen, serve, client and bench)",
  "--json": "npm run -s lab 01 -- --json",
  "--watch": "npm run lab 01 -- --watch",
  "--poll": "npm run lab 01 -- --watch --poll",
  "--force": "npm run lab 01 -- diff --force (or solution --force)",
  "--port": "npm run lab 01 -- serve --port 50051",
  "--target": "npm run lab 01 -- client --target localhost:50051",
  "--all": "npm run lab -- gen --all",
};

/** What each command is called in that sentence, and the options it takes (--debug and --help go everywhere). */
const commandOptions: Record<Command["kind"], { name: string; options: string[] }> = {
  help: { name: "--help", options: [] },
  list: { name: "the lab list", options: [] },
  next: { name: "next", options: [] },
  "gen-all": { name: "gen --all", options: ["--all", "--solution"] },
  check: { name: "checking a lab", options: ["--solution", "--json"] },
  watch: { name: "--watch", options: ["--watch", "--poll", "--solution"] },
  reset: { name: "reset", options: [] },
  restore: { name: "restore", options: [] },
  diff: { name: "diff", options: ["--force"] },
  solution: { name: "solution", options: ["--force"] },
  gen: { name: "gen", options: ["--solution"] },
  hint: { name: "hint", options: [] },
  serve: { name: "serve", options: ["--port", "--solution"] },
  client: { name: "client", options: ["--target", "--solution"] },
  bench: { name: "bench", options: ["--solution"] },
};

/** Refuses, in one sentence, an option the command does not use: ignoring it would hide a mistake. */
function refuseStrayOptions(command: Command, flags: Map<string, string | true>): Command {
  if (command.kind === "help") return command;
  const { name, options } = commandOptions[command.kind];
  for (const flag of flags.keys()) {
    if (flag === "--debug" || flag === "--help" || options.includes(flag)) continue;
    const lab = "lab" in command ? command.lab.padStart(2, "0") : "01";
    const value = flags.get(flag);
    let example = optionUse[flag]!.replace(/\b01\b/g, lab);
    if (typeof value === "string") example = example.replace(/(--port|--target) \S+/, `$1 ${value}`);
    throw new UserError(`${flag} does not apply to ${name}; it is used as in \`${example}\`.`);
  }
  return command;
}

/** The runner's options, as npm names them in npm_config_* when it takes them for itself. */
const runnerOptions = ["solution", "json", "watch", "poll", "force", "port", "target", "all", "debug"];

/**
 * `npm run lab 01 --watch` (no `--`): npm takes --watch for itself, passes only
 * "01" on, and sets npm_config_watch=true. Returns the sentence that says how
 * to pass it on, or null. Only under `npm run lab`, so an npm setting of the
 * same name elsewhere does not count.
 */
export function npmTookOptions(argv: string[], env: NodeJS.ProcessEnv): string | null {
  if (env.npm_lifecycle_event !== "lab") return null;
  const set = (name: string) => ![undefined, "", "false"].includes(env[`npm_config_${name}`]);
  // An option that did reach the runner (after `--`) is not missing.
  const taken = runnerOptions.filter((name) => set(name) && !argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`)));
  if (taken.length === 0) return null;
  const rest = argv.filter((arg) => arg !== "--");
  const options = taken.map((name) => {
    const value = env[`npm_config_${name}`]!;
    if (name !== "port" && name !== "target") return `--${name}`;
    if (value !== "true") return `--${name} ${value}`;
    // "--port 50052": npm took --port as a flag and passed 50052 on as an argument.
    const index = rest.findIndex((arg, i) => i > 0 && (name === "port" ? /^\d+$/.test(arg) : arg.includes(":")));
    return index > 0 ? `--${name} ${rest.splice(index, 1)[0]}` : `--${name} ...`;
  });
  const [first = "", ...more] = rest;
  const silent = taken.includes("json") ? "-s " : "";
  const fixed = `npm run ${silent}lab ${first} -- ${[...more, ...options].join(" ")}`.replace(/ {2,}/g, " ");
  return `npm took ${options.map((o) => o.split(" ")[0]).join(" and ")} for itself instead of passing ${taken.length === 1 ? "it" : "them"} to the lab runner: add \`--\` before the runner's options, as in \`${fixed}\`.`;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const { flags, ...parsed } = parseCommand(argv);
  return { ...parsed, command: refuseStrayOptions(parsed.command, flags) };
}

function parseCommand(argv: string[]): ParsedArgs & { flags: Map<string, string | true> } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const takesValue = new Set(["--port", "--target"]);
  const known = new Set(["--solution", "--json", "--port", "--target", "--all", "--debug", "--help", "--watch", "--poll", "--force"]);
  // After `NN client` (or `NN bench`), every option but the runner's few for it is the lab's own
  // (`--room lobby`, lab 02's `--watch`, lab 11's `--rounds 3`).
  const clientArgs: string[] = [];
  const forClient = new Set(["--target", "--solution", "--debug", "--help"]);
  const inClient = () => positional.length >= 2 && (positional[1] === "client" || positional[1] === "bench");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name = arg, inline] = arg.split("=", 2);
    if (inClient() && !forClient.has(name) && arg !== "-h") {
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
  if (flags.has("--help")) return { command: { kind: "help" }, debug, flags };

  const [lab, sub = "check", ...extra] = positional;
  if (lab === undefined) return { command: { kind: "list" }, debug, flags };
  if (lab === "next" && positional.length === 1) return { command: { kind: "next" }, debug, flags };
  if (lab === "gen") {
    if (flags.has("--all")) return { command: { kind: "gen-all", solutionsOnly: flags.has("--solution") }, debug, flags };
    throw new UserError("Say which lab to generate stubs for, as in `npm run lab 01 -- gen`, or use `npm run lab -- gen --all`.");
  }
  if (extra.length > 0) throw new UserError(`Unexpected "${extra.join(" ")}"; run \`npm run lab -- --help\` to see the commands.`);
  if (!subcommands.includes(sub as Subcommand)) {
    throw new UserError(`Unknown command "${sub}"; use one of: ${subcommands.join(", ")}.`);
  }
  switch (sub as Subcommand) {
    case "check":
      if (flags.has("--watch")) return { command: { kind: "watch", lab, target, poll: flags.has("--poll") }, debug, flags };
      return { command: { kind: "check", lab, target, json: flags.has("--json") }, debug, flags };
    case "reset":
    case "restore":
      return { command: { kind: sub as "reset" | "restore", lab }, debug, flags };
    case "diff":
    case "solution":
      return { command: { kind: sub as "diff" | "solution", lab, force: flags.has("--force") }, debug, flags };
    case "gen":
      return { command: { kind: "gen", lab, target }, debug, flags };
    case "hint":
      return { command: { kind: "hint", lab }, debug, flags };
    case "serve": {
      const portFlag = flags.get("--port");
      const port = portFlag === undefined ? defaultPort : Number(portFlag);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port takes a number from 0 to 65535, not "${String(portFlag)}".`);
      return { command: { kind: "serve", lab, target, port }, debug, flags };
    }
    case "client": {
      const address = flags.get("--target");
      return { command: { kind: "client", lab, target, address: typeof address === "string" ? address : `localhost:${defaultPort}`, args: clientArgs }, debug, flags };
    }
    case "bench":
      return { command: { kind: "bench", lab, target, args: clientArgs }, debug, flags };
  }
}
