/**
 * Lab 03, a second correct server: a Session class per call that owns its
 * flow control (an outbox written on "drain") and its way out (close, once),
 * and rooms as Sets of sessions with an array of history.
 */
import * as grpc from "@grpc/grpc-js";
import { type ChatMessage, ChatServiceService, type ClientMessage, type ServerEvent } from "../../solutions/03-chat/gen/chat/v1/chat";

export interface ChatLimits {
  historySize: number;
  maxQueued: number;
}

export const defaultLimits: ChatLimits = { historySize: 20, maxQueued: 256 };

export function createChatServer(limits: ChatLimits = defaultLimits): grpc.Server {
  const server = new grpc.Server();
  const rooms = new Map<string, { sessions: Set<Session>; history: ChatMessage[] }>();
  server.addService(ChatServiceService, { chat: (call: grpc.ServerDuplexStream<ClientMessage, ServerEvent>) => new Session(call, rooms, limits) });
  return server;
}

type Rooms = Map<string, { sessions: Set<Session>; history: ChatMessage[] }>;

class Session {
  name = "";
  room: { sessions: Set<Session>; history: ChatMessage[] } | undefined;
  private outbox: ServerEvent[] = [];
  private blocked = false;
  private closed = false;

  constructor(
    private readonly call: grpc.ServerDuplexStream<ClientMessage, ServerEvent>,
    private readonly rooms: Rooms,
    private readonly limits: ChatLimits,
  ) {
    call.on("data", (message: ClientMessage) => this.receive(message));
    call.on("end", () => this.close({ code: grpc.status.OK }));
    call.on("cancelled", () => this.close());
    call.on("error", () => this.close());
    call.on("drain", () => this.drain());
  }

  /** Queues or writes one event; false when this session is too far behind. */
  send(event: ServerEvent): boolean {
    if (this.closed) return true;
    if (this.blocked) this.outbox.push(event);
    else this.blocked = !this.call.write(event);
    return this.outbox.length <= this.limits.maxQueued;
  }

  private drain(): void {
    this.blocked = false;
    while (!this.blocked && this.outbox.length > 0) this.blocked = !this.call.write(this.outbox.shift()!);
  }

  private broadcast(event: ServerEvent): void {
    const sessions = [...(this.room?.sessions ?? [])].filter((session) => session !== this);
    const behind = sessions.filter((session) => !session.send(event));
    behind.forEach((session) => session.close({ code: grpc.status.RESOURCE_EXHAUSTED, details: "too slow" }));
  }

  private receive(message: ClientMessage): void {
    if (this.closed) return;
    const kind = message.kind;
    if (this.room === undefined) {
      if (kind?.$case !== "join") return this.close({ code: grpc.status.FAILED_PRECONDITION, details: "join first" });
      const { room: roomName, name } = kind.value;
      if (roomName === "" || name === "") return this.close({ code: grpc.status.INVALID_ARGUMENT, details: "room and name are required" });
      let room = this.rooms.get(roomName);
      if (!room) this.rooms.set(roomName, (room = { sessions: new Set(), history: [] }));
      if ([...room.sessions].some((session) => session.name === name)) return this.close({ code: grpc.status.ALREADY_EXISTS, details: "name taken" });
      this.name = name;
      this.send({ kind: { $case: "welcome", value: { room: roomName, members: [...room.sessions].map((s) => s.name), history: [...room.history] } } });
      room.sessions.add(this);
      this.room = room;
      this.broadcast({ kind: { $case: "joined", value: { name } } });
    } else if (kind?.$case === "text") {
      const said = { from: this.name, text: kind.value };
      this.room.history.push(said);
      if (this.room.history.length > this.limits.historySize) this.room.history.shift();
      this.broadcast({ kind: { $case: "message", value: said } });
    } else {
      this.close({ code: grpc.status.FAILED_PRECONDITION, details: "one join per call" });
    }
  }

  /** Leaves the room and ends the call: with OK or an error status, or not at all when the call is already gone. */
  close(status?: { code: grpc.status; details?: string }): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox = [];
    if (this.room?.sessions.delete(this)) this.broadcast({ kind: { $case: "left", value: { name: this.name } } });
    if (status?.code === grpc.status.OK) this.call.end();
    else if (status) this.call.emit("error", status);
  }
}
