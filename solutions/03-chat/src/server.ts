/**
 * Lab 03, the reference chat server (steps 2 to 5).
 *
 * Each member holds one bidirectional Chat call open: its "data" events are
 * what the member says, and call.write() sends it what happens in the room.
 * The server keeps, for each room, who is in it and its recent history; a
 * broadcast is a loop of writes, one for each other member's call.
 */
import * as grpc from "@grpc/grpc-js";
import { type ChatMessage, type ChatServiceServer, ChatServiceService, type ClientMessage, type ServerEvent } from "../gen/chat/v1/chat";

/** How much the server keeps: per room (history) and per member (the queue of a slow reader). */
export interface ChatLimits {
  /** The number of recent messages a late joiner gets in its Welcome. */
  historySize: number;
  /** How many events may wait for a member whose stream is full before it is dropped. */
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

interface Member {
  name: string;
  room: Room;
  call: ChatCall;
  /** True while the call's send buffer is full: new events wait in `queue`. */
  waiting: boolean;
  queue: ServerEvent[];
}

interface Room {
  /** Members by name, in the order they joined (a Map keeps insertion order). */
  members: Map<string, Member>;
  /** The most recent messages, oldest first, at most limits.historySize. */
  history: ChatMessage[];
}

function chatHandlers(limits: ChatLimits): ChatServiceServer {
  // Every room, by name. An empty room is kept, so its history awaits the next joiner.
  const rooms = new Map<string, Room>();

  /**
   * Sends one event to one member. Flow control: write() returns false once
   * the call's buffer is full, because this client reads more slowly than we
   * send. Then we stop writing and queue, until the call emits "drain".
   * Returns false when the queue is over its bound: the member is too slow.
   */
  function deliver(member: Member, event: ServerEvent): boolean {
    if (member.waiting) {
      member.queue.push(event);
      return member.queue.length <= limits.maxQueued;
    }
    if (!member.call.write(event)) {
      member.waiting = true;
      member.call.once("drain", () => flush(member));
    }
    return true;
  }

  /** The stream drained: write the queued events, until it is full again. */
  function flush(member: Member): void {
    member.waiting = false;
    while (!member.waiting && member.queue.length > 0) deliver(member, member.queue.shift()!);
  }

  /** Sends an event to every member of the room but one, then drops those that cannot keep up. */
  function broadcast(room: Room, event: ServerEvent, except?: Member): void {
    const tooSlow: Member[] = [];
    for (const member of room.members.values()) {
      if (member !== except && !deliver(member, event)) tooSlow.push(member);
    }
    // A slow reader never holds up the others: its call ends instead (and its handler makes it leave).
    for (const member of tooSlow) {
      member.call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: `${member.name} reads too slowly: more than ${limits.maxQueued} events were waiting` });
    }
  }

  /** Removes a member from its room (once) and tells the others. */
  function leave(member: Member): void {
    const { room, name } = member;
    if (room.members.get(name) !== member) return;
    room.members.delete(name);
    // Nothing more goes to a member that left: free what waited for it.
    member.queue = [];
    broadcast(room, { kind: { $case: "left", value: { name } } });
  }

  return {
    chat(call) {
      let member: Member | undefined;
      let ended = false;
      const leaveRoom = () => member && leave(member);
      // Ending the call with an error status, call.emit("error", status), ends the session:
      // leave, and ignore whatever the client still sends.
      const fail = (code: grpc.status, details: string) => call.emit("error", { code, details });
      call.on("error", () => {
        ended = true;
        leaveRoom();
      });

      call.on("data", (message: ClientMessage) => {
        if (ended) return;
        const kind = message.kind;
        if (!member) {
          if (kind?.$case !== "join") return fail(grpc.status.FAILED_PRECONDITION, "the first message must be a join");
          const { room: roomName, name } = kind.value;
          if (!roomName || !name) return fail(grpc.status.INVALID_ARGUMENT, `join needs a ${roomName ? "name" : "room"}`);
          const room = rooms.get(roomName) ?? { members: new Map(), history: [] };
          rooms.set(roomName, room);
          if (room.members.has(name)) return fail(grpc.status.ALREADY_EXISTS, `the name ${name} is taken in room ${roomName}`);

          const others = [...room.members.keys()];
          member = { name, room, call, waiting: false, queue: [] };
          room.members.set(name, member);
          deliver(member, { kind: { $case: "welcome", value: { room: roomName, members: others, history: room.history } } });
          broadcast(room, { kind: { $case: "joined", value: { name } } }, member);
        } else if (kind?.$case === "text") {
          const said: ChatMessage = { from: member.name, text: kind.value };
          const { room } = member;
          // A new array, not push(): a welcome still waiting in a queue keeps the history it was given.
          room.history = [...room.history, said].slice(-limits.historySize);
          // One loop of writes: every member gets messages in the order this handler saw them.
          broadcast(room, { kind: { $case: "message", value: said } }, member);
        } else {
          fail(grpc.status.FAILED_PRECONDITION, "already joined: send text, or a new call to join another room");
        }
      });

      // Half-close: the client will send nothing more. Leave, and end our side with OK.
      call.on("end", () => {
        leaveRoom();
        call.end();
      });

      // The client cancelled or went away: leave, and never write to this call again.
      call.on("cancelled", leaveRoom);
    },
  };
}
