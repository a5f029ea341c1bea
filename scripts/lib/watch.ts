import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * Watch mode: runs a check whenever one of the learner's files changes.
 *
 * File events (fs.watch) are fast, but on WSL2 folders under /mnt/, network
 * shares and some mounted folders they never arrive. The watcher therefore
 * polls (compares the files' contents) when asked (--poll), on WSL2 under /mnt/, when
 * fs.watch fails, and when a probe file it writes and deletes next to the
 * learner's files raises no event within a second. Changes are debounced and
 * compared by content, so an editor's several writes per save, or a touch
 * without a change, run the checks once or not at all.
 */
export interface WatchOptions {
  /** The files to watch (absolute paths). */
  files: string[];
  /** Runs the checks and shows the result; the watcher never runs two at once. It should not reject. */
  check: () => Promise<void>;
  /** Poll instead of waiting for file events. */
  poll?: boolean;
  pollIntervalMs?: number;
  debounceMs?: number;
  /** Told when the watcher falls back to polling, and why. */
  onFallback?: (reason: string) => void;
}

export type WatchMode = "events" | "polling";

const probeName = ".grpc-labs-watch-probe";

/** True on WSL2 for a path on a Windows drive (/mnt/c/...), where file events do not arrive. */
export function onWslWindowsDrive(file: string): boolean {
  return process.platform === "linux" && /microsoft|wsl/i.test(os.release()) && file.startsWith("/mnt/");
}

export class Watcher {
  mode: WatchMode;
  /** How many times the checks ran. */
  runs = 0;
  private readonly options: Required<Omit<WatchOptions, "onFallback">> & Pick<WatchOptions, "onFallback">;
  private watchers: fs.FSWatcher[] = [];
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending = false;
  private lastContent: string | undefined;
  private closed = false;

  constructor(options: WatchOptions) {
    this.options = { poll: false, pollIntervalMs: 250, debounceMs: 40, ...options };
    const forced = this.options.poll || this.options.files.some(onWslWindowsDrive);
    this.mode = forced ? "polling" : "events";
  }

  /** Starts watching and runs the checks once. */
  async start(): Promise<void> {
    if (this.mode === "events") this.watchEvents();
    else this.watchPolling();
    await this.trigger();
  }

  /** Runs the checks now (or right after the run in progress); resolves when they are done. */
  async trigger(): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
    if (this.closed) return;
    this.lastContent = this.content();
    this.runs++;
    this.running = this.options.check().finally(() => {
      this.running = undefined;
      if (this.pending && !this.closed) {
        this.pending = false;
        void this.changed();
      }
    });
    return this.running;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.debounce);
    clearTimeout(this.probeTimer);
    for (const watcher of this.watchers) watcher.close();
    clearInterval(this.poller);
    this.watchers = [];
  }

  /** The learner's files as they are now: a change that leaves them the same runs nothing. */
  private content(): string {
    const hash = createHash("sha256");
    for (const file of this.options.files) {
      try {
        hash.update(fs.readFileSync(file));
      } catch {
        hash.update("(missing)");
      }
      hash.update("\0");
    }
    return hash.digest("hex");
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.runIfChanged(), this.options.debounceMs);
  }

  /** Runs the checks if the files differ from the last run's (after the run in progress, if there is one). */
  private runIfChanged(): void {
    if (this.closed) return;
    if (this.running) this.pending = true;
    else if (this.content() !== this.lastContent) void this.trigger();
  }

  private watchEvents(): void {
    // Watch the folders, not the files: editors often save by writing a new file and renaming it.
    const names = new Set(this.options.files.map((f) => path.basename(f)));
    const dirs = [...new Set(this.options.files.map((f) => path.dirname(f)))];
    let probeSeen = false;
    try {
      for (const dir of dirs) {
        const watcher = fs.watch(dir, (_event, name) => {
          if (name === probeName) probeSeen = true;
          else if (name === null || names.has(name.toString())) this.changed();
        });
        watcher.on("error", (error) => this.fallBack(`file events failed (${error.message})`));
        this.watchers.push(watcher);
      }
    } catch (error) {
      return this.fallBack(`file events are not available here (${(error as Error).message})`);
    }
    // Some file systems accept fs.watch and never report anything: check that one event arrives.
    const probe = path.join(dirs[0]!, probeName);
    try {
      fs.writeFileSync(probe, "");
      fs.rmSync(probe, { force: true });
    } catch {
      return;
    }
    this.probeTimer = setTimeout(() => {
      if (!probeSeen) this.fallBack("no file event arrived for a test file");
    }, 1000);
  }

  /**
   * Polling compares the files' contents on every tick (a few small files):
   * unlike comparing stat() results, it cannot miss a save made before the
   * first tick.
   */
  private watchPolling(): void {
    clearInterval(this.poller);
    this.poller = setInterval(() => this.runIfChanged(), this.options.pollIntervalMs);
  }

  private fallBack(reason: string): void {
    if (this.closed || this.mode === "polling") return;
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
    this.mode = "polling";
    this.watchPolling();
    this.options.onFallback?.(reason);
  }
}
