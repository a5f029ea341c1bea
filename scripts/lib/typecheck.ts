import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { workspaceRoot } from "./labs";

/** One compiler diagnostic, with the file relative to the checked lab tree. */
export interface TypeError {
  file: string;
  line: number;
  column: number;
  message: string;
}

/**
 * TypeScript 7's native compiler checks a lab in about 0.2 s, ten times
 * faster than the JavaScript compiler that ts-node needs. Call the platform
 * binary directly: the `tsc` wrapper costs one more Node start on Node 20.
 */
export function tscCommand(): { command: string; args: string[] } {
  const exe = process.platform === "win32" ? "tsc.exe" : "tsc";
  try {
    const pkg = require.resolve(`@typescript/typescript-${process.platform}-${process.arch}/package.json`, {
      paths: [require.resolve("typescript/package.json", { paths: [workspaceRoot] })],
    });
    const binary = path.join(path.dirname(pkg), "lib", exe);
    if (fs.existsSync(binary)) return { command: binary, args: [] };
  } catch {
    // No native package for this platform: fall back to the Node wrapper.
  }
  const wrapper = path.join(path.dirname(require.resolve("typescript/package.json", { paths: [workspaceRoot] })), "bin", "tsc");
  return { command: process.execPath, args: [wrapper] };
}

const diagnosticLine = /^(.+?)\((\d+),(\d+)\): error TS\d+: (.*)$/;

/** Parses `tsc --pretty false` output; continuation lines join their diagnostic. */
export function parseTscOutput(output: string, tree: string): TypeError[] {
  const errors: TypeError[] = [];
  for (const line of output.split(/\r?\n/)) {
    const match = diagnosticLine.exec(line);
    if (match) {
      const [, file = "", lineNo = "0", column = "0", message = ""] = match;
      const relative = path.relative(tree, path.resolve(workspaceRoot, file)).split(path.sep).join("/");
      errors.push({ file: relative, line: Number(lineNo), column: Number(column), message });
    } else if (line.startsWith(" ") && errors.length > 0) {
      const last = errors[errors.length - 1]!;
      last.message += ` ${line.trim()}`;
    }
  }
  return errors;
}

/** Type-checks one lab tree with its tsconfig.json; resolves with the errors found. */
export function typeCheck(tree: string): Promise<TypeError[]> {
  const { command, args } = tscCommand();
  return new Promise((resolve) => {
    // One thread: the check worker, running at the same time, is the longer of the two, and on
    // a 2-core machine tsc's extra threads only take CPU from it (measured in docs/performance.md).
    const child = spawn(command, [...args, "-p", path.join(tree, "tsconfig.json"), "--noEmit", "--pretty", "false", "--singleThreaded"], {
      cwd: workspaceRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (err) => resolve([{ file: "tsconfig.json", line: 0, column: 0, message: `could not run tsc: ${err.message}` }]));
    child.on("close", () => resolve(parseTscOutput(output, tree)));
  });
}

export function formatTypeError(error: TypeError): string {
  return `${error.file}:${error.line}: ${error.message}`;
}
