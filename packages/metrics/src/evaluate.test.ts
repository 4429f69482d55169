import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  type DataSplit,
  deriveSeed,
  type FeatureExtractor,
  type Generator,
  type ImageShape,
  MAX_SEED,
} from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateGenerators, generatorFeatures, prepareGenerated, splitFeatures } from './evaluate';
import { fidFromFeatures } from './fid';
import { kernelInceptionDistance } from './kid';

const SHAPE: ImageShape = [3, 3, 1];
const D = 9;

/** Features = the pixels themselves: FID has closed forms under shifts. */
const flat: FeatureExtractor = {
  name: 'flat',
  featureDim: D,
  async extract(images) {
    return tf.reshape(images, [images.shape[0], D]) as tf.Tensor2D;
  },
  dispose() {},
};

/** uint8 images with values in [0, 200], each image spanning exactly [0, 200] (min-max tests). */
function referenceSplit(n: number, seed = 1): DataSplit {
  const rng = createRng(seed);
  const data = new Uint8Array(n * D);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < D; k++) data[i * D + k] = rng.nextInt(201);
    data[i * D + rng.nextInt(D)] = 0;
    let hi = rng.nextInt(D);
    if (data[i * D + hi] === 0) hi = (hi + 1) % D;
    data[i * D + hi] = 200;
  }
  return { size: n, shape: SHAPE, data };
}

/** Replays the reference images in order through `f` (ignores seeds). */
function replay(split: DataSplit, f: (x: tf.Tensor4D) => tf.Tensor4D): Generator {
  let cursor = 0;
  return {
    name: 'replay',
    outputShape: SHAPE,
    async generate(n) {
      const x = tf.tidy(() => {
        const slice = split.data.subarray(cursor * D, (cursor + n) * D);
        return f(tf.div(tf.tensor4d(Float32Array.from(slice), [n, ...SHAPE]), 255) as tf.Tensor4D);
      });
      cursor += n;
      return x;
    },
    dispose() {},
  };
}

/** Seeded uniform noise. */
const noise: Generator = {
  name: 'noise',
  outputShape: SHAPE,
  async generate(n, options) {
    return tf.randomUniform([n, ...SHAPE], 0, 1, 'float32', options?.seed) as tf.Tensor4D;
  },
  dispose() {},
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('evaluateGenerators', () => {
  const ref = referenceSplit(300);

  it('gives FID = d c^2 for a generator that shifts the reference by c = k/255, and KID as computed directly', async () => {
    const c = 17 / 255;
    const [row] = await evaluateGenerators({
      generators: { shifted: replay(ref, (x) => tf.add(x, c)) },
      reference: ref,
      extractors: [flat],
      count: 300,
      batchSize: 64,
      kid: { subsets: 10, subsetSize: 100 },
      seed: 5,
    });
    expect(row).toBeDefined();
    if (!row) return;
    expect(row.count).toBe(300);
    expect(row.referenceCount).toBe(300);
    expect(row.featureDim).toBe(D);
    expect(row.fid.mean).toBeCloseTo(D * c * c, 5);
    expect(row.fid.std).toBe(0);
    // KID on the same features with the same subset seed.
    const real = await splitFeatures(flat, ref);
    const fake = Float32Array.from(real, (v) => v + c);
    const kid = kernelInceptionDistance(real, fake, D, { subsets: 10, subsetSize: 100, seed: 5 });
    expect(row.kid?.mean).toBeCloseTo(kid.mean, 6);
    expect(row.kid?.std).toBeCloseTo(kid.std, 6);
    expect(row.kid?.stdOver).toBe('subsets');
    expect(row.kid?.subsetSize).toBe(100);
    expect(row.kid?.subsets).toBe(10);
  });

  it('quantises generated images to uint8 levels by default (FID 0), and not when asked (FID d e^2)', async () => {
    const e = 0.4 / 255;
    const run = (quantize: boolean) =>
      evaluateGenerators({
        generators: { g: replay(ref, (x) => tf.add(x, e)) },
        reference: ref,
        extractors: [flat],
        count: 300,
        quantize,
        kid: false,
      });
    const [q] = await run(true);
    const [raw] = await run(false);
    expect(Math.abs(q?.fid.mean ?? Number.NaN)).toBeLessThan(1e-9);
    expect(raw?.fid.mean).toBeCloseTo(D * e * e, 9);
    expect(q?.kid).toBeUndefined();
  });

  it("undoes an affine map per image with the reference code's min-max normalisation", async () => {
    // Every reference image spans [0, 200]/255; min-max maps both to [0, 1] images, so compare
    // against the reference rescaled by 255/200 through a shifted-then-scaled generator.
    const scaledRef: DataSplit = {
      ...ref,
      data: Float32Array.from(ref.data, (v) => v / 200),
    };
    const gen = replay(ref, (x) => tf.add(tf.mul(x, 0.3), 0.2));
    const [mm] = await evaluateGenerators({
      generators: { g: gen },
      reference: scaledRef,
      extractors: [flat],
      count: 300,
      minMaxNormalize: true,
      quantize: false,
      kid: false,
    });
    expect(Math.abs(mm?.fid.mean ?? Number.NaN)).toBeLessThan(1e-8);
  });

  it('does not depend on the batch size for an order-preserving generator', async () => {
    const fidAt = async (batchSize: number) =>
      (
        await evaluateGenerators({
          generators: { g: replay(ref, (x) => tf.sqrt(x)) },
          reference: ref,
          extractors: [flat],
          count: 250,
          referenceCount: 280,
          batchSize,
          kid: false,
        })
      )[0]?.fid.mean;
    const a = await fidAt(7);
    const b = await fidAt(500);
    expect(a).toBeGreaterThan(0.01);
    expect(a).toBeCloseTo(b ?? Number.NaN, 8);
  });

  it('runs trials with seeds seed + t, reproducibly, and reports mean and std over trials', async () => {
    const opts = {
      generators: { noise },
      reference: ref,
      extractors: [flat],
      count: 200,
      trials: 3,
      seed: 11,
      batchSize: 64,
      kid: { subsets: 5, subsetSize: 50 },
    } as const;
    const [a] = await evaluateGenerators(opts);
    const [b] = await evaluateGenerators(opts);
    expect(a?.trials.map((t) => t.seed)).toEqual([11, 12, 13]);
    expect(a?.trials.map((t) => t.fid)).toEqual(b?.trials.map((t) => t.fid));
    const fids = a?.trials.map((t) => t.fid) ?? [];
    expect(new Set(fids).size).toBe(3);
    const mean = fids.reduce((s, v) => s + v, 0) / 3;
    const std = Math.sqrt(fids.reduce((s, v) => s + (v - mean) ** 2, 0) / 3);
    expect(a?.fid.mean).toBeCloseTo(mean, 10);
    expect(a?.fid.std).toBeCloseTo(std, 10);
    expect(a?.kid?.stdOver).toBe('trials');
    // Trial 0 equals a direct computation on the same draws.
    const real = await splitFeatures(flat, ref);
    const fake = await generatorFeatures(flat, noise, 200, { seed: 11, batchSize: 64 });
    expect(fids[0]).toBeCloseTo(fidFromFeatures(real, fake, D).fid, 8);
  });

  it('trial t of a multi-trial run equals a one-trial run with seed + t (seed 0 included)', async () => {
    const opts = {
      generators: { noise },
      reference: ref,
      extractors: [flat],
      count: 100,
      batchSize: 32,
      kid: { subsets: 4, subsetSize: 40 },
    } as const;
    const [many] = await evaluateGenerators({ ...opts, trials: 3, seed: 0 });
    for (const t of [0, 1, 2]) {
      const [one] = await evaluateGenerators({ ...opts, seed: t });
      expect(many?.trials[t]).toEqual(one?.trials[0]);
    }
    const [again] = await evaluateGenerators({ ...opts, trials: 3, seed: 0 });
    expect(again?.trials).toEqual(many?.trials);
    await expect(evaluateGenerators({ ...opts, trials: 2, seed: MAX_SEED })).rejects.toThrow(
      /seed \+ trials - 1 \(the last trial's seed\) must be an integer in \[0, 2147483647\]/,
    );
    await expect(evaluateGenerators({ ...opts, seed: -1 })).rejects.toThrow(/seed must be an integer/);
  });

  it("draws batch i with deriveSeed(seed, 'generator-batch', i): never 0, seed 0 reproducible", async () => {
    const seen: number[] = [];
    const recording: Generator = {
      ...noise,
      async generate(n, options) {
        seen.push(options?.seed ?? Number.NaN);
        return noise.generate(n, options);
      },
    };
    const a = await generatorFeatures(flat, recording, 100, { seed: 0, batchSize: 32 });
    expect(seen).toEqual([0, 1, 2, 3].map((i) => deriveSeed(0, 'generator-batch', i)));
    expect(seen).not.toContain(0);
    const b = await generatorFeatures(flat, recording, 100, { seed: 0, batchSize: 32 });
    expect(b).toEqual(a);
    const c = await generatorFeatures(flat, recording, 100, { seed: 1, batchSize: 32 });
    expect(c).not.toEqual(a);
  });

  it('evaluates every generator under every extractor, reports progress, and leaks no tensors', async () => {
    const twice: FeatureExtractor = {
      name: 'twice',
      featureDim: 2 * D,
      async extract(images) {
        return tf.tidy(() => {
          const f = tf.reshape(images, [images.shape[0], D]);
          return tf.concat([f, tf.square(f)], 1) as tf.Tensor2D;
        });
      },
      dispose() {},
    };
    const seen: string[] = [];
    await evaluateGenerators({
      generators: { noise },
      reference: ref,
      extractors: [flat],
      count: 64,
      kid: false,
    });
    const before = tf.memory().numTensors;
    const rows = await evaluateGenerators({
      generators: { noise, again: noise },
      reference: ref,
      extractors: [flat, twice],
      count: 100,
      batchSize: 40,
      kid: { subsets: 3, subsetSize: 2000 },
      onProgress: (p) => {
        if (p.done === p.total) seen.push(`${p.phase}:${p.extractor}:${p.generator ?? ''}:${p.total}`);
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(rows.map((r) => `${r.extractor}/${r.generator}/${r.featureDim}`)).toEqual([
      'flat/noise/9',
      'flat/again/9',
      'twice/noise/18',
      'twice/again/18',
    ]);
    // The KID subset size is clamped to the sample counts.
    expect(rows[0]?.kid?.subsetSize).toBe(100);
    expect(seen).toEqual([
      'reference:flat::300',
      'generated:flat:noise:100',
      'generated:flat:again:100',
      'reference:twice::300',
      'generated:twice:noise:100',
      'generated:twice:again:100',
    ]);
  });

  it('takes the reference features from a referenceFeatures hook (a cache), and checks their size', async () => {
    const opts = {
      generators: { noise },
      reference: ref,
      extractors: [flat],
      count: 100,
      kid: false,
    } as const;
    const [direct] = await evaluateGenerators(opts);
    let computed = 0;
    const stored = new Map<string, Float32Array>();
    const hook = async (e: FeatureExtractor, compute: () => Promise<Float32Array>) => {
      let f = stored.get(e.name);
      if (!f) {
        computed++;
        f = await compute();
        stored.set(e.name, f);
      }
      return f;
    };
    const [first] = await evaluateGenerators({ ...opts, referenceFeatures: hook });
    const [second] = await evaluateGenerators({ ...opts, referenceFeatures: hook });
    expect(computed).toBe(1);
    expect(first?.fid.mean).toBe(direct?.fid.mean);
    expect(second?.fid.mean).toBe(direct?.fid.mean);
    // A stored copy from other reference images changes the result: the hook is really used.
    const shifted = Float32Array.from(stored.get('flat') ?? [], (v) => v + 0.1);
    const [other] = await evaluateGenerators({ ...opts, referenceFeatures: async () => shifted });
    expect(other?.fid.mean).not.toBeCloseTo(direct?.fid.mean ?? 0, 3);
    await expect(
      evaluateGenerators({ ...opts, referenceFeatures: async () => new Float32Array(10) }),
    ).rejects.toThrow(/reference features for 'flat' hold 10 values; expected 300 x 9/);
  });

  it('names the extractor that returns features of the wrong shape, and checks counts', async () => {
    const bad: FeatureExtractor = {
      name: 'bad',
      featureDim: 4,
      async extract(images) {
        return tf.zeros([images.shape[0], 5]) as tf.Tensor2D;
      },
      dispose() {},
    };
    const before = tf.memory().numTensors;
    await expect(splitFeatures(bad, ref, { count: 10 })).rejects.toThrow(
      /'bad' returned shape \[10, 5\] for 10 images; expected \[10, 4\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
    await expect(splitFeatures(flat, ref, { count: 301 })).rejects.toThrow(/exceeds the split's 300/);
    await expect(
      evaluateGenerators({ generators: { noise }, reference: ref, extractors: [flat], count: 0 }),
    ).rejects.toThrow(/count must be a positive integer/);
    await expect(evaluateGenerators({ generators: {}, reference: ref, extractors: [flat] })).rejects.toThrow(
      /no generators/,
    );
  });

  it('stops between batches when its signal aborts', async () => {
    const controller = new AbortController();
    let batches = 0;
    const promise = generatorFeatures(flat, noise, 1000, {
      batchSize: 10,
      signal: controller.signal,
      onProgress: () => {
        if (++batches === 3) controller.abort(new Error('stop here'));
      },
    });
    await expect(promise).rejects.toThrow('stop here');
    expect(batches).toBe(3);
  });
});

describe('prepareGenerated', () => {
  it('rounds to 1/255 levels, clips to [0, 1], and min-max maps each image to [0, 1]', () => {
    const x = tf.tensor4d([-0.1, 0.2, 0.5, 1.3, 0.25, 0.25, 0.5, 0.75], [2, 2, 2, 1]);
    const q = prepareGenerated(x).dataSync();
    const expected = [
      0,
      Math.round(0.2 * 255) / 255,
      Math.round(0.5 * 255) / 255,
      1,
      64 / 255,
      64 / 255,
      128 / 255,
      191 / 255,
    ];
    for (const [i, v] of expected.entries()) expect(q[i]).toBeCloseTo(v, 6);
    const m = prepareGenerated(x, { minMaxNormalize: true, quantize: false }).dataSync();
    expect(Array.from(m.slice(4))).toEqual([0, 0, 0.5, 1]);
    expect(m[0]).toBeCloseTo(0, 6);
    expect(m[3]).toBeCloseTo(1, 6);
    const same = prepareGenerated(x, { quantize: false });
    expect(same).not.toBe(x);
    expect(Array.from(same.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, same]);
  });
});
