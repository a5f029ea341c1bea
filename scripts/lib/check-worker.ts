/**
 * Runs one lab's mocha checks in a child process of the runner, with tsx's
 * CommonJS hook preloaded so the learner's TypeScript runs as is. It reports
 * each check over IPC; the runner owns timeouts, output and the final result,
 * so a learner's infinite loop or process.exit() can never take it down.
 */
import type MochaType from "mocha";
import { CheckFailure } from "../check-kit/assert";
import { learnerLocation } from "../check-kit/target";
import { installHandlerErrorCapture, takeHandlerErrors } from "../check-kit/handler-errors";
import { closeAll } from "../check-kit/resources";
import { stepOf } from "../check-kit/steps";
import { checkId } from "./results";
import type { PlannedCheck, WorkerMessage, WorkerRequest } from "./worker-protocol";

const Mocha = require("mocha/lib/mocha.cjs") as typeof MochaType;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const handlerErrors = takeHandlerErrors();
  let message: string;
  if (error instanceof CheckFailure) {
    message = error.message;
  } else if (error instanceof Error && /^Timeout of \d+ms exceeded/.test(error.message)) {
    message = `did not finish within ${timeoutMs / 1000} s: is a promise never resolved or a stream never ended?`;
  } else {
    const text = error instanceof Error ? error.message : String(error);
    const where = learnerLocation(error);
    message = `${text}${where ? ` (at ${where})` : ""}`;
  }
  return handlerErrors.length > 0 ? `${handlerErrors[0]}; so: ${message}` : message;
}

function plannedCheck(test: MochaType.Test): PlannedCheck {
  const step = stepOf(test) ?? 0;
  return { id: checkId(step, test.title), name: test.title, step };
}

function allTests(suite: MochaType.Suite): MochaType.Test[] {
  return [...suite.tests, ...suite.suites.flatMap(allTests)];
}

function run(request: WorkerRequest): void {
  installHandlerErrorCapture();
  const timeoutMs = request.checkTimeoutMs;

  class IpcReporter {
    constructor(runner: MochaType.Runner) {
      let current: MochaType.Test | undefined;
      let started = 0;
      runner.on("test", (test: MochaType.Test) => {
        current = test;
        started = Date.now();
        takeHandlerErrors();
        send({ type: "begin", id: plannedCheck(test).id });
      });
      runner.on("pass", (test: MochaType.Test) => {
        send({ type: "result", id: plannedCheck(test).id, status: "pass", message: null, duration_ms: Date.now() - started });
      });
      runner.on("fail", (runnable: MochaType.Runnable, error: unknown) => {
        // A failing hook counts against the check it ran for.
        const test = runnable instanceof Mocha.Test ? runnable : current;
        if (!test) return;
        send({ type: "result", id: plannedCheck(test).id, status: "fail", message: describeFailure(error, timeoutMs), duration_ms: Date.now() - started });
      });
      runner.on("end", finish);
    }
  }

  const mocha = new Mocha({ timeout: timeoutMs, reporter: IpcReporter as never, rootHooks: { afterEach: closeAll } });
  for (const file of request.checkFiles) mocha.addFile(file);
  // Loading before run() lets the plan list every check, even those a crash would stop
  // (loadFiles is public in mocha, though its type declarations mark it protected).
  (mocha as unknown as { loadFiles(): void }).loadFiles();
  // Run the steps in order, whatever order the check files load in.
  mocha.suite.suites.sort((a, b) => (stepOf(a) ?? 0) - (stepOf(b) ?? 0));
  send({ type: "plan", checks: allTests(mocha.suite).map(plannedCheck) });
  if (request.listOnly) return finish();
  mocha.run();
}

function finish(): void {
  closeAll();
  // Disconnecting lets the process exit on its own once the learner's code
  // has closed everything; the runner reports it if something stays open.
  process.send?.({ type: "done" } satisfies WorkerMessage, () => process.disconnect());
}

run(JSON.parse(process.argv[2] ?? "{}") as WorkerRequest);
