import * as fs from "node:fs";
import * as path from "node:path";
import { type Lab, treeDir, workspaceRoot } from "../scripts/lib/labs";

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

export function removeTrees(): void {
  fs.rmSync(treesRoot, { recursive: true, force: true });
}
