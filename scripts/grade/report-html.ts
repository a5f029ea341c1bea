/**
 * The class report: one self-contained HTML file (inline CSS, no script, no
 * network) that opens offline. A student x lab heat map, the checks fewest
 * students passed, then, per check, the share of the class that passed it.
 */
import type { Lab } from "../lib/labs";
import type { StudentResult } from "./grader";
import { labTrouble } from "./outputs";

function html(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Red (0) through yellow to green (1), light enough for dark text. */
function heat(fraction: number): string {
  return `hsl(${Math.round(fraction * 120)}, 70%, 78%)`;
}

const styles = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; } h3 { font-size: 1rem; }
table { border-collapse: collapse; }
th, td { padding: 4px 8px; border: 1px solid #ddd; text-align: left; }
td.cell, td.total { text-align: center; min-width: 4.5rem; font-variant-numeric: tabular-nums; }
td.missing { background: #eee; color: #777; }
.bar { display: inline-block; width: 160px; height: 10px; background: #eee; vertical-align: middle; margin-right: 6px; }
.bar span { display: block; height: 100%; background: #3a7; }
.muted { color: #777; }
`;

/** `isolation`: how the lab runs were contained, said under the overview. */
export function reportHtml(labs: Lab[], students: StudentResult[], title = "grpc-labs class report", isolation?: string): string {
  const sorted = [...students].sort((a, b) => (a.student < b.student ? -1 : 1));
  const mean = sorted.length === 0 ? 0 : sorted.reduce((s, x) => s + x.score, 0) / sorted.length;
  const max = sorted[0]?.max_score ?? 0;
  const out: string[] = [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${html(title)}</title>`,
    `<style>${styles}</style></head><body>`,
    `<h1>${html(title)}</h1>`,
    `<p id="overview">${sorted.length} students, ${labs.length} ${labs.length === 1 ? "lab" : "labs"}; mean total ${mean.toFixed(1)} / ${max}.</p>`,
    ...(isolation ? [`<p id="isolation" class="muted">Isolation of each lab run: ${html(isolation)}.</p>`] : []),
    "<h2>Students × labs</h2>",
    '<table id="heatmap"><thead><tr><th>Student</th>',
    ...labs.map((l) => `<th title="${html(l.title)}">${html(l.number)}</th>`),
    "<th>Total</th></tr></thead><tbody>",
  ];
  for (const student of sorted) {
    out.push(`<tr data-student="${html(student.student)}"><th>${html(student.student)}</th>`);
    for (const lab of labs) {
      const result = student.labs.find((l) => l.lab === lab.id);
      if (!result) {
        out.push(`<td class="cell missing" data-lab="${lab.id}">–</td>`);
        continue;
      }
      const fraction = result.max_score === 0 ? 0 : result.score / result.max_score;
      const notRun = result.tests.every((t) => t.status === "fail" && t.message === result.message) && result.message !== null;
      const tooltip = labTrouble(result) ?? (notRun ? result.message : null) ?? `${result.score} of ${result.max_score} points`;
      const style = notRun ? "" : ` style="background: ${heat(fraction)}"`;
      out.push(
        `<td class="cell${notRun ? " missing" : ""}" data-lab="${lab.id}" data-score="${result.score}" data-max="${result.max_score}" title="${html(tooltip)}"${style}>${result.score} / ${result.max_score}</td>`,
      );
    }
    const fraction = student.max_score === 0 ? 0 : student.score / student.max_score;
    out.push(`<td class="total" style="background: ${heat(fraction)}">${student.score} / ${student.max_score}</td></tr>`);
  }
  out.push("</tbody></table>");
  const shares = labs.map((lab) => {
    const results = sorted.flatMap((s) => s.labs.filter((l) => l.lab === lab.id));
    return (results[0]?.tests ?? []).map((check) => {
      const passed = results.filter((r) => r.tests.some((t) => t.id === check.id && t.status === "pass")).length;
      return { lab, check, passed, of: results.length, share: results.length === 0 ? 0 : Math.round((100 * passed) / results.length) };
    });
  });
  const hardest = shares
    .flat()
    .filter((s) => s.share < 100)
    .sort((a, b) => a.share - b.share || a.lab.id.localeCompare(b.lab.id))
    .slice(0, 5);
  if (hardest.length > 0) {
    out.push('<h2>What the class struggles with</h2><ol id="hardest">');
    for (const h of hardest) out.push(`<li>${h.share}% passed: lab ${html(h.lab.number)}, step ${h.check.step}, ${html(h.check.name)}</li>`);
    out.push("</ol>");
  }
  out.push("<h2>Share of the class that passed each check</h2>");
  for (const [index, lab] of labs.entries()) {
    out.push(`<h3>Lab ${html(lab.number)} · ${html(lab.title)}</h3>`, `<table class="checks" data-lab="${lab.id}"><thead><tr><th>Step</th><th>Check</th><th>Passed</th></tr></thead><tbody>`);
    for (const { check, passed, of: total, share } of shares[index]!) {
      out.push(
        `<tr data-check="${html(check.id)}" data-share="${share}"><td>${check.step}</td><td>${html(check.name)}</td>`,
        `<td><span class="bar"><span style="width: ${share}%"></span></span>${share}% <span class="muted">(${passed} / ${total})</span></td></tr>`,
      );
    }
    out.push("</tbody></table>");
  }
  out.push("</body></html>", "");
  return out.join("\n");
}
