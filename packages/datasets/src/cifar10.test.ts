import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCifar10, parseCifar10Batches } from './cifar10';
import { DatasetFormatError, DatasetNotFoundError } from './errors';
import { encodePng, patternRgb, tempDir } from './test-helpers';

const tmp = tempDir();
afterAll(tmp.cleanup);

function batch(labels: number[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((l, i) => {
    out[i * 3073] = l;
    out.fill(100 + i, i * 3073 + 1, i * 3073 + 1025);
  });
  return out;
}

describe('CIFAR-10 binary batches', () => {
  it('loads a batch folder (data_batch_1..5 + test_batch)', async () => {
    const dir = join(tmp.dir, 'cifar-10-batches-bin');
    mkdirSync(dir, { recursive: true });
    for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), batch([b, 0]));
    writeFileSync(join(dir, 'test_batch.bin'), batch([3]));
    const train = await loadCifar10('train', { path: tmp.dir });
    expect(train.split.size).toBe(10);
    expect([...train.split.labels!]).toEqual([1, 0, 2, 0, 3, 0, 4, 0, 5, 0]);
    expect([...train.split.data.subarray(0, 4)]).toEqual([100, 0, 0, 100]);
    expect((await loadCifar10('test', { path: dir })).split.size).toBe(1);
  });

  it('a truncated batch and a bad label are errors naming the file', () => {
    const b = batch([1, 2]);
    const read = (bytes: Uint8Array) => ({
      file: 'data_batch_1.bin',
      length: bytes.length,
      read: () => bytes,
    });
    expect(() => parseCifar10Batches([read(b.subarray(0, 5000))])).toThrow(DatasetFormatError);
    expect(() => parseCifar10Batches([read(b.subarray(0, 5000))])).toThrow(
      /data_batch_1\.bin: truncated or corrupt CIFAR-10 batch: 5000 bytes/,
    );
    const bad = b.slice();
    bad[3073] = 12;
    expect(() => parseCifar10Batches([read(bad)])).toThrow(/data_batch_1\.bin: label 12 of record 1/);
  });

  it('nothing found: the error lists where it looked and how to get the data', async () => {
    const err = await loadCifar10('train', { path: join(tmp.dir, 'nothing-here') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetNotFoundError);
    expect((err as Error).message).toMatch(/nothing-here/);
    expect((err as Error).message).toMatch(/cifar-10-binary\.tar\.gz/);
    expect((err as Error).message).toMatch(/TSVAE_CIFAR10_JPEG_DIR/);
  });
});

describe('CIFAR-10 JPEG copy via TSVAE_CIFAR10_JPEG_DIR', () => {
  it('is found through the env var, decoded once and reloaded from the uint8 cache', async () => {
    const dir = join(tmp.dir, 'jpeg-copy');
    for (const [split, cls, k] of [
      ['train', 'airplane', 0],
      ['train', 'truck', 1],
      ['test', 'cat', 2],
    ] as const) {
      mkdirSync(join(dir, split, cls), { recursive: true });
      writeFileSync(join(dir, split, cls, '0000.png'), encodePng(patternRgb(32, 32, k), 32, 32));
    }
    const cacheDir = join(tmp.dir, 'jpeg-cache');
    const saved = process.env['TSVAE_CIFAR10_JPEG_DIR'];
    process.env['TSVAE_CIFAR10_JPEG_DIR'] = dir;
    try {
      const train = await loadCifar10('train', { cacheDir, download: false });
      expect(train.source).toBe(dir);
      expect([...train.split.labels!]).toEqual([0, 9]);
      expect([...train.split.data.subarray(0, 3)]).toEqual([...patternRgb(32, 32, 0).subarray(0, 3)]);
      const cached = readdirSync(join(cacheDir, 'cifar10'));
      expect(cached.some((f) => f.startsWith('jpeg-train-') && f.endsWith('.u8'))).toBe(true);
      const again = await loadCifar10('train', { cacheDir, download: false });
      expect(Buffer.compare(Buffer.from(again.split.data), Buffer.from(train.split.data))).toBe(0);
      const test = await loadCifar10('test', {
        cacheDir,
        download: false,
        cacheDecoded: false,
      });
      expect([...test.split.labels!]).toEqual([3]);
      expect(existsSync(join(cacheDir, 'cifar10'))).toBe(true);
    } finally {
      if (saved === undefined) delete process.env['TSVAE_CIFAR10_JPEG_DIR'];
      else process.env['TSVAE_CIFAR10_JPEG_DIR'] = saved;
    }
  });
});
