/**
 * Reads a zip archive (a Python wheel) from disk without loading it into memory: the central
 * directory is parsed, and chosen entries are streamed through zlib's raw inflate into files, with
 * their CRC-32 and size checked. Stored and deflated entries, zip64 sizes and offsets. Enough for
 * PyPI wheels (one entry, libtensorflow_cc.so.2, inflates to about 800 MB).
 */
import { closeSync, createReadStream, createWriteStream, openSync, readSync, statSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createInflateRaw, inflateRawSync } from 'node:zlib';

/** One file of the archive (directories end with `/`). */
export interface ZipEntry {
  /** Path inside the archive. */
  readonly name: string;
  /** 0 stored, 8 deflated. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  /** Offset of the local file header. */
  readonly headerOffset: number;
}

/** The archive is malformed or uses a feature this reader does not support. */
export class ZipError extends Error {
  override readonly name = 'ZipError';
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Lists the entries of the zip archive at `file` (from its central directory). */
export function listZip(file: string): ZipEntry[] {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const tailLength = Math.min(size, 22 + 0xffff);
    const tail = readAt(fd, size - tailLength, tailLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new ZipError(`${file} is not a zip archive (no end of central directory)`);
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locator = eocd - 20;
      if (locator < 0 || tail.readUInt32LE(locator) !== EOCD64_LOCATOR)
        throw new ZipError(`${file}: zip64 archive without a zip64 locator`);
      const at = Number(tail.readBigUInt64LE(locator + 8));
      const rec = readAt(fd, at, 56);
      if (rec.readUInt32LE(0) !== EOCD64) throw new ZipError(`${file}: bad zip64 end of central directory`);
      count = Number(rec.readBigUInt64LE(32));
      cdSize = Number(rec.readBigUInt64LE(40));
      cdOffset = Number(rec.readBigUInt64LE(48));
    }
    const cd = readAt(fd, cdOffset, cdSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL)
        throw new ZipError(`${file}: central directory entry ${i} is corrupt`);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let uncompressed = cd.readUInt32LE(p + 24);
      const nameLength = cd.readUInt16LE(p + 28);
      const extraLength = cd.readUInt16LE(p + 30);
      const commentLength = cd.readUInt16LE(p + 32);
      let headerOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLength);
      // zip64 extended information: the 0xffffffff fields, in order
      let e = p + 46 + nameLength;
      const extraEnd = e + extraLength;
      while (e + 4 <= extraEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (uncompressed === 0xffffffff) {
            uncompressed = Number(cd.readBigUInt64LE(q));
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = Number(cd.readBigUInt64LE(q));
            q += 8;
          }
          if (headerOffset === 0xffffffff) headerOffset = Number(cd.readBigUInt64LE(q));
        }
        e += 4 + len;
      }
      entries.push({ name, method, compressedSize, size: uncompressed, crc32: crc, headerOffset });
      p = extraEnd + commentLength;
    }
    return entries;
  } finally {
    closeSync(fd);
  }
}

function dataStart(fd: number, file: string, entry: ZipEntry): number {
  const local = readAt(fd, entry.headerOffset, 30);
  if (local.length < 30 || local.readUInt32LE(0) !== LOCAL)
    throw new ZipError(`${file}: the local header of ${entry.name} is corrupt`);
  return entry.headerOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
}

function checkMethod(file: string, entry: ZipEntry): void {
  if (entry.method !== 0 && entry.method !== 8)
    throw new ZipError(
      `${file}: ${entry.name} uses compression method ${entry.method} (only stored and deflate)`,
    );
}

/** Reads a (small) entry into memory, checking its size and CRC-32. */
export function readZipEntry(file: string, entry: ZipEntry): Buffer {
  checkMethod(file, entry);
  const fd = openSync(file, 'r');
  let data: Buffer;
  try {
    const raw = readAt(fd, dataStart(fd, file, entry), entry.compressedSize);
    data = entry.method === 8 ? inflateRawSync(raw) : raw;
  } finally {
    closeSync(fd);
  }
  if (data.length !== entry.size || crc32(data) >>> 0 !== entry.crc32 >>> 0)
    throw new ZipError(`${file}: ${entry.name} fails its size or CRC-32 check (corrupt download?)`);
  return data;
}

/**
 * Streams one entry of the archive at `file` into `dest` (created or truncated), checking its
 * size and CRC-32.
 *
 * @throws ZipError for an unsupported compression method, a size or CRC mismatch.
 */
export async function extractZipEntry(file: string, entry: ZipEntry, dest: string): Promise<void> {
  checkMethod(file, entry);
  const fd = openSync(file, 'r');
  let start: number;
  try {
    start = dataStart(fd, file, entry);
  } finally {
    closeSync(fd);
  }
  let crc = 0;
  let size = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      crc = crc32(chunk, crc);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const out = createWriteStream(dest);
  if (entry.compressedSize === 0) {
    // an empty entry (createReadStream's `end` is inclusive: never ask it for zero bytes)
    await pipeline(Readable.from([]), check, out);
  } else {
    const source = createReadStream(file, { start, end: start + entry.compressedSize - 1 });
    if (entry.method === 8) await pipeline(source, createInflateRaw(), check, out);
    else await pipeline(source, check, out);
  }
  if (size !== entry.size)
    throw new ZipError(`${file}: ${entry.name} inflated to ${size} bytes, the directory says ${entry.size}`);
  if (crc >>> 0 !== entry.crc32 >>> 0)
    throw new ZipError(`${file}: ${entry.name} fails its CRC-32 check (corrupt download?)`);
}
