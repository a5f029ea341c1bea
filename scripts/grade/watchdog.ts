/**
 * A memory watchdog for whole lab runs (Linux): twice a second, one pass over
 * /proc sums the resident memory (VmRSS) of every process each run started,
 * found by parent links and process group, so a Buffer of gigabytes (which
 * V8's heap limit does not count) or a swarm of processes is stopped with a
 * clear reason. Elsewhere it watches nothing. It is the backstop: the judge
 * stops a subject above --memory within 0.2 s, failing only the checks it was
 * in, so a run is stopped here only when it stays above the limit for four
 * ticks in a row (2 s).
 */
import * as fs from "node:fs";

interface Watched {
  limitMb: number;
  onExceeded: (usedMb: number) => void;
  /** Ticks in a row above the limit. */
  over: number;
}

const intervalMs = 500;
const watched = new Map<number, Watched>();
let timer: NodeJS.Timeout | undefined;

interface ProcessInfo {
  pid: number;
  ppid: number;
  pgrp: number;
}

function processes(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  let names: string[];
  try {
    names = fs.readdirSync("/proc");
  } catch {
    return found;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      found.push({ pid: Number(name), ppid: Number(fields[1]), pgrp: Number(fields[2]) });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

function rssKb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** The processes of a run: the root, its descendants, and whatever is still in its process group. */
export function treeOf(root: number, all: ProcessInfo[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const members = new Set<number>();
  const queue = [root, ...all.filter((p) => p.pgrp === root).map((p) => p.pid)];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (members.has(pid)) continue;
    members.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...members];
}

/** The resident memory of a run in MB, or null where /proc cannot tell. */
export function treeRssMb(root: number): number | null {
  if (process.platform !== "linux") return null;
  return treeOf(root, processes()).reduce((sum, pid) => sum + rssKb(pid), 0) / 1024;
}

function tick(): void {
  const all = processes();
  for (const [root, watch] of watched) {
    const used = treeOf(root, all).reduce((sum, pid) => sum + rssKb(pid), 0) / 1024;
    watch.over = used > watch.limitMb ? watch.over + 1 : 0;
    if (watch.over >= 4) {
      watched.delete(root);
      watch.onExceeded(Math.round(used));
    }
  }
  if (watched.size === 0) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** Calls onExceeded (once) when the run started as `root` uses more than limitMb in all; returns the function that stops watching. */
export function watchMemory(root: number, limitMb: number, onExceeded: (usedMb: number) => void): () => void {
  if (process.platform !== "linux") return () => undefined;
  watched.set(root, { limitMb, onExceeded, over: 0 });
  timer ??= setInterval(tick, intervalMs);
  timer.unref();
  return () => {
    watched.delete(root);
  };
}
