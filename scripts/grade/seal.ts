/**
 * Sealing what the grader writes: every result file in an output folder
 * carries an HMAC-SHA256 under a key that only the grader holds, created
 * once per output folder (<out>/.grader-key, mode 0600). The key never goes
 * into an environment or an argument of a child process, and the checked
 * code cannot read the output folder (hidden from it where namespaces work,
 * and by the checks' own sandbox), so a result file it wrote, or one edited
 * by hand, does not verify and --resume grades that student again.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export const keyFileName = ".grader-key";
const keyBytes = 32;
const sealField = "seal";
const sealPrefix = "hmac-sha256:";

/** The output folder's key, created on first use (readable by its owner only). */
export function outputKey(out: string): Buffer {
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, keyFileName);
  try {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    try {
      fs.writeSync(fd, randomBytes(keyBytes).toString("hex"));
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const stat = fs.lstatSync(file);
  if (!stat.isFile()) throw new Error(`${file} is not a regular file: remove it, and grade again without --resume`);
  if (process.platform !== "win32" && (stat.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  const key = Buffer.from(fs.readFileSync(file, "utf8").trim(), "hex");
  if (key.length !== keyBytes) throw new Error(`${file} does not hold a grader key: remove it, and grade again without --resume`);
  return key;
}

function mac(key: Buffer, json: string): string {
  return createHmac("sha256", key).update(json).digest("hex");
}

/** The file text of a sealed value: its JSON with a "seal" field over everything else. */
export function sealed(value: object, key: Buffer): string {
  const json = JSON.stringify(value);
  return `${JSON.stringify({ ...JSON.parse(json), [sealField]: `${sealPrefix}${mac(key, json)}` }, null, 2)}\n`;
}

/** The value of a sealed file, or undefined when it is missing, unreadable, unsealed or does not verify. */
export function unsealed(file: string, key: Buffer): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const { [sealField]: seal, ...value } = parsed as Record<string, unknown>;
  if (typeof seal !== "string" || !seal.startsWith(sealPrefix)) return undefined;
  const expected = Buffer.from(mac(key, JSON.stringify(value)), "hex");
  const given = Buffer.from(seal.slice(sealPrefix.length), "hex");
  return given.length === expected.length && timingSafeEqual(given, expected) ? value : undefined;
}
