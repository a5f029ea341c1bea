/**
 * Lab 06's learner-bug corpus: for each "must" and "must not" of the README,
 * a realistic wrong solution, and the checks it must fail (every other check
 * passes). test/trees.ts checks a server bug and a client bug per lab run.
 * Shutdown and reflection bugs are in test/lab06-variants.test.ts.
 */
import { findLab } from "../scripts/lib/labs";
import { type Bug, checkBugs, removeTrees } from "./trees";

const server = "src/server.ts";
const client = "src/client.ts";

const bugs: Bug[] = [
  {
    rule: "s2: the health map lists JobService (only the whole server)",
    edits: [{ file: server, from: 'new HealthImplementation({ "": "SERVING", [jobServiceName]: servingWhen(dependency.isUp()) })', to: 'new HealthImplementation({ "": "SERVING" })' }],
    caughtBy: ["s2.answers-check-jobs-v1-jobservice", "s3.starts-with-jobs-v1-jobservice"],
    mayFail: ["s3.", "s5."],
  },
  {
    rule: "s3: the initial status comes from isUp(), not a constant",
    edits: [{ file: server, from: "[jobServiceName]: servingWhen(dependency.isUp())", to: '[jobServiceName]: "SERVING"' }],
    caughtBy: ["s3.starts-with-jobs-v1-jobservice-not-serving"],
  },
  {
    rule: "s3: JobService follows the dependency",
    edits: [{ file: server, from: "    if (!shuttingDown) health.setStatus(jobServiceName, servingWhen(up));", to: "    void up;" }],
    caughtBy: ["s3.reports-jobs-v1-jobservice-not-serving-while", "s3.streams-every-change"],
  },
  {
    rule: "s5: shutdown tells the whole server NOT_SERVING too",
    edits: [{ file: server, from: 'for (const name of ["", jobServiceName])', to: "for (const name of [jobServiceName])" }],
    caughtBy: ["s5.reports-not-serving-for-and-for-jobservice"],
  },
  {
    rule: "s6: connect first, with its own timeout (no waitForReady: no connection is exit 3)",
    edits: [{ file: client, from: /const notConnected = [\s\S]*?\n    }\n/, to: "" }],
    caughtBy: ["s6.exits-2-when-nothing-listens"],
  },
  {
    rule: "s6: only SERVING is healthy (UNKNOWN taken for healthy)",
    edits: [{ file: client, from: 'if (status !== "SERVING") return', to: 'if (status === "NOT_SERVING") return' }],
    caughtBy: ["s6.exits-4-for-not-serving-and-for-unknown"],
  },
  {
    rule: "s6: close the client whatever happens (closed only when the probe ends well)",
    edits: [
      { file: client, from: '    return { exitCode: ExitCode.SERVING, message: `status: ${status}` };', to: '    client.close();\n    return { exitCode: ExitCode.SERVING, message: `status: ${status}` };' },
      { file: client, from: "  } finally {\n    client.close();\n  }\n}\n\nconst firstRetryMs", to: "  } finally {\n    void client;\n  }\n}\n\nconst firstRetryMs" },
    ],
    caughtBy: ["s6.closes-its-channel"],
  },
  {
    rule: "s7: client.close() when done (the watcher's channel left open)",
    edits: [{ file: client, from: "  } finally {\n    client.close();\n  }\n}\n\n/** One Watch call", to: "  } finally {\n    void client;\n  }\n}\n\n/** One Watch call" }],
    caughtBy: ["s7.closes-its-channel"],
  },
  {
    rule: "s7: UNIMPLEMENTED is not retried",
    edits: [{ file: client, from: "if (failure?.code === grpc.status.UNIMPLEMENTED) throw failure;", to: "void failure;" }],
    caughtBy: ["s7.rejects-with-unimplemented"],
  },
  {
    rule: "s7: a Watch that ends with OK is watched again (taken for the end)",
    edits: [{ file: client, from: "if (failure?.code === grpc.status.UNIMPLEMENTED) throw failure;", to: "$&\n      if (!failure) return;" }],
    caughtBy: ["s7.watches-again-after-the-stream-ends-with-ok"],
  },
  {
    rule: "s7: back off before watching again (at once)",
    edits: [{ file: client, from: "await sleep(retryMs, signal);", to: "await sleep(0, signal);" }],
    caughtBy: ["s7.backs-off"],
  },
  {
    rule: "s7: back off twice as long each time (always 100 ms)",
    edits: [{ file: client, from: "retryMs = Math.min(retryMs * 2, maxRetryMs);", to: "retryMs = Math.min(retryMs, maxRetryMs);" }],
    caughtBy: ["s7.backs-off"],
  },
  {
    rule: "s7: on abort, cancel the Watch call",
    edits: [{ file: client, from: "const cancel = () => call.cancel();", to: "const cancel = () => resolve(undefined);" }],
    caughtBy: ["s7.cancels-the-watch-call"],
  },
  {
    rule: "s7: stop retrying when the signal aborts (the wait between Watch calls runs out first)",
    edits: [{ file: client, from: '    signal.addEventListener("abort", done, { once: true });\n', to: "" }],
    caughtBy: ["s7.backs-off"],
  },
  {
    rule: "s7: the Watch has no deadline",
    edits: [{ file: client, from: "const call = client.watch({ service });", to: "const call = client.watch({ service }, { deadline: Date.now() + 5000 });" }],
    caughtBy: ["s7.gives-the-watch-call-no-deadline"],
  },
];

describe("lab 06's checks catch a bug for each rule of its README", function () {
  this.timeout(120_000);
  after(removeTrees);
  checkBugs(findLab("06"), bugs);
});
