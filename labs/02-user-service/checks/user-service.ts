/**
 * The reference side of lab 02's checks: messages as the reference client
 * and server see them (@grpc/proto-loader: a Timestamp is {seconds, nanos}, a
 * FieldMask is {paths}, an enum is its name, a oneof names its case), the
 * learner's exports, and how to start the learner's server and client.
 *
 * The learner's code runs in a process of its own: its functions, and the
 * methods and properties of its store, are reached asynchronously.
 */
import type * as grpc from "@grpc/grpc-js";
import { CheckFailure, construct, exportedFunction, fixture, listen, loadTarget, referenceClient, referenceServer, track } from "../../../scripts/check-kit";

export const proto = "user/v1/user.proto";
export const service = "user.v1.UserService";

/** A google.protobuf.Timestamp as proto-loader gives it (longs as strings). */
export interface Timestamp {
  seconds: string;
  nanos: number;
}

export interface UserFields {
  name: string;
  email: string;
  roles: string[];
}

/** A User on the reference side. */
export interface WireUser extends UserFields {
  id: string;
  createTime: Timestamp | null;
  updateTime: Timestamp | null;
}

export interface WireChange {
  kind: string;
  user: WireUser | null;
}

export interface WirePage {
  users: WireUser[];
  nextPageToken: string;
}

export interface WireCommandResult {
  commandId: string;
  code: number;
  message: string;
  user: WireUser | null;
}

/** A User as the learner's code sees it (ts-proto): the timestamps are Dates. */
export interface User extends UserFields {
  id: string;
  createTime: Date | undefined;
  updateTime: Date | undefined;
}

/**
 * The parts of the learner's src/store.ts that the checks use. The store
 * lives with the learner's server, so its properties are read there too:
 * `await store.size`.
 */
export interface Store {
  create(fields: UserFields): Promise<User>;
  get(id: string): Promise<User>;
  update(id: string, changes: Partial<UserFields>): Promise<User>;
  delete(id: string): Promise<User>;
  readonly watcherCount: Promise<number>;
  readonly size: Promise<number>;
}

/** What the learner's src/client.ts must export; each function runs in the learner's process and resolves there. */
export interface ClientModule {
  createUserClient(address: string): Promise<grpc.Client>;
  createUser(client: grpc.Client, fields: UserFields): Promise<User>;
  getUser(client: grpc.Client, id: string): Promise<User | undefined>;
  updateUser(client: grpc.Client, id: string, changes: Partial<UserFields>): Promise<User>;
  listAllUsers(client: grpc.Client, role: string, pageSize: number): Promise<User[]>;
  watchUsers(client: grpc.Client, onChange: (change: { kind: number; user: User | undefined }) => void, signal: AbortSignal): Promise<void>;
  createUsers(client: grpc.Client, entries: UserFields[]): Promise<{ ids: string[]; createdCount: number; rejected: Array<{ index: number; code: number; message: string }> }>;
  runCommands(client: grpc.Client, commands: unknown[]): Promise<Array<{ commandId: string; code: number; message: string; user: User | undefined }>>;
}

/** A fresh, empty store from the code under test's src/store.ts. */
export async function newStore(): Promise<Store> {
  const file = "src/store.ts";
  const UserStore = (await loadTarget<{ UserStore?: unknown }>(file)).UserStore;
  if (typeof UserStore !== "function") throw new CheckFailure(`${file} must export the class UserStore (the starter has it; was it renamed?)`);
  return construct<Store>(UserStore);
}

export async function createLearnerServer(store: Store): Promise<grpc.Server> {
  const file = "src/server.ts";
  return exportedFunction<(store: Store) => Promise<grpc.Server>>(await loadTarget(file), "createUserServer", file)(store);
}

/** Starts the learner's server on a fresh store (seeded with `seed`) and returns a reference client for it, the store and the seeded users. */
export async function learnerServer(seed: UserFields[] = []): Promise<{ client: grpc.Client; store: Store; seeded: User[] }> {
  const store = await newStore();
  const seeded: User[] = [];
  for (const fields of seed) seeded.push(await store.create(fields));
  const address = await listen(await createLearnerServer(store));
  return { client: referenceClient(proto, service, address), store, seeded };
}

/** The learner's client module, with every function the checks call. */
export async function learnerClientModule(): Promise<ClientModule> {
  const file = "src/client.ts";
  const module = await loadTarget<ClientModule>(file);
  for (const name of ["createUserClient", "createUser", "getUser", "updateUser", "listAllUsers", "watchUsers", "createUsers", "runCommands"]) {
    exportedFunction(module, name, file);
  }
  return module;
}

/** Starts a recording server with `handlers`; returns the learner's module and a client it created for that server. */
export async function learnerClientFor(handlers: grpc.UntypedServiceImplementation): Promise<{ learner: ClientModule; client: grpc.Client }> {
  const learner = await learnerClientModule();
  const address = await referenceServer(proto, service, handlers);
  const client = await learner.createUserClient(address);
  track(() => client.close());
  return { learner, client };
}

/** `count` users with distinct emails: user0@example.com, ... */
export function people(count: number, roles: (index: number) => string[] = () => []): UserFields[] {
  return Array.from({ length: count }, (_, i) => ({ name: `User ${i}`, email: `user${i}@example.com`, roles: roles(i) }));
}

export function millis(timestamp: Timestamp | null | undefined): number {
  return timestamp ? Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1e6) : Number.NaN;
}

export function timestamp(ms: number): Timestamp {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

/** A user as the reference side sends it, and the same user as the learner's stubs decode it. */
export function sampleUser(id: string, name: string, createdMs: number, updatedMs = createdMs): { wire: WireUser; decoded: User } {
  const fields = { name, email: `${name.toLowerCase()}@example.com`, roles: ["staff"] };
  return {
    wire: { id, ...fields, createTime: timestamp(createdMs), updateTime: timestamp(updatedMs) },
    decoded: { id, ...fields, createTime: new Date(createdMs), updateTime: new Date(updatedMs) },
  };
}

/** Waits until `condition` holds, checking every 10 ms; false if it still does not after `ms`. */
export async function eventually(condition: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const until = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** Makes every write of `store` wait `ms` first, as a slow database would: calls that overlap then finish out of order. */
export async function slowDown(store: Store, ms: number): Promise<void> {
  await fixture("slow-store.fixture.ts", "SlowWrites", store, ms);
}
