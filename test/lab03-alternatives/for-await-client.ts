/**
 * Lab 03, a second correct client: an async function that reads the events
 * with for await while a second loop writes the lines.
 */
import * as grpc from "@grpc/grpc-js";
import { once } from "node:events";
import { ChatServiceClient, type ClientMessage, type ServerEvent } from "../../solutions/03-chat/gen/chat/v1/chat";

export function createChatClient(address: string): ChatServiceClient {
  return new ChatServiceClient(address, grpc.credentials.createInsecure());
}

export async function chat(
  client: ChatServiceClient,
  room: string,
  name: string,
  lines: AsyncIterable<string>,
  onEvent: (event: ServerEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  const call = client.chat();
  let reading = true;
  const cancel = () => call.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  const send = async (message: ClientMessage) => {
    if (!call.write(message)) await once(call, "drain");
  };
  const writing = async () => {
    await send({ kind: { $case: "join", value: { room, name } } });
    for await (const text of lines) {
      if (!reading) return;
      await send({ kind: { $case: "text", value: text } });
    }
    if (reading) call.end();
  };
  writing().catch(() => undefined); // a failed call is reported by the loop below
  try {
    for await (const event of call) onEvent(event as ServerEvent);
  } catch (error) {
    if (!(signal?.aborted && (error as grpc.ServiceError).code === grpc.status.CANCELLED)) throw error;
  } finally {
    reading = false;
    signal?.removeEventListener("abort", cancel);
  }
}
