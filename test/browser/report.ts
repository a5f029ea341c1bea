/**
 * `npm run test:browser`: opens the class report (report.html) in a real
 * headless Chromium (Debian's `chromium` package, driven by playwright-core)
 * and checks that the heat map and the per-check shares render, offline.
 * Not part of `npm test`, which needs no browser; .ci/run runs it.
 * CHROMIUM_PATH names another Chromium than /usr/bin/chromium.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import type { StudentResult } from "../../scripts/grade/grader";
import { reportHtml } from "../../scripts/grade/report-html";
import { type Lab, listLabs } from "../../scripts/lib/labs";
import { buildResult, type CheckResult, checkId, type LabResult } from "../../scripts/lib/results";

/** A lab result with two checks a step, the first `passing` of them passed. */
function labResult(lab: Lab, passing: number, message: string | null = null): LabResult {
  const tests = lab.steps.flatMap((step) =>
    ["first", "second"].map((name): CheckResult => ({ id: checkId(step.step, name), name, step: step.step, side: step.side, status: "fail", message: "failed", output: null, duration_ms: 1, points: 0, max_points: 1 })),
  );
  const scored = tests.map((t, i): CheckResult => (i < passing ? { ...t, status: "pass", message: null, points: 1 } : { ...t, message: message ?? t.message }));
  return buildResult(lab, "learner", scored, { type_errors: [], warnings: [], message, duration_ms: 1 });
}

function student(name: string, labs: LabResult[]): StudentResult {
  const score = labs.reduce((s, l) => s + l.score, 0);
  return { version: 1, student: name, source: name, key: "", score, max_score: labs.reduce((s, l) => s + l.max_score, 0), notes: [], tampered: null, labs };
}

async function main(): Promise<void> {
  const labs = listLabs();
  const checks = labs[0]!.steps.length * 2;
  const students = [
    student("ada", labs.map((l) => labResult(l, l.steps.length * 2))),
    student("bo", labs.map((l) => labResult(l, 1))),
    student("cy", labs.map((l) => labResult(l, 0, "not submitted: the submission has none of the lab's files"))),
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "grpc-labs-report-"));
  const file = path.join(dir, "report.html");
  fs.writeFileSync(file, reportHtml(labs, students));

  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!fs.existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: install Debian's chromium package or set CHROMIUM_PATH`);
  const browser = await chromium.launch({ executablePath, headless: true });
  try {
    const page = await browser.newPage();
    const remote: string[] = [];
    // The report must open offline: anything but the file itself is a failure.
    await page.route("**/*", (route) => {
      if (route.request().url().startsWith("file:")) return route.continue();
      remote.push(route.request().url());
      return route.abort();
    });
    await page.goto(pathToFileURL(file).href);
    assert.deepEqual(remote, [], "the report loads nothing from the network");

    const rows = page.locator("#heatmap tbody tr");
    assert.equal(await rows.count(), 3);
    const cell = (name: string) => page.locator(`#heatmap tr[data-student="${name}"] td.cell[data-lab="${labs[0]!.id}"]`);
    assert.equal((await cell("ada").innerText()).trim(), `${checks} / ${checks}`);
    const rgb = async (name: string) =>
      (await cell(name).evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).backgroundColor)).match(/\d+/g)!.slice(0, 3).map(Number) as [number, number, number];
    const [adaRed, adaGreen] = await rgb("ada");
    const [boRed, boGreen] = await rgb("bo");
    assert.ok(adaGreen > adaRed, `a full score is green, got rgb(${adaRed}, ${adaGreen})`);
    assert.ok(boRed > boGreen, `a low score is red, got rgb(${boRed}, ${boGreen})`);
    assert.match((await cell("cy").getAttribute("class")) ?? "", /missing/);
    assert.ok(await cell("cy").isVisible());

    // Two of three students passed the first check: a bar two thirds full.
    const first = page.locator(`table.checks[data-lab="${labs[0]!.id}"] tr[data-check="${checkId(1, "first")}"]`);
    assert.match(await first.innerText(), /67%\s*\(2 \/ 3\)/);
    const [outer, inner] = await first.evaluate((row) => {
      const bar = row.querySelector(".bar")!;
      return [bar.getBoundingClientRect().width, bar.querySelector("span")!.getBoundingClientRect().width];
    });
    assert.ok(Math.abs(inner / outer - 0.67) < 0.02, `the bar is ${inner} of ${outer} px`);
    const last = page.locator(`table.checks[data-lab="${labs[0]!.id}"] tr[data-check="${checkId(labs[0]!.steps.length, "second")}"]`);
    assert.match(await last.innerText(), /33%\s*\(1 \/ 3\)/);
    assert.match(await page.locator("#hardest li").first().innerText(), /^33% passed: lab \d+, step 1, second/);
    if (process.env.REPORT_SCREENSHOT) await page.screenshot({ path: process.env.REPORT_SCREENSHOT, fullPage: true });
    console.log(`report.html renders in ${await browser.version()}: heat map of ${await rows.count()} students × ${labs.length} lab(s), check shares as bars.`);
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
