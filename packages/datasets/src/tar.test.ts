import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetFormatError } from './errors';
import { createTar, openTar, parseTar } from './tar';
import { gz, tempDir } from './test-helpers';

const tmp = tempDir();
afterAll(tmp.cleanup);
const enc = new TextEncoder();

describe('tar reader', () => {
  const files = [
    { name: 'top/a.txt', data: enc.encode('hello') },
    { name: 'top/b/c.bin', data: Uint8Array.from({ length: 1300 }, (_, i) => i % 251) },
    { name: 'empty', data: new Uint8Array(0) },
  ];

  it('round-trips files through createTar / parseTar / openTar (plain and gzip)', () => {
    const bytes = createTar(files);
    expect(bytes.length % 512).toBe(0);
    const t = parseTar(bytes);
    expect(t.entries.map((e) => e.name)).toEqual(files.map((f) => f.name));
    const p = join(tmp.dir, 'x.tar');
    writeFileSync(p, bytes);
    const pz = join(tmp.dir, 'x.tar.gz');
    writeFileSync(pz, gz(bytes));
    for (const path of [p, pz]) {
      const a = openTar(path);
      a.entries.forEach((e, i) => {
        expect([...a.read(e)]).toEqual([...files[i]!.data]);
      });
      a.close();
    }
  });

  it('reads pax long names', () => {
    const long = `${'d'.repeat(120)}/file.txt`;
    const pax = enc.encode(`${(` path=${long}\n`.length + 3).toString()} path=${long}\n`);
    const bytes = createTar([
      { name: 'PaxHeader', data: pax },
      { name: 'short', data: enc.encode('x') },
    ]);
    bytes[156] = 'x'.charCodeAt(0);
    // Fix the checksum of the modified header.
    bytes.fill(32, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += bytes[i]!;
    bytes.set(enc.encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    expect(parseTar(bytes).entries.map((e) => e.name)).toEqual([long]);
  });

  it('reports a truncated archive and a corrupt header, naming the file', () => {
    const bytes = createTar(files);
    const p = join(tmp.dir, 'trunc.tar');
    writeFileSync(p, bytes.subarray(0, 512 + 512 + 300));
    expect(() => openTar(p)).toThrow(DatasetFormatError);
    expect(() => openTar(p)).toThrow(
      /trunc\.tar: truncated tar archive: it ends inside a header at byte 1024/,
    );
    writeFileSync(p, bytes.subarray(0, 512 + 512 + 600));
    expect(() => openTar(p)).toThrow(
      /trunc\.tar: truncated tar archive: entry "top\/b\/c\.bin" needs 1300 bytes/,
    );
    writeFileSync(p, bytes.subarray(0, 1024));
    expect(() => openTar(p)).toThrow(
      /trunc\.tar: truncated tar archive: no end-of-archive marker after byte 1024/,
    );
    const bad = bytes.slice();
    bad[0] = 'X'.charCodeAt(0);
    const q = join(tmp.dir, 'bad.tar');
    writeFileSync(q, bad);
    expect(() => openTar(q)).toThrow(/bad\.tar: corrupt tar archive: bad header checksum at byte 0/);
  });
});
