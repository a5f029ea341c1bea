import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { labsDir, type Lab, listLabs, starterFile, treeDir, workspaceRoot } from "../scripts/lib/labs";
import type { LabResult } from "../scripts/lib/results";
import { checkLab } from "../scripts/lib/run-checks";
import { ensureStubs } from "../scripts/lib/stubs";

/** Root of the temporary lab trees; inside the workspace so they resolve node_modules. */
export const treesRoot = path.join(workspaceRoot, ".test-trees");

export interface Edit {
  file: string;
  from: string | RegExp;
  to: string;
}

/**
 * Copies a lab's reference solution (with its generated stubs) to a temporary
 * tree and applies edits to it: a solution with one known fault.
 */
export function solutionVariant(lab: Lab, name: string, edits: Edit[] = []): string {
  const tree = path.join(treesRoot, name);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.cpSync(treeDir(lab, "solution"), tree, { recursive: true });
  for (const edit of edits) {
    const file = path.join(tree, edit.file);
    const before = fs.readFileSync(file, "utf8");
    const after = before.replace(edit.from, edit.to);
    if (after === before) throw new Error(`edit of ${edit.file} changed nothing: ${String(edit.from)}`);
    fs.writeFileSync(file, after);
  }
  return tree;
}

/**
 * A learner tree holding the pristine starter, as a learner sees it after the
 * stub step: the gate checks this, not labs/NN-name/src/, which may be solved.
 */
export function starterTree(lab: Lab): string {
  const tree = path.join(treesRoot, `${lab.id}-starter`);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.mkdirSync(tree, { recursive: true });
  fs.copyFileSync(path.join(labsDir, lab.id, "tsconfig.json"), path.join(tree, "tsconfig.json"));
  copyStarter(lab, tree);
  ensureStubs(lab, tree);
  return tree;
}

/** The lab's pristine starter files, as the learner's files of `tree`. */
function copyStarter(lab: Lab, tree: string): void {
  for (const file of lab.learnerFiles) {
    const copy = path.join(tree, ...file.split("/"));
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(starterFile(lab, file), copy);
  }
}

/** Folders of a lab that belong to the learner: a workspace copy starts without them, as a fresh clone does. */
const learnersOwn = new Set(["src", "gen", "certs"]);

/**
 * A copy of the workspace as a fresh clone is after `npm install`: every file
 * grading protects (the tooling, the labs with their starters as src/ and no
 * gen/ or certs/, the solutions, the tests), with the real node_modules
 * linked. The runner's own commands (`npm run lab 01`, `hint`, `diff`,
 * `npm run grade`) run there, never on the learner's labs/NN-name/src/ and gen/.
 */
export function workspaceCopy(name: string): string {
  const root = path.join(treesRoot, name);
  removeWorkspace(root);
  fs.mkdirSync(root, { recursive: true });
  for (const file of [".mocharc.json", "package.json", "package-lock.json", "tsconfig.json"]) fs.copyFileSync(path.join(workspaceRoot, file), path.join(root, file));
  for (const folder of ["scripts", "proto", "solutions", "test"]) fs.cpSync(path.join(workspaceRoot, folder), path.join(root, folder), { recursive: true });
  fs.cpSync(labsDir, path.join(root, "labs"), {
    recursive: true,
    filter: (source) => path.dirname(path.dirname(source)) !== labsDir || !learnersOwn.has(path.basename(source)),
  });
  for (const lab of listLabs()) copyStarter(lab, path.join(root, "labs", lab.id));
  // A junction on Windows needs no privilege.
  fs.symlinkSync(path.join(workspaceRoot, "node_modules"), path.join(root, "node_modules"), "junction");
  return root;
}

/** Removes a workspace copy: its node_modules link first, so nothing of the workspace is followed. */
export function removeWorkspace(root: string): void {
  const link = path.join(root, "node_modules");
  if (fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(link);
  fs.rmSync(root, { recursive: true, force: true });
}

export function removeTrees(): void {
  if (fs.existsSync(treesRoot)) for (const entry of fs.readdirSync(treesRoot)) removeWorkspace(path.join(treesRoot, entry));
  fs.rmSync(treesRoot, { recursive: true, force: true });
}

/** The ids of the checks that did not pass. */
export const failingIds = (result: LabResult): string[] => result.tests.filter((t) => t.status !== "pass").map((t) => t.id);

/**
 * An edit that replaces a whole learner file with test/labNN-alternatives/<alternative>,
 * its imports of the solution's stubs and files pointed at the tree's own
 * (so the file type-checks where it is kept, too).
 */
export function alternativeFile(lab: Lab, file: string, alternative: string): Edit {
  const text = fs
    .readFileSync(path.join(__dirname, `lab${lab.number}-alternatives`, alternative), "utf8")
    .replaceAll(`../../solutions/${lab.id}/gen/`, "../gen/")
    .replaceAll(`../../solutions/${lab.id}/src/`, "./");
  return { file, from: /^[\s\S]*$/, to: text.replaceAll("$", "$$$$") };
}

/** Checks a version of the lab's solution with `edits` (a tree named after the lab and `name`). */
export function checkVariant(lab: Lab, name: string, edits: Edit[]): Promise<LabResult> {
  return checkLab(lab, { target: "learner", tree: solutionVariant(lab, `${lab.number}-${name}`, edits) });
}

/** Every check named by `prefixes` fails; every other passes, except those in `mayFail`, which may do either. */
export function expectFailing(result: LabResult, prefixes: string[], mayFail: string[] = []): void {
  assert.deepEqual(result.type_errors, []);
  const ids = failingIds(result);
  for (const prefix of prefixes) assert.ok(ids.some((id) => id.startsWith(prefix)), `${prefix} passed; failing: ${ids.join(", ")}`);
  const unexpected = result.tests.filter((t) => t.status !== "pass" && ![...prefixes, ...mayFail].some((prefix) => t.id.startsWith(prefix)));
  const why = unexpected.map((t) => `\n  ${t.id}: ${t.message}${t.wire ? `\n    ${t.wire.join("\n    ")}` : ""}`).join("");
  assert.deepEqual(unexpected.map((t) => t.id), [], `checks that failed but should have passed:${why}`);
}

/** A realistic learner bug: edits of the reference solution that break one rule of the lab's README. */
export interface Bug {
  /** The README rule it breaks: the step and the rule, in a few words. */
  rule: string;
  edits: Edit[];
  /** Prefixes of the ids of the checks that must fail. */
  caughtBy: string[];
  /** Checks that may fail too (a race the bug opens). */
  mayFail?: string[];
}

const clientSide = (bug: Bug) => bug.edits.every((edit) => edit.file === "src/client.ts");

/**
 * One mocha test per pair of bugs, a server bug with a client bug, checked in
 * one lab run: the checks of one side never run the other side's file. Each
 * bug's checks fail, every other check passes.
 */
export function checkBugs(lab: Lab, bugs: Bug[]): void {
  const servers = bugs.filter((bug) => !clientSide(bug));
  const clients = bugs.filter(clientSide);
  const pairs = Array.from({ length: Math.max(servers.length, clients.length) }, (_, i) => [servers[i], clients[i]].filter((bug) => bug !== undefined));
  pairs.forEach((pair, i) => {
    it(pair.map((bug) => `${bug.rule} (${bug.caughtBy.join(", ")})`).join("; "), async () => {
      const result = await checkVariant(lab, `bug-${i + 1}`, pair.flatMap((bug) => bug.edits));
      expectFailing(result, pair.flatMap((bug) => bug.caughtBy), pair.flatMap((bug) => bug.mayFail ?? []));
    });
  });
}
