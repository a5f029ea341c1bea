/**
 * Lab 03, your chat server. Steps 2 to 5 build the Chat handler.
 *
 * Each member holds one bidirectional Chat call open: its "data" events are
 * what the member sends, and call.write() sends it what happens in the room.
 * A broadcast is a loop of writes, one for each other member's call. The
 * rules (the first message joins, error codes, what a member sees) are in
 * the comments of proto/chat/v1/chat.proto and in the lab's README.
 */
import * as grpc from "@grpc/grpc-js";
import { type ChatMessage, type ChatServiceServer, ChatServiceService, type ClientMessage, type ServerEvent } from "../gen/chat/v1/chat";

/** How much the server keeps: per room (history) and per member (the queue of a slow reader). */
export interface ChatLimits {
  /** The number of recent messages a late joiner gets in its Welcome (step 4). */
  historySize: number;
  /** How many events may wait for a member whose stream is full before it is dropped (step 5). */
  maxQueued: number;
}

export const defaultLimits: ChatLimits = { historySize: 20, maxQueued: 256 };

/** Builds the server; the runner binds it to a port (`npm run lab 03 -- serve`) and the checks to a free one. */
export function createChatServer(limits: ChatLimits = defaultLimits): grpc.Server {
  const server = new grpc.Server();
  server.addService(ChatServiceService, chatHandlers(limits));
  return server;
}

type ChatCall = grpc.ServerDuplexStream<ClientMessage, ServerEvent>;

/** A suggestion; change it as you like. */
interface Member {
  name: string;
  room: Room;
  call: ChatCall;
}

interface Room {
  /** Members by name, in the order they joined (a Map keeps insertion order). */
  members: Map<string, Member>;
  /** The most recent messages, oldest first, at most limits.historySize (step 4). */
  history: ChatMessage[];
}

function chatHandlers(limits: ChatLimits): ChatServiceServer {
  // Every room, by name.
  const rooms = new Map<string, Room>();

  return {
    chat(call) {
      // TODO(step 2): the first message joins a room: welcome the member and tell the others; then broadcast its texts.
      // TODO(step 3): on "end" and "cancelled", the member leaves and the others are told.
      // TODO(step 4): reject taken names, a first message that is not a join, an empty room or name; keep the history.
      // TODO(step 5): respect write()'s return value; drop a member that falls more than limits.maxQueued events behind.
      call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "TODO(step 2): implement Chat" });
    },
  };
}
