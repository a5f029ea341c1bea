/**
 * Lab 02, a second correct server: async handlers in a class, each with its
 * own try/catch; the client streams read with for await (which also runs the
 * entries one at a time, in order); a validation table; page tokens that are
 * URL query strings, base64url-encoded.
 */
import * as grpc from "@grpc/grpc-js";
import type { Empty } from "../../solutions/02-user-service/gen/google/protobuf/empty";
import {
  type CommandResult,
  type CreateUserRequest,
  type CreateUsersResponse,
  type DeleteUserRequest,
  type GetUserRequest,
  type ListUsersRequest,
  type ListUsersResponse,
  type UpdateUserRequest,
  type User,
  type UserChange,
  UserChange_Kind,
  type UserCommand,
  type UserServiceServer,
  UserServiceService,
  type WatchUsersRequest,
} from "../../solutions/02-user-service/gen/user/v1/user";
import { EmailTakenError, NotFoundError, type UserFields, type UserStore } from "../../solutions/02-user-service/src/store";

export const defaultPageSize = 25;
export const maxPageSize = 100;

export function createUserServer(store: UserStore): grpc.Server {
  const server = new grpc.Server();
  server.addService(UserServiceService, new UserService(store));
  return server;
}

type Status = { code: grpc.status; details: string };
const invalidArgument = (details: string): Status => ({ code: grpc.status.INVALID_ARGUMENT, details });

function statusOf(error: unknown): Status {
  if (error instanceof NotFoundError) return { code: grpc.status.NOT_FOUND, details: error.message };
  if (error instanceof EmailTakenError) return { code: grpc.status.ALREADY_EXISTS, details: error.message };
  if (typeof error === "object" && error !== null && "code" in error && "details" in error) return error as Status;
  return { code: grpc.status.INTERNAL, details: "internal error" };
}

/** Each field's rule, by field: the message of the first one broken. */
const rules: { [K in keyof UserFields]: (value: UserFields[K]) => string | undefined } = {
  name: (name) => (name.trim() ? undefined : "name is empty"),
  email: (email) => (isValidEmail(email) ? undefined : "email is not an address"),
  roles: (roles) => (roles.every((role) => role.trim()) ? undefined : "roles holds an empty role"),
};

function validate(fields: Partial<UserFields>): void {
  for (const key of Object.keys(fields) as Array<keyof UserFields>) {
    const problem = (rules[key] as (value: unknown) => string | undefined)(fields[key]);
    if (problem) throw invalidArgument(problem);
  }
}

function nonEmptyId(id: string | undefined, field = "id"): string {
  if (!id) throw invalidArgument(`${field} is required`);
  return id;
}

function pageToken(role: string, after: number): string {
  return Buffer.from(new URLSearchParams({ role, after: String(after) }).toString()).toString("base64url");
}

function positionIn(token: string, role: string): number {
  const query = new URLSearchParams(Buffer.from(token, "base64url").toString());
  const after = query.get("after");
  if (query.get("role") === null || after === null || !/^\d{1,15}$/.test(after)) throw invalidArgument("page_token is not one of ours");
  if (query.get("role") !== role) throw invalidArgument("page_token is for another role");
  return Number(after);
}

class UserService implements UserServiceServer {
  [method: string]: grpc.UntypedHandleCall;
  readonly #store: UserStore;

  constructor(store: UserStore) {
    this.#store = store;
  }

  async createUser(call: grpc.ServerUnaryCall<CreateUserRequest, User>, callback: grpc.sendUnaryData<User>): Promise<void> {
    try {
      callback(null, await this.#create(call.request));
    } catch (error) {
      callback(statusOf(error));
    }
  }

  async getUser(call: grpc.ServerUnaryCall<GetUserRequest, User>, callback: grpc.sendUnaryData<User>): Promise<void> {
    try {
      callback(null, await this.#store.get(nonEmptyId(call.request.id)));
    } catch (error) {
      callback(statusOf(error));
    }
  }

  async updateUser(call: grpc.ServerUnaryCall<UpdateUserRequest, User>, callback: grpc.sendUnaryData<User>): Promise<void> {
    try {
      callback(null, await this.#update(call.request));
    } catch (error) {
      callback(statusOf(error));
    }
  }

  async deleteUser(call: grpc.ServerUnaryCall<DeleteUserRequest, Empty>, callback: grpc.sendUnaryData<Empty>): Promise<void> {
    try {
      await this.#delete(call.request);
      callback(null, {});
    } catch (error) {
      callback(statusOf(error));
    }
  }

  async listUsers(call: grpc.ServerUnaryCall<ListUsersRequest, ListUsersResponse>, callback: grpc.sendUnaryData<ListUsersResponse>): Promise<void> {
    try {
      const { role, pageSize, pageToken: token } = call.request;
      if (pageSize < 0) throw invalidArgument("page_size is negative");
      const after = token ? positionIn(token, role) : 0;
      const page = await this.#store.list({ role, after, limit: pageSize === 0 ? defaultPageSize : Math.min(pageSize, maxPageSize) });
      callback(null, { users: page.users, nextPageToken: page.next === undefined ? "" : pageToken(role, page.next) });
    } catch (error) {
      callback(statusOf(error));
    }
  }

  watchUsers(call: grpc.ServerWritableStream<WatchUsersRequest, UserChange>): void {
    const kind = { created: UserChange_Kind.KIND_CREATED, updated: UserChange_Kind.KIND_UPDATED, deleted: UserChange_Kind.KIND_DELETED } as const;
    const { existing, stop } = this.#store.watch(({ kind: k, user }) => call.write({ kind: kind[k], user }));
    existing.forEach((user) => call.write({ kind: UserChange_Kind.KIND_EXISTING, user }));
    call.once("cancelled", stop);
  }

  async createUsers(call: grpc.ServerReadableStream<CreateUserRequest, CreateUsersResponse>, callback: grpc.sendUnaryData<CreateUsersResponse>): Promise<void> {
    const report: CreateUsersResponse = { ids: [], createdCount: 0, rejected: [] };
    let index = 0;
    try {
      // Each entry is created before the next is read: the order holds, and the loop ends after the last.
      for await (const entry of call) {
        try {
          report.ids.push((await this.#create(entry as CreateUserRequest)).id);
          report.createdCount++;
        } catch (error) {
          const { code, details } = statusOf(error);
          report.rejected.push({ index, code, message: details });
        }
        index++;
      }
    } catch {
      return; // cancelled
    }
    callback(null, report);
  }

  async userCommands(call: grpc.ServerDuplexStream<UserCommand, CommandResult>): Promise<void> {
    try {
      for await (const command of call.iterator({ destroyOnReturn: false })) call.write(await this.#run(command as UserCommand));
      call.end();
    } catch {
      // cancelled
    }
  }

  async #run({ commandId, action }: UserCommand): Promise<CommandResult> {
    try {
      if (action?.$case === "create") return { commandId, code: grpc.status.OK, message: "", user: await this.#create(action.value) };
      if (action?.$case === "update") return { commandId, code: grpc.status.OK, message: "", user: await this.#update(action.value) };
      if (action?.$case === "delete") return { commandId, code: grpc.status.OK, message: "", user: await this.#delete(action.value) };
      throw invalidArgument("action is missing");
    } catch (error) {
      const { code, details } = statusOf(error);
      return { commandId, code, message: details, user: undefined };
    }
  }

  #create({ name, email, roles }: CreateUserRequest): Promise<User> {
    validate({ name, email, roles });
    return this.#store.create({ name, email, roles });
  }

  #update({ user, updateMask = [] }: UpdateUserRequest): Promise<User> {
    const id = nonEmptyId(user?.id, "user.id");
    if (updateMask.length === 0) throw invalidArgument("update_mask is empty");
    const changes: Partial<UserFields> = {};
    for (const path of updateMask) {
      if (path === "name") changes.name = user?.name ?? "";
      else if (path === "email") changes.email = user?.email ?? "";
      else if (path === "roles") changes.roles = user?.roles ?? [];
      else throw invalidArgument(`update_mask: ${path} cannot be updated`);
    }
    validate(changes);
    return this.#store.update(id, changes);
  }

  #delete({ id }: DeleteUserRequest): Promise<User> {
    return this.#store.delete(nonEmptyId(id));
  }
}

export function isValidEmail(email: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email);
}
