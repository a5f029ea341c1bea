/**
 * A small, defensive reader for the .zip files learning platforms export.
 * It reads the central directory and inflates single entries on demand with
 * node:zlib, so a submission with node_modules inside costs nothing, and it
 * never writes an entry to disk under its own name (no zip-slip by design).
 * Supports stored and deflated entries and ZIP64; rejects encrypted entries,
 * entries larger than the caller's limit and entries whose CRC does not match.
 */
import * as fs from "node:fs";
import * as zlib from "node:zlib";

export class ZipError extends Error {}

export interface ZipEntry {
  /** The name as stored, with backslashes turned into slashes. */
  name: string;
  isDirectory: boolean;
  isSymlink: boolean;
  encrypted: boolean;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const maxCentralDirectory = 64 * 1024 * 1024;

export class ZipArchive {
  private constructor(
    private readonly fd: number,
    private readonly fileSize: number,
    readonly entries: ZipEntry[],
  ) {}

  static open(file: string): ZipArchive {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      return new ZipArchive(fd, size, readCentralDirectory(fd, size));
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /** The entry's contents; throws ZipError when it is larger than maxBytes or damaged. */
  read(entry: ZipEntry, maxBytes: number): Buffer {
    if (entry.encrypted) throw new ZipError("it is encrypted");
    if (entry.size > maxBytes || entry.compressedSize > maxBytes + 1024 + maxBytes / 100) {
      throw new ZipError(`it is larger than ${Math.round(maxBytes / 1024)} KB`);
    }
    const local = readAt(this.fd, entry.localHeaderOffset, 30, this.fileSize);
    if (local.readUInt32LE(0) !== 0x04034b50) throw new ZipError("the zip is damaged (no local header)");
    const start = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = readAt(this.fd, start, entry.compressedSize, this.fileSize);
    let data: Buffer;
    if (entry.method === 0) data = raw;
    else if (entry.method === 8) {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1) });
      } catch (error) {
        throw new ZipError(`it could not be decompressed (${(error as Error).message})`);
      }
    } else throw new ZipError(`it is compressed with method ${entry.method}, which this reader does not support (use deflate)`);
    if (data.length !== entry.size || crc32(data) !== entry.crc) throw new ZipError("the zip is damaged (size or CRC mismatch)");
    return data;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function readAt(fd: number, position: number, length: number, fileSize: number): Buffer {
  if (position < 0 || length < 0 || position + length > fileSize) throw new ZipError("the zip is damaged (an offset points past its end)");
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new ZipError("the zip is damaged (unexpected end)");
    done += n;
  }
  return buffer;
}

function readCentralDirectory(fd: number, fileSize: number): ZipEntry[] {
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tail = readAt(fd, fileSize - tailLength, tailLength, fileSize);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError("it is not a zip file");
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // ZIP64: a locator right before the record points to the ZIP64 end record.
    const locatorAt = fileSize - tailLength + eocd - 20;
    const locator = readAt(fd, locatorAt, 20, fileSize);
    if (locator.readUInt32LE(0) !== 0x07064b50) throw new ZipError("the zip is damaged (no ZIP64 locator)");
    const record = readAt(fd, Number(locator.readBigUInt64LE(8)), 56, fileSize);
    if (record.readUInt32LE(0) !== 0x06064b50) throw new ZipError("the zip is damaged (no ZIP64 end record)");
    count = Number(record.readBigUInt64LE(32));
    cdSize = Number(record.readBigUInt64LE(40));
    cdOffset = Number(record.readBigUInt64LE(48));
  }
  if (cdSize > maxCentralDirectory) throw new ZipError("its directory is too large");
  const cd = readAt(fd, cdOffset, cdSize, fileSize);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cd.length || cd.readUInt32LE(at) !== 0x02014b50) throw new ZipError("the zip is damaged (bad directory entry)");
    const madeBy = cd.readUInt16LE(at + 4) >> 8;
    const flags = cd.readUInt16LE(at + 8);
    const nameLength = cd.readUInt16LE(at + 28);
    const extraLength = cd.readUInt16LE(at + 30);
    const commentLength = cd.readUInt16LE(at + 32);
    const external = cd.readUInt32LE(at + 38);
    const name = cd.toString("utf8", at + 46, at + 46 + nameLength).replace(/\\/g, "/");
    let size = cd.readUInt32LE(at + 24);
    let compressedSize = cd.readUInt32LE(at + 20);
    let localHeaderOffset = cd.readUInt32LE(at + 42);
    // ZIP64 extra field: only the values stored as 0xffffffff follow, in this order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = cd.readUInt16LE(extra);
      const length = cd.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let field = extra + 4;
        const next = () => {
          const value = Number(cd.readBigUInt64LE(field));
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      extra += 4 + length;
    }
    const unixMode = madeBy === 3 ? external >>> 16 : 0;
    entries.push({
      name,
      isDirectory: name.endsWith("/"),
      isSymlink: (unixMode & 0o170000) === 0o120000,
      encrypted: (flags & 1) === 1,
      method: cd.readUInt16LE(at + 10),
      crc: cd.readUInt32LE(at + 16),
      compressedSize,
      size,
      localHeaderOffset,
    });
    at = extraEnd + commentLength;
  }
  return entries;
}
