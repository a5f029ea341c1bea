/**
 * Lab 02, your UserService server. Steps 2 to 7 each implement one or two handlers.
 *
 * The handlers are a thin gRPC layer over the store (./store.ts, given to
 * you): they check the input, call the store, and turn every failure into a
 * status code that tells the client what to do about it:
 *   INVALID_ARGUMENT  the request is wrong; sending it again will not help
 *   NOT_FOUND         the id names no user
 *   ALREADY_EXISTS    another user has that email
 * grpc-js does not await handlers, so an async failure must be caught and
 * sent through the callback (or the stream); an exception that escapes
 * reaches the client only as "UNKNOWN: Unknown error".
 */
import * as grpc from "@grpc/grpc-js";
import { type UserServiceServer, UserServiceService } from "../gen/user/v1/user";
import type { UserStore } from "./store";

/** ListUsers' page size when the client asks for 0, and the most it returns (step 4). */
export const defaultPageSize = 25;
export const maxPageSize = 100;

/** Builds the server on `store`; the runner binds it to a port, the checks to a free one. */
export function createUserServer(store: UserStore): grpc.Server {
  const server = new grpc.Server();
  server.addService(UserServiceService, userHandlers(store));
  return server;
}

function userHandlers(store: UserStore): UserServiceServer {
  return {
    createUser(call, callback) {
      // TODO(step 2): check name, email and roles, then store.create(); map its errors to status codes.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement CreateUser" });
    },

    getUser(call, callback) {
      // TODO(step 2): answer with store.get(call.request.id); an unknown id is NOT_FOUND.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement GetUser" });
    },

    updateUser(call, callback) {
      // TODO(step 3): change only the fields named in call.request.updateMask.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 3): implement UpdateUser" });
    },

    deleteUser(call, callback) {
      // TODO(step 3): store.delete(call.request.id), then answer with {} (google.protobuf.Empty).
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 3): implement DeleteUser" });
    },

    listUsers(call, callback) {
      // TODO(step 4): one page from store.list(), and a page token for the next one.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 4): implement ListUsers" });
    },

    watchUsers(call) {
      // TODO(step 5): store.watch(), write the existing users then each change; stop when the call is cancelled.
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "TODO(step 5): implement WatchUsers" });
    },

    createUsers(call, callback) {
      // TODO(step 6): create each entry in the order received; answer once all are done and the client has ended.
      callback({ code: grpc.status.UNIMPLEMENTED, details: "TODO(step 6): implement CreateUsers" });
    },

    userCommands(call) {
      // TODO(step 7): run each command in order, write one CommandResult each, end after the last.
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "TODO(step 7): implement UserCommands" });
    },
  };
}

/** A simple email check: something@something.tld, no spaces. */
export function isValidEmail(email: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email);
}
