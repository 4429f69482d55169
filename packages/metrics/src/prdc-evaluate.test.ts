/** The `metrics` option of evaluateGenerators / evaluate: precision, recall, density, coverage in the report. */
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  type DataSplit,
  type Dataset,
  definePlugin,
  deriveSeed,
  type FeatureExtractor,
  type Generator,
  getRegistry,
  z,
} from '@tsvae/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvaluationError } from './errors';
import { type EvaluationProgress, evaluateGenerators, generatorFeatures, splitFeatures } from './evaluate';
import { evaluate } from './evaluation';
import { precisionRecallDensityCoverage } from './prdc';

const D = 9;
const SHAPE = [3, 3, 1] as const;
const root = mkdtempSync(join(tmpdir(), 'tsvae-prdc-evaluate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function split(n: number, seed: number): DataSplit {
  const rng = createRng(seed);
  return { size: n, shape: [...SHAPE], data: Uint8Array.from({ length: n * D }, () => rng.nextInt(256)) };
}

/** Features = the pixels. */
const flat: FeatureExtractor = {
  name: 'flat',
  featureDim: D,
  async extract(images) {
    return tf.reshape(images, [images.shape[0], D]) as tf.Tensor2D;
  },
  dispose() {},
};

/** Seeded uniform noise in [0, scale]. */
const noise = (scale = 1): Generator => ({
  name: 'noise',
  outputShape: [...SHAPE],
  async generate(n, options) {
    return tf.randomUniform([n, ...SHAPE], 0, scale, 'float32', options?.seed) as tf.Tensor4D;
  },
  dispose() {},
});

const dataset = definePlugin({
  kind: 'dataset',
  name: 'test-prdc-grid',
  configSchema: z.object({ size: z.number().int().default(90) }),
  create: (c: { size: number }): Dataset => ({
    name: 'test-prdc-grid',
    shape: [...SHAPE],
    async load() {
      return split(c.size, 1);
    },
  }),
});
const extractorPlugin = definePlugin({
  kind: 'feature-extractor',
  name: 'test-prdc-flat',
  configSchema: z.object({}),
  create: () => ({ ...flat, name: 'test-prdc-flat' }),
});

beforeAll(async () => {
  await tf.setBackend('cpu');
  const reg = getRegistry();
  if (!reg.has('dataset', dataset.name)) reg.register(dataset);
  if (!reg.has('feature-extractor', extractorPlugin.name)) reg.register(extractorPlugin);
});

describe("evaluateGenerators with metrics: ['fid', 'kid', 'prdc']", () => {
  const ref = split(80, 1);
  const common = {
    reference: ref,
    extractors: [flat],
    count: 60,
    batchSize: 25,
    kid: { subsets: 3, subsetSize: 30 },
  };

  it('adds precision / recall / density / coverage per trial, equal to the direct call on the same features; FID and KID unchanged', async () => {
    const progress: EvaluationProgress[] = [];
    const [row] = await evaluateGenerators({
      ...common,
      generators: { noise: noise(0.8) },
      trials: 2,
      seed: 4,
      metrics: ['fid', 'kid', 'prdc'],
      prdc: { k: 4 },
      onProgress: (p) => progress.push(p),
    });
    const [plain] = await evaluateGenerators({
      ...common,
      generators: { noise: noise(0.8) },
      trials: 2,
      seed: 4,
    });
    expect(row?.fid).toEqual(plain?.fid);
    expect(row?.kid).toEqual(plain?.kid);
    expect(plain?.prdc).toBeUndefined();
    expect(plain?.trials[0]?.prdc).toBeUndefined();

    const real = await splitFeatures(flat, ref);
    const values = [];
    for (const t of [0, 1]) {
      const fake = await generatorFeatures(flat, noise(0.8), 60, { seed: 4 + t, batchSize: 25 });
      const r = precisionRecallDensityCoverage(real, fake, D, { k: 4 });
      const v = { precision: r.precision, recall: r.recall, density: r.density, coverage: r.coverage };
      expect(row?.trials[t]?.prdc).toEqual(v);
      values.push(v);
    }
    // Not trivially 0 or 1: noise in [0, 0.8] against uniform uint8 pixels.
    expect(values[0]?.recall).toBeGreaterThan(0);
    expect(values[0]?.recall).toBeLessThan(1);
    const mean = ((values[0]?.density ?? 0) + (values[1]?.density ?? 0)) / 2;
    expect(row?.prdc?.density.mean).toBeCloseTo(mean, 14);
    expect(row?.prdc?.density.std).toBeCloseTo(Math.abs((values[0]?.density ?? 0) - mean), 14);
    expect(row?.prdc).toMatchObject({ k: 4, closedBalls: false });

    const prdc = progress.filter((p) => p.phase === 'prdc');
    // Reference radii once (no generator), then one pass per trial.
    expect(prdc[0]).toMatchObject({ extractor: 'flat', total: (80 * 79) / 2 });
    expect(prdc[0]?.generator).toBeUndefined();
    const last = prdc.filter((p) => p.trial === 1).at(-1);
    expect(last).toMatchObject({ generator: 'noise', trial: 1, total: (60 * 59) / 2 + 60 * 80 });
    expect(last?.done).toBe(last?.total);
  });

  it("metrics ['fid'] or kid: false leave KID out; ['fid', 'prdc'] gives PRDC without KID", async () => {
    const only = await evaluateGenerators({ ...common, generators: { noise: noise() }, metrics: ['fid'] });
    expect(only[0]?.kid).toBeUndefined();
    expect(only[0]?.prdc).toBeUndefined();
    const noKid = await evaluateGenerators({
      ...common,
      generators: { noise: noise() },
      kid: false,
      metrics: ['fid', 'kid', 'prdc'],
    });
    expect(noKid[0]?.kid).toBeUndefined();
    expect(noKid[0]?.prdc?.k).toBe(3);
    const prdc = await evaluateGenerators({
      ...common,
      generators: { noise: noise() },
      metrics: ['prdc', 'fid'],
    });
    expect(prdc[0]?.kid).toBeUndefined();
    expect(prdc[0]?.prdc).toEqual(noKid[0]?.prdc);
    expect(prdc[0]?.fid).toEqual(only[0]?.fid);
  });

  it('rejects an unknown metric, a list without fid, and counts too small for k, before any work', async () => {
    let calls = 0;
    const counted: FeatureExtractor = {
      ...flat,
      async extract(images) {
        calls++;
        return flat.extract(images);
      },
    };
    const run = (over: Record<string, unknown>) =>
      evaluateGenerators({ ...common, extractors: [counted], generators: { noise: noise() }, ...over });
    await expect(run({ metrics: ['fid', 'is'] })).rejects.toThrow(
      "unknown metric 'is' (known: fid, kid, prdc)",
    );
    await expect(run({ metrics: ['kid'] })).rejects.toThrow("metrics must include 'fid'");
    await expect(run({ metrics: ['fid', 'prdc'], prdc: { k: 60 } })).rejects.toThrow(
      'count 60 is too small for prdc with k = 60 (needs at least 61)',
    );
    await expect(run({ metrics: ['fid', 'prdc'], prdc: { k: 0 } })).rejects.toThrow(
      'prdc.k must be a positive integer',
    );
    expect(calls).toBe(0);
  });

  it('stops on its signal during the k-NN pass', async () => {
    const controller = new AbortController();
    await expect(
      evaluateGenerators({
        ...common,
        generators: { noise: noise() },
        metrics: ['fid', 'prdc'],
        prdc: { blockSize: 8 },
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'prdc') controller.abort(new Error('stopped in prdc'));
        },
      }),
    ).rejects.toThrow('stopped in prdc');
  });

  it('draws the same samples with and without prdc (the k-NN pass uses no randomness)', async () => {
    const seen: number[][] = [];
    const spy: Generator = {
      ...noise(),
      async generate(n, options) {
        seen.push([n, options?.seed ?? -1]);
        return noise().generate(n, options);
      },
    };
    await evaluateGenerators({ ...common, generators: { spy }, metrics: ['fid', 'prdc'] });
    const withPrdc = seen.splice(0);
    await evaluateGenerators({ ...common, generators: { spy } });
    expect(withPrdc).toEqual(seen);
    expect(withPrdc[0]).toEqual([25, deriveSeed(0, 'generator-batch', 0)]);
  });
});

describe('evaluate with metrics', () => {
  const options = {
    generators: { noise: noise() },
    dataset: { name: 'test-prdc-grid' },
    extractors: ['test-prdc-flat'],
    count: 50,
    batchSize: 25,
    kid: { subsets: 3, subsetSize: 20 },
    cacheDir: join(root, 'cache'),
  };

  it('records the metrics and the PRDC settings in the protocol, and the values in each row', async () => {
    const report = await evaluate({
      ...options,
      metrics: ['fid', 'kid', 'prdc'],
      prdc: { k: 5, closedBalls: true },
    });
    expect(report.protocol.metrics).toEqual(['fid', 'kid', 'prdc']);
    expect(report.protocol.prdc).toEqual({ k: 5, closedBalls: true, inside: 'd <= r' });
    expect(report.results[0]?.prdc).toMatchObject({ k: 5, closedBalls: true });
    expect(report.results[0]?.prdc?.precision.mean).toBeGreaterThan(0);

    const plain = await evaluate(options);
    expect(plain.protocol.metrics).toEqual(['fid', 'kid']);
    expect(plain.protocol.prdc).toBe(false);
    expect(plain.results[0]?.prdc).toBeUndefined();
    expect(plain.results[0]?.fid).toEqual(report.results[0]?.fid);

    const noKid = await evaluate({ ...options, kid: false });
    expect(noKid.protocol.metrics).toEqual(['fid']);
    expect(noKid.protocol.kid).toBe(false);
  });

  it('names the option in its errors', async () => {
    const err = async (over: Record<string, unknown>) => {
      try {
        await evaluate({ ...options, ...over });
      } catch (e) {
        return e as EvaluationError;
      }
      throw new Error('did not throw');
    };
    const unknown = await err({ metrics: ['fid', 'fd'] });
    expect(unknown).toBeInstanceOf(EvaluationError);
    expect(unknown.field).toBe('metrics');
    expect(unknown.message).toBe("metrics: unknown metric 'fd' (known: fid, kid, prdc)");
    const small = await err({ metrics: ['fid', 'prdc'], referenceCount: 3 });
    expect(small.field).toBe('referenceCount');
    expect(small.message).toContain('3 is too small for prdc with k = 3 (needs at least 4)');
    const count = await err({ metrics: ['fid', 'prdc'], prdc: { k: 50 } });
    expect(count.field).toBe('count');
  });
});
