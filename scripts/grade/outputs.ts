/**
 * What grading writes: the gradebook CSV, the class results JSON, a feedback
 * file per student, and for one workspace a JUnit XML and a Markdown summary
 * (for $GITHUB_STEP_SUMMARY). Every file is written atomically, so an
 * interrupted run never leaves half a file behind.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Lab } from "../lib/labs";
import type { CheckResult, LabResult } from "../lib/results";
import type { Plans, StudentResult } from "./grader";
import { describeDifferences, type Differences } from "./manifest";

export function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, text);
  fs.renameSync(temporary, file);
}

/** Removes the temporary files of writeAtomic that a killed grader left in a folder (not in its subfolders). */
export function removeLeftoverTemporaries(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = /\.(\d+)\.tmp$/.exec(name);
    if (!match || Number(match[1]) === process.pid) continue;
    try {
      process.kill(Number(match[1]), 0);
      continue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EPERM") continue;
    }
    fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** A student's name as a file name: letters, digits, dot, dash and underscore only. */
export function fileNameOf(student: string): string {
  return student.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_") || "_";
}

const percent = (score: number, max: number) => (max === 0 ? "0%" : `${Math.round((100 * score) / max)}%`);
const passedCount = (result: LabResult) => result.tests.filter((t) => t.status === "pass").length;

/** Did the lab's checks run to the end? The message of a run that did not. */
export function labTrouble(result: LabResult): string | null {
  const message = result.message ?? "";
  return /^(timed out|ran out of memory|the checks of lab|not graded)/.test(message) ? message : null;
}

function csvCell(value: string | number): string {
  let text = String(value);
  // A cell a spreadsheet would run as a formula is quoted as text.
  if (/^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function studentNotes(student: StudentResult): string {
  const notes = [...student.notes];
  for (const lab of student.labs) {
    const trouble = labTrouble(lab);
    if (trouble) notes.push(`${lab.number}: ${trouble.slice(0, 80)}`);
  }
  if (student.tampered && (student.tampered.changed.length || student.tampered.added.length)) {
    notes.push(`edited files grading ignores (${student.tampered.changed.length + student.tampered.added.length})`);
  }
  return notes.join("; ");
}

/** student, one column a lab (points), total, notes: ready for a gradebook import. */
export function gradesCsv(labs: Lab[], students: StudentResult[]): string {
  const rows = [["student", ...labs.map((l) => l.id), "total", "notes"].map(csvCell).join(",")];
  for (const student of students) {
    const byLab = new Map(student.labs.map((l) => [l.lab, l.score]));
    rows.push([student.student, ...labs.map((l) => byLab.get(l.id) ?? 0), student.score, studentNotes(student)].map(csvCell).join(","));
  }
  return `${rows.join("\n")}\n`;
}

export interface ClassResults {
  version: 1;
  /** How each lab run was contained: "user+pid+net namespaces", or "none available: process groups only". */
  isolation: string;
  labs: Array<{ lab: string; number: string; title: string; max_score: number; checks: Array<Pick<CheckResult, "id" | "name" | "step" | "side">> }>;
  students: StudentResult[];
}

/** The class results: each lab's checks and points from the instructor's plan, and every student's result. */
export function classResults(labs: Lab[], students: StudentResult[], plans: Plans, isolation: string): ClassResults {
  return {
    version: 1,
    isolation,
    labs: labs.map((lab) => {
      const plan = plans.get(lab.id) ?? [];
      return {
        lab: lab.id,
        number: lab.number,
        title: lab.title,
        max_score: plan.reduce((sum, check) => sum + check.max_points, 0),
        checks: plan.map(({ id, name, step, side }) => ({ id, name, step, side })),
      };
    }),
    students,
  };
}

function tamperNote(tampered: Differences | null): string[] {
  if (!tampered || (tampered.changed.length === 0 && tampered.added.length === 0)) return [];
  return [`> Your submission ${describeDifferences(tampered)}: grading does not use those files, it always runs the original checks on your lab files.`, ""];
}

function labFeedback(lab: Lab, result: LabResult): string[] {
  const lines = [`## Lab ${lab.number} · ${lab.title}: ${result.score} / ${result.max_score}`, ""];
  if (result.score === result.max_score) return [...lines, "Every check passes.", ""];
  const failing = result.tests.filter((t) => t.status === "fail");
  const shared = new Set(failing.map((t) => t.message));
  if (failing.length === result.tests.length && shared.size === 1) {
    // Nothing ran (not submitted, timed out, ...): one sentence says it all.
    lines.push(`${failing[0]?.message ?? "not graded"}.`, "");
  } else {
    for (const step of result.steps.filter((s) => s.status === "fail")) {
      const meta = lab.steps.find((s) => s.step === step.step);
      lines.push(`### Step ${step.step}: ${step.title} (${step.passed} / ${step.total})`, "");
      for (const check of failing.filter((t) => t.step === step.step)) lines.push(`- ${check.name}: ${check.message ?? "failed"}`);
      if (meta?.hints[0]) lines.push("", `Hint: ${meta.hints[0]}`);
      lines.push("");
    }
  }
  for (const warning of result.warnings) lines.push(`- Note: ${warning}`);
  for (const error of result.type_errors.slice(0, 5)) lines.push(`- Type error: ${error.file}:${error.line}: ${error.message}`);
  if (result.warnings.length || result.type_errors.length) lines.push("");
  return lines;
}

/** The feedback a student gets back: what failed, the hint, how to check it again locally. */
export function feedbackMarkdown(labs: Lab[], student: StudentResult): string {
  const lines = [`# grpc-labs feedback: ${student.student}`, "", `Total: ${student.score} / ${student.max_score} points.`, ""];
  for (const note of student.notes) lines.push(`> ${note}`, "");
  lines.push(...tamperNote(student.tampered));
  for (const result of student.labs) {
    const lab = labs.find((l) => l.id === result.lab);
    if (lab) lines.push(...labFeedback(lab, result));
  }
  const numbers = student.labs.filter((l) => l.score < l.max_score).map((l) => l.number);
  if (numbers.length > 0) {
    lines.push(
      "## Check it yourself",
      "",
      "Grading copies only your lab files (labs/NN-name/src/) into a fresh workspace and runs the same checks as:",
      "",
      "```sh",
      ...numbers.map((n) => `npm run lab ${n}          # then: npm run lab ${n} -- hint`),
      "npm run grade             # every lab, exactly as it is graded",
      "```",
      "",
    );
  }
  return lines.join("\n");
}

export function scoreTable(results: LabResult[]): string {
  const rows = [["Lab", "Checks passed", "Points", "Score"], ...results.map((r) => [`${r.number} ${r.title}`, `${passedCount(r)} / ${r.tests.length}`, `${r.score} / ${r.max_score}`, percent(r.score, r.max_score)])];
  const total = results.reduce((s, r) => s + r.score, 0);
  const max = results.reduce((s, r) => s + r.max_score, 0);
  rows.push(["Total", "", `${total} / ${max}`, percent(total, max)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

export interface Integrity {
  /** True when the workspace's checks, runner, tests and solutions match the manifest. */
  pristine: boolean;
  /** The hash of those files as they are, and the one the manifest records. */
  hash: string;
  expected: string | null;
  differences: Differences;
}

export function integrityLine(integrity: Integrity): string {
  if (integrity.pristine) return `Workspace: pristine (checks, runner, tests and solutions match the manifest ${integrity.hash.slice(0, 12)}).`;
  if (integrity.expected === null) return `Workspace: no manifest to compare with (hash ${integrity.hash.slice(0, 12)}).`;
  return `Workspace: MODIFIED, this grade is not trustworthy: ${describeDifferences(integrity.differences)} (hash ${integrity.hash.slice(0, 12)}, pristine ${integrity.expected.slice(0, 12)}).`;
}

const markdownCell = (text: string) => text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

/** A summary for a CI job page ($GITHUB_STEP_SUMMARY): the table, the workspace check, the failing checks. */
export function markdownSummary(results: LabResult[], integrity: Integrity): string {
  const total = results.reduce((s, r) => s + r.score, 0);
  const max = results.reduce((s, r) => s + r.max_score, 0);
  const lines = [`## grpc-labs: ${total} / ${max} points (${percent(total, max)})`, "", "| Lab | Checks passed | Points | Score |", "| --- | ---: | ---: | ---: |"];
  for (const r of results) lines.push(`| ${markdownCell(`${r.number} ${r.title}`)} | ${passedCount(r)} / ${r.tests.length} | ${r.score} / ${r.max_score} | ${percent(r.score, r.max_score)} |`);
  lines.push("", integrityLine(integrity), "");
  for (const r of results) {
    const failing = r.tests.filter((t) => t.status === "fail");
    if (failing.length === 0) continue;
    lines.push(`<details><summary>Lab ${r.number}: ${failing.length} failing checks</summary>`, "");
    for (const t of failing.slice(0, 50)) lines.push(`- step ${t.step}, ${markdownCell(t.name)}: ${markdownCell(t.message ?? "failed")}`);
    lines.push("", "</details>", "");
  }
  return lines.join("\n");
}

function xml(text: string): string {
  return text
    .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** JUnit XML, one test suite a lab and one test case a check, for CI test reports. */
export function junitXml(results: LabResult[]): string {
  const tests = results.reduce((n, r) => n + r.tests.length, 0);
  const failures = results.reduce((n, r) => n + r.tests.filter((t) => t.status === "fail").length, 0);
  const time = results.reduce((n, r) => n + r.duration_ms, 0);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="grpc-labs" tests="${tests}" failures="${failures}" errors="0" time="${seconds(time)}">`];
  for (const r of results) {
    const failed = r.tests.filter((t) => t.status === "fail").length;
    lines.push(`  <testsuite name="${xml(`${r.lab}`)}" tests="${r.tests.length}" failures="${failed}" errors="0" time="${seconds(r.duration_ms)}">`);
    for (const t of r.tests) {
      const open = `    <testcase classname="${xml(`${r.lab}.step-${t.step}`)}" name="${xml(t.name)}" time="${seconds(t.duration_ms)}"`;
      if (t.status === "pass" && !t.output) {
        lines.push(`${open}/>`);
        continue;
      }
      lines.push(`${open}>`);
      if (t.status === "fail") lines.push(`      <failure message="${xml(t.message ?? "failed")}">${xml(t.message ?? "failed")}</failure>`);
      if (t.output) lines.push(`      <system-out>${xml(t.output)}</system-out>`);
      lines.push("    </testcase>");
    }
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>", "");
  return lines.join("\n");
}
