/**
 * Lab 02, the reference UserService server (steps 2 to 7).
 *
 * The handlers are a thin gRPC layer over the store (./store.ts): they check
 * the input, call the store, and turn every failure into a status code that
 * tells the client what to do about it:
 *   INVALID_ARGUMENT  the request is wrong; sending it again will not help
 *   NOT_FOUND         the id names no user
 *   ALREADY_EXISTS    another user has that email
 * grpc-js does not await handlers, so an async failure must be caught and
 * sent through the callback (or the stream); an exception that escapes
 * reaches the client only as "UNKNOWN: Unknown error".
 */
import * as grpc from "@grpc/grpc-js";
import type { Empty } from "../gen/google/protobuf/empty";
import {
  type CommandResult,
  type CreateUserRequest,
  type CreateUsersResponse,
  type DeleteUserRequest,
  type ListUsersRequest,
  type ListUsersResponse,
  type UpdateUserRequest,
  type User,
  UserChange_Kind,
  type UserCommand,
  type UserServiceServer,
  UserServiceService,
} from "../gen/user/v1/user";
import { EmailTakenError, NotFoundError, type UserFields, type UserStore } from "./store";

/** ListUsers' page size when the client asks for 0, and the most it returns. */
export const defaultPageSize = 25;
export const maxPageSize = 100;

/** Builds the server on `store`; the runner binds it to a port, the checks to a free one. */
export function createUserServer(store: UserStore): grpc.Server {
  const server = new grpc.Server();
  server.addService(UserServiceService, userHandlers(store));
  return server;
}

/** A failure to report with a given status code; the message names the field at fault. */
class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const invalid = (message: string) => new RpcError(grpc.status.INVALID_ARGUMENT, message);

/** Maps any failure to the status the client gets. Unexpected errors become INTERNAL, without their details. */
function toStatus(error: unknown): { code: grpc.status; details: string } {
  if (error instanceof RpcError) return { code: error.code, details: error.message };
  if (error instanceof NotFoundError) return { code: grpc.status.NOT_FOUND, details: error.message };
  if (error instanceof EmailTakenError) return { code: grpc.status.ALREADY_EXISTS, details: error.message };
  console.error(error);
  return { code: grpc.status.INTERNAL, details: "internal error" };
}

/** Answers a unary call with what `work` resolves to, or with the status of its error. */
function answer<T>(callback: grpc.sendUnaryData<T>, work: () => Promise<T>): void {
  work().then(
    (response) => callback(null, response),
    (error: unknown) => callback(toStatus(error)),
  );
}

function userHandlers(store: UserStore): UserServiceServer {
  // The operations behind the RPCs; the streaming RPCs reuse them per message.
  const users = userOperations(store);

  return {
    createUser: (call, callback) => answer(callback, () => users.create(call.request)),
    getUser: (call, callback) => answer(callback, () => users.get(call.request.id)),
    updateUser: (call, callback) => answer(callback, () => users.update(call.request)),
    deleteUser: (call, callback) => answer(callback, () => users.delete(call.request).then((): Empty => ({}))),
    listUsers: (call, callback) => answer(callback, () => users.list(call.request)),

    // Server streaming that never ends by itself: the snapshot, then every
    // change, until the client cancels (or its deadline passes).
    watchUsers(call) {
      const kinds = { created: UserChange_Kind.KIND_CREATED, updated: UserChange_Kind.KIND_UPDATED, deleted: UserChange_Kind.KIND_DELETED };
      const watch = store.watch((change) => call.write({ kind: kinds[change.kind], user: change.user }));
      for (const user of watch.existing) call.write({ kind: UserChange_Kind.KIND_EXISTING, user });
      // A cancelled call is gone: stop listening, or every later change would
      // be written to a dead stream and the listener would leak. (A watcher
      // that reads slowly makes call.write() buffer; lab 03 bounds that.)
      call.on("cancelled", () => watch.stop());
    },

    // Client streaming: one result for the whole batch. A bad entry is a line
    // in the result, not a failed call, so the good entries are kept.
    createUsers(call, callback) {
      const result: CreateUsersResponse = { ids: [], createdCount: 0, rejected: [] };
      let index = 0;
      // Entries arrive faster than the store answers. Chaining each one after
      // the previous keeps the stream's order, and lets "end" wait for the last.
      let queue = Promise.resolve();
      call.on("data", (entry: CreateUserRequest) => {
        const position = index++;
        queue = queue.then(async () => {
          try {
            result.ids.push((await users.create(entry)).id);
          } catch (error) {
            const { code, details } = toStatus(error);
            result.rejected.push({ index: position, code, message: details });
          }
        });
      });
      call.on("end", () => queue.then(() => callback(null, { ...result, createdCount: result.ids.length })));
    },

    // Bidirectional streaming: one result per command, in order. As above,
    // the queue runs the commands one at a time, and the server ends its side
    // only after the last result is written.
    userCommands(call) {
      let queue = Promise.resolve();
      call.on("data", (command: UserCommand) => {
        queue = queue.then(async () => {
          call.write(await runCommand(command));
        });
      });
      call.on("end", () => queue.then(() => call.end()));
    },
  };

  async function runCommand({ commandId, action }: UserCommand): Promise<CommandResult> {
    try {
      let user: User;
      switch (action?.$case) {
        case "create":
          user = await users.create(action.value);
          break;
        case "update":
          user = await users.update(action.value);
          break;
        case "delete":
          user = await users.delete(action.value);
          break;
        default:
          throw invalid("action: set one of create, update or delete");
      }
      return { commandId, code: grpc.status.OK, message: "", user };
    } catch (error) {
      // Inside a stream, a failed command is an answer, not the end of the call.
      const { code, details } = toStatus(error);
      return { commandId, code, message: details, user: undefined };
    }
  }
}

/** The service's rules, on top of the store. */
function userOperations(store: UserStore) {
  return {
    async create({ name, email, roles }: CreateUserRequest): Promise<User> {
      checkFields({ name, email, roles });
      return store.create({ name, email, roles });
    },

    async get(id: string): Promise<User> {
      return store.get(requireId(id, "id"));
    },

    async update({ user, updateMask }: UpdateUserRequest): Promise<User> {
      const id = requireId(user?.id ?? "", "user.id");
      const paths = updateMask ?? [];
      if (paths.length === 0) throw invalid("update_mask: name at least one field to change (name, email, roles)");
      const unknown = paths.filter((path) => !["name", "email", "roles"].includes(path));
      if (unknown.length > 0) throw invalid(`update_mask: cannot update ${unknown.join(", ")}; the fields are name, email and roles`);
      // Only the fields in the mask: the others in `user` are ignored, even
      // when they hold an empty value (that is what makes the update partial).
      const changes: Partial<UserFields> = {};
      if (paths.includes("name")) changes.name = user?.name ?? "";
      if (paths.includes("email")) changes.email = user?.email ?? "";
      if (paths.includes("roles")) changes.roles = user?.roles ?? [];
      checkFields(changes);
      return store.update(id, changes);
    },

    async delete({ id }: DeleteUserRequest): Promise<User> {
      return store.delete(requireId(id, "id"));
    },

    async list({ pageSize, pageToken, role }: ListUsersRequest): Promise<ListUsersResponse> {
      if (pageSize < 0) throw invalid("page_size must not be negative");
      const limit = Math.min(pageSize || defaultPageSize, maxPageSize);
      const after = pageToken === "" ? 0 : readPageToken(pageToken, role);
      const page = await store.list({ role, after, limit });
      return { users: page.users, nextPageToken: page.next === undefined ? "" : writePageToken({ role, after: page.next }) };
    },
  };
}

/** Checks the fields present; throws INVALID_ARGUMENT naming the first bad one. Every check runs before any write. */
function checkFields({ name, email, roles }: Partial<UserFields>): void {
  if (name !== undefined && name.trim() === "") throw invalid("name must not be empty");
  if (email !== undefined && !isValidEmail(email)) throw invalid(`email "${email}" is not a valid address`);
  if (roles?.some((role) => role.trim() === "")) throw invalid("roles must not contain an empty role");
}

function requireId(id: string, field: string): string {
  if (id === "") throw invalid(`${field} must not be empty`);
  return id;
}

/**
 * A page token is where the next page starts plus the query it belongs to.
 * Clients must treat it as opaque; it is not secret (base64 is an encoding),
 * so the server checks everything in it when it comes back.
 */
interface PageCursor {
  role: string;
  after: number;
}

function writePageToken(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

function readPageToken(token: string, role: string): number {
  let cursor: Partial<PageCursor> | undefined;
  try {
    cursor = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Partial<PageCursor>;
  } catch {
    cursor = undefined;
  }
  const after = cursor?.after;
  if (typeof cursor?.role !== "string" || typeof after !== "number" || !Number.isSafeInteger(after) || after < 0) {
    throw invalid("page_token is not a token from this server");
  }
  // A token continues the query it came from; with another query it would skip or repeat users.
  if (cursor.role !== role) throw invalid("page_token belongs to a query with another role");
  return after;
}

/** A simple email check: something@something.tld, no spaces. */
export function isValidEmail(email: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email);
}
