/**
 * Lab 03's `serve` and `client` commands: the chat server built from the code
 * under test, and a terminal chat built on its chat() function:
 *   npm run lab 03 -- client --room lobby --name alice
 * Lines typed are said to the room; others' messages print as they arrive;
 * Ctrl-C (cancel) or Ctrl-D (end of input, a half-close) leaves.
 */
import * as readline from "node:readline";
import { parseArgs } from "node:util";
import { CheckFailure } from "../../scripts/check-kit";
import type { LabHooks } from "../../scripts/lib/lab-hooks";
import { createLearnerServer, type LearnerEvent, learnerClientModule } from "./checks/chat";

const usage = "npm run lab 03 -- client --room lobby --name alice";

function options(args: string[]): { room: string; name: string } {
  let values: { room?: string; name?: string };
  try {
    ({ values } = parseArgs({ args, options: { room: { type: "string", default: "lobby" }, name: { type: "string" } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new CheckFailure(`${(error as Error).message}; lab 03's client takes --room and --name, as in ${usage}`);
  }
  if (!values.name) throw new CheckFailure(`lab 03's client needs a name to chat under: ${usage}`);
  return { room: values.room ?? "lobby", name: values.name };
}

function describe(event: LearnerEvent): string[] {
  switch (event.kind?.$case) {
    case "welcome": {
      const { room, members, history } = event.kind.value;
      const here = members.length > 0 ? `with ${members.join(", ")}` : "alone so far";
      return [...history.map((m) => `  ${m.from}: ${m.text}`), `You are in #${room}, ${here}. Type a line to say it; Ctrl-D or Ctrl-C to leave.`];
    }
    case "message":
      return [`${event.kind.value.from}: ${event.kind.value.text}`];
    case "joined":
      return [`* ${event.kind.value.name} joined`];
    case "left":
      return [`* ${event.kind.value.name} left`];
    default:
      return [];
  }
}

export const hooks: LabHooks = {
  createServer: () => createLearnerServer(),

  async runClientDemo(address, print, args) {
    const { room, name } = options(args);
    const learner = await learnerClientModule();
    const client = await learner.createChatClient(address);
    const terminal = Boolean(process.stdin.isTTY);
    const input = readline.createInterface({ input: process.stdin, output: process.stdout, terminal });
    input.setPrompt(`${name}> `);
    const abort = new AbortController();
    // Ctrl-C: in a terminal readline catches it; otherwise it is the process's SIGINT.
    const leave = () => abort.abort();
    input.on("SIGINT", leave);
    process.once("SIGINT", leave);

    // Print above the line being typed, then redraw the prompt and what was typed so far.
    const show = (line: string) => {
      if (terminal) {
        readline.clearLine(process.stdout, 0);
        readline.cursorTo(process.stdout, 0);
      }
      print(line);
      if (terminal) input.prompt(true);
    };
    input.on("line", () => terminal && input.prompt());

    try {
      await learner.chat(client, room, name, input, (event) => describe(event).forEach(show), abort.signal);
      if (terminal) readline.clearLine(process.stdout, 0);
      print(abort.signal.aborted ? "Cancelled: you left the room." : "The server ended the chat: you left the room.");
    } finally {
      process.removeListener("SIGINT", leave);
      input.close();
      client.close();
    }
  },
};
