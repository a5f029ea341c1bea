import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { labsDir, type Lab, starterFile, treeDir, workspaceRoot } from "../scripts/lib/labs";
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
  for (const file of lab.learnerFiles) {
    const copy = path.join(tree, ...file.split("/"));
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(starterFile(lab, file), copy);
  }
  ensureStubs(lab, tree);
  return tree;
}

export function removeTrees(): void {
  fs.rmSync(treesRoot, { recursive: true, force: true });
}

/** The ids of the checks that did not pass. */
export const failingIds = (result: LabResult): string[] => result.tests.filter((t) => t.status !== "pass").map((t) => t.id);

/** Checks a version of the lab's solution with `edits` (a tree named after the lab and `name`). */
export function checkVariant(lab: Lab, name: string, edits: Edit[]): Promise<LabResult> {
  return checkLab(lab, { target: "learner", tree: solutionVariant(lab, `${lab.number}-${name}`, edits) });
}

/**
 * An edit that replaces a whole learner file with test/labNN-alternatives/<alternative>
 * (a different correct solution), its imports of the solution's stubs pointed at the tree's own.
 */
export function replacedBy(lab: Lab, file: string, alternative: string): Edit {
  const text = fs.readFileSync(path.join(__dirname, `lab${lab.number}-alternatives`, alternative), "utf8").replaceAll(`../../solutions/${lab.id}/gen/`, "../gen/");
  return { file, from: /^[\s\S]*$/, to: text.replaceAll("$", "$$$$") };
}

/** Every check named by `prefixes` fails; every other passes, except those in `mayFail`, which may do either. */
export function expectFailing(result: LabResult, prefixes: string[], mayFail: string[] = []): void {
  assert.deepEqual(result.type_errors, []);
  const ids = failingIds(result);
  for (const prefix of prefixes) assert.ok(ids.some((id) => id.startsWith(prefix)), `${prefix} passed; failing: ${ids.join(", ")}`);
  const unexpected = ids.filter((id) => ![...prefixes, ...mayFail].some((prefix) => id.startsWith(prefix)));
  assert.deepEqual(unexpected, [], "checks that failed but should have passed");
}
