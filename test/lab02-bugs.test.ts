/**
 * Lab 02's learner-bug corpus: for each "must" and "must not" of the README,
 * a realistic wrong solution, and the checks it must fail (every other check
 * passes). test/trees.ts checks a server bug and a client bug per lab run.
 */
import { findLab } from "../scripts/lib/labs";
import { type Bug, checkBugs, removeTrees } from "./trees";

const server = "src/server.ts";
const store = "src/store.ts";
const client = "src/client.ts";

const bugs: Bug[] = [
  // Step 2, CreateUser and GetUser
  {
    rule: "s2: a name of only spaces is INVALID_ARGUMENT",
    edits: [{ file: server, from: 'if (name !== undefined && name.trim() === "")', to: 'if (name !== undefined && name === "")' }],
    caughtBy: ["s2.rejects-an-empty-name"],
    mayFail: ["s3.checks-the-fields-it-changes", "s6.creates-the-good-entries", "s7.answers-every-command"],
  },
  {
    rule: "s2: nothing is stored after a rejected call (checked after storing)",
    edits: [{ file: server, from: "      checkFields({ name, email, roles });\n      return store.create({ name, email, roles });", to: "      const user = await store.create({ name, email, roles });\n      checkFields({ name, email, roles });\n      return user;" }],
    caughtBy: ["s2.rejects-an-empty-name", "s2.rejects-a-malformed-email"],
    mayFail: ["s6.", "s7."],
  },
  {
    rule: "s2: a taken email is ALREADY_EXISTS (reported as INVALID_ARGUMENT)",
    edits: [{ file: server, from: "return { code: grpc.status.ALREADY_EXISTS, details: error.message };", to: "return { code: grpc.status.INVALID_ARGUMENT, details: error.message };" }],
    caughtBy: ["s2.rejects-a-taken-email", "s2.lets-exactly-one-of-20"],
    mayFail: ["s3.checks-the-fields-it-changes", "s6.creates-the-good-entries", "s7."],
  },
  {
    rule: "s2: emails are compared without regard to case",
    edits: [{ file: store, from: "return email.trim().toLowerCase();", to: "return email.trim();" }],
    caughtBy: ["s2.rejects-a-taken-email"],
    mayFail: ["s3.checks-the-fields-it-changes", "s6.", "s7."],
  },
  {
    rule: "s2: of 20 concurrent creates with one email, exactly one succeeds (checked before the await)",
    edits: [
      { file: store, from: "    await databaseRoundTrip();\n    const key = emailKey(fields.email);\n    if (this.idsByEmail.has(key)) throw new EmailTakenError(fields.email);", to: "    const key = emailKey(fields.email);\n    if (this.idsByEmail.has(key)) throw new EmailTakenError(fields.email);\n    await databaseRoundTrip();" },
    ],
    caughtBy: ["s2.lets-exactly-one-of-20"],
  },
  {
    rule: "s2: GetUser of an empty id is INVALID_ARGUMENT naming id",
    edits: [{ file: server, from: 'return store.get(requireId(id, "id"));', to: "return store.get(id);" }],
    caughtBy: ["s2.answers-getuser-with-not-found"],
  },
  // Step 3, UpdateUser and DeleteUser
  {
    rule: "s3: only the fields named in the mask change",
    edits: [{ file: server, from: "checkFields(changes);\n      return store.update(id, changes);", to: "checkFields(changes);\n      return store.update(id, { name: user?.name ?? \"\", email: user?.email ?? \"\", roles: user?.roles ?? [] });" }],
    caughtBy: ["s3.changes-only-the-fields-named"],
    mayFail: ["s3.", "s7."],
  },
  {
    rule: "s3: a field named in the mask is set even to an empty value (empty roles skipped)",
    edits: [{ file: server, from: 'if (paths.includes("roles")) changes.roles = user?.roles ?? [];', to: 'if (paths.includes("roles") && user?.roles.length) changes.roles = user.roles;' }],
    caughtBy: ["s3.sets-every-field-named"],
  },
  {
    rule: "s3: a mask naming a field that cannot change rejects the whole request (unknown paths skipped)",
    edits: [{ file: server, from: "if (unknown.length > 0) throw invalid(", to: "if (unknown.length > 99) throw invalid(" }],
    caughtBy: ["s3.rejects-an-empty-mask-or-one-naming"],
  },
  {
    rule: "s3: concurrent updates of different fields all take effect (read, change, write back everything)",
    edits: [{ file: server, from: "checkFields(changes);\n      return store.update(id, changes);", to: "checkFields(changes);\n      const current = await store.get(id);\n      return store.update(id, { name: current.name, email: current.email, roles: current.roles, ...changes });" }],
    caughtBy: ["s3.keeps-every-change-when-concurrent"],
    mayFail: ["s7."],
  },
  // Step 4, ListUsers
  {
    rule: "s4: a token is used only with the query it came from (role not checked)",
    edits: [{ file: server, from: "if (cursor.role !== role) throw", to: "if (cursor.role !== role && false) throw" }],
    caughtBy: ["s4.rejects-a-page-token-from-another-query"],
  },
  {
    rule: "s4: a token holds a place, not a count (a store that skips the first `after` users)",
    edits: [
      { file: store, from: "position > query.after && (query.role", to: "(query.role" },
      { file: store, from: "const page = matching.slice(0, Math.max(query.limit, 0));", to: "const page = matching.slice(query.after, query.after + Math.max(query.limit, 0));" },
      { file: store, from: "next: last && matching.length > page.length ? last.position : undefined", to: "next: last && matching.length > query.after + page.length ? query.after + page.length : undefined" },
    ],
    caughtBy: ["s4.keeps-its-place-when-users-are-created-and-deleted"],
  },
  {
    rule: "s4: a page size over maxPageSize is cut to it",
    edits: [{ file: server, from: "const limit = Math.min(pageSize || defaultPageSize, maxPageSize);", to: "const limit = pageSize || defaultPageSize;" }],
    caughtBy: ["s4.caps-a-large-page-size"],
  },
  {
    rule: "s4: a negative page size is INVALID_ARGUMENT",
    edits: [{ file: server, from: 'if (pageSize < 0) throw invalid("page_size must not be negative");', to: "" }],
    caughtBy: ["s4.caps-a-large-page-size"],
  },
  // Step 5, WatchUsers
  {
    rule: "s5: the snapshot of existing users comes first",
    edits: [{ file: server, from: "for (const user of watch.existing) call.write({ kind: UserChange_Kind.KIND_EXISTING, user });", to: "void watch.existing;" }],
    caughtBy: ["s5.streams-every-existing-user"],
    // Those wait for the snapshot before they cancel.
    mayFail: ["s5.stops-watching"],
  },
  {
    rule: "s5: stop watching the store when the call is cancelled or its deadline passes",
    edits: [{ file: server, from: 'call.on("cancelled", () => watch.stop());', to: "void watch.stop;" }],
    caughtBy: ["s5.stops-watching-the-store-when-the-client-cancels", "s5.stops-watching-the-store-when-the-call-s-deadline-passes"],
  },
  {
    rule: "s5: the stream never ends by itself (ended after the snapshot)",
    edits: [{ file: server, from: "      for (const user of watch.existing) call.write({ kind: UserChange_Kind.KIND_EXISTING, user });\n", to: "      for (const user of watch.existing) call.write({ kind: UserChange_Kind.KIND_EXISTING, user });\n      call.end();\n" }],
    caughtBy: ["s5."],
  },
  // Step 6, CreateUsers
  {
    rule: "s6: answer when every entry is created (answered at the end of the stream)",
    edits: [{ file: server, from: 'call.on("end", () => queue.then(() => callback(null, { ...result, createdCount: result.ids.length })));', to: 'call.on("end", () => callback(null, { ...result, createdCount: result.ids.length }));' }],
    caughtBy: ["s6.creates-every-entry-of-a-batch-of-50"],
    mayFail: ["s6.creates-the-good-entries"],
  },
  {
    rule: "s6: a bad entry does not fail the call",
    edits: [{ file: server, from: "            result.rejected.push({ index: position, code, message: details });", to: "            result.rejected.push({ index: position, code, message: details });\n            throw error;" }],
    caughtBy: ["s6.creates-the-good-entries"],
  },
  // Step 7, UserCommands
  {
    rule: "s7: commands run one after another, in order (no queue)",
    edits: [{ file: server, from: "        queue = queue.then(async () => {\n          call.write(await runCommand(command));\n        });", to: "        void runCommand(command).then((result) => call.write(result));" }],
    caughtBy: ["s7.runs-the-commands-one-after-another"],
    mayFail: ["s7."],
  },
  {
    rule: "s7: a command with no action is INVALID_ARGUMENT",
    edits: [{ file: server, from: 'throw invalid("action: set one of create, update or delete");', to: 'throw new Error("no action");' }],
    caughtBy: ["s7.answers-a-command-with-no-action"],
  },
  // Steps 8 to 12, the client
  {
    rule: "s8: getUser resolves undefined for NOT_FOUND",
    edits: [{ file: client, from: "if (error?.code === grpc.status.NOT_FOUND) resolve(undefined);\n      else if (error) reject(error);", to: "if (error) reject(error);" }],
    caughtBy: ["s8.getuser-returns-the-user"],
  },
  {
    rule: "s8: getUser rejects on any other error",
    edits: [{ file: client, from: "if (error?.code === grpc.status.NOT_FOUND) resolve(undefined);\n      else if (error) reject(error);", to: "if (error) resolve(undefined);" }],
    caughtBy: ["s8.getuser-returns-the-user"],
  },
  {
    rule: "s8: the update mask comes from the keys, not the values",
    edits: [{ file: client, from: "Object.keys(changes).filter((key) => changes[key as keyof UserChanges] !== undefined)", to: "Object.keys(changes).filter((key) => { const value = changes[key as keyof UserChanges]; return Array.isArray(value) ? value.length > 0 : Boolean(value); })" }],
    caughtBy: ["s8.updateuser-sends-an-update-mask"],
  },
  {
    rule: "s9: an empty page with a next token is not the end",
    edits: [{ file: client, from: "    users.push(...page.users);\n", to: "    users.push(...page.users);\n    if (page.users.length === 0) break;\n" }],
    caughtBy: ["s9.keeps-going-after-an-empty-page"],
  },
  {
    rule: "s9: each next page keeps the same query (page size dropped)",
    edits: [{ file: client, from: "client.listUsers({ role, pageSize, pageToken }", to: "client.listUsers({ role, pageSize: pageToken ? 0 : pageSize, pageToken }" }],
    caughtBy: ["s9.passes-each-next-page-token-back"],
  },
  {
    rule: "s9: a failed page rejects (the users so far returned)",
    edits: [
      { file: client, from: "(error, response) => (error ? reject(error) : resolve(response))", to: '(error, response) => resolve(error ? { users: [], nextPageToken: "" } : response)' },
      { file: client, from: "    const page = await new Promise<{ users: User[]; nextPageToken: string }>((resolve, reject) => {", to: "    const page = await new Promise<{ users: User[]; nextPageToken: string }>((resolve) => {" },
    ],
    caughtBy: ["s9.rejects-with-the-call-s-error"],
  },
  {
    rule: "s10: on abort, cancel the call (only stop listening)",
    edits: [{ file: client, from: "const cancel = () => call.cancel();", to: "const cancel = () => {\n      call.removeAllListeners(\"data\");\n      resolve();\n    };" }],
    caughtBy: ["s10.passes-each-change-to-onchange-and-cancels"],
  },
  {
    rule: "s10: a watch has no deadline",
    edits: [{ file: client, from: "const call = client.watchUsers({});", to: "const call = client.watchUsers({}, { deadline: deadline() });" }],
    caughtBy: ["s10."],
  },
  {
    rule: "s10: a failed stream rejects",
    edits: [{ file: client, from: "(error.code === grpc.status.CANCELLED && signal.aborted ? resolve() : reject(error))", to: "resolve()" }],
    caughtBy: ["s10.rejects-with-the-call-s-error", "s10.rejects-when-the-server-ends-the-watch-with-cancelled"],
  },
  {
    rule: "s10: only the CANCELLED of your own cancel resolves (any CANCELLED taken for the end)",
    edits: [{ file: client, from: "error.code === grpc.status.CANCELLED && signal.aborted ? resolve() : reject(error)", to: "error.code === grpc.status.CANCELLED || signal.aborted ? resolve() : reject(error)" }],
    caughtBy: ["s10.rejects-when-the-server-ends-the-watch-with-cancelled"],
  },
  {
    rule: "s11: the stream is ended even for an empty batch",
    edits: [{ file: client, from: "    for (const entry of entries) call.write(entry);\n    // Half-close: the server answers once it knows the batch is complete.\n    call.end();", to: "    for (const entry of entries) call.write(entry);\n    if (entries.length > 0) call.end();" }],
    caughtBy: ["s11.ends-the-stream-even-for-an-empty-batch"],
  },
  {
    rule: "s12: results short of the commands reject, whatever the status",
    edits: [{ file: client, from: "if (results.length === commands.length) resolve(results);", to: "if (results.length <= commands.length) resolve(results);" }],
    caughtBy: ["s12.rejects-when-the-server-ends-the-stream-before"],
  },
  {
    rule: "s12: keep reading until the server ends its stream (resolved after the last write)",
    edits: [{ file: client, from: "    for (const command of commands) call.write(command);\n    call.end();", to: "    for (const command of commands) call.write(command);\n    call.end();\n    setImmediate(() => resolve(results));" }],
    caughtBy: ["s12.keeps-reading-until-the-server-ends"],
    mayFail: ["s12."],
  },
];

describe("lab 02's checks catch a bug for each rule of its README", function () {
  this.timeout(120_000);
  after(removeTrees);
  checkBugs(findLab("02"), bugs);
});
