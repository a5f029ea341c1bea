/**
 * Different but correct solutions of labs 01 to 07 pass every check of their
 * lab: the checks grade behaviour, never style. Each lab has two, in styles
 * other than the reference's (classes, for await, util.promisify, other data
 * structures and decompositions); wherever a README leaves a choice open, one
 * of them takes the other choice. Whole files live in test/labNN-alternatives/,
 * smaller differences are edits of the reference solution.
 */
import * as assert from "node:assert/strict";
import { findLab } from "../scripts/lib/labs";
import { alternativeFile, checkVariant, type Edit, failingIds, removeTrees } from "./trees";

interface Alternative {
  name: string;
  /** What makes it different from the reference solution. */
  style: string;
  /** Learner files replaced by test/labNN-alternatives/ files. */
  files?: Record<string, string>;
  edits?: Edit[];
}

const alternatives: Record<string, Alternative[]> = {
  "01": [
    {
      name: "classes-for-await",
      style: "handlers as class methods, for await over client streams, an index by location; a client of async functions with util.promisify and for await",
      files: { "src/server.ts": "class-server.ts", "src/client.ts": "for-await-client.ts" },
    },
    {
      name: "other-choices",
      style: "notes keyed by JSON location, a corner test by sorted bounds; a deadline in milliseconds since the epoch and a stream collected with toArray()",
      edits: [
        { file: "src/server.ts", from: "const key = locationKey(note.location);", to: "const key = JSON.stringify([note.location?.latitude ?? 0, note.location?.longitude ?? 0]);" },
        { file: "src/client.ts", from: "client.getFeature(point, new grpc.Metadata(), { deadline: deadline() },", to: "client.getFeature(point, new grpc.Metadata(), { deadline: Date.now() + 5000 }," },
        {
          file: "src/client.ts",
          from: /  return new Promise\(\(resolve, reject\) => \{\n    const features: Feature\[\] = \[\];[\s\S]*?\n  \}\);\n/,
          to: "  // toArray() rejects with the stream's error, so a broken stream is never a short list.\n  return client.listFeatures(rectangle, { deadline: deadline() }).toArray() as Promise<Feature[]>;\n",
        },
      ],
    },
  ],
  "02": [
    {
      name: "classes-for-await",
      style: "async handlers of a class, for await over the client streams instead of a promise queue, a validation table, query-string page tokens; a client of util.promisify, a recursive page walk and for await",
      files: { "src/server.ts": "class-server.ts", "src/client.ts": "promisify-client.ts" },
    },
    {
      name: "other-choices",
      style: "hex page tokens; a client that also cancels a watch whose signal aborted before the call",
      edits: [
        { file: "src/server.ts", from: 'Buffer.from(JSON.stringify(cursor)).toString("base64url")', to: 'Buffer.from(JSON.stringify(cursor)).toString("hex")' },
        { file: "src/server.ts", from: 'Buffer.from(token, "base64url")', to: 'Buffer.from(token, "hex")' },
        { file: "src/client.ts", from: 'signal.addEventListener("abort", cancel, { once: true });', to: 'if (signal.aborted) cancel();\n    else signal.addEventListener("abort", cancel, { once: true });' },
      ],
    },
  ],
  "03": [
    {
      name: "classes-for-await",
      style: "a Session class per call that owns its outbox and its way out, rooms as Sets; a client that reads with for await while a second loop writes",
      files: { "src/server.ts": "class-server.ts", "src/client.ts": "for-await-client.ts" },
    },
    {
      name: "other-choices",
      style: "members that leave once by a flag of their own, the welcome's member list built from the member records; a client that waits for drain with a promise of its own and cancels on abort with a plain listener",
      edits: [
        { file: "src/server.ts", from: "  queue: ServerEvent[];\n}", to: "  queue: ServerEvent[];\n  gone?: boolean;\n}" },
        { file: "src/server.ts", from: "if (room.members.get(name) !== member) return;", to: "if (member.gone) return;\n    member.gone = true;" },
        { file: "src/server.ts", from: "const others = [...room.members.keys()];", to: "const others = Array.from(room.members.values(), (m) => m.name);" },
        { file: "src/client.ts", from: 'if (!call.write(message)) await once(call, "drain");', to: 'if (!call.write(message)) await new Promise((drained) => call.once("drain", drained));\n      void once;' },
        { file: "src/client.ts", from: 'signal?.addEventListener("abort", cancel, { once: true });', to: 'signal?.addEventListener("abort", cancel);' },
      ],
    },
  ],
  "04": [
    {
      name: "callbacks-loop",
      style: "callback handlers that return after each answer, a sliding-window rate limit, camelCase violation paths; a client with a table of decoders, timers/promises and a while loop that also retries RESOURCE_EXHAUSTED without RetryInfo",
      files: { "src/server.ts": "callback-server.ts", "src/client.ts": "loop-client.ts" },
    },
    {
      name: "other-choices",
      style: "an INTERNAL message without the id (the id only in its trailer); whole-millisecond backoff",
      edits: [
        { file: "src/server.ts", from: "`internal error (id ${errorId})`", to: '"internal error; the server log has the details"' },
        { file: "src/client.ts", from: "return random() * ceiling;", to: "return Math.floor(random() * ceiling);" },
      ],
    },
  ],
  "05": [
    {
      name: "authenticators-cache",
      style: "an ordered list of authenticators in a ServerListenerBuilder interceptor, roles as Sets, API keys as HMACs under a random key; a TokenCache class, a checkServerIdentity that defers to Node's, util.promisify",
      files: { "src/server.ts": "authenticators-server.ts", "src/client.ts": "cache-client.ts" },
    },
    {
      name: "builder-single-flight",
      style: "the reference's interceptor with ServerListenerBuilder and try/catch; call credentials that keep one token request in flight at a time",
      edits: [
        {
          file: "src/server.ts",
          from: /next\(\{\n[\s\S]*?\n {8}\}\);\n {6}\},/,
          to: `next(
            new grpc.ServerListenerBuilder()
              .withOnReceiveMetadata((metadata, forward) => {
                void (async () => {
                  let caller: Caller;
                  try {
                    caller = authorize(await authenticate(metadata, call, config), method.path);
                  } catch (error) {
                    return call.sendStatus({ code: error instanceof AuthError ? error.code : grpc.status.INTERNAL, details: String(error) });
                  }
                  metadata.set(callerHeader, JSON.stringify(caller));
                  forward(metadata);
                })();
              })
              .build(),
          );
        },`,
        },
        {
          file: "src/client.ts",
          from: /let current: AccessToken \| undefined;[\s\S]*?\n {2}\}\);\n\}/,
          to: `let pending: Promise<AccessToken> | undefined;
    const token = async () => {
      const current = await pending;
      if (!pending || !current || current.expiresAt.getTime() - Date.now() <= refreshBeforeExpiryMs) pending = tokens();
      return pending;
    };
    return grpc.credentials.createFromMetadataGenerator(async (_options, callback) => {
      try {
        const metadata = new grpc.Metadata();
        metadata.add("authorization", "Bearer " + (await token()).token);
        callback(null, metadata);
      } catch (error) {
        pending = undefined;
        callback(error as Error);
      }
    });
  }`,
        },
      ],
    },
  ],
  "06": [
    {
      name: "race-for-await",
      style: "health from one function of the server's state, jobs as cancellable sleeps, shutdown as a race of tryShutdown and the grace period; a probe with util.promisify and a watcher that reads with for await",
      files: { "src/server.ts": "shutdown-server.ts", "src/client.ts": "for-await-client.ts" },
    },
    {
      name: "other-choices",
      style: "JobService told before the whole server, an unref'd grace timer; a probe that takes UNAVAILABLE from Check as a connection failure, retries capped at 2 s",
      edits: [
        { file: "src/server.ts", from: 'for (const name of ["", jobServiceName])', to: 'for (const name of [jobServiceName, ""])' },
        { file: "src/server.ts", from: "setTimeout(() => server.forceShutdown(), graceMs);", to: "setTimeout(() => server.forceShutdown(), graceMs).unref();" },
        { file: "src/client.ts", from: /const notConnected = [\s\S]*?\n    }\n/, to: "" },
        { file: "src/client.ts", from: "const { code, details } = error as grpc.ServiceError;", to: "$&\n    if (code === grpc.status.UNAVAILABLE) return { exitCode: ExitCode.CONNECTION_FAILURE, message: details };" },
        { file: "src/client.ts", from: "const maxRetryMs = 5000;", to: "const maxRetryMs = 2000;" },
      ],
    },
  ],
  "07": [
    {
      name: "upfront-for-await",
      style: "the whole job checked against the time left up front, cancels heard through the cancelled event, explicit propagation flags; a retry policy for every method, outcomes from a table of codes, for await over the progress stream",
      files: { "src/server.ts": "upfront-server.ts", "src/client.ts": "outcome-client.ts" },
    },
    {
      name: "other-choices",
      style: "the deadline read as a Date or a number, DEFAULTS named as the propagation flags; a retry policy for the two methods by name",
      edits: [
        { file: "src/server.ts", from: "return Number(call.getDeadline()) - Date.now();", to: "const deadline = call.getDeadline();\n  return (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();" },
        { file: "src/server.ts", from: "{ parent: call }, callback", to: "{ parent: call, propagate_flags: grpc.propagate.DEFAULTS }, callback" },
        { file: "src/client.ts", from: 'name: [{ service: "deadlines.v1.Worker" }],', to: 'name: [\n        { service: "deadlines.v1.Worker", method: "Run" },\n        { service: "deadlines.v1.Worker", method: "Follow" },\n      ],' },
      ],
    },
  ],
};

describe("alternative correct solutions pass every check", function () {
  this.timeout(180_000);
  after(removeTrees);

  for (const [number, list] of Object.entries(alternatives)) {
    const lab = findLab(number);
    for (const alternative of list) {
      it(`lab ${number}, ${alternative.name}: ${alternative.style}`, async () => {
        const files = Object.entries(alternative.files ?? {}).map(([file, replacement]) => alternativeFile(lab, file, replacement));
        const result = await checkVariant(lab, `alternative-${alternative.name}`, [...files, ...(alternative.edits ?? [])]);
        assert.deepEqual(result.type_errors, []);
        assert.ok(result.tests.length > 0, "no check ran");
        assert.deepEqual(failingIds(result), [], result.tests.filter((t) => t.status !== "pass").map((t) => `${t.id}: ${t.message}`).join("\n"));
      });
    }
  }
});
