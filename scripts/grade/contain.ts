/**
 * Containing one lab run where the OS allows it. On Linux, when unprivileged
 * user namespaces work, each check process (check-one.ts) starts inside its
 * own user, PID, mount and network namespaces (util-linux `unshare`):
 *
 * - PID: it sees and can signal only its own processes, so `kill(-1)` or a
 *   signal to a parent never reaches the grader or another student's run, and
 *   when check-one (PID 1 there) ends, the kernel ends everything else in it;
 * - network: its own loopback (brought up by check-one with `ip`), so it
 *   cannot reach another student's servers on 127.0.0.1;
 * - mount: /proc shows only its own processes, and the folders it must not
 *   read (the output folder with the grader's key, the other submissions, the
 *   solutions) are covered by an empty read-only tmpfs; the checks then run
 *   with every capability dropped (`setpriv`), so they cannot unmount it.
 *
 * Probed once per grading run; anything missing falls back to less, and
 * elsewhere (macOS, Windows, no user namespaces) to process groups only.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What check-one does as PID 1 of the namespaces before the checks run (its 5th argument, as JSON). */
export interface Setup {
  /** `ip`, to bring the loopback of the new network namespace up; null when there is no network namespace. */
  ip: string | null;
  mount: string;
  /** Folders covered by an empty tmpfs. */
  hide: string[];
  /** setpriv and its arguments, to run the checks without any capability. */
  dropCaps: string[];
}

export interface Containment {
  /** What is in force, in a few words: results.json and the report say it. */
  isolation: string;
  /** Why something is missing, for the instructor. */
  notes: string[];
  /** The command that check-one runs inside (unshare and its flags), empty for none. */
  prefix: string[];
  setup: Setup | null;
}

export const namespacesLabel = "user+pid+net namespaces";
export const selfTestFlag = "--self-test";
export const noneLabel = "none available: process groups only";

/** An executable by name, in PATH or where Debian keeps system tools (not always in a user's PATH). */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const dir of dirs.filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // Not there.
    }
  }
  return null;
}

const dropCapsArgs = ["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"];

function none(note: string): Containment {
  return { isolation: noneLabel, notes: [note], prefix: [], setup: null };
}

function succeeds(command: string, args: string[]): boolean {
  const run = spawnSync(command, args, { stdio: "ignore", timeout: 10_000, env: { PATH: process.env.PATH ?? "" } });
  return run.status === 0;
}

/**
 * A contained check-one, end to end, as lab runs will start it (same
 * environment): PID 1 sets the namespaces up, the checks' process loads
 * TypeScript and talks to itself over 127.0.0.1. The reason it failed, or null.
 */
function selfTestFails(prefix: string[], setup: Setup, env: NodeJS.ProcessEnv): string | null {
  const checkOne = path.join(__dirname, "check-one.ts");
  const run = spawnSync(prefix[0]!, [...prefix.slice(1), process.execPath, "--require", require.resolve("tsx/cjs"), checkOne, selfTestFlag, JSON.stringify(setup)], {
    encoding: "utf8",
    timeout: 30_000,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (run.status === 0) return null;
  const last = (run.stderr ?? "").trim().split("\n").pop() ?? "";
  return `a contained test run failed (${run.error?.message ?? run.signal ?? `exit code ${run.status}`})${last ? `: ${last.slice(0, 200)}` : ""}`;
}

/**
 * Which containment works here, tried for real: unshare with each mapping
 * (the current user kept, where util-linux has it, else root inside), the
 * loopback, a tmpfs and setpriv. `hide` are the folders to cover.
 */
export function probeContainment(hide: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "" }): Containment {
  if (process.platform !== "linux") return none(`${process.platform}: no namespaces`);
  if (process.env.GRPC_LABS_NO_NAMESPACES === "1") return none("turned off by GRPC_LABS_NO_NAMESPACES=1");
  const unshare = findExecutable("unshare");
  if (!unshare) return none("unshare (util-linux) not found");
  const ip = findExecutable("ip");
  const mount = findExecutable("mount");
  const setpriv = findExecutable("setpriv");
  const common = ["--pid", "--mount", "--mount-proc", "--fork", "--kill-child"];
  const failures: string[] = [];
  for (const mapping of [["--map-current-user", "--keep-caps"], ["--map-root-user"]]) {
    const base = ["--user", ...mapping, ...common];
    if (!succeeds(unshare, [...base, "--", process.execPath, "--version"])) continue;
    const notes: string[] = [];
    const net = ip !== null && succeeds(unshare, [...base, "--net", "--", ip, "link", "set", "lo", "up"]);
    if (!net) notes.push(ip ? "no network namespace: bringing its loopback up failed" : "no network namespace: `ip` (iproute2) not found, so loopback is shared");
    const flags = net ? ["--user", ...mapping, "--net", ...common] : base;
    // The checks run without any capability, even inside: they cannot undo what PID 1 set up.
    const dropCaps = setpriv !== null && succeeds(unshare, [...flags, "--", setpriv, ...dropCapsArgs, process.execPath, "--version"]);
    if (!dropCaps) notes.push("the checks keep their capabilities inside the namespaces: setpriv (util-linux) not found or not working");
    let hiding = false;
    if (mount && dropCaps && hide.length > 0) {
      const target = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-probe-"));
      try {
        hiding = succeeds(unshare, [...flags, "--", mount, "-t", "tmpfs", "-o", "size=16k,mode=0555", "grpc-labs-hidden", target]);
      } finally {
        fs.rmSync(target, { recursive: true, force: true });
      }
    }
    if (!hiding && hide.length > 0) notes.push("the output folder, the submissions and the solutions are not hidden from the checked code");
    const prefix = [unshare, ...flags, "--"];
    const setup: Setup = { ip: net ? ip : null, mount: mount ?? "mount", hide: hiding ? hide : [], dropCaps: dropCaps ? [setpriv!, ...dropCapsArgs] : [] };
    const failure = selfTestFails(prefix, setup, env);
    if (failure) {
      failures.push(failure);
      continue;
    }
    return { isolation: net ? namespacesLabel : "user+pid namespaces (shared loopback)", notes, prefix, setup };
  }
  return none(failures[0] ?? "unprivileged user namespaces are not available (unshare --user failed)");
}

function isWithin(inner: string, outer: string): boolean {
  const relative = path.relative(outer, inner);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

/**
 * The folders worth hiding that exist and hold nothing a lab run needs: never
 * one that holds the workspace (node_modules, proto) or the temporary trees.
 */
export function hideable(candidates: string[], needed: string[]): string[] {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return null;
    }
  };
  const keep = needed.map((p) => real(p) ?? path.resolve(p));
  const found = new Set<string>();
  for (const candidate of candidates) {
    const dir = real(candidate);
    if (dir === null || !fs.statSync(dir).isDirectory()) continue;
    if (keep.some((k) => isWithin(k, dir))) continue;
    found.add(dir);
  }
  return [...found];
}
