/**
 * Lab 07's learner-bug corpus: for each "must" and "must not" of the README,
 * a realistic wrong solution, and the checks it must fail (every other check
 * passes). test/trees.ts checks a server bug and a client bug per lab run.
 */
import * as assert from "node:assert/strict";
import { findLab } from "../scripts/lib/labs";
import { type Bug, checkBugs, checkVariant, removeTrees } from "./trees";

const server = "src/server.ts";
const client = "src/client.ts";

const bugs: Bug[] = [
  // Steps 2 and 3, the Worker
  {
    rule: "s2: never start a step that cannot finish before the deadline (the time left not read)",
    edits: [{ file: server, from: "    if (remainingMs(call) < job.stepMs) return \"out of time\";\n", to: "" }],
    caughtBy: ["s2.fails-fast", "s3.follow-like-run-fails-fast"],
  },
  {
    rule: "s3: stop when the call is cancelled or out of time (call.cancelled not checked)",
    edits: [{ file: server, from: '    if (call.cancelled) return "cancelled";\n', to: "" }],
    // Once the deadline has passed, the time left is below a step too: that check stops the work then.
    caughtBy: ["s3.run-stops-working-soon-after-the-client-cancels", "s3.follow-stops-working"],
  },
  {
    rule: "s3: the first step begins when the call arrives (Run waits for an \"end\" event, which a unary call never emits)",
    edits: [{ file: server, from: "      const outcome = await runSteps(call, job, doStep);", to: '      await new Promise((resolve) => call.on("end", resolve));\n      const outcome = await runSteps(call, job, doStep);' }],
    caughtBy: ["s2.runs-every-step", "s2.fails-fast", "s3.run-stops-working-soon-after-the-client-cancels"],
  },
  {
    rule: "s3: Follow ends the stream after the last step",
    edits: [{ file: server, from: '      if (outcome === "done") call.end();', to: '      if (outcome === "done") void call;' }],
    caughtBy: ["s3.follow-streams-one-progress"],
  },
  {
    rule: "s3: Follow runs the same checked loop as Run (a loop of its own that never looks at the call)",
    edits: [{ file: server, from: "const outcome = await runSteps(call, job, doStep, (step) => call.write({ name: job.name, step, steps: job.steps }));", to: "for (let step = 1; step <= job.steps; step++) {\n        await doStep(job, step);\n        call.write({ name: job.name, step, steps: job.steps });\n      }\n      const outcome = \"done\" as \"done\" | \"out of time\";" }],
    caughtBy: ["s3.follow-like-run-fails-fast", "s3.follow-stops-working"],
  },
  // Step 4, the Frontend
  {
    rule: "s4: the backend call inherits the deadline and the cancellation (no parent)",
    edits: [{ file: server, from: "{ parent: call }, callback", to: "{}, callback" }],
    caughtBy: ["s4.gives-the-backend-call-a-deadline", "s4.cancels-the-backend-call"],
  },
  {
    rule: "s4: the Frontend answers with the backend's error as it is (every failure made INTERNAL)",
    edits: [{ file: server, from: "{ parent: call }, callback);", to: "{ parent: call }, (error, result) => (error ? callback({ code: grpc.status.INTERNAL, details: error.details }) : callback(null, result)));" }],
    caughtBy: ["s4.answers-with-the-backend-s-error"],
  },
  {
    rule: "s4: one backend channel, shared by every call (a client made in each call)",
    edits: [
      { file: server, from: "  const backend = new WorkerClient(backendAddress, grpc.credentials.createInsecure());\n", to: "" },
      { file: server, from: "      backend.run(call.request,", to: "      const backend = new WorkerClient(backendAddress, grpc.credentials.createInsecure());\n      backend.run(call.request," },
    ],
    caughtBy: ["s4.calls-the-backend-over-one-channel"],
  },
  {
    rule: "s4: one backend channel, shared by every call (a client made in each call, closed when it ends)",
    edits: [
      { file: server, from: "  const backend = new WorkerClient(backendAddress, grpc.credentials.createInsecure());\n", to: "" },
      {
        file: server,
        from: "      backend.run(call.request, new grpc.Metadata(), { parent: call }, callback);",
        to: "      const backend = new WorkerClient(backendAddress, grpc.credentials.createInsecure());\n      backend.run(call.request, new grpc.Metadata(), { parent: call }, (error, result) => {\n        backend.close();\n        callback(error, result);\n      });",
      },
    ],
    caughtBy: ["s4.calls-the-backend-over-one-channel"],
  },
  // Steps 5 to 8, the client
  {
    rule: "s5: every call has a deadline timeoutMs from now",
    edits: [{ file: client, from: "client.run(job, new grpc.Metadata(), { deadline: Date.now() + options.timeoutMs }, (error, result) => {", to: "client.run(job, new grpc.Metadata(), {}, (error, result) => {" }],
    caughtBy: ["s5.returns-the-server-s-result", "s5.returns-kind-timedout"],
  },
  {
    rule: "s5: DEADLINE_EXCEEDED is timedOut, CANCELLED is cancelled (the two taken for one)",
    edits: [{ file: client, from: 'else if (error.code === grpc.status.CANCELLED) resolve({ kind: "cancelled" });', to: 'else if (error.code === grpc.status.CANCELLED) resolve({ kind: "timedOut" });' }],
    caughtBy: ["s5.returns-kind-cancelled"],
  },
  {
    rule: "s5: on abort, cancel the call (only stop waiting)",
    edits: [{ file: client, from: "const cancel = () => call.cancel();\n    options.signal", to: 'const cancel = () => resolve({ kind: "cancelled" });\n    options.signal' }],
    caughtBy: ["s5.returns-kind-cancelled"],
  },
  {
    rule: "s5: other failures reject with the call's error",
    edits: [{ file: client, from: "      else reject(error);", to: '      else resolve({ kind: "cancelled" });\n      void reject;' }],
    caughtBy: ["s5.rejects-with-the-call-s-error"],
  },
  {
    rule: "s6: cancel the stream once you have what you need (only stop listening)",
    edits: [{ file: client, from: "        resolve(received);\n        // We have what we need: cancel, so the server stops working for us.\n        call.cancel();", to: "        resolve(received);\n        call.removeAllListeners(\"data\");" }],
    caughtBy: ["s6.returns-the-first-messages-of-the-stream-then-cancels"],
  },
  {
    rule: "s6: ignore only the CANCELLED of your own cancel (every error ignored)",
    edits: [{ file: client, from: "if (error.code !== grpc.status.CANCELLED) reject(error);", to: "void error;\n      resolve(received);\n      void reject;" }],
    caughtBy: ["s6.rejects-when-the-stream-fails"],
  },
  {
    rule: "s6: the stream has a deadline",
    edits: [{ file: client, from: "client.follow(job, { deadline: Date.now() + timeoutMs })", to: "client.follow(job)" }],
    caughtBy: ["s6.gives-the-stream-a-deadline"],
  },
  {
    rule: "s7: retry UNAVAILABLE by service config (no retry policy)",
    edits: [{ file: client, from: '{ "grpc.service_config": JSON.stringify(serviceConfig) }', to: "{}" }],
    caughtBy: ["s7.retries-unavailable", "s7.gives-up-after-4-attempts", "s8.keeps-its-retries-inside-the-deadline"],
    mayFail: ["s8."],
  },
  {
    rule: "s7: attempts is 1 plus grpc-previous-rpc-attempts (the header ignored)",
    edits: [{ file: client, from: 'attempts += Number(headers.get("grpc-previous-rpc-attempts")[0] ?? 0);', to: "void headers;" }],
    caughtBy: ["s7.retries-unavailable"],
  },
  {
    rule: "s7: retry only UNAVAILABLE (INVALID_ARGUMENT retried too)",
    edits: [{ file: client, from: 'retryableStatusCodes: ["UNAVAILABLE"],', to: 'retryableStatusCodes: ["UNAVAILABLE", "INVALID_ARGUMENT"],' }],
    caughtBy: ["s7.does-not-retry-invalid-argument"],
  },
  {
    rule: "s7: the backoff doubles each retry (a constant 0.1 s)",
    edits: [{ file: client, from: "backoffMultiplier: 2,", to: "backoffMultiplier: 1," }],
    caughtBy: ["s7.gives-up-after-4-attempts"],
    // Shorter waits fit more attempts in a deadline too.
    mayFail: ["s8.keeps-its-retries-inside-the-deadline"],
  },
  {
    rule: "s8: waitForReady on the call",
    edits: [{ file: client, from: "new grpc.Metadata({ waitForReady: true })", to: "new grpc.Metadata()" }],
    caughtBy: ["s8.waits-for-a-server-that-is-not-up-yet", "s8.waits-until-its-deadline"],
  },
  {
    rule: "s7: the channel retries, not a loop by hand (no grpc-previous-rpc-attempts)",
    edits: [
      {
        file: client,
        from: /export function runWithRetries[\s\S]*$/,
        to: `export async function runWithRetries(client: WorkerClient, job: Job, timeoutMs: number): Promise<{ result: JobResult; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    try {
      const result = await new Promise<JobResult>((resolve, reject) => {
        client.run(job, new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + timeoutMs }, (error, value) => (error ? reject(error) : resolve(value)));
      });
      return { result, attempts };
    } catch (error) {
      if ((error as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || attempts === 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempts - 1)));
    }
  }
}
`,
      },
    ],
    caughtBy: ["s7.retries-unavailable"],
    mayFail: ["s7.gives-up-after-4-attempts"],
  },
];

describe("lab 07's checks catch a bug for each rule of its README", function () {
  this.timeout(120_000);
  after(removeTrees);
  checkBugs(findLab("07"), bugs);
});

describe("lab 07's waitForReady check on a busy machine", function () {
  this.timeout(60_000);
  after(removeTrees);

  it("fails a client without waitForReady whose call starts 0.5 s late: the server starts once the client has tried, not after a fixed 0.3 s", async () => {
    const result = await checkVariant(findLab("07"), "late-no-wait-for-ready", [
      { file: client, from: "new grpc.Metadata({ waitForReady: true })", to: "new grpc.Metadata()" },
      { file: client, from: "return new Promise((resolve, reject) => {\n    // waitForReady", to: "return new Promise((resolve, reject) => void setTimeout(() => {\n    // waitForReady" },
      { file: client, from: /\n    \}\);\n  \}\);\n\}\s*$/, to: "\n    });\n  }, 500));\n}\n" },
    ]);
    const check = result.tests.find((test) => test.id.startsWith("s8.waits-for-a-server"));
    assert.equal(check?.status, "fail", check?.message ?? "no such check");
  });
});
