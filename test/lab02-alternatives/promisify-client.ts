/**
 * Lab 02, a second correct client: util.promisify around every unary call,
 * async functions with try/catch, a recursive page walk, and for await over
 * the response streams.
 */
import * as grpc from "@grpc/grpc-js";
import { promisify } from "node:util";
import {
  type CommandResult,
  type CreateUserRequest,
  type CreateUsersResponse,
  type ListUsersRequest,
  type ListUsersResponse,
  type UpdateUserRequest,
  User,
  type UserChange,
  type UserCommand,
  UserServiceClient,
} from "../../solutions/02-user-service/gen/user/v1/user";

export function deadline(): Date {
  return new Date(Date.now() + 5000);
}

export function createUserClient(address: string): UserServiceClient {
  return new UserServiceClient(address, grpc.credentials.createInsecure());
}

export type UserChanges = Partial<Pick<User, "name" | "email" | "roles">>;

type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;
type UnaryMethod<Req, Res> = (request: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: Callback<Res>) => grpc.ClientUnaryCall;

/** A unary method as a function returning a promise, with a fresh deadline per call. */
function unary<Req, Res>(client: UserServiceClient, method: UnaryMethod<Req, Res>): (request: Req) => Promise<Res> {
  const call = promisify((request: Req, done: Callback<Res>) => method.call(client, request, new grpc.Metadata(), { deadline: deadline() }, done));
  return async (request) => (await call(request))!;
}

export function createUser(client: UserServiceClient, fields: CreateUserRequest): Promise<User> {
  return unary(client, client.createUser as UnaryMethod<CreateUserRequest, User>)(fields);
}

export async function getUser(client: UserServiceClient, id: string): Promise<User | undefined> {
  try {
    return await unary(client, client.getUser as UnaryMethod<{ id: string }, User>)({ id });
  } catch (error) {
    if ((error as grpc.ServiceError).code === grpc.status.NOT_FOUND) return undefined;
    throw error;
  }
}

export function updateUser(client: UserServiceClient, id: string, changes: UserChanges): Promise<User> {
  const updateMask: string[] = [];
  for (const [key, value] of Object.entries(changes)) if (value !== undefined) updateMask.push(key);
  return unary(client, client.updateUser as UnaryMethod<UpdateUserRequest, User>)({ user: User.fromPartial({ ...changes, id }), updateMask });
}

export async function listAllUsers(client: UserServiceClient, role: string, pageSize: number, pageToken = ""): Promise<User[]> {
  const page = await unary(client, client.listUsers as UnaryMethod<ListUsersRequest, ListUsersResponse>)({ role, pageSize, pageToken });
  return page.nextPageToken === "" ? page.users : [...page.users, ...(await listAllUsers(client, role, pageSize, page.nextPageToken))];
}

export async function watchUsers(client: UserServiceClient, onChange: (change: UserChange) => void, signal: AbortSignal): Promise<void> {
  const call = client.watchUsers({});
  const cancel = () => call.cancel();
  signal.addEventListener("abort", cancel);
  try {
    for await (const change of call) onChange(change as UserChange);
  } catch (error) {
    if (!(signal.aborted && (error as grpc.ServiceError).code === grpc.status.CANCELLED)) throw error;
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}

export function createUsers(client: UserServiceClient, entries: CreateUserRequest[]): Promise<CreateUsersResponse> {
  return new Promise((resolve, reject) => {
    const call = client.createUsers({ deadline: deadline() }, (error, report) => (error ? reject(error) : resolve(report!)));
    entries.forEach((entry) => call.write(entry));
    call.end();
  });
}

export async function runCommands(client: UserServiceClient, commands: UserCommand[]): Promise<CommandResult[]> {
  const call = client.userCommands({ deadline: deadline() });
  commands.forEach((command) => call.write(command));
  call.end();
  const results: CommandResult[] = [];
  for await (const result of call) results.push(result as CommandResult);
  if (results.length < commands.length) throw new Error(`only ${results.length} of ${commands.length} commands were acknowledged`);
  return results;
}
