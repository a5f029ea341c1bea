/**
 * Lab 03, your chat client. Steps 6 and 7 write chat().
 *
 * client.chat() opens one bidirectional stream: you write ClientMessages on
 * it while ServerEvents arrive on it, independently. `npm run lab 03 --
 * client --room lobby --name alice` wires chat() to the terminal: lines
 * typed become `lines`, events are printed by `onEvent`, Ctrl-C aborts.
 */
import * as grpc from "@grpc/grpc-js";
import { ChatServiceClient, type ServerEvent } from "../gen/chat/v1/chat";

/** A client on a plaintext channel to `address` (host:port). Close it with client.close(). */
export function createChatClient(address: string): ChatServiceClient {
  return new ChatServiceClient(address, grpc.credentials.createInsecure());
}

/**
 * Steps 6 and 7: joins `room` as `name`, sends each of `lines` as a message
 * and hands every server event to `onEvent` as it arrives. Resolves when the
 * server ends the call, or once `signal` has cancelled it; rejects with the
 * call's error (error.code is a grpc.status) when the server ends it with one.
 */
export function chat(
  client: ChatServiceClient,
  room: string,
  name: string,
  lines: AsyncIterable<string>,
  onEvent: (event: ServerEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  // TODO(step 6): open client.chat(), write the join, then each line; half-close when the lines end; pass events to onEvent.
  // TODO(step 7): reject with the call's error; cancel the call when signal aborts, and resolve then.
  return Promise.reject(new Error("TODO(step 6): implement chat"));
}
