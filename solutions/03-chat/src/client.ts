/**
 * Lab 03, the reference chat client (steps 6 and 7).
 *
 * client.chat() opens one bidirectional stream: we write ClientMessages on
 * it while ServerEvents arrive on it, independently. `npm run lab 03 --
 * client --room lobby --name alice` wires chat() to the terminal: lines
 * typed become `lines`, events are printed by `onEvent`, Ctrl-C aborts.
 */
import * as grpc from "@grpc/grpc-js";
import { once } from "node:events";
import { ChatServiceClient, type ClientMessage, type ServerEvent } from "../gen/chat/v1/chat";

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
  return new Promise((resolve, reject) => {
    // No deadline: a chat session lasts as long as the user wants.
    // Cancellation ends it instead: call.cancel() resets the stream, and
    // the server sees the call cancelled at once.
    const call = client.chat();
    let open = true;
    const cancel = () => call.cancel();
    signal?.addEventListener("abort", cancel, { once: true });
    const settle = (error?: grpc.ServiceError) => {
      open = false;
      signal?.removeEventListener("abort", cancel);
      // The CANCELLED status of our own cancel() is how the user leaves, not a failure.
      if (error && !(error.code === grpc.status.CANCELLED && signal?.aborted)) reject(error);
      else resolve();
    };

    call.on("data", onEvent);
    // "end" comes after the server's last event, once it has ended the call with OK.
    call.on("end", () => settle());
    call.on("error", settle);

    const send = async (message: ClientMessage) => {
      // Flow control: write() returns false when the call's send buffer is
      // full; wait for "drain" rather than buffering an endless input.
      if (!call.write(message)) await once(call, "drain");
    };

    (async () => {
      await send({ kind: { $case: "join", value: { room, name } } });
      for await (const text of lines) {
        if (!open) return;
        await send({ kind: { $case: "text", value: text } });
      }
      // Half-close: we have nothing more to say, but keep reading. The
      // server leaves us from the room and ends the call, which ends "data".
      if (open) call.end();
    })().catch(() => {
      // once() rejects when the call fails while we wait for "drain"; the
      // "error" listener above has already settled the promise.
    });
  });
}
