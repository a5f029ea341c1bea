/**
 * Lab 01's learner-bug corpus: for each "must" and "must not" of the README,
 * a realistic wrong solution, and the checks it must fail (every other check
 * passes). test/trees.ts checks a server bug and a client bug per lab run.
 */
import { findLab } from "../scripts/lib/labs";
import { type Bug, checkBugs, removeTrees } from "./trees";

const server = "src/server.ts";
const client = "src/client.ts";

const bugs: Bug[] = [
  // Step 2, GetFeature
  {
    rule: "s2: a known point gets its feature (matching the latitude only)",
    edits: [{ file: server, from: "features.find((feature) => sameLocation(feature.location, call.request))", to: "features.find((feature) => feature.location?.latitude === call.request.latitude)" }],
    caughtBy: ["s2.matches-both-coordinates"],
  },
  {
    rule: "s2: an unknown point is not an error (NOT_FOUND)",
    edits: [{ file: server, from: 'callback(null, found ?? { name: "", location: call.request });', to: 'if (!found) return callback({ code: grpc.status.NOT_FOUND, details: "no feature" });\n      callback(null, found);' }],
    caughtBy: ["s2.returns-an-unnamed-feature", "s2.matches-both-coordinates"],
  },
  // Step 3, ListFeatures
  {
    rule: "s3: the bounds are inclusive (strict comparisons)",
    edits: [{ file: server, from: "latitude >= south && latitude <= north && longitude >= west && longitude <= east", to: "latitude > south && latitude < north && longitude > west && longitude < east" }],
    caughtBy: ["s3.includes-features-on-the-edges"],
  },
  {
    rule: "s3: the corners can come in any order (lo taken as south-west)",
    edits: [
      { file: server, from: "const south = Math.min(lo?.latitude ?? 0, hi?.latitude ?? 0);", to: "const south = lo?.latitude ?? 0;" },
      { file: server, from: "const north = Math.max(lo?.latitude ?? 0, hi?.latitude ?? 0);", to: "const north = hi?.latitude ?? 0;" },
      { file: server, from: "const west = Math.min(lo?.longitude ?? 0, hi?.longitude ?? 0);", to: "const west = lo?.longitude ?? 0;" },
      { file: server, from: "const east = Math.max(lo?.longitude ?? 0, hi?.longitude ?? 0);", to: "const east = hi?.longitude ?? 0;" },
    ],
    caughtBy: ["s3.accepts-the-corners-in-any-order"],
  },
  {
    rule: "s3: unnamed features are features too",
    edits: [{ file: server, from: "if (latitude >= south", to: "if (feature.name !== \"\" && latitude >= south" }],
    caughtBy: ["s3.streams-all-100-features", "s3.accepts-the-corners-in-any-order"],
    mayFail: ["s3.includes-features-on-the-edges"],
  },
  {
    rule: "s3: an empty region still ends the stream",
    edits: [{ file: server, from: "      call.end();\n    },\n\n    // Client streaming", to: "      if (call.writableLength > 0 || features.some((f) => f.location && f.location.latitude >= south && f.location.latitude <= north && f.location.longitude >= west && f.location.longitude <= east)) call.end();\n    },\n\n    // Client streaming" }],
    caughtBy: ["s3.streams-nothing-and-ends-the-stream"],
  },
  // Step 4, RecordRoute
  {
    rule: "s4: featureCount counts unnamed database locations",
    edits: [{ file: server, from: "if (features.some((feature) => sameLocation(feature.location, point)))", to: "if (features.some((feature) => feature.name !== \"\" && sameLocation(feature.location, point)))" }],
    caughtBy: ["s4.counts-database-locations-even-when"],
  },
  {
    rule: "s4: distance sums the legs between consecutive points (each leg from the first point)",
    edits: [{ file: server, from: "        previous = point;\n", to: "        previous ??= point;\n" }],
    caughtBy: ["s4.measures-the-distance"],
  },
  {
    rule: "s4: the fields are whole numbers (distance not rounded)",
    edits: [{ file: server, from: "summary.distance = Math.round(metres);", to: "summary.distance = metres;" }],
    // INTERNAL: Error serializing response, for every route of more than one point.
    caughtBy: ["s4.counts-points-features-and-distance", "s4.measures-the-distance", "s4.counts-database-locations", "s4.reports-elapsedtime-in-whole-seconds"],
  },
  {
    rule: "s4: elapsedTime is in seconds (milliseconds)",
    edits: [{ file: server, from: "summary.elapsedTime = Math.floor((Date.now() - startedAt) / 1000);", to: "summary.elapsedTime = Date.now() - startedAt;" }],
    caughtBy: ["s4.reports-elapsedtime-in-whole-seconds"],
    // A route sent at once may take 0 or 1 ms, and an empty route 0 ms: those checks may pass it.
    mayFail: ["s4.counts-points-features-and-distance", "s4.answers-an-empty-route"],
  },
  // Step 5, RouteChat
  {
    rule: "s5: earlier notes go out oldest first",
    edits: [{ file: server, from: "for (const previousNote of earlier) call.write(previousNote);", to: "for (const previousNote of [...earlier].reverse()) call.write(previousNote);" }],
    caughtBy: ["s5.sends-every-earlier-note-at-a-location-oldest-first"],
  },
  {
    rule: "s5: the note just received is not sent back (stored before the replies)",
    edits: [
      { file: server, from: "const earlier = notesByLocation.get(key) ?? [];", to: "const earlier = [...(notesByLocation.get(key) ?? []), note];" },
      { file: server, from: "notesByLocation.set(key, [...earlier, note]);", to: "notesByLocation.set(key, earlier);" },
    ],
    caughtBy: ["s5."],
  },
  {
    rule: "s5: the server ends its side when the client ends its own",
    edits: [{ file: server, from: 'call.on("end", () => call.end());', to: 'call.on("end", () => undefined);' }],
    caughtBy: ["s5."],
  },
  {
    rule: "s5: the notes belong to the server, kept between calls (kept per call)",
    edits: [
      { file: server, from: "  const notesByLocation = new Map<string, RouteNote[]>();\n", to: "" },
      { file: server, from: "    routeChat(call) {\n", to: "    routeChat(call) {\n      const notesByLocation = new Map<string, RouteNote[]>();\n" },
    ],
    caughtBy: ["s5.keeps-the-notes-between-calls"],
  },
  {
    rule: "s5: the notes belong to one server (kept by the module, shared by every server)",
    edits: [
      { file: server, from: "  const notesByLocation = new Map<string, RouteNote[]>();\n", to: "" },
      { file: server, from: "function routeGuideHandlers(", to: "const notesByLocation = new Map<string, RouteNote[]>();\n\nfunction routeGuideHandlers(" },
    ],
    caughtBy: ["s5.keeps-the-notes-of-each-server-apart"],
  },
  // Steps 6 to 9, the client
  {
    rule: "s6: every call has a deadline (getFeature)",
    edits: [{ file: client, from: "client.getFeature(point, new grpc.Metadata(), { deadline: deadline() },", to: "client.getFeature(point, new grpc.Metadata(), {}," }],
    caughtBy: ["s6.sets-a-deadline"],
  },
  {
    rule: "s6: a failed call rejects with the call's error as is (wrapped in a new Error)",
    edits: [{ file: client, from: "(error, feature) => (error ? reject(error) : resolve(feature))", to: "(error, feature) => (error ? reject(new Error(error.message)) : resolve(feature))" }],
    caughtBy: ["s6.rejects-with-the-server-s-status-code"],
  },
  {
    rule: "s7: a stream that fails midway rejects, never a short list",
    edits: [{ file: client, from: 'call.on("error", reject);\n    call.on("end", () => resolve(features));', to: 'call.on("error", () => resolve(features));\n    call.on("end", () => resolve(features));' }],
    caughtBy: ["s7.rejects-when-the-stream-fails-midway"],
  },
  {
    rule: "s7: every call has a deadline (listFeatures)",
    edits: [{ file: client, from: "client.listFeatures(rectangle, { deadline: deadline() })", to: "client.listFeatures(rectangle)" }],
    caughtBy: ["s7.sets-a-deadline"],
  },
  {
    rule: "s8: the stream is ended even with no points",
    edits: [{ file: client, from: "    call.end();\n  });\n}\n\n/** Step 9", to: "    if (points.length > 0) call.end();\n  });\n}\n\n/** Step 9" }],
    caughtBy: ["s8.ends-the-stream-even-when-there-are-no-points"],
  },
  {
    rule: "s8: every call has a deadline (recordRoute)",
    edits: [{ file: client, from: "client.recordRoute({ deadline: deadline() },", to: "client.recordRoute({}," }],
    caughtBy: ["s8.sets-a-deadline"],
  },
  {
    rule: "s9: keep reading after ending your side (resolved after the last write)",
    edits: [{ file: client, from: /"end"\.\n {4}call\.end\(\);/, to: '"end".\n    call.end();\n    setImmediate(() => resolve(received));' }],
    caughtBy: ["s9.keeps-reading-until-the-server-ends"],
    // Resolved before the replies, and before a failure: the other checks of the step may see it too.
    mayFail: ["s9."],
  },
  {
    rule: "s9: a failed call rejects (ends as an empty list)",
    edits: [{ file: client, from: 'call.on("error", reject);\n    for (const note of notes)', to: 'call.on("error", () => resolve(received));\n    for (const note of notes)' }],
    caughtBy: ["s9.rejects-with-the-server-s-status-code"],
  },
  {
    rule: "s9: every call has a deadline (routeChat)",
    edits: [{ file: client, from: "client.routeChat({ deadline: deadline() })", to: "client.routeChat()" }],
    caughtBy: ["s9.sets-a-deadline"],
  },
];

describe("lab 01's checks catch a bug for each rule of its README", function () {
  this.timeout(120_000);
  after(removeTrees);
  checkBugs(findLab("01"), bugs);
});
