import { displayPath, type Lab, type Side, treeDir } from "./labs";
import { labPassed, type Progress } from "./progress";
import type { CheckResult, LabResult } from "./results";

const useColor = process.stdout.isTTY === true && !("NO_COLOR" in process.env);
const paint = (code: number) => (text: string) => (useColor ? `\u001b[${code}m${text}\u001b[0m` : text);
const green = paint(32);
const red = paint(31);
const dim = paint(2);
const bold = paint(1);

function sideHeading(side: Side, target: LabResult["target"]): string {
  const whose = target === "learner" ? "Your " : "The ";
  if (side === "server") return `${whose}server, checked with a reference client`;
  if (side === "client") return `${whose}client, checked against a recording server`;
  return "Setup";
}

function checkLine(check: CheckResult): string[] {
  if (check.status === "pass") return [`      ${green("✔")} ${check.name}`];
  const lines = [`      ${red("✘")} ${check.name}`, `        ${check.message ?? "failed"}`];
  if (check.output) lines.push(...check.output.split("\n").slice(0, 5).map((l) => dim(`        | ${l}`)));
  return lines;
}

/** The failing checks of a step; checks that did not run are summed up in one line. */
function stepDetails(checks: CheckResult[]): string[] {
  const notRun = checks.filter((c) => c.message?.startsWith("not run"));
  if (notRun.length <= 1) return checks.flatMap(checkLine);
  const ran = checks.filter((c) => !notRun.includes(c));
  return [...ran.flatMap(checkLine), `      ${red("✘")} ${notRun.length} checks ${notRun[0]!.message}`];
}

/**
 * Watch mode's first view of a run: the step the learner is on, known to
 * fail while other checks still run, with its failing checks.
 */
export function formatFirstFailingStep(lab: Lab, result: LabResult, step: number): string {
  const whose = result.target === "solution" ? "the reference solution" : "your code";
  const lines = [bold(`Lab ${lab.number} · ${lab.title}`) + dim(`  (${whose} in ${displayPath(treeDir(lab, result.target))})`), ""];
  const own = result.steps.find((s) => s.step === step);
  const checks = result.tests.filter((t) => t.step === step);
  const failed = checks.filter((t) => t.status === "fail" && t.message !== "still running");
  lines.push(`    ${red("✘")} Step ${step}  ${own?.title ?? ""}  ${dim(`${checks.filter((t) => t.status === "pass").length}/${checks.length} so far`)}`);
  lines.push(...failed.flatMap(checkLine));
  const running = checks.length - failed.length - checks.filter((t) => t.status === "pass").length;
  if (running > 0) lines.push(dim(`      ${running} more ${running === 1 ? "check" : "checks"} of this step still running`));
  return lines.join("\n");
}

/**
 * The step-by-step report a learner reads after `npm run lab NN`. `compact`
 * (watch mode) details only the first failing step, so the report fits a screen.
 */
export function formatReport(lab: Lab, result: LabResult, { compact = false } = {}): string {
  const whose = result.target === "solution" ? "the reference solution" : "your code";
  const lines = [bold(`Lab ${lab.number} · ${lab.title}`) + dim(`  (${whose} in ${displayPath(treeDir(lab, result.target))})`), ""];
  if (result.status === "error") {
    lines.push(red(result.message ?? "The checks could not run."));
    return lines.join("\n");
  }
  const firstFailing = result.steps.find((s) => s.status === "fail");
  for (const side of ["setup", "server", "client"] as const) {
    const steps = result.steps.filter((s) => s.side === side);
    if (steps.length === 0) continue;
    const checks = result.tests.filter((t) => t.side === side);
    const passed = checks.filter((t) => t.status === "pass").length;
    lines.push(`  ${bold(sideHeading(side, result.target))}  ${dim(`${passed}/${checks.length} checks`)}`);
    for (const step of steps) {
      const mark = step.status === "pass" ? green("✔") : red("✘");
      lines.push(`    ${mark} Step ${step.step}  ${step.title}  ${dim(`${step.passed}/${step.total}`)}`);
      if (step.status === "fail" && (!compact || step === firstFailing)) lines.push(...stepDetails(result.tests.filter((t) => t.step === step.step)));
    }
    lines.push("");
  }
  for (const warning of result.warnings) lines.push(red(`  ! ${warning}`));
  lines.push(bold(`  Score: ${result.score}/${result.max_score}`));

  const meta = lab.steps.find((s) => s.step === firstFailing?.step);
  if (meta) {
    lines.push("", `  Next: step ${meta.step}, ${meta.title}.${meta.files.length > 0 ? ` Edit ${meta.files.map((f) => `${displayPath(treeDir(lab, result.target))}/${f}`).join(" and ")}.` : ""}`);
    if (meta.hints[0]) lines.push(`  Hint: ${meta.hints[0]}`);
    lines.push(dim(`  Instructions: labs/${lab.id}/README.md · check again: npm run lab ${lab.number}`));
  } else {
    lines.push("", green(`  All steps pass. ${result.target === "learner" ? "Well done!" : ""}`.trimEnd()));
  }
  return lines.join("\n");
}

function progressBar(done: number, total: number, width = 10): string {
  const filled = total === 0 ? 0 : Math.round((done / total) * width);
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
}

/** The lab list shown by `npm run lab`: a progress bar a lab, from the last check of each. */
export function formatLabList(labs: Lab[], progress: Progress): string {
  const lines = [bold("grpc-labs"), ""];
  const next = labs.find((lab) => !labPassed(progress, lab.id));
  const titleWidth = Math.max(0, ...labs.map((lab) => lab.title.length));
  for (const lab of labs) {
    const own = progress.labs[lab.id];
    const done = own?.passed_steps.length ?? 0;
    const total = lab.steps.length;
    const status = own ? `${progressBar(done, total)} ${done}/${total} steps` : dim("not started");
    lines.push(`  ${lab.number}  ${lab.title.padEnd(titleWidth)} ${status}${lab === next ? bold("  ← next") : ""}`);
  }
  const start = next ? `Continue with ${bold("npm run lab next")} (lab ${next.number})` : green("Every lab passes");
  lines.push("", `${start}; see every command with ${bold("npm run lab -- --help")}.`);
  return lines.join("\n");
}

/** A unified diff with removed lines in red and added lines in green (on a terminal). */
export function colorDiff(diff: string): string {
  return diff
    .split("\n")
    .map((line) => (line.startsWith("+") && !line.startsWith("+++") ? green(line) : line.startsWith("-") && !line.startsWith("---") ? red(line) : line.startsWith("@@") ? dim(line) : line))
    .join("\n");
}
