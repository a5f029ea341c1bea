/**
 * The judge runs checks in lanes, several at once, each lane with a subject
 * of its own: checks that wait overlap, each check's output and faults stay
 * its own, serial() checks run alone, and results keep step order.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { findLab } from "../scripts/lib/labs";
import { checkLab } from "../scripts/lib/run-checks";
import { removeTrees, solutionVariant } from "./trees";

const lab = findLab("01");

/** A lab 01 tree whose server file also exports shout() (prints) and spin() (blocks the event loop), with the check file `body`. */
function treeWith(name: string, body: string): { tree: string; check: string } {
  const tree = solutionVariant(lab, name, [
    {
      file: "src/server.ts",
      from: "export function createRouteGuideServer(",
      to: "export function shout(text: string): void {\n  console.log(text);\n}\nexport function spin(): void {\n  for (;;) {}\n}\n$&",
    },
  ]);
  const check = path.join(tree, "checks", "lanes.check.ts");
  fs.mkdirSync(path.dirname(check), { recursive: true });
  fs.writeFileSync(
    check,
    `import { setTimeout as sleep } from "node:timers/promises";
import { expectTrue, loadTarget, serial, step } from "../../../scripts/check-kit";
type Server = { shout(text: string): Promise<void>; spin(): Promise<void> };
const server = () => loadTarget<Server>("src/server.ts");
const state = globalThis as unknown as { running?: number };
async function counted(work: () => Promise<void>): Promise<void> {
  state.running = (state.running ?? 0) + 1;
  try {
    await work();
  } finally {
    state.running! -= 1;
  }
}
${body}
`,
  );
  return { tree, check };
}

describe("checks in lanes", function () {
  this.timeout(120_000);
  after(removeTrees);

  it("overlap checks that wait, keep each check's output its own, and report in step order", async () => {
    const waits = [2, 2, 2, 3, 3, 3, 3, 3]
      .map(
        (stepNumber, i) => `step(${stepNumber}, () => {
  it("waits ${i}", async () => {
    const s = await server();
    await s.shout("from check ${i}");
    await sleep(1500);
    await s.shout("again from check ${i}");
  });
});`,
      )
      .join("\n");
    const { tree, check } = treeWith("lanes-overlap", waits);
    const started = Date.now();
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check] });
    const elapsed = Date.now() - started;
    const checks = result.tests.filter((t) => t.step > 1);
    assert.deepEqual(
      checks.map((t) => [t.step, t.name, t.status]),
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => [i < 3 ? 2 : 3, `waits ${i}`, "pass"]),
    );
    for (const [i, t] of checks.entries()) assert.equal(t.output, `from check ${i}\nagain from check ${i}`, t.name);
    // One after another, the whole run would take longer than its checks together (at least 12 s); in lanes, far less.
    const together = checks.reduce((sum, t) => sum + t.duration_ms, 0);
    assert.ok(elapsed < together - 3000, `eight checks that wait 1.5 s each took ${elapsed} ms in all, ${together} ms together`);
  });

  it("fail only the check whose subject blocks, and run serial() checks alone", async () => {
    const body = `step(2, () => {
  it("blocks", async () => {
    const s = await server();
    await counted(() => s.spin());
  });
  it("waits beside it", () => counted(async () => { await (await server()).shout("beside"); await sleep(2500); }));
  it("waits beside it too", () => counted(async () => { await (await server()).shout("beside too"); await sleep(2500); }));
});
step(3, () => {
  serial(() => {
    it("runs alone", () =>
      counted(async () => {
        expectTrue(state.running === 1, \`\${state.running} checks ran at once with a serial one\`);
        await sleep(300);
        expectTrue(state.running === 1, \`\${state.running} checks ran at once with a serial one\`);
      }));
  });
  it("runs after", () => counted(async () => { await (await server()).shout("after"); await sleep(300); }));
});`;
    const { tree, check } = treeWith("lanes-faults", body);
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check] });
    const byName = new Map(result.tests.map((t) => [t.name, t]));
    assert.match(byName.get("blocks")!.message ?? "", /blocked the event loop/);
    for (const name of ["waits beside it", "waits beside it too", "runs alone", "runs after"]) assert.equal(byName.get(name)?.status, "pass", `${name}: ${byName.get(name)?.message}`);
  });
});
