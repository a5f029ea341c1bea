/**
 * What a lab's checks load into the judge besides what every lab uses: lab
 * 05's certificate library and jose, lab 08's OpenTelemetry SDK (0.2 to 0.3 s
 * each, in the run's first check or before it). The judge notes them after
 * a run, and the warm judge started for the lab's next run loads them while
 * it waits, so that run finds them loaded. Only modules a judge keeps between
 * runs are noted (installed packages and scripts/); the checks and the code
 * under test are loaded afresh for every run. Beside them, the packages the
 * code under test required (lab 08's prom-client and OpenTelemetry API, lab
 * 10's Connect: 40 to 70 ms each), which that judge's prepared subject loads
 * while it waits (prepareSubject in check-kit/subject.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { workspaceRoot } from "./labs";

const scriptsDir = path.resolve(__dirname, "..");
const packagesDir = path.join(workspaceRoot, "node_modules");
const cacheDir = path.join(packagesDir, ".cache", "grpc-labs", "judge-modules");
/** Where a noted module may be: an installed package (as required: its real path) or scripts/, never the caches. */
const realPackagesDir = fs.realpathSync.native(packagesDir);
const preloadable = (file: string) =>
  (file.startsWith(realPackagesDir + path.sep) && !file.startsWith(path.join(realPackagesDir, ".cache") + path.sep)) || file.startsWith(scriptsDir + path.sep);
const fileOf = (labId: string) => path.join(cacheDir, `${labId}.json`);

/** The runner's own code, check-kit and the installed packages stay loaded between runs; everything else is reloaded. */
export const kept = (file: string): boolean => file.includes(`${path.sep}node_modules${path.sep}`) || file.startsWith(scriptsDir + path.sep);

/** The modules loaded now that a judge keeps between runs, in the order they began to load. */
export const keptModules = (): string[] => Object.keys(require.cache).filter(kept);

/** What a run of a lab loaded: into the judge (`judge`, files) and into its subjects (`subject`, package specifiers). */
interface Noted {
  judge: string[];
  subject: string[];
}

/**
 * Notes the modules the checks of `labId` loaded and the packages its code
 * under test required (through a temporary file: two runs of a lab can end
 * at once).
 */
export function noteLabModules(labId: string, files: readonly string[], packages: readonly string[]): void {
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const temporary = `${fileOf(labId)}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify({ judge: [...new Set(files)], subject: [...new Set(packages)] } satisfies Noted));
    fs.renameSync(temporary, fileOf(labId));
  } catch {
    // A read-only workspace: the next run loads them itself.
  }
}

/**
 * Loads the modules noted for `labId` that are still there, and only from
 * this workspace's packages and scripts/ (never a cache: the subjects'
 * transpiled files are there); returns those it loaded. A module
 * that fails to load is left to the run, which reports what it must.
 */
export function preloadLabModules(labId: string): string[] {
  const loaded: string[] = [];
  for (const file of noted(labId, "judge")) {
    if (typeof file !== "string" || !preloadable(file) || !fs.existsSync(file)) continue;
    try {
      require(file);
      loaded.push(file);
    } catch {
      // Left to the run.
    }
  }
  return loaded;
}

/** The packages the code under test of `labId` required in its last noted run, for the subject prepared for its next run. */
export function notedPackages(labId: string): string[] {
  return noted(labId, "subject").filter((specifier): specifier is string => typeof specifier === "string");
}

/** One list of the note for `labId` (unchecked entries), or none. */
function noted(labId: string, list: keyof Noted): unknown[] {
  try {
    const note = JSON.parse(fs.readFileSync(fileOf(labId), "utf8")) as Partial<Record<keyof Noted, unknown>> | null;
    const entries = note?.[list];
    return Array.isArray(entries) ? entries : [];
  } catch {
    return [];
  }
}
