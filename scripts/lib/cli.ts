import { type Command, parseArgs, usage } from "./args";
import { UserError } from "./errors";
import { displayPath, ensureWorkingCopy, findLab, type Lab, listLabs, treeDir } from "./labs";
import { readProgress, recordProgress } from "./progress";
import { formatLabList, formatReport } from "./report";
import { checkLab } from "./run-checks";
import { generateStubs, genDir } from "./stubs";
import { discardPrestartedWorker } from "./worker-process.cjs";

function generate(lab: Lab, target: "learner" | "solution", quiet = false): void {
  const tree = treeDir(lab, target);
  const started = Date.now();
  generateStubs(lab, tree);
  if (!quiet) console.log(`Generated the stubs of lab ${lab.number} in ${displayPath(genDir(tree))} (${Date.now() - started} ms).`);
}

/**
 * Makes sure each lab has the learner's working copy (labs/NN-name/src/, copied
 * from starter/ the first time) and says so when it creates one. On stderr, so
 * that --json output stays clean.
 */
function prepareWorkingCopies(labs: Lab[]): void {
  for (const lab of labs) {
    if (ensureWorkingCopy(lab).length > 0) {
      console.error(`Copied the starter of lab ${lab.number} to labs/${lab.id}/src/: that is where you work.`);
    }
  }
}

/** Runs one command; resolves with the process exit code. */
async function run(command: Command): Promise<number> {
  if (command.kind === "list" || command.kind === "gen-all") prepareWorkingCopies(listLabs());
  else if ("lab" in command && (!("target" in command) || command.target === "learner")) prepareWorkingCopies([findLab(command.lab)]);
  switch (command.kind) {
    case "help":
      console.log(usage);
      return 0;
    case "list":
      console.log(formatLabList(listLabs(), readProgress()));
      return 0;
    case "gen-all":
      for (const lab of listLabs()) {
        generate(lab, "learner", true);
        generate(lab, "solution", true);
      }
      console.log("Generated the stubs of every lab and solution.");
      return 0;
    case "gen":
      generate(findLab(command.lab), command.target);
      return 0;
    case "check": {
      const lab = findLab(command.lab);
      const result = await checkLab(lab, { target: command.target });
      if (command.target === "learner") recordProgress(result);
      console.log(command.json ? JSON.stringify(result, null, 2) : formatReport(lab, result));
      return result.status === "pass" ? 0 : result.status === "error" ? 2 : 1;
    }
    case "hint": {
      const lab = findLab(command.lab);
      const result = await checkLab(lab, { target: "learner" });
      recordProgress(result);
      const failing = result.steps.find((s) => s.status === "fail");
      const meta = lab.steps.find((s) => s.step === failing?.step);
      if (!meta) {
        console.log(`Every step of lab ${lab.number} passes: no hint needed.`);
        return 0;
      }
      console.log(`Step ${meta.step}, ${meta.title}:`);
      for (const hint of meta.hints) console.log(`  - ${hint}`);
      return 1;
    }
    // serve and client load grpc-js and the lab's code; keep that off the path of every other command.
    case "serve":
      await (require("./serve-client") as typeof import("./serve-client")).serve(findLab(command.lab), command.target, command.port);
      return 0;
    case "client":
      return (require("./serve-client") as typeof import("./serve-client")).runClient(findLab(command.lab), command.target, command.address, command.args);
  }
}

/** Entry point of `npm run lab`: one plain sentence for every error, a stack trace only with --debug. */
export function main(argv: string[]): void {
  const debug = argv.includes("--debug");
  const report = (error: unknown) => {
    if (error instanceof UserError) {
      console.error(error.message);
      process.exitCode = error.exitCode;
    } else {
      console.error(debug ? error : `The lab runner failed: ${error instanceof Error ? error.message : String(error)} (add --debug for details).`);
      process.exitCode = 2;
    }
  };
  try {
    run(parseArgs(argv).command)
      .then((code) => {
        process.exitCode = code;
      }, report)
      .finally(discardPrestartedWorker);
  } catch (error) {
    report(error);
    discardPrestartedWorker();
  }
}
