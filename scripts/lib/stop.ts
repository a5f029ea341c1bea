import * as fs from "node:fs";

/**
 * When `serve` is asked to stop. Started as `npm run lab NN -- serve`, the
 * server runs as npm -> sh -c "node scripts/lab.cjs ..." -> node. A signal
 * sent to npm alone, as a container runtime or a process manager sends it,
 * does not reach node: npm passes SIGTERM and SIGINT on to `sh` only. On
 * Debian and Ubuntu, sh is dash, which does not exec its command: SIGTERM
 * kills it, and node would be left running, adopted by PID 1 (macOS's sh,
 * bash, execs node, so there npm signals node itself). So besides its own
 * signals, the server watches the processes that started it: when its parent
 * changes, or when npm above that shell has ended, it stops as if signalled.
 */

/** The signals that stop `serve`: Ctrl-C, what process managers send, and a closed terminal. */
const stopSignals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** How often the parent processes are looked at. */
const pollMs = 250;

/** Linux only: a process's command name, state and parent, from /proc; undefined elsewhere or once it is gone. */
function procStat(pid: number): { name: string; state: string; parent: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (name) state ppid ...": the name may hold spaces and parentheses.
    const [state = "", parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), state, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

/** Whether a process still runs (Linux: not a zombie left for its parent to collect). */
function running(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** Who started the runner, as scripts/lab.cjs noted it first thing; now, when loaded some other way. */
function startedBy(): { parent: number; grandparent?: number } {
  const noted = (globalThis as { grpcLabsStartedBy?: { parent: number; grandparent?: number } }).grpcLabsStartedBy;
  return noted ?? { parent: process.ppid, grandparent: procStat(process.ppid)?.parent };
}

/**
 * Whether an npm script's process was adopted by PID 1: its launcher ended
 * before the runner could note it (during Node's own start, on a busy machine).
 * Not when PID 1 is the package manager itself, as in a container whose
 * command is `npm run ...`.
 */
function adopted(pid: number | undefined): boolean {
  if (pid !== 1 || !process.env.npm_lifecycle_event) return false;
  return !/^(npm|node|yarn|pnpm|bun)/.test(procStat(1)?.name ?? "");
}

/**
 * npm's process when an npm script started the runner through a shell (npm ->
 * sh -> node), on Linux; "ended" when the shell was already adopted by PID 1;
 * undefined otherwise. When npm itself is killed (SIGKILL, SIGHUP), the shell
 * stays, and only npm's end tells.
 */
function npmAboveShell(parent: number, grandparent: number | undefined): number | "ended" | undefined {
  if (!process.env.npm_lifecycle_event || grandparent === undefined) return undefined;
  const shell = procStat(parent);
  if (!shell || !/^(sh|dash|bash|ash|zsh)$/.test(shell.name)) return undefined;
  if (adopted(grandparent)) return "ended";
  return grandparent > 1 ? grandparent : undefined;
}

/**
 * Calls `stop` once, with the reason, on the first SIGINT, SIGTERM or SIGHUP,
 * or when the process that started the runner has ended. After that the
 * signal handlers are gone, so a second signal ends the process at once.
 * Windows has no SIGTERM: the handler is harmless there, and Ctrl-C (SIGINT)
 * and closing the console window (SIGHUP) work; the parent check finds
 * nothing there (Windows keeps the parent's id after it exits).
 */
export function whenAskedToStop(stop: (reason: string) => void): void {
  const { parent, grandparent } = startedBy();
  const npm = npmAboveShell(parent, grandparent);
  let stopped = false;
  const fire = (reason: string) => {
    if (stopped) return;
    stopped = true;
    clearInterval(watch);
    for (const signal of stopSignals) process.removeListener(signal, onSignal);
    stop(reason);
  };
  const onSignal = (signal: NodeJS.Signals) => fire(signal);
  for (const signal of stopSignals) process.on(signal, onSignal);
  const watch = setInterval(() => {
    if (process.ppid !== parent || adopted(parent)) fire("the process that started the server has ended");
    else if (npm === "ended" || (npm !== undefined && !running(npm))) fire("npm, which started the server, has ended");
  }, pollMs);
  watch.unref();
}
