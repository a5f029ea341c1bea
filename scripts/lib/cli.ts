import * as fs from "node:fs";
import * as path from "node:path";
import { type Command, npmTookOptions, parseArgs, usage } from "./args";
import { unifiedDiff } from "./diff";
import { UserError } from "./errors";
import { gradedHint } from "./hints";
import { displayPath, ensureWorkingCopy, findLab, type Lab, listLabs, type Target, treeDir } from "./labs";
import { forgetLab, labPassed, readProgress, recordProgress } from "./progress";
import { colorDiff, formatFirstFailingStep, formatLabList, formatReport } from "./report";
import { resetLab, restoreLab } from "./reset";
import type { LabResult } from "./results";
import { CheckWorker, checkLab, passedChecks, stillRunning } from "./run-checks";
import { runLabSetup } from "./setup";
import { generateStubs, genDir } from "./stubs";
import { Watcher } from "./watch";
import { discardPrestartedWorker } from "./worker-process.cjs";

async function generate(lab: Lab, target: "learner" | "solution", quiet = false): Promise<void> {
  const tree = treeDir(lab, target);
  const started = Date.now();
  generateStubs(lab, tree);
  if (!quiet) console.log(`Generated the stubs of lab ${lab.number} in ${displayPath(genDir(tree))} (${Date.now() - started} ms).`);
  const done = await runLabSetup(lab);
  if (done && !quiet) console.log(done);
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

async function check(lab: Lab, target: Target, json: boolean): Promise<number> {
  const result = await checkLab(lab, { target });
  if (target === "learner") recordProgress(result);
  console.log(json ? JSON.stringify(result, null, 2) : formatReport(lab, result));
  // npm prints its "> grpc-labs@0.1.0 lab" banner on stdout, before the JSON, unless it runs silent (-s).
  const env = process.env;
  if (json && env.npm_lifecycle_event === "lab" && env.npm_config_loglevel !== "silent" && env.npm_config_json !== "true") {
    console.error(`npm printed its banner on stdout before the JSON: for the JSON alone, run \`npm run -s lab ${lab.number} -- --json\`.`);
  }
  return exitCode(result);
}

const exitCode = (result: LabResult) => (result.status === "pass" ? 0 : result.status === "error" ? 2 : 1);

/** The learner's files and the solution are shown only once the lab passes, or with --force: try first. */
function guardSolution(lab: Lab, force: boolean, command: "diff" | "solution"): void {
  const progress = readProgress();
  if (force || labPassed(progress, lab.id)) return;
  const own = progress.labs[lab.id];
  const last = own ? `your last check passed ${own.passed_steps.length} of ${own.total_steps} steps` : "you have not checked it yet";
  throw new UserError(
    `Lab ${lab.number} does not pass yet (${last}): try first, with \`npm run lab ${lab.number} -- hint\` when stuck. To look anyway: \`npm run lab ${lab.number} -- ${command} --force\`.`,
  );
}

async function watch(lab: Lab, target: Target, poll: boolean): Promise<number> {
  const tree = treeDir(lab, target);
  const files = lab.learnerFiles.map((file) => path.join(tree, ...file.split("/")));
  const worker = new CheckWorker();
  const clear = process.stdout.isTTY ? "\u001b[2J\u001b[3J\u001b[H" : "\n";
  let stopping = false;
  /** What passed in the last run: the next run shows the step the learner is on while those checks run again. */
  let passedLastTime = new Set<string>();
  const watcher: Watcher = new Watcher({
    files,
    poll,
    onFallback: (reason) => console.log(`Watching by polling: ${reason}.`),
    check: async () => {
      const started = Date.now();
      const show = (result: LabResult, typeChecked: boolean) => {
        // Ctrl-C also stops the worker: a run cut short is not worth showing.
        if (stopping) return;
        process.stdout.write(clear);
        console.log(formatReport(lab, result, { compact: true }));
        const how = watcher.mode === "polling" ? " (polling)" : "";
        const status = typeChecked ? `Checked in ${Date.now() - started} ms.` : `Checks done in ${Date.now() - started} ms; type-checking...`;
        console.log(`\n  ${status} Watching ${files.map(displayPath).join(" and ")}${how}; Ctrl-C to stop.`);
      };
      try {
        // The check results show as soon as they are in; the type errors follow.
        const result = await checkLab(lab, {
          target,
          worker,
          // The step the learner is on, as soon as it is known to fail; the rest follows.
          onFirstFailingStep: (early, step) => {
            if (stopping) return;
            process.stdout.write(clear);
            console.log(formatFirstFailingStep(lab, early, step));
            const again = early.tests.some((t) => t.step < step && t.message === stillRunning) ? ", those before it again (they passed last time)" : "";
            console.log(`\n  Step ${step} fails (${Date.now() - started} ms); checking the other steps${again}...`);
          },
          onChecksFirst: (first) => show(first, false),
          passedLastTime,
        });
        passedLastTime = passedChecks(result);
        if (target === "learner" && !stopping) recordProgress(result);
        show(result, true);
      } catch (error) {
        console.error(`The check failed to run: ${error instanceof Error ? error.message : String(error)}`);
      }
      // Have a worker ready for the next save.
      worker.warm();
    },
  });
  await watcher.start();
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  stopping = true;
  watcher.close();
  worker.stop();
  return 0;
}

/** Runs one command; resolves with the process exit code. */
async function run(command: Command): Promise<number> {
  if (command.kind === "list" || (command.kind === "gen-all" && !command.solutionsOnly) || command.kind === "next") prepareWorkingCopies(listLabs());
  else if ("lab" in command && (!("target" in command) || command.target === "learner")) prepareWorkingCopies([findLab(command.lab)]);
  switch (command.kind) {
    case "help":
      console.log(usage);
      return 0;
    case "list":
      console.log(formatLabList(listLabs(), readProgress()));
      return 0;
    case "next": {
      const progress = readProgress();
      const lab = listLabs().find((l) => !labPassed(progress, l.id));
      if (!lab) {
        console.log("Every lab passes: well done! `npm run lab` lists them.");
        return 0;
      }
      console.log(`Next: lab ${lab.number}, ${lab.title} (instructions: labs/${lab.id}/README.md).\n`);
      return check(lab, "learner", false);
    }
    case "gen-all":
      // With --solution (`npm test`), the learner's labs/*/src and gen are left alone: generating the stubs stays step 1.
      for (const lab of listLabs()) {
        if (!command.solutionsOnly) await generate(lab, "learner", true);
        await generate(lab, "solution", true);
      }
      console.log(command.solutionsOnly ? "Generated the stubs of every solution." : "Generated the stubs of every lab and solution.");
      return 0;
    case "gen":
      await generate(findLab(command.lab), command.target);
      return 0;
    case "check":
      return check(findLab(command.lab), command.target, command.json);
    case "watch":
      return watch(findLab(command.lab), command.target, command.poll);
    case "hint": {
      const lab = findLab(command.lab);
      const result = await checkLab(lab, { target: "learner" });
      recordProgress(result);
      const hint = gradedHint(lab, result);
      if (!hint) {
        console.log(`Every step of lab ${lab.number} passes: no hint needed.`);
        return 0;
      }
      console.log(`Step ${hint.step.step}, ${hint.step.title}: hint ${hint.number} of ${hint.total}`);
      console.log(`  ${hint.text}`);
      if (hint.number < hint.total) console.log(`Still stuck? Run \`npm run lab ${lab.number} -- hint\` again for a more specific hint.`);
      else console.log(`That is the last hint of step ${hint.step.step}; the instructions are in labs/${lab.id}/README.md.`);
      return 1;
    }
    case "reset": {
      const lab = findLab(command.lab);
      const outcome = resetLab(lab);
      // The last check was of the files just replaced: the lab starts again.
      forgetLab(lab.id);
      if (outcome.backup) console.log(`Saved your ${outcome.saved.join(" and ")} to ${displayPath(outcome.backup)}/.`);
      if (outcome.restored.length === 0) console.log(`Lab ${lab.number} already has its starter files: nothing to reset.`);
      else console.log(`Restored the starter ${outcome.restored.join(" and ")} of lab ${lab.number} in labs/${lab.id}/.`);
      if (outcome.backup) console.log(`To bring your files back: npm run lab ${lab.number} -- restore`);
      return 0;
    }
    case "restore": {
      const lab = findLab(command.lab);
      const outcome = restoreLab(lab);
      if (outcome.restored.length === 0) {
        console.log(`Your files of lab ${lab.number} are already those of ${displayPath(outcome.from)}/: nothing to restore.`);
        return 0;
      }
      if (outcome.backup) console.log(`Saved your ${outcome.saved.join(" and ")} to ${displayPath(outcome.backup)}/ (run restore again to switch back to them).`);
      console.log(`Restored ${outcome.restored.join(" and ")} of lab ${lab.number} from ${displayPath(outcome.from)}/. Check the lab again: npm run lab ${lab.number}`);
      return 0;
    }
    case "diff": {
      const lab = findLab(command.lab);
      guardSolution(lab, command.force, "diff");
      const mine = treeDir(lab, "learner");
      const theirs = treeDir(lab, "solution");
      let same = true;
      for (const file of lab.learnerFiles) {
        const read = (tree: string) => (fs.existsSync(path.join(tree, file)) ? fs.readFileSync(path.join(tree, file), "utf8") : "");
        const diff = unifiedDiff(read(mine), read(theirs), displayPath(path.join(mine, file)), displayPath(path.join(theirs, file)));
        if (diff) {
          same = false;
          process.stdout.write(colorDiff(diff));
        }
      }
      if (same) console.log(`Your files are the same as the solution of lab ${lab.number}.`);
      return 0;
    }
    case "solution": {
      const lab = findLab(command.lab);
      guardSolution(lab, command.force, "solution");
      console.log(`The reference solution of lab ${lab.number} is in ${displayPath(treeDir(lab, "solution"))}/:`);
      for (const file of lab.learnerFiles) console.log(`  ${displayPath(path.join(treeDir(lab, "solution"), file))}`);
      console.log(`Compare it with yours: npm run lab ${lab.number} -- diff`);
      return 0;
    }
    // serve, client and bench load grpc-js and the lab's code; keep that off the path of every other command.
    case "serve":
      try {
        await (require("./serve-client") as typeof import("./serve-client")).serve(findLab(command.lab), command.target, command.port);
      } catch (error) {
        throw bindError(command.port, error);
      }
      return 0;
    case "client":
      return (require("./serve-client") as typeof import("./serve-client")).runClient(findLab(command.lab), command.target, command.address, command.args);
    case "bench":
      return (require("./serve-client") as typeof import("./serve-client")).runBench(findLab(command.lab), command.target, command.args);
  }
}

/** A port the user may not listen on says so in one sentence; any other error is left as it is. */
export function bindError(port: number, error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (!/EACCES|permission denied/i.test(message)) return error;
  const why = port < 1024 ? "ports below 1024 need administrator rights on most systems" : "the system does not allow it";
  return new UserError(`You may not listen on port ${port}: ${why}; pick a port from 1024 up, such as --port ${port < 1024 ? 50051 : port + 1}.`);
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
    const npmTook = npmTookOptions(argv, process.env);
    if (npmTook) throw new UserError(npmTook);
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
