import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { workspaceRoot } from "./labs";
import { type TypeError, typeCheck } from "./typecheck";

/**
 * Remembers the type errors of the last few versions of each lab tree, keyed
 * by a hash of everything the compiler reads, so checking unchanged code
 * again (or going back to a version checked a moment ago) skips tsc. The
 * cache lives in node_modules/.cache/grpc-labs/, where tools keep caches;
 * deleting it is always safe. GRPC_LABS_NO_CACHE=1 turns it off.
 */
const cacheFile = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", "typecheck.json");
const keep = 16;

interface Entry {
  key: string;
  errors: TypeError[];
}

/** Folders of a lab tree that never reach the compiler. */
const skipped = new Set(["node_modules", "backups", ".git"]);

function hashTree(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skipped.has(entry.name)) hashTree(hash, full);
    } else if (/\.(ts|json)$/.test(entry.name)) {
      hash.update(`${path.relative(dir, full)}\0`);
      hash.update(fs.readFileSync(full));
    }
  }
}

/** A hash of the tree's sources and stubs, the shared tsconfig and the installed packages. */
export function typeCheckKey(tree: string): string {
  const hash = createHash("sha256");
  hash.update(`${tree}\0`);
  for (const file of ["tsconfig.json", "package-lock.json"]) {
    const full = path.join(workspaceRoot, file);
    if (fs.existsSync(full)) hash.update(fs.readFileSync(full));
  }
  hashTree(hash, tree);
  return hash.digest("hex");
}

function readEntries(): Entry[] {
  try {
    const entries = JSON.parse(fs.readFileSync(cacheFile, "utf8")) as unknown;
    return Array.isArray(entries) ? (entries as Entry[]) : [];
  } catch {
    return [];
  }
}

function remember(entry: Entry): void {
  try {
    const entries = [entry, ...readEntries().filter((e) => e.key !== entry.key)].slice(0, keep);
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    const temporary = `${cacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(entries));
    fs.renameSync(temporary, cacheFile);
  } catch {
    // A cache that cannot be written only costs time.
  }
}

/** typeCheck(tree), skipping the compiler when this exact code was checked before. */
export async function cachedTypeCheck(tree: string): Promise<TypeError[]> {
  if (process.env.GRPC_LABS_NO_CACHE === "1") return typeCheck(tree);
  const key = typeCheckKey(tree);
  const hit = readEntries().find((e) => e.key === key);
  if (hit) return hit.errors;
  const errors = await typeCheck(tree);
  // "could not run tsc" is not a property of the code, and a file saved meanwhile makes the key wrong.
  const failed = errors.some((e) => e.line === 0 && e.message.startsWith("could not run tsc"));
  if (!failed && typeCheckKey(tree) === key) remember({ key, errors });
  return errors;
}
