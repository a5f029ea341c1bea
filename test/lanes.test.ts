/**
 * The judge runs checks in lanes, many at once, sharing a few subjects:
 * checks that wait overlap, each check's output and faults stay its own
 * (told apart by async context in a shared subject, or by running a check
 * again alone), serial() checks run alone, and results keep step order.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { psTimeMs, silenceVerdict } from "../scripts/check-kit/subject";
import { expectedDurations, lanesWanted, lastDurations, longestFirst, recordDurations } from "../scripts/lib/check-durations";
import { findLab, workspaceRoot } from "../scripts/lib/labs";
import { checkLab } from "../scripts/lib/run-checks";
import { removeTrees, solutionVariant } from "./trees";

const lab = findLab("01");
/** The judge tells a looping subject from a waiting one where it can read a process's CPU time (not on Windows). */
const busyRuleApplies = process.platform !== "win32";

/** A lab 01 tree whose server file also exports shout() (prints), spin() (blocks the event loop), compute(ms) (blocks it for ms) and throwLater() (throws from a timer), with the check file `body`. */
function treeWith(name: string, body: string): { tree: string; check: string } {
  const tree = solutionVariant(lab, name, [
    {
      file: "src/server.ts",
      from: "export function createRouteGuideServer(",
      to: "export function shout(text: string): void {\n  console.log(text);\n}\nexport function spin(): void {\n  for (;;) {}\n}\nexport function pid(): number {\n  return process.pid;\n}\nexport function compute(ms: number): void {\n  const end = Date.now() + ms;\n  while (Date.now() < end) {}\n}\nexport function throwLater(): void {\n  setTimeout(() => {\n    throw new Error(\"late\");\n  }, 900);\n}\n$&",
    },
  ]);
  const check = path.join(tree, "checks", "lanes.check.ts");
  fs.mkdirSync(path.dirname(check), { recursive: true });
  fs.writeFileSync(
    check,
    `import { setTimeout as sleep } from "node:timers/promises";
import { expectTrue, loadTarget, ownSubject, serial, step, timed } from "../../../scripts/check-kit";
type Server = { shout(text: string): Promise<void>; spin(): Promise<void>; compute(ms: number): Promise<void>; throwLater(): Promise<void>; pid(): Promise<number> };
const server = () => loadTarget<Server>("src/server.ts");
const state = globalThis as unknown as { at?: number; running?: number; runs?: Record<string, number>; spans?: Array<{ name: string; pid: number; from: number; to: number }>; timing?: boolean };
async function span(name: string, ms: number): Promise<void> {
  const pid = await (await server()).pid();
  const from = Date.now();
  await sleep(ms);
  state.spans = [...(state.spans ?? []), { name, pid, from, to: Date.now() }];
}
function ran(name: string): void {
  state.runs = { ...state.runs, [name]: (state.runs?.[name] ?? 0) + 1 };
}
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

/**
 * Runs the checks of `tree` until no check of step 2 on failed with one of `unsteady` (what depends on how busy
 * the machine is: whether the lanes open while the first checks run, whether the judge keeps time), at most 3
 * times. Then every check of step 2 on must pass.
 */
async function passesOnceSteady({ tree, check }: { tree: string; check: string }, ...unsteady: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check] });
    const checks = result.tests.filter((t) => t.step > 1);
    if (attempt < 3 && checks.some((t) => unsteady.some((text) => t.message?.includes(text)))) continue;
    for (const t of checks) assert.equal(t.status, "pass", `${t.name}: ${t.message}`);
    return;
  }
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

  it("fail only the check whose code loops, at once, run the checks beside it again, and run serial() checks alone, last", async () => {
    const body = `step(2, () => {
  serial(() => {
    it("runs alone", () =>
      counted(async () => {
        // Last, though it comes first: alone, it would hold back every other check.
        expectTrue((state.runs?.["runs after"] ?? 0) > 0, "a serial check ran before the checks after it, though it comes first");
        expectTrue(state.running === 1, \`\${state.running} checks ran at once with a serial one\`);
        // The longest check, so that it would also come first by the durations of the last run.
        await sleep(2600);
        expectTrue(state.running === 1, \`\${state.running} checks ran at once with a serial one\`);
      }));
  });
});
step(3, () => {
  it("blocks", async () => {
    const s = await server();
    await counted(() => s.spin());
  });
  it("gets no CPU for a second", async () => {
    // Stopped and continued from outside: a subject that waits for the CPU is not looping.
    const pid = await (await server()).pid();
    process.kill(pid, "SIGSTOP");
    await sleep(1000);
    process.kill(pid, "SIGCONT");
    await (await server()).shout("continued");
  });
  it("waits beside it", () => counted(async () => { await (await server()).shout("beside"); await sleep(2500); }));
  it("waits beside it too", () => counted(async () => { await (await server()).shout("beside too"); await sleep(2500); }));
});
step(4, () => {
  it("runs after", () => counted(async () => { ran("runs after"); await (await server()).shout("after"); await sleep(300); }));
});`;
    const { tree, check } = treeWith("lanes-faults", body);
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check] });
    const byName = new Map(result.tests.map((t) => [t.name, t]));
    if (busyRuleApplies) {
      // The subject named the looping check beforehand: it failed within a second, and no other check failed with it.
      assert.match(byName.get("blocks")!.message ?? "", /blocked the event loop: it had computed for 0\.\d s without a break/);
      assert.ok(byName.get("blocks")!.duration_ms < 1500, `the loop was found after ${byName.get("blocks")!.duration_ms} ms`);
    } else {
      assert.match(byName.get("blocks")!.message ?? "", /blocked the event loop for more than 2 s/);
    }
    for (const name of ["gets no CPU for a second", "waits beside it", "waits beside it too", "runs alone", "runs after"]) assert.equal(byName.get(name)?.status, "pass", `${name}: ${byName.get(name)?.message}`);
  });

  it("run the checks that passed beside a loop again side by side, even in the step that looped", async () => {
    if (!busyRuleApplies) return;
    const body = `step(2, () => {
  it("blocks", async () => {
    const s = await server();
    await sleep(200);
    await s.spin();
  });
  // They passed, in the subject that looped, so they run again; they were not waiting on the loop, so not alone.
  for (const name of ["beside 1", "beside 2"]) it(name, () => span(name, 1200));
});
step(3, () => {
  serial(() => {
    it("saw the checks beside the loop run again at once", () => {
      const again = ["beside 1", "beside 2"].map((name) => state.spans!.filter((s) => s.name === name)[1]);
      expectTrue(again.every(Boolean), \`ran: \${JSON.stringify(state.spans)}\`);
      const [one, two] = again as Array<{ from: number; to: number }>;
      expectTrue(one.from < two.to && two.from < one.to, \`one after the other: \${JSON.stringify(again)}\`);
    });
  });
});`;
    const { tree, check } = treeWith("lanes-loop-beside", body);
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check], subjects: 1 });
    const byName = new Map(result.tests.map((t) => [t.name, t]));
    assert.match(byName.get("blocks")!.message ?? "", /blocked the event loop/);
    for (const name of ["beside 1", "beside 2", "saw the checks beside the loop run again at once"]) assert.equal(byName.get(name)?.status, "pass", `${name}: ${byName.get(name)?.message}`);
  });

  it("blame no check when many checks' short computations hold a subject's event loop in one turn", async () => {
    // Twelve checks wait, then at one instant each asks for 100 ms of work: the subjects get the requests in one read,
    // and each runs 600 ms of work without a beat. No check's code loops; the work of each is short.
    const body = `step(2, () => {
${Array.from({ length: 12 }, (_, i) => `  it("computes 100 ms ${i}", async () => {
    const s = await server();
    state.at ??= Date.now() + 1500;
    await sleep(state.at - Date.now());
    await s.compute(100);
  });`).join("\n")}
});`;
    const { tree, check } = treeWith("lanes-bursts", body);
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check] });
    for (const test of result.tests.filter((t) => t.step === 2)) assert.equal(test.status, "pass", `${test.name}: ${test.message}`);
  });

  it("run a check again, alone, when it failed while its subject got no CPU, and a check whose code never answers once", async () => {
    const body = `step(2, () => {
  it("fails while its subject gets no CPU", async () => {
    ran("stopped");
    const s = await server();
    const pid = await s.pid();
    if (state.runs!["stopped"] === 1) {
      // What a machine running more than it has cores for does to a subject, only longer.
      process.kill(pid, "SIGSTOP");
      setTimeout(() => process.kill(pid, "SIGCONT"), 1800);
    }
    const answered = await Promise.race([s.shout("answered").then(() => true), sleep(1700).then(() => false)]);
    expectTrue(answered, "no answer within 1700 ms");
  });
});
step(3, () => {
  serial(() => {
    // Alone (serial), so that no stopped subject is its too.
    it("waits for an answer that never comes", async () => {
      ran("never");
      await (await server()).shout("idle");
      await sleep(800);
      expectTrue(false, "no answer within 800 ms");
    });
    it("counts the runs", () => {
      const runs = Object.entries(state.runs ?? {}).sort().map(([name, count]) => \`\${name}: \${count}\`).join(", ");
      expectTrue(runs === "never: 1, stopped: 2", \`runs: \${runs}\`);
    });
  });
});`;
    const { tree, check } = treeWith("lanes-stalled", body);
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check] });
    const byName = new Map(result.tests.map((t) => [t.name, t]));
    assert.equal(byName.get("fails while its subject gets no CPU")?.status, "pass", byName.get("fails while its subject gets no CPU")?.message ?? "");
    assert.equal(byName.get("waits for an answer that never comes")?.message, "no answer within 800 ms");
    assert.equal(byName.get("counts the runs")?.status, "pass", byName.get("counts the runs")?.message ?? "");
  });

  it("fail only the check whose code threw, though others share its subject, without running them again", async () => {
    const body = `step(2, () => {
  it("throws later", async () => {
    ran("throws later");
    await (await server()).throwLater();
    await sleep(1300);
  });
  for (const name of ["waits 1", "waits 2", "waits 3"]) {
    it(name, async () => {
      ran(name);
      await (await server()).shout(name);
      await sleep(900);
    });
  }
});
step(3, () => {
  serial(() => {
    it("counts the runs", () => {
      const runs = Object.entries(state.runs ?? {}).sort().map(([name, count]) => \`\${name}: \${count}\`).join(", ");
      expectTrue(runs === "throws later: 1, waits 1: 1, waits 2: 1, waits 3: 1", \`runs: \${runs}\`);
    });
  });
});`;
    const { tree, check } = treeWith("lanes-uncaught", body);
    const result = await checkLab(lab, { target: "learner", tree, checkFiles: [check] });
    const byName = new Map(result.tests.map((t) => [t.name, t]));
    assert.match(byName.get("throws later")!.message ?? "", /your code threw "late"/);
    for (const name of ["waits 1", "waits 2", "waits 3", "counts the runs"]) assert.equal(byName.get(name)?.status, "pass", `${name}: ${byName.get(name)?.message}`);
    for (const name of ["waits 1", "waits 2", "waits 3"]) assert.equal(byName.get(name)?.output, name);
  });

  it("run an ownSubject() check with no other check in its subject, while others run in the other", async () => {
    const body = `step(2, () => {
  ownSubject(() => {
    it("races the network", () => span("alone", 3000));
  });
  for (const name of ["a", "b", "c", "d", "e"]) it(name, () => span(name, 800));
});
step(3, () => {
  serial(() => {
    it("saw no other check in the subject of the one that runs alone", () => {
      const spans = state.spans ?? [];
      const alone = spans.find((s) => s.name === "alone");
      expectTrue(alone !== undefined && spans.length === 6, \`spans: \${JSON.stringify(spans)}\`);
      const beside = spans.filter((s) => s !== alone && s.pid === alone!.pid && s.from < alone!.to && s.to > alone!.from);
      expectTrue(beside.length === 0, \`ran beside it in its subject: \${beside.map((s) => s.name).join(", ")}\`);
      expectTrue(spans.some((s) => s !== alone && s.from < alone!.to && s.to > alone!.from), "no check ran while it did");
    });
  });
});`;
    // Whether the other lanes open while it runs depends on how busy the machine is: a run where none did proves nothing.
    await passesOnceSteady(treeWith("lanes-own-subject", body), "no check ran while it did");
  });
  it("run ownSubject() checks side by side, each in a subject of its own, in subjects the other checks do not use", async () => {
    const body = `step(2, () => {
  ownSubject(() => {
    for (const name of ["alone 1", "alone 2", "alone 3"]) it(name, () => span(name, 1500));
  });
  for (const name of ["a", "b", "c", "d", "e", "f"]) it(name, () => span(name, 600));
});
step(3, () => {
  serial(() => {
    it("saw each alone check in a subject of its own, beside the others", () => {
      const spans = state.spans ?? [];
      const alone = spans.filter((s) => s.name.startsWith("alone"));
      const others = spans.filter((s) => !s.name.startsWith("alone"));
      expectTrue(alone.length === 3 && others.length === 6, \`spans: \${JSON.stringify(spans)}\`);
      for (const one of alone) {
        const beside = spans.filter((s) => s !== one && s.pid === one.pid && s.from < one.to && s.to > one.from);
        expectTrue(beside.length === 0, \`ran beside \${one.name} in its subject: \${beside.map((s) => s.name).join(", ")}\`);
      }
      expectTrue(alone.every((one) => alone.every((other) => other.from < one.to && other.to > one.from)), \`the alone checks did not all run at once: \${JSON.stringify(alone)}\`);
      const pids = new Set(others.map((s) => s.pid));
      expectTrue(pids.size <= 2, \`the other checks ran in \${pids.size} subjects: expected the 2 they share\`);
    });
  });
});`;
    await passesOnceSteady(treeWith("lanes-own-subjects", body), "did not all run at once");
  });
  for (const judgeLate of [false, true]) {
    const when = judgeLate ? "again, alone and last, when the judge ran late meanwhile" : "once, beside the others, while the judge keeps time";
    it(`run a timed() check in a subject of its own, ${when}`, async () => {
      const body = `step(2, () => {
  timed(() => {
    it("times", async () => {
      state.timing = true;
      await counted(() => span("times", 800));
      state.timing = false;
    });
  });
  for (const name of ["a", "b", "c"]) it(name, () => counted(() => span(name, 600)));
  it("keeps the judge busy", async () => {
    for (let i = 0; i < 100 && !state.timing; i++) await sleep(20);
    ${judgeLate ? "const end = Date.now() + 120; while (Date.now() < end);" : ""}
  });
});
step(3, () => {
  serial(() => {
    it("saw the timed check run ${judgeLate ? "twice, alone the second time" : "once, beside others"}", () => {
      const spans = state.spans ?? [];
      const runs = spans.filter((s) => s.name === "times");
      const beside = (one: (typeof spans)[number]) => spans.filter((s) => s !== one && s.from < one.to && s.to > one.from);
      for (const one of runs) expectTrue(beside(one).every((s) => s.pid !== one.pid), \`ran in the subject of the timed check: \${JSON.stringify(spans)}\`);
      expectTrue(runs.length === ${judgeLate ? 2 : 1}, \`the timed check ran \${runs.length} times: \${JSON.stringify(spans)}\`);
      expectTrue(beside(runs[0]!).length > 0, \`no check ran beside the timed one: \${JSON.stringify(spans)}\`);
      ${judgeLate ? "expectTrue(beside(runs[1]!).length === 0, \`checks ran beside the second run of the timed check: \${JSON.stringify(spans)}\`);" : ""}
    });
  });
});`;
      // Whether the lanes open while the timed check runs, and the judge keeps time when nothing blocks it, depend on how busy the machine is.
      await passesOnceSteady(treeWith(`lanes-timed-${judgeLate}`, body), "no check ran beside", ...(judgeLate ? [] : ["the timed check ran 2 times"]));
    });
  }
});

describe("the order checks start in", () => {
  it("puts the checks that waited longest last time first, longest first, and keeps the others in step order", () => {
    const last = new Map([
      ["s2.b", 1500],
      ["s3.d", 2100],
      ["s2.c", 30],
    ]);
    assert.deepEqual(longestFirst(["s2.a", "s2.b", "s2.c", "s3.d", "s4.e"], (id) => id, last), ["s3.d", "s2.b", "s2.a", "s2.c", "s4.e"]);
    assert.deepEqual(longestFirst(["s2.a", "s2.b"], (id) => id, new Map()), ["s2.a", "s2.b"]);
  });

  it("expects a check to take as long as it took last time, or in one of its last three passing runs if longer", () => {
    const labId = "00-durations-test";
    const file = path.join(workspaceRoot, "node_modules", ".cache", "grpc-labs", "durations", `${labId}.json`);
    try {
      // A workspace that noted last times only, as before passing runs were kept.
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify({ "s5.grace": 1100, "s2.deadline": 20 }));
      assert.deepEqual(expectedDurations(labId), new Map([["s5.grace", 1100], ["s2.deadline", 20]]));
      // A shutdown check that waits out a grace period when it passes, and fails at once in a run where the
      // server does not stop: it goes first again in the next run. A check that waited out a deadline only while
      // it failed is expected to wait no longer once it passes quickly.
      recordDurations(labId, new Map([["s5.grace", 40], ["s2.deadline", 2050]]), new Map());
      recordDurations(labId, new Map([["s5.grace", 1200], ["s2.deadline", 2030]]), new Map([["s5.grace", 1200]]));
      recordDurations(labId, new Map([["s5.grace", 35], ["s2.deadline", 15]]), new Map([["s2.deadline", 15]]));
      assert.deepEqual(lastDurations(labId), new Map([["s5.grace", 35], ["s2.deadline", 15]]));
      assert.deepEqual(expectedDurations(labId), new Map([["s5.grace", 1200], ["s2.deadline", 15]]));
      // Three passing runs are kept: a fourth forgets the oldest.
      for (const ms of [30, 30, 30]) recordDurations(labId, new Map([["s5.grace", ms]]), new Map([["s5.grace", ms]]));
      assert.equal(expectedDurations(labId).get("s5.grace"), 30);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it("opens a lane for each check that waited last time, even while the judge is busy, and otherwise opens nine times as many only while it is idle", () => {
    // A dozen checks that waited out a 2 s deadline last time, then checks that took 50 ms.
    const queued = [...Array<number>(12).fill(2100), 50, 50, 50];
    assert.equal(lanesWanted(1, 32, queued, false), 13);
    assert.equal(lanesWanted(1, 32, queued, true), 13);
    assert.equal(lanesWanted(1, 8, queued, false), 8);
    // Checks that computed last time: nine times as many lanes when idle, none more when busy.
    assert.equal(lanesWanted(1, 32, Array<number>(20).fill(50), true), 9);
    assert.equal(lanesWanted(9, 32, Array<number>(30).fill(50), true), 32);
    assert.equal(lanesWanted(3, 32, [50, 50, 50], false), 3);
    assert.equal(lanesWanted(9, 32, [50, 50], true), 11);
    // No durations (a first run): the same, nine times as many while idle.
    assert.equal(lanesWanted(1, 32, [0, 0, 0, 0, 0], true), 6);
    assert.equal(lanesWanted(1, 32, Array<number>(12).fill(0), true), 9);
  });
});

describe("a subject silent for 2 s", () => {
  it("tells a subject silent for 2 s that blocks from one that waits for a CPU", () => {
    const sampled = { samples: 18, sampledMs: 1850 };
    // Computing most of the time: an endless loop, or a module that computes as it loads.
    assert.equal(silenceVerdict({ ms: 2000, ...sampled, runnable: 18, cpuMs: 1700 }), "blocked");
    // Asleep without a beat: a synchronous wait (Atomics.wait) blocks the event loop too.
    assert.equal(silenceVerdict({ ms: 2000, ...sampled, runnable: 2, cpuMs: 20 }), "blocked");
    // Runnable but given little CPU: the machine is overloaded; it gets more time, up to 8 s, then is told so.
    assert.equal(silenceVerdict({ ms: 2000, ...sampled, runnable: 15, cpuMs: 400 }), "wait");
    assert.equal(silenceVerdict({ ms: 7900, samples: 76, runnable: 70, sampledMs: 7750, cpuMs: 1500 }), "wait");
    assert.equal(silenceVerdict({ ms: 8000, samples: 78, runnable: 70, sampledMs: 7850, cpuMs: 1500 }), "starved");
    // Once it has computed most of the time it was given, it is its code.
    assert.equal(silenceVerdict({ ms: 5000, samples: 48, runnable: 48, sampledMs: 4850, cpuMs: 3900 }), "blocked");
    // Nothing sampled (Windows, or the process gone): the silence alone decides.
    assert.equal(silenceVerdict({ ms: 2000 }), "blocked");
  });
});

describe("a subject's CPU time on macOS and the BSDs", function () {
  it("is read from ps -o time, with or without hours and days", () => {
    assert.equal(psTimeMs("   0:00.35\n"), 350);
    assert.equal(psTimeMs("12:03.10"), (12 * 60 + 3.1) * 1000);
    assert.equal(psTimeMs("01:02:03.04"), ((60 + 2) * 60 + 3.04) * 1000);
    assert.equal(psTimeMs("2-01:00:00.00"), (2 * 24 + 1) * 3600 * 1000);
    assert.equal(psTimeMs(""), undefined);
  });
});
