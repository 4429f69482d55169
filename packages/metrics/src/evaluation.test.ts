import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  type DataSplit,
  type Dataset,
  definePlugin,
  type Generator,
  getRegistry,
  MemoryLogger,
  z,
} from '@tsvae/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EvaluationError } from './errors';
import { evaluateGenerators } from './evaluate';
import { type EvaluationOptions, evaluate } from './evaluation';
import { writeNpy } from './npy';
import { registerMetricsPlugins } from './plugins';

const D = 9;
const root = mkdtempSync(join(tmpdir(), 'tsvae-evaluate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function split(n: number, seed: number): DataSplit {
  const rng = createRng(seed);
  return { size: n, shape: [3, 3, 1], data: Uint8Array.from({ length: n * D }, () => rng.nextInt(256)) };
}

/** An unlabelled dataset of 3x3 uint8 images (test split of `size`, train split of 2 x size). */
const grid = definePlugin({
  kind: 'dataset',
  name: 'test-eval-grid',
  configSchema: z.object({ size: z.number().int().default(120), noTest: z.boolean().default(false) }),
  create: (c: { size: number; noTest: boolean }): Dataset => ({
    name: 'test-eval-grid',
    shape: [3, 3, 1],
    async load(name) {
      if (name === 'test' && c.noTest) throw new Error('no test split configured');
      return name === 'test' ? split(c.size, 1) : split(2 * c.size, 2);
    },
  }),
});

let created = 0;
let disposed = 0;
/** Features = the pixels times `scale` (no availability hook: runs when named). */
const flat = definePlugin({
  kind: 'feature-extractor',
  name: 'test-eval-flat',
  configSchema: z.object({ scale: z.number().default(1), cacheDir: z.string().optional() }),
  create: (c: { scale: number }) => {
    created++;
    return {
      name: 'test-eval-flat',
      featureDim: D,
      async extract(images: tf.Tensor4D) {
        return tf.tidy(() => tf.mul(tf.reshape(images, [images.shape[0], D]), c.scale) as tf.Tensor2D);
      },
      dispose() {
        disposed++;
      },
    };
  },
});

/** Seeded uniform noise, or a fixed count of wrong-sized batches when `broken`. */
const noise = (broken = false): Generator => ({
  name: 'noise',
  outputShape: [3, 3, 1],
  async generate(n, options) {
    return tf.randomUniform([broken ? n + 1 : n, 3, 3, 1], 0, 1, 'float32', options?.seed) as tf.Tensor4D;
  },
  dispose() {},
});

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerMetricsPlugins();
  const reg = getRegistry();
  if (!reg.has('dataset', grid.name)) reg.register(grid);
  if (!reg.has('feature-extractor', flat.name)) reg.register(flat);
});

let savedWeights: string | undefined;
beforeEach(() => {
  savedWeights = process.env['TSVAE_FID_WEIGHTS'];
  delete process.env['TSVAE_FID_WEIGHTS'];
  return () => {
    if (savedWeights !== undefined) process.env['TSVAE_FID_WEIGHTS'] = savedWeights;
  };
});

const base = (cacheDir: string, over: Partial<EvaluationOptions> = {}): EvaluationOptions => ({
  generators: { noise: noise() },
  dataset: { name: 'test-eval-grid', config: { size: 120 } },
  extractors: ['test-eval-flat'],
  count: 100,
  batchSize: 32,
  kid: { subsets: 5, subsetSize: 50 },
  cacheDir,
  ...over,
});

const catchIt = async (p: Promise<unknown>): Promise<EvaluationError> => {
  try {
    await p;
  } catch (e) {
    return e as EvaluationError;
  }
  throw new Error('did not throw');
};

describe('evaluate', () => {
  it('returns the report; the numbers are evaluateGenerators on the same split; extractors are disposed', async () => {
    const before = { created, disposed };
    const starts: unknown[] = [];
    const phases: string[] = [];
    const report = await evaluate({
      ...base(join(root, 'report')),
      onStart: (s) => starts.push(s),
      onProgress: (p) => {
        if (starts.length !== 1) throw new Error('progress before onStart');
        phases.push(p.phase);
      },
    });
    expect(created - before.created).toBe(1);
    expect(disposed - before.disposed).toBe(1);
    expect(report.dataset).toEqual({
      name: 'test-eval-grid',
      config: { size: 120 },
      split: 'test',
      size: 120,
    });
    expect(report.protocol).toMatchObject({
      count: 100,
      referenceCount: 120,
      referenceImages: 'test[0:120]',
      trials: 1,
      seed: 0,
      quantize: true,
      minMaxNormalize: false,
      kid: { subsets: 5, subsetSize: 50, kernel: '(x.y/d + 1)^3', estimator: 'unbiased MMD^2' },
      batchSize: 32,
    });
    expect(report.extractors).toEqual([
      {
        name: 'test-eval-flat',
        plugin: 'test-eval-flat',
        config: {},
        featureDim: D,
        reference: {
          path: expect.stringMatching(
            /report\/metrics\/reference\/test-eval-grid-test-n120-test-eval-flat-[0-9a-f]{16}\.npy$/,
          ),
          cached: false,
        },
      },
    ]);
    expect(report.skipped).toEqual([]);
    expect(starts).toEqual([
      {
        dataset: report.dataset,
        count: 100,
        referenceCount: 120,
        trials: 1,
        extractors: [{ name: 'test-eval-flat', plugin: 'test-eval-flat', config: {}, featureDim: D }],
        skipped: [],
      },
    ]);
    expect(phases[0]).toBe('reference');
    const extractor = await getRegistry().create('feature-extractor', 'test-eval-flat', {});
    const [direct] = await evaluateGenerators({
      generators: { noise: noise() },
      reference: split(120, 1),
      extractors: [extractor],
      count: 100,
      batchSize: 32,
      kid: { subsets: 5, subsetSize: 50 },
    });
    expect(report.results[0]?.fid).toEqual(direct?.fid);
    expect(report.results[0]?.kid).toEqual(direct?.kid);
  });

  it('reference cache: a hit gives identical results and is really read; garbage or a mismatch is recomputed with a warning', async () => {
    const cache = join(root, 'cache');
    const first = await evaluate(base(cache));
    const path = first.extractors[0]?.reference?.path ?? '';
    expect(existsSync(path)).toBe(true);

    const second = await evaluate(base(cache));
    expect(second.extractors[0]?.reference).toEqual({ path, cached: true });
    expect(second.results.map((r) => [r.fid, r.kid])).toEqual(first.results.map((r) => [r.fid, r.kid]));

    // Other features in the file change the result: the hit is what was used.
    const shifted = new Float32Array(120 * D).fill(0.5);
    writeFileSync(path, writeNpy({ dtype: 'float32', shape: [120, D], data: shifted }));
    const fromFile = await evaluate(base(cache));
    expect(fromFile.extractors[0]?.reference?.cached).toBe(true);
    expect(fromFile.results[0]?.fid.mean).not.toBeCloseTo(first.results[0]?.fid.mean ?? 0, 3);

    for (const [bad, why] of [
      [new TextEncoder().encode('not a .npy'), 'not a .npy file'],
      [
        writeNpy({ dtype: 'float32', shape: [2, D], data: new Float32Array(2 * D) }),
        `holds float32 [2, ${D}], expected float32 [120, ${D}]`,
      ],
      [writeNpy({ dtype: 'float64', shape: [120, D], data: new Float64Array(120 * D) }), 'holds float64'],
    ] as const) {
      writeFileSync(path, bad);
      const logger = new MemoryLogger();
      const again = await evaluate({ ...base(cache), logger });
      expect(logger.records.filter((r) => r.level === 'warn').map((r) => r.message)).toEqual([
        expect.stringContaining(`ignoring the cached reference features ${path}: ${why}`),
      ]);
      expect(again.extractors[0]?.reference).toEqual({ path, cached: false });
      expect(again.results.map((r) => [r.fid, r.kid])).toEqual(first.results.map((r) => [r.fid, r.kid]));
    }
    // ... and the recomputed file is good again.
    expect((await evaluate(base(cache))).extractors[0]?.reference).toEqual({ path, cached: true });
  });

  it('reference cache: another N, config, split or dataset config gives another file; cacheDir in a config does not', async () => {
    const cache = join(root, 'keys');
    const pathOf = async (over: Partial<EvaluationOptions>) =>
      (await evaluate(base(cache, { kid: false, ...over }))).extractors[0]?.reference?.path;
    const p0 = await pathOf({});
    const others = [
      await pathOf({ referenceCount: 100 }),
      await pathOf({ extractorConfigs: { 'test-eval-flat': { scale: 2 } } }),
      await pathOf({ split: 'train' }),
      await pathOf({ dataset: { name: 'test-eval-grid', config: { size: 121 } } }),
    ];
    expect(new Set([p0, ...others]).size).toBe(5);
    expect(others[0]).toMatch(/-n100-/);
    expect(
      await pathOf({ extractorConfigs: { 'test-eval-flat': { cacheDir: join(root, 'elsewhere') } } }),
    ).toBe(p0);
    const files = readdirSync(join(cache, 'metrics', 'reference'));
    expect(files).toHaveLength(5);
    // Off: no record, no new file.
    const off = await evaluate(base(cache, { referenceCache: false, referenceCount: 90 }));
    expect(off.extractors[0]?.reference).toBeNull();
    expect(readdirSync(join(cache, 'metrics', 'reference'))).toHaveLength(5);
  });

  it('seed 0 reproduces (and differs from seed 1); trial t of a run equals a one-trial run with seed + t', async () => {
    const cache = join(root, 'seeds');
    const fids = async (over: Partial<EvaluationOptions>) =>
      (await evaluate(base(cache, over))).results[0]?.trials.map((t) => [t.seed, t.fid, t.kid?.mean]);
    const a = await fids({ seed: 0 });
    expect(await fids({ seed: 0 })).toEqual(a);
    expect((await fids({ seed: 1 }))?.[0]?.[1]).not.toBe(a?.[0]?.[1]);
    const three = await fids({ seed: 0, trials: 3 });
    expect(three?.map((t) => t[0])).toEqual([0, 1, 2]);
    expect(three?.[0]).toEqual(a?.[0]);
    expect(three?.[2]).toEqual((await fids({ seed: 2 }))?.[0]);
  });

  it('errors name the split, the count, the extractor; a failed run still disposes its extractors', async () => {
    const cache = join(root, 'errors');
    const noTest = await catchIt(
      evaluate(base(cache, { dataset: { name: 'test-eval-grid', config: { noTest: true } } })),
    );
    expect(noTest).toBeInstanceOf(EvaluationError);
    expect(noTest.field).toBe('split');
    expect(noTest.message).toBe(
      "cannot load the test split of test-eval-grid: no test split configured (split 'train' compares against the training images instead)",
    );
    const train = await evaluate(
      base(cache, {
        dataset: { name: 'test-eval-grid', config: { noTest: true } },
        split: 'train',
        kid: false,
      }),
    );
    expect(train.dataset).toMatchObject({ split: 'train', size: 240 });

    const tooMany = await catchIt(evaluate(base(cache, { referenceCount: 121 })));
    expect(tooMany).toMatchObject({ field: 'referenceCount' });
    expect(tooMany.message).toBe('referenceCount: 121 exceeds the 120 test images of test-eval-grid');

    const none = await catchIt(evaluate(base(join(root, 'empty-cache'), { extractors: 'auto' })));
    expect(none.field).toBe('extractors');
    expect(none.message).toMatch(
      /^no feature extractor is available for test-eval-grid: classifier: dataset 'test-eval-grid' has no labels.*; inception-fid: FID Inception weights not found/,
    );

    const unknown = await catchIt(evaluate(base(cache, { extractors: ['nope'] })));
    expect(unknown).toMatchObject({ field: 'extractors', extractor: 'nope' });

    expect((await catchIt(evaluate(base(cache, { seed: -1 })))).field).toBe('seed');
    expect((await catchIt(evaluate(base(cache, { count: 0 })))).field).toBe('count');

    const before = { created, disposed };
    await expect(evaluate(base(cache, { generators: { broken: noise(true) } }))).rejects.toThrow(
      /generator 'noise' returned 33 images; asked for 32/,
    );
    expect(created - before.created).toBe(1);
    expect(disposed - before.disposed).toBe(1);
  });
});
