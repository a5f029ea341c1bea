/**
 * The results a class run keeps in its output folder, each sealed with the
 * folder's key (seal.ts) and written atomically as soon as it is known:
 *
 * - students/<student>.json: a student's whole result;
 * - .partial/<student>/<lab>.json: one lab of a student not finished yet, so
 *   a grader killed mid-student loses no lab that was done.
 *
 * A file that does not verify is treated as missing: that student or lab is
 * graded again.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Lab } from "../lib/labs";
import type { LabResult } from "../lib/results";
import type { StudentResult } from "./grader";
import { fileNameOf, removeLeftoverTemporaries, writeAtomic } from "./outputs";
import { outputKey, sealed, unsealed } from "./seal";

/** What a class run writes in the output folder, removed by a run without --resume. */
export const generated = ["students", ".partial", "feedback", "grades.csv", "results.json", "report.html"];

export class ResultStore {
  private readonly key: Buffer;

  constructor(readonly out: string) {
    this.key = outputKey(out);
  }

  studentFile(student: string): string {
    return path.join(this.out, "students", `${fileNameOf(student)}.json`);
  }

  private labFile(student: string, lab: Lab): string {
    return path.join(this.out, ".partial", fileNameOf(student), `${lab.id}.json`);
  }

  /** Starts from nothing (a run without --resume). */
  clear(): void {
    for (const name of generated) fs.rmSync(path.join(this.out, name), { recursive: true, force: true });
  }

  /** Removes what a killed grader left half-written. */
  tidy(): void {
    for (const dir of [this.out, path.join(this.out, "students"), path.join(this.out, "feedback")]) removeLeftoverTemporaries(dir);
    const partial = path.join(this.out, ".partial");
    for (const student of fs.existsSync(partial) ? fs.readdirSync(partial) : []) removeLeftoverTemporaries(path.join(partial, student));
  }

  /** Whether a saved result exists for the student, verified or not. */
  hasStudent(student: string): boolean {
    return fs.existsSync(this.studentFile(student));
  }

  /** The student's saved result if its seal verifies (the grader still checks it against the plans). */
  student(student: string): unknown {
    return unsealed(this.studentFile(student), this.key);
  }

  saveStudent(result: StudentResult): void {
    writeAtomic(this.studentFile(result.student), sealed(result, this.key));
    fs.rmSync(path.join(this.out, ".partial", fileNameOf(result.student)), { recursive: true, force: true });
  }

  /** A saved lab result for this student and lab key if its seal verifies. */
  lab(student: string, lab: Lab, key: string): unknown {
    const saved = unsealed(this.labFile(student, lab), this.key) as Record<string, unknown> | undefined;
    return saved && saved.student === student && saved.lab === lab.id && saved.key === key ? saved.result : undefined;
  }

  saveLab(student: string, lab: Lab, key: string, result: LabResult): void {
    writeAtomic(this.labFile(student, lab), sealed({ version: 1, student, lab: lab.id, key, result }, this.key));
  }

  /** At the end of a run: no partial result is left for a finished student. */
  finish(): void {
    const partial = path.join(this.out, ".partial");
    try {
      fs.rmdirSync(partial);
    } catch {
      // Not there, or a student is not finished (a --resume run grades it).
    }
  }
}
