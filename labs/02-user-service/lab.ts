/**
 * Lab 02's `serve` and `client` commands: the server built from the code
 * under test on a store with three users, and a tour of every RPC made with
 * the learner's client functions. `client --watch` prints changes until Ctrl-C.
 */
import { parseArgs } from "node:util";
import { CheckFailure } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { createLearnerServer, learnerClientModule, newStore, type User } from "./checks/user-service";

const show = (user: User | undefined) => (user ? `${user.name} <${user.email}> [${user.roles.join(", ")}] id ${user.id}` : "(none)");
const kinds = ["unspecified", "existing", "created", "updated", "deleted"];

export const hooks: LabHooks = {
  async createServer() {
    const store = await newStore();
    // Seeded in the background: the store is ready long before a first call.
    void (async () => {
      for (const [name, roles] of [["Ada Lovelace", ["admin"]], ["Grace Hopper", ["admin", "dev"]], ["Alan Turing", ["dev"]]] as const) {
        await store.create({ name, email: `${name.split(" ")[0]!.toLowerCase()}@example.com`, roles: [...roles] });
      }
    })();
    return createLearnerServer(store);
  },

  async runClientDemo(address, print, args) {
    let watch: boolean;
    try {
      watch = parseArgs({ args, options: { watch: { type: "boolean", default: false } } }).values.watch ?? false;
    } catch (error) {
      throw new CheckFailure(`lab 02's client takes only --watch: ${(error as Error).message}`);
    }
    const learner = await learnerClientModule();
    const client = await learner.createUserClient(address);
    try {
      if (watch) {
        print("WatchUsers, server streaming: every user, then each change. Press Ctrl-C to stop.");
        const abort = new AbortController();
        process.once("SIGINT", () => abort.abort());
        await learner.watchUsers(client, (change) => print(`  ${kinds[change.kind] ?? change.kind}: ${show(change.user)}`), abort.signal);
        print("Watch cancelled.");
        return;
      }
      // A suffix keeps the emails of this run apart from earlier runs against the same server.
      const run = Date.now().toString(36);
      print("CreateUser, unary:");
      const user = await learner.createUser(client, { name: "Katherine Johnson", email: `katherine.${run}@example.com`, roles: ["dev"] });
      print(`  created ${show(user)} at ${user.createTime?.toISOString()}`);
      try {
        await learner.createUser(client, { name: "Copycat", email: user.email, roles: [] });
      } catch (error) {
        print(`  the same email again: ${(error as Error).message}`);
      }

      print("UpdateUser, unary with a field mask [roles]:");
      print(`  ${show(await learner.updateUser(client, user.id, { roles: ["dev", "admin"] }))}`);
      print(`GetUser of an unknown id: ${show(await learner.getUser(client, "no-such-user"))}`);

      print("CreateUsers, client streaming, a batch with one bad entry:");
      const batch = await learner.createUsers(client, [
        { name: "Dorothy Vaughan", email: `dorothy.${run}@example.com`, roles: ["dev"] },
        { name: "", email: `nobody.${run}@example.com`, roles: [] },
        { name: "Mary Jackson", email: `mary.${run}@example.com`, roles: [] },
      ]);
      print(`  created ${batch.createdCount}; rejected ${batch.rejected.map((r) => `entry ${r.index} (code ${r.code}: ${r.message})`).join(", ") || "none"}`);

      print("UserCommands, bidirectional streaming:");
      const results = await learner.runCommands(client, [
        { commandId: "rename", action: { $case: "update", value: { user: { ...user, name: "Katherine G. Johnson" }, updateMask: ["name"] } } },
        { commandId: "delete", action: { $case: "delete", value: { id: user.id } } },
        { commandId: "delete again", action: { $case: "delete", value: { id: user.id } } },
      ]);
      for (const r of results) print(`  ${r.commandId}: code ${r.code}${r.message ? ` (${r.message})` : ""}${r.user ? `, ${show(r.user)}` : ""}`);

      print("ListUsers, paginated two at a time:");
      for (const listed of await learner.listAllUsers(client, "", 2)) print(`  ${show(listed)}`);
      print("Try `npm run lab 02 -- client --watch` in another terminal, then run this again.");
    } finally {
      client.close();
    }
  },
};
