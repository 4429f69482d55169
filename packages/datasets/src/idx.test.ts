import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetFormatError } from './errors';
import { loadIdxSplit, parseIdx, readIdx } from './idx';
import { gz, idxBytes, tempDir } from './test-helpers';

const tmp = tempDir();
afterAll(tmp.cleanup);

function write(name: string, bytes: Uint8Array): string {
  const p = join(tmp.dir, name);
  writeFileSync(p, bytes);
  return p;
}

const pixels = Uint8Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 7);
const labels = Uint8Array.from([2, 0, 9]);

describe('IDX', () => {
  it('parses images and labels, raw and gzip, as a uint8 NHWC split', () => {
    const img = write('img', idxBytes([3, 2, 2], pixels));
    const lab = write('lab.gz', gz(idxBytes([3], labels)));
    const s = loadIdxSplit(img, lab, 10);
    expect(s.size).toBe(3);
    expect(s.shape).toEqual([2, 2, 1]);
    expect([...s.data]).toEqual([...pixels]);
    expect([...s.labels!]).toEqual([2, 0, 9]);
    expect(readIdx(write('img.gz', gz(idxBytes([3, 2, 2], pixels)))).dims).toEqual([3, 2, 2]);
  });

  it('rejects a wrong magic number, naming the file', () => {
    const f = write('bad-magic', idxBytes([3, 2, 2], pixels, 0x12345678));
    expect(() => readIdx(f)).toThrow(DatasetFormatError);
    expect(() => readIdx(f)).toThrow(`${f}: wrong magic number 0x12345678`);
  });

  it('rejects a truncated file (data shorter than the header says)', () => {
    const full = idxBytes([3, 2, 2], pixels);
    const f = write('truncated', full.subarray(0, full.length - 5));
    expect(() => readIdx(f)).toThrow(
      /truncated.*truncated IDX file: header says 3x2x2 = 12 bytes of data, file has 7/,
    );
    const h = write('short-header', full.subarray(0, 9));
    expect(() => readIdx(h)).toThrow(/short-header: truncated IDX header/);
  });

  it('rejects a truncated gzip file', () => {
    const z = gz(idxBytes([3, 2, 2], pixels));
    const f = write('trunc.gz', z.subarray(0, z.length - 10));
    expect(() => readIdx(f)).toThrow(/trunc\.gz: corrupt or truncated gzip data/);
  });

  it('rejects an image / label count mismatch, naming both files', () => {
    const img = write('img3', idxBytes([3, 2, 2], pixels));
    const lab = write('lab2', idxBytes([2], labels.subarray(0, 2)));
    expect(() => loadIdxSplit(img, lab)).toThrow(`${lab}: count mismatch: 2 labels but 3 images in ${img}`);
  });

  it('rejects labels outside the class range and trailing bytes', () => {
    const img = write('img-ok', idxBytes([3, 2, 2], pixels));
    const lab = write('lab-bad', idxBytes([3], Uint8Array.from([1, 12, 0])));
    expect(() => loadIdxSplit(img, lab, 10)).toThrow(/lab-bad: label 12 at index 1/);
    const extra = new Uint8Array(idxBytes([3], labels).length + 2);
    extra.set(idxBytes([3], labels));
    expect(() => parseIdx(extra, 'x')).toThrow(/x: IDX file has 2 unexpected trailing bytes/);
  });
});
