/**
 * esbuild's child process stops once no call is in flight (withEsbuild,
 * scripts/check-kit/esbuild.ts): calls made together share it, and a call
 * after it stopped starts another.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { withEsbuild } from "../scripts/check-kit";

/** What /proc says of a process, or "" once it has gone. */
const procRead = (file: string) => {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

/** esbuild's service processes whose parent is this process (Linux: /proc). */
const ownServices = () =>
  fs.readdirSync("/proc").filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    const stat = procRead(`/proc/${pid}/stat`);
    const parent = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
    return parent === String(process.pid) && procRead(`/proc/${pid}/cmdline`).includes("--service=");
  }).length;

describe("esbuild for the judge", () => {
  const transpile = (code: string) => withEsbuild((esbuild) => esbuild.transform(code, { loader: "ts" })).then((result) => result.code.trim());

  it("transpiles calls made together, stops its process when idle, and starts another for the next call", async function () {
    if (process.platform !== "linux") this.skip();
    assert.deepEqual(await Promise.all([transpile("const a: number = 1;"), transpile("const b: string = 'b';")]), ["const a = 1;", 'const b = "b";']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(ownServices(), 0, "esbuild's process still ran 0.4 s after the last call");
    assert.equal(await transpile("let c: boolean = true;"), "let c = true;");
  });
});
