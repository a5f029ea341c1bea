/**
 * A unified diff of two texts (what `diff -u` prints), in plain Node, so
 * `npm run lab NN -- diff` works on every platform without a diff tool.
 * Lab files are a few hundred lines: a longest-common-subsequence table is
 * small and simple enough.
 */
type Op = { kind: " " | "-" | "+"; line: string };

function lines(text: string): string[] {
  const all = text.split(/\r?\n/);
  if (all[all.length - 1] === "") all.pop();
  return all;
}

/** The edit script from `a` to `b`, common lines included. */
function edits(a: string[], b: string[]): Op[] {
  // Common prefix and suffix need no table.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  // lcs[i][j]: length of the longest common subsequence of a[start+i..endA) and b[start+j..endB).
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[start + i] === b[start + j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = a.slice(0, start).map((line) => ({ kind: " ", line }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      ops.push({ kind: " ", line: a[start + i]! });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push({ kind: "-", line: a[start + i]! });
      i++;
    } else {
      ops.push({ kind: "+", line: b[start + j]! });
      j++;
    }
  }
  for (const line of a.slice(endA)) ops.push({ kind: " ", line });
  return ops;
}

/** `diff -u` output from `oldName` to `newName`, or "" when the texts are the same. */
export function unifiedDiff(oldText: string, newText: string, oldName: string, newName: string, context = 3): string {
  const ops = edits(lines(oldText), lines(newText));
  const changed = ops.map((op, index) => (op.kind === " " ? -1 : index)).filter((index) => index >= 0);
  if (changed.length === 0) return "";

  // Group changes whose context overlaps into hunks of op indexes [from, to).
  const hunks: Array<[number, number]> = [];
  for (const index of changed) {
    const from = Math.max(0, index - context);
    const to = Math.min(ops.length, index + context + 1);
    const last = hunks[hunks.length - 1];
    if (last && from <= last[1]) last[1] = to;
    else hunks.push([from, to]);
  }

  const out = [`--- ${oldName}`, `+++ ${newName}`];
  for (const [from, to] of hunks) {
    // Line numbers (1-based) of the hunk's first line in each file.
    const before = ops.slice(0, from);
    const oldStart = before.filter((op) => op.kind !== "+").length + 1;
    const newStart = before.filter((op) => op.kind !== "-").length + 1;
    const body = ops.slice(from, to);
    const oldCount = body.filter((op) => op.kind !== "+").length;
    const newCount = body.filter((op) => op.kind !== "-").length;
    out.push(`@@ -${oldCount === 0 ? oldStart - 1 : oldStart},${oldCount} +${newCount === 0 ? newStart - 1 : newStart},${newCount} @@`);
    for (const op of body) out.push(`${op.kind}${op.line}`);
  }
  return `${out.join("\n")}\n`;
}
