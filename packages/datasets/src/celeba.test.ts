import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCeleba, parseCelebaPartition } from './celeba';
import { DatasetFormatError, DatasetNotFoundError } from './errors';
import { crop, resize } from './image';
import { encodePng, patternRgb, tempDir } from './test-helpers';

// CelebA is not available on these machines: the tests make a tiny CelebA-shaped folder
// (218x178 images, PNG bytes under .jpg names so the pixels are exact).
const tmp = tempDir();
const root = join(tmp.dir, 'celeba');
const names = ['000001.jpg', '000002.jpg', '000003.jpg', '000004.jpg', '000005.jpg'];
const parts = [0, 0, 1, 2, 0];

beforeAll(() => {
  mkdirSync(join(root, 'img_align_celeba'), { recursive: true });
  names.forEach((n, i) => {
    writeFileSync(join(root, 'img_align_celeba', n), encodePng(patternRgb(218, 178, i * 40), 218, 178));
  });
  writeFileSync(join(root, 'list_eval_partition.txt'), names.map((n, i) => `${n} ${parts[i]}`).join('\n'));
});
afterAll(tmp.cleanup);

describe('CelebA', () => {
  it('official split, 45:173 / 25:153 crop, 64x64 with the area filter', () => {
    const train = loadCeleba('train', { path: root, cacheDecoded: false });
    expect(train.size).toBe(3);
    expect(train.shape).toEqual([64, 64, 3]);
    expect(train.labels).toBeUndefined();
    const img = { width: 178, height: 218, channels: 3, data: patternRgb(218, 178, 160) };
    const want = resize(crop(img, { top: 45, left: 25, height: 128, width: 128 }), 64, 64, 'area');
    expect(Buffer.compare(Buffer.from(train.data.subarray(2 * 64 * 64 * 3)), Buffer.from(want.data))).toBe(0);
    expect(loadCeleba('test', { path: root, cacheDecoded: false }).size).toBe(1);
    expect(loadCeleba('test', { path: root, cacheDecoded: false, validation: 'test' }).size).toBe(2);
  });

  it('celeba140 and compare_gan centre-160 crops, bilinear filter, other sizes; cached reload is identical', () => {
    const cacheDir = join(tmp.dir, 'cache');
    const img = { width: 178, height: 218, channels: 3, data: patternRgb(218, 178, 0) };
    const c140 = loadCeleba('train', {
      path: root,
      crop: 'celeba140',
      filter: 'bilinear',
      size: 32,
      cacheDir,
    });
    const want140 = resize(crop(img, { top: 39, left: 19, height: 140, width: 140 }), 32, 32, 'bilinear');
    expect(Buffer.compare(Buffer.from(c140.data.subarray(0, 32 * 32 * 3)), Buffer.from(want140.data))).toBe(
      0,
    );
    const again = loadCeleba('train', {
      path: root,
      crop: 'celeba140',
      filter: 'bilinear',
      size: 32,
      cacheDir,
    });
    expect(Buffer.compare(Buffer.from(again.data), Buffer.from(c140.data))).toBe(0);
    const c160 = loadCeleba('train', { path: root, crop: 'center160', limit: 1, cacheDecoded: false });
    const want160 = resize(crop(img, { top: 29, left: 9, height: 160, width: 160 }), 64, 64, 'area');
    expect(Buffer.compare(Buffer.from(c160.data), Buffer.from(want160.data))).toBe(0);
  });

  it('errors: no path, missing partition file, bad partition line, missing image', () => {
    const saved = process.env['TSVAE_CELEBA_DIR'];
    delete process.env['TSVAE_CELEBA_DIR'];
    expect(() => loadCeleba('train')).toThrow(DatasetNotFoundError);
    expect(() => loadCeleba('train')).toThrow(/mmlab\.ie\.cuhk\.edu\.hk/);
    if (saved !== undefined) process.env['TSVAE_CELEBA_DIR'] = saved;
    const bare = join(tmp.dir, 'bare');
    mkdirSync(join(bare, 'img_align_celeba'), { recursive: true });
    expect(() => loadCeleba('train', { path: bare })).toThrow(/bare: no list_eval_partition\.txt/);
    expect(() => parseCelebaPartition('000001.jpg 0\n000002.jpg x\n', 'p.txt')).toThrow(
      /p\.txt: line 2: expected "<image> <0\|1\|2>"/,
    );
    writeFileSync(join(bare, 'list_eval_partition.txt'), '000009.jpg 0\n');
    expect(() => loadCeleba('train', { path: bare, cacheDecoded: false })).toThrow(DatasetFormatError);
    expect(() => loadCeleba('train', { path: bare, cacheDecoded: false })).toThrow(
      /000009\.jpg: listed in .*list_eval_partition\.txt but cannot be read/,
    );
  });

  it('parses the Kaggle CSV partition file', () => {
    const m = parseCelebaPartition('image_id,partition\n000001.jpg,0\n000002.jpg,2\n', 'x.csv');
    expect([...m.entries()]).toEqual([
      ['000001.jpg', 0],
      ['000002.jpg', 2],
    ]);
  });
});
