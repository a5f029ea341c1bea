/**
 * Lab 02, your UserService client. Steps 8 to 12 each write one or more functions.
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
  type User,
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
  // TODO(step 8): call client.createUser with a deadline.
  return Promise.reject(new Error("TODO(step 8): implement createUser"));
}

/** Step 8: the user with `id`, or undefined when there is none. */
export function getUser(client: UserServiceClient, id: string): Promise<User | undefined> {
  // TODO(step 8): call client.getUser with a deadline; NOT_FOUND resolves with undefined.
  return Promise.reject(new Error("TODO(step 8): implement getUser"));
}

/** Step 8: changes exactly the fields present in `changes`. */
export function updateUser(client: UserServiceClient, id: string, changes: UserChanges): Promise<User> {
  // TODO(step 8): call client.updateUser with the user and an update mask built from the keys of `changes`.
  return Promise.reject(new Error("TODO(step 8): implement updateUser"));
}

/** Step 9: every user with `role` ("" for all), fetched `pageSize` at a time. */
export async function listAllUsers(client: UserServiceClient, role: string, pageSize: number): Promise<User[]> {
  // TODO(step 9): call client.listUsers page after page until next_page_token is empty.
  throw new Error("TODO(step 9): implement listAllUsers");
}

/**
 * Step 10: passes each change the server streams to `onChange` until
 * `signal` aborts, then cancels the call and resolves. Rejects if the stream
 * fails; resolves if the server ends it.
 */
export function watchUsers(client: UserServiceClient, onChange: (change: UserChange) => void, signal: AbortSignal): Promise<void> {
  // TODO(step 10): call client.watchUsers, pass "data" to onChange, call.cancel() when the signal aborts.
  return Promise.reject(new Error("TODO(step 10): implement watchUsers"));
}

/** Step 11: streams `entries` to CreateUsers and returns the server's report. */
export function createUsers(client: UserServiceClient, entries: CreateUserRequest[]): Promise<CreateUsersResponse> {
  // TODO(step 11): call client.createUsers with a deadline, write every entry, end the stream.
  return Promise.reject(new Error("TODO(step 11): implement createUsers"));
}

/** Step 12: sends `commands` and returns their results, in order; rejects if one is never acknowledged. */
export function runCommands(client: UserServiceClient, commands: UserCommand[]): Promise<CommandResult[]> {
  // TODO(step 12): call client.userCommands with a deadline, write every command, end, collect the results.
  return Promise.reject(new Error("TODO(step 12): implement runCommands"));
}
