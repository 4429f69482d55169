import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { extractZipEntry, listZip, readZipEntry, ZipError } from './zip';

/** A minimal zip writer (stored or deflated entries, optional zip64 records), for the reader's tests. */
function makeZip(files: Array<{ name: string; data: Buffer; deflate: boolean }>, zip64 = false): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const body = f.deflate ? deflateRawSync(f.data) : f.data;
    const name = Buffer.from(f.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(f.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc32(f.data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const extra = zip64 ? Buffer.alloc(4 + 24) : Buffer.alloc(0);
    if (zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(f.data.length), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(f.deflate ? 8 : 0, 10);
    c.writeUInt32LE(crc32(f.data), 16);
    c.writeUInt32LE(zip64 ? 0xffffffff : body.length, 20);
    c.writeUInt32LE(zip64 ? 0xffffffff : f.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(extra.length, 30);
    c.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    centrals.push(c, name, extra);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const dir = mkdtempSync(join(tmpdir(), 'tsvae-zip-'));
const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
const files = [
  { name: 'tensorflow/include/a.h', data: Buffer.from('#include "b.h"\n'), deflate: true },
  { name: 'tensorflow/libx.so.2', data: big, deflate: true },
  { name: 'stored.txt', data: Buffer.from('plain bytes'), deflate: false },
  { name: 'empty', data: Buffer.alloc(0), deflate: false },
];

describe('zip reader', () => {
  it.each([
    false,
    true,
  ])('lists and extracts stored and deflated entries (zip64 fields: %s)', async (zip64) => {
    const file = join(dir, `w${zip64}.whl`);
    writeFileSync(file, makeZip(files, zip64));
    const entries = listZip(file);
    expect(entries.map((e) => [e.name, e.size])).toEqual(files.map((f) => [f.name, f.data.length]));
    expect(readZipEntry(file, entries[0]!).toString()).toBe('#include "b.h"\n');
    expect(readZipEntry(file, entries[2]!).toString()).toBe('plain bytes');
    for (const [i, f] of files.entries()) {
      const out = join(dir, `out${i}`);
      await extractZipEntry(file, entries[i]!, out);
      expect(Buffer.compare(readFileSync(out), f.data)).toBe(0);
    }
  });

  it('rejects a corrupt entry (CRC-32) and a file that is no zip', async () => {
    const bytes = makeZip(files);
    const at = bytes.indexOf(Buffer.from('plain bytes'));
    bytes[at] = 'P'.charCodeAt(0);
    const file = join(dir, 'corrupt.whl');
    writeFileSync(file, bytes);
    const entries = listZip(file);
    expect(() => readZipEntry(file, entries[2]!)).toThrow(ZipError);
    await expect(extractZipEntry(file, entries[2]!, join(dir, 'x'))).rejects.toThrow(/CRC-32/);
    writeFileSync(join(dir, 'not.whl'), 'hello');
    expect(() => listZip(join(dir, 'not.whl'))).toThrow(/not a zip archive/);
  });
});
