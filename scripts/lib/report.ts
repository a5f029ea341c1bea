import { explainMessage } from "../check-kit/explain";
import { displayPath, type Lab, type Side, type StepMeta, treeDir } from "./labs";
import { labPassed, type Progress } from "./progress";
import type { CheckResult, LabResult, StepResult } from "./results";
import { formatTypeError } from "./typecheck";

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

/**
 * A syntax or type error in a file: it fails every check of the steps about
 * that file, so the report shows it once, above the steps, and not under
 * each of those checks.
 */
interface CodeError {
  file: string;
  line: number;
  kind: "syntax error" | "type error";
  text: string;
  /** How many more type errors the file has. */
  more: number;
}

/** The syntax error a check message reports ("src/client.ts:24: syntax error: Unexpected ..."), if any. */
const syntaxError = /(?:^|: )([\w./-]+\.ts):(\d+): syntax error: (.*)$/;

/** One error a file, the syntax error first (it stops the file from loading), then the first type error. */
export function codeErrors(result: LabResult): CodeError[] {
  const found = new Map<string, CodeError>();
  for (const check of result.tests) {
    const match = syntaxError.exec(check.message ?? "");
    if (match && !found.has(match[1]!)) found.set(match[1]!, { file: match[1]!, line: Number(match[2]), kind: "syntax error", text: match[3]!, more: 0 });
  }
  for (const error of result.type_errors) {
    const own = found.get(error.file);
    if (!own) found.set(error.file, { file: error.file, line: error.line, kind: "type error", text: error.message, more: 0 });
    else if (own.kind === "type error") own.more++;
  }
  return [...found.values()];
}

/** A check's message without what the code-error block above already says; null when that is all it says. */
function ownMessage(message: string, result: LabResult, errors: CodeError[]): string | null {
  let rest = message;
  const typeError = result.type_errors.map((e) => `type error: ${formatTypeError(e)}`).find((prefix) => rest.startsWith(prefix));
  if (typeError) {
    if (rest === typeError) return null;
    if (rest.startsWith(`${typeError}; and: `)) rest = rest.slice(typeError.length + "; and: ".length);
  }
  const syntax = syntaxError.exec(rest);
  if (syntax && syntax.index === 0 && errors.some((e) => e.kind === "syntax error" && e.file === syntax[1])) return null;
  return rest;
}

/** A check's line, its message and output; `wire`: also what crossed the wire (for the step the learner is on). */
function checkLine(check: CheckResult, message: string, wire = false): string[] {
  if (check.status === "pass") return [`      ${green("✔")} ${check.name}`];
  const lines = [`      ${red("✘")} ${check.name}`, `        ${explainMessage(message)}`];
  if (check.output) lines.push(...check.output.split("\n").slice(0, 5).map((l) => dim(`        | ${l}`)));
  if (wire && check.wire) lines.push(dim("        On the wire:"), ...check.wire.map((l) => dim(`          ${l}`)));
  return lines;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * The failing checks of a step. Checks that did not run, and checks that
 * fail only because of a syntax or type error shown above, are summed up in
 * one line each.
 */
function stepDetails(checks: CheckResult[], result: LabResult, errors: CodeError[], wire: boolean): string[] {
  const lines: string[] = [];
  const notRun: CheckResult[] = [];
  const byCodeError: CheckResult[] = [];
  for (const check of checks) {
    const message = check.status === "fail" ? ownMessage(check.message ?? "failed", result, errors) : "";
    if (message === null) byCodeError.push(check);
    else if (message.startsWith("not run")) notRun.push(check);
    else lines.push(...checkLine(check, message, wire));
  }
  if (notRun.length === 1) lines.push(...checkLine(notRun[0]!, notRun[0]!.message!));
  else if (notRun.length > 1) lines.push(`      ${red("✘")} ${notRun.length} checks ${notRun[0]!.message}`);
  if (byCodeError.length > 0) {
    const kinds = [...new Set(errors.map((e) => e.kind))].join(" or ");
    lines.push(`      ${red("✘")} ${plural(byCodeError.length, "check")}: failed by the ${kinds} shown above`);
  }
  return lines;
}

/** The step to work on next: after a syntax or type error, the first failing step about a file that has one. */
function nextStep(lab: Lab, result: LabResult, errors: CodeError[]): { meta: StepMeta; error?: CodeError } | undefined {
  const failing = result.steps.filter((s) => s.status === "fail");
  for (const step of failing) {
    const meta = lab.steps.find((s) => s.step === step.step);
    const error = errors.find((e) => meta?.files.includes(e.file));
    if (meta && error) return { meta, error };
  }
  const meta = lab.steps.find((s) => s.step === failing[0]?.step);
  return meta && { meta, error: errors[0] };
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
  lines.push(...failed.flatMap((check) => checkLine(check, check.message ?? "", true)));
  const running = checks.length - failed.length - checks.filter((t) => t.status === "pass").length;
  if (running > 0) lines.push(dim(`      ${running} more ${running === 1 ? "check" : "checks"} of this step still running`));
  return lines.join("\n");
}

/**
 * The step-by-step report a learner reads after `npm run lab NN`. `compact`
 * (watch mode) details only the step to work on next, so the report fits a screen.
 */
export function formatReport(lab: Lab, result: LabResult, { compact = false } = {}): string {
  const whose = result.target === "solution" ? "the reference solution" : "your code";
  const tree = displayPath(treeDir(lab, result.target));
  const lines = [bold(`Lab ${lab.number} · ${lab.title}`) + dim(`  (${whose} in ${tree})`), ""];
  if (result.status === "error") {
    lines.push(red(result.message ?? "The checks could not run."));
    return lines.join("\n");
  }
  const errors = codeErrors(result);
  const next = nextStep(lab, result, errors);
  if (errors.length > 0) {
    lines.push(`  ${bold(errors.length === 1 ? `A ${errors[0]!.kind} fails the checks of the steps about its file:` : "Syntax and type errors fail the checks of the steps about their files:")}`);
    for (const e of errors) lines.push(`    ${red("✘")} ${e.file}:${e.line}: ${e.kind}: ${e.text}${e.more > 0 ? dim(` (and ${plural(e.more, "more type error")} in this file)`) : ""}`);
    lines.push("");
  }
  const detailed = (step: StepResult) => step.status === "fail" && (!compact || step.step === next?.meta.step);
  for (const side of ["setup", "server", "client"] as const) {
    const steps = result.steps.filter((s) => s.side === side);
    if (steps.length === 0) continue;
    const checks = result.tests.filter((t) => t.side === side);
    const passed = checks.filter((t) => t.status === "pass").length;
    lines.push(`  ${bold(sideHeading(side, result.target))}  ${dim(`${passed}/${checks.length} checks`)}`);
    for (const step of steps) {
      const mark = step.status === "pass" ? green("✔") : red("✘");
      lines.push(`    ${mark} Step ${step.step}  ${step.title}  ${dim(`${step.passed}/${step.total}`)}`);
      // The wire transcripts of the step to work on next only: the JSON has every failing check's.
      if (detailed(step)) lines.push(...stepDetails(result.tests.filter((t) => t.step === step.step), result, errors, step.step === next?.meta.step));
    }
    lines.push("");
  }
  for (const warning of result.warnings) lines.push(red(`  ! ${warning}`));
  lines.push(bold(`  Score: ${result.score}/${result.max_score}`));

  if (next) {
    const { meta, error } = next;
    const edit = meta.files.length > 0 ? ` Edit ${meta.files.map((f) => `${tree}/${f}`).join(" and ")}.` : "";
    lines.push("", `  Next: step ${meta.step}, ${meta.title}.${error ? ` First fix the ${error.kind} at ${tree}/${error.file}:${error.line}.` : edit}`);
    if (meta.hints[0] && !error) lines.push(`  Hint: ${meta.hints[0]}`);
    lines.push(dim(`  Instructions: labs/${lab.id}/README.md · check again: npm run lab ${lab.number}`));
  } else if (result.target === "learner") {
    lines.push(
      "",
      green("  All steps pass. Well done!"),
      `  Compare your code with the reference solution: ${bold(`npm run lab ${lab.number} -- diff`)}; then go on with ${bold("npm run lab next")}.`,
    );
  } else {
    lines.push("", green("  All steps pass."));
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
