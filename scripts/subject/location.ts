import * as path from "node:path";

/**
 * The first stack frame inside the code under test, as "src/server.ts:42", or
 * "". `root` is the learner's lab folder (or the solution's); frames in its
 * generated stubs are skipped, since the learner did not write them.
 */
export function learnerLocationIn(stack: string, root: string): string {
  for (const line of stack.split("\n")) {
    // "at fn (/path/file.ts:12:5)" or "at /path/file.ts:12:5"; paths may hold spaces.
    const match = /(?:at |\()((?:[A-Za-z]:)?[^():]+):(\d+):\d+\)?$/.exec(line.trim());
    const file = match?.[1];
    if (file && path.resolve(file).startsWith(root + path.sep) && !file.includes(`${path.sep}gen${path.sep}`)) {
      return `${path.relative(root, file).split(path.sep).join("/")}:${match[2]}`;
    }
  }
  return "";
}
