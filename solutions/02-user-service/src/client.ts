/**
 * Lab 02, the reference UserService client (steps 8 to 12).
 *
 * UserServiceClient (from ../gen) has one method per RPC. The stubs convert
 * the well-known types for you: a google.protobuf.Timestamp is a Date here,
 * and a google.protobuf.FieldMask is a string[] of field paths. On the wire
 * they are still {seconds, nanos} and {paths}, which is what a client in
 * another language (or @grpc/proto-loader) sees.
 */
import * as grpc from "@grpc/grpc-js";
import {
  type CommandResult,
  type CreateUserRequest,
  type CreateUsersResponse,
  User,
  type UserChange,
  type UserCommand,
  UserServiceClient,
} from "../gen/user/v1/user";

/** How long any call but a watch may take, end to end. */
const callTimeoutMs = 5000;

/** The deadline for a call starting now. */
export function deadline(): Date {
  return new Date(Date.now() + callTimeoutMs);
}

/** A client on a plaintext channel to `address` (host:port). Close it with client.close(). */
export function createUserClient(address: string): UserServiceClient {
  return new UserServiceClient(address, grpc.credentials.createInsecure());
}

/** The fields of a user a client may change. */
export type UserChanges = Partial<Pick<User, "name" | "email" | "roles">>;

/** Step 8: creates a user; rejects with the call's error (ALREADY_EXISTS for a taken email). */
export function createUser(client: UserServiceClient, fields: CreateUserRequest): Promise<User> {
  return new Promise((resolve, reject) => {
    client.createUser(fields, new grpc.Metadata(), { deadline: deadline() }, (error, user) => (error ? reject(error) : resolve(user)));
  });
}

/** Step 8: the user with `id`, or undefined when there is none. */
export function getUser(client: UserServiceClient, id: string): Promise<User | undefined> {
  return new Promise((resolve, reject) => {
    client.getUser({ id }, new grpc.Metadata(), { deadline: deadline() }, (error, user) => {
      // NOT_FOUND is an answer ("no such user"); any other code is a failure.
      if (error?.code === grpc.status.NOT_FOUND) resolve(undefined);
      else if (error) reject(error);
      else resolve(user);
    });
  });
}

/** Step 8: changes exactly the fields present in `changes`. */
export function updateUser(client: UserServiceClient, id: string, changes: UserChanges): Promise<User> {
  // The mask says which fields to change. It is built from the keys, not the
  // values: { roles: [] } must clear the roles, although [] is also the
  // default value that an unset field has on the wire.
  const updateMask = Object.keys(changes).filter((key) => changes[key as keyof UserChanges] !== undefined);
  const request = { user: User.fromPartial({ id, ...changes }), updateMask };
  return new Promise((resolve, reject) => {
    client.updateUser(request, new grpc.Metadata(), { deadline: deadline() }, (error, user) => (error ? reject(error) : resolve(user)));
  });
}

/** Step 9: every user with `role` ("" for all), fetched `pageSize` at a time. */
export async function listAllUsers(client: UserServiceClient, role: string, pageSize: number): Promise<User[]> {
  const users: User[] = [];
  let pageToken = "";
  do {
    const page = await new Promise<{ users: User[]; nextPageToken: string }>((resolve, reject) => {
      // Each page is its own call, with its own deadline, and the same query.
      client.listUsers({ role, pageSize, pageToken }, new grpc.Metadata(), { deadline: deadline() }, (error, response) => (error ? reject(error) : resolve(response)));
    });
    users.push(...page.users);
    // Only an empty token ends the list: a page may be short, even empty, and still have a next one.
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return users;
}

/**
 * Step 10: passes each change the server streams to `onChange` until
 * `signal` aborts, then cancels the call and resolves. A watch is open-ended,
 * so it has no deadline: cancelling is how it ends. Rejects if the stream
 * fails; resolves if the server ends it.
 */
export function watchUsers(client: UserServiceClient, onChange: (change: UserChange) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.watchUsers({});
    // cancel() tells the server at once; the call then fails with CANCELLED,
    // which here is the expected way for it to end.
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    call.on("data", onChange);
    call.on("end", resolve);
    call.on("error", (error: grpc.ServiceError) => (error.code === grpc.status.CANCELLED && signal.aborted ? resolve() : reject(error)));
    call.on("close", () => signal.removeEventListener("abort", cancel));
  });
}

/** Step 11: streams `entries` to CreateUsers and returns the server's report. */
export function createUsers(client: UserServiceClient, entries: CreateUserRequest[]): Promise<CreateUsersResponse> {
  return new Promise((resolve, reject) => {
    const call = client.createUsers({ deadline: deadline() }, (error, response) => (error ? reject(error) : resolve(response)));
    for (const entry of entries) call.write(entry);
    // Half-close: the server answers once it knows the batch is complete.
    call.end();
  });
}

/** Step 12: sends `commands` and returns their results, in order; rejects if one is never acknowledged. */
export function runCommands(client: UserServiceClient, commands: UserCommand[]): Promise<CommandResult[]> {
  return new Promise((resolve, reject) => {
    const results: CommandResult[] = [];
    const call = client.userCommands({ deadline: deadline() });
    call.on("data", (result: CommandResult) => results.push(result));
    call.on("error", reject);
    call.on("end", () => {
      // A stream that ends with status OK can still end early: count the answers.
      if (results.length === commands.length) resolve(results);
      else reject(new Error(`the server answered ${results.length} of ${commands.length} commands`));
    });
    for (const command of commands) call.write(command);
    call.end();
  });
}
