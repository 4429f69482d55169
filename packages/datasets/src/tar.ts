import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DatasetFormatError } from './errors';
import { isGzip } from './idx';

/** A regular file inside a tar archive. */
export interface TarEntry {
  /** Path inside the archive (pax / GNU long names and the ustar prefix applied). */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /** Byte offset of the file's data within the (decompressed) archive. */
  readonly offset: number;
}

/** Random access to a tar archive's bytes. */
export interface TarArchive {
  /** The archive's path (for error messages). */
  readonly file: string;
  /** The regular files, in archive order. */
  readonly entries: readonly TarEntry[];
  /** Reads one entry's bytes. */
  read(entry: TarEntry): Uint8Array;
  /** Releases the file descriptor. */
  close(): void;
}

interface ByteSource {
  readonly length: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

function fileSource(file: string): ByteSource {
  const fd = openSync(file, 'r');
  const length = fstatSync(fd).size;
  return {
    length,
    read(offset, len) {
      const out = Buffer.allocUnsafe(len);
      let done = 0;
      while (done < len) {
        const n = readSync(fd, out, done, len - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return done === len ? out : out.subarray(0, done);
    },
    close: () => closeSync(fd),
  };
}

function bufferSource(bytes: Uint8Array): ByteSource {
  return {
    length: bytes.length,
    read: (offset, len) => bytes.subarray(offset, Math.min(bytes.length, offset + len)),
    close: () => {},
  };
}

const decoder = new TextDecoder('utf-8');

function cString(block: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && block[end] !== 0) end++;
  return decoder.decode(block.subarray(start, end));
}

function octal(block: Uint8Array, start: number, len: number, file: string, at: number): number {
  // GNU base-256 for large sizes.
  if ((block[start]! & 0x80) !== 0) {
    let v = block[start]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + block[start + i]!;
    return v;
  }
  const s = cString(block, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s))
    throw new DatasetFormatError(file, `corrupt tar header at byte ${at}: bad number "${s}"`);
  return Number.parseInt(s, 8);
}

function checksumOk(block: Uint8Array, file: string, at: number): boolean {
  const stored = octal(block, 148, 8, file, at);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum === stored;
}

function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = decoder.decode(data);
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(' ', i);
    if (sp < 0) break;
    const len = Number.parseInt(text.slice(i, sp), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = text.slice(sp + 1, i + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
}

function scan(src: ByteSource, file: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let pos = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let sawEnd = false;
  while (pos + 512 <= src.length) {
    const block = src.read(pos, 512);
    if (block.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    if (!checksumOk(block, file, pos)) {
      throw new DatasetFormatError(file, `corrupt tar archive: bad header checksum at byte ${pos}`);
    }
    const size = octal(block, 124, 12, file, pos);
    const type = String.fromCharCode(block[156]! || 0x30);
    const magic = cString(block, 257, 6);
    let name = cString(block, 0, 100);
    if (magic === 'ustar') {
      const prefix = cString(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const dataStart = pos + 512;
    if (dataStart + size > src.length) {
      throw new DatasetFormatError(
        file,
        `truncated tar archive: entry "${name}" needs ${size} bytes at byte ${dataStart}, archive has ${src.length} bytes`,
      );
    }
    pos = dataStart + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = cString(src.read(dataStart, size), 0, size);
      continue;
    }
    if (type === 'x') {
      paxPath = parsePax(src.read(dataStart, size)).get('path') ?? paxPath;
      continue;
    }
    if (type === 'g') continue;
    const fullName = paxPath ?? longName ?? name;
    paxPath = undefined;
    longName = undefined;
    if (type === '0' || type === '7') entries.push({ name: fullName, size, offset: dataStart });
  }
  if (!sawEnd) {
    throw new DatasetFormatError(
      file,
      pos < src.length
        ? `truncated tar archive: it ends inside a header at byte ${pos} (${src.length - pos} of 512 bytes)`
        : `truncated tar archive: no end-of-archive marker after byte ${pos} (the file was cut short)`,
    );
  }
  return entries;
}

/**
 * Opens a tar archive (ustar, pax or GNU; gzip-compressed archives are decompressed in memory).
 * Uncompressed archives are read through a file descriptor, so only the headers and the entries
 * read are in memory. Throws {@link DatasetFormatError} naming the file on a corrupt or truncated
 * archive.
 */
export function openTar(file: string): TarArchive {
  let src: ByteSource;
  try {
    src = fileSource(file);
  } catch (cause) {
    throw new DatasetFormatError(file, `cannot open tar archive (${(cause as Error).message})`, { cause });
  }
  const head = src.read(0, 2);
  if (isGzip(head)) {
    const all = src.read(0, src.length);
    src.close();
    try {
      src = bufferSource(gunzipSync(all));
    } catch (cause) {
      throw new DatasetFormatError(file, `corrupt or truncated gzip data (${(cause as Error).message})`, {
        cause,
      });
    }
  }
  let entries: TarEntry[];
  try {
    entries = scan(src, file);
  } catch (e) {
    src.close();
    throw e;
  }
  const s = src;
  return {
    file,
    entries,
    read: (entry) => s.read(entry.offset, entry.size),
    close: () => s.close(),
  };
}

/** Parses an in-memory tar archive (not gzip). */
export function parseTar(bytes: Uint8Array, file = '<buffer>'): TarArchive {
  const src = bufferSource(bytes);
  const entries = scan(src, file);
  return { file, entries, read: (entry) => src.read(entry.offset, entry.size), close: () => {} };
}

function octalField(value: number, len: number): string {
  return `${value.toString(8).padStart(len - 1, '0')}\0`;
}

/**
 * Writes a minimal ustar archive of regular files (names up to 100 bytes). Used by tests and for
 * packing small image folders.
 */
export function createTar(
  files: ReadonlyArray<{ readonly name: string; readonly data: Uint8Array }>,
): Uint8Array {
  const chunks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const f of files) {
    const header = new Uint8Array(512);
    const nameBytes = enc.encode(f.name);
    if (nameBytes.length > 100) throw new RangeError(`createTar: name too long: ${f.name}`);
    header.set(nameBytes, 0);
    header.set(enc.encode(octalField(0o644, 8)), 100);
    header.set(enc.encode(octalField(0, 8)), 108);
    header.set(enc.encode(octalField(0, 8)), 116);
    header.set(enc.encode(octalField(f.data.length, 12)), 124);
    header.set(enc.encode(octalField(0, 12)), 136);
    header.fill(32, 148, 156);
    header[156] = 0x30;
    header.set(enc.encode('ustar\x0000'), 257);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += header[i]!;
    header.set(enc.encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    chunks.push(header, f.data);
    const pad = (512 - (f.data.length % 512)) % 512;
    if (pad) chunks.push(new Uint8Array(pad));
  }
  chunks.push(new Uint8Array(1024));
  const total = chunks.reduce((a, c) => a + c.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
