import * as tf from '@tensorflow/tfjs-core';
import {
  type DataSplit,
  deriveSeed,
  type FeatureExtractor,
  type Generator,
  MAX_SEED,
  toTensor,
} from '@tsvae/core';
import { fidFromFeatures, frechetDistance, preferLowRank } from './fid';
import { type KidOptions, kernelInceptionDistance } from './kid';
import { knnRadiiSteps, type PrdcOptions, type PrdcResult, prdcSteps, runSteps } from './prdc';
import { computeStatistics, type FeatureStatistics } from './stats';

/**
 * The metrics an evaluation can report: `fid` (always; every result row has it), `kid` (Kernel
 * Inception Distance) and `prdc` (improved precision and recall, density and coverage; see
 * `precisionRecallDensityCoverage`).
 */
export type MetricName = 'fid' | 'kid' | 'prdc';

/** Every {@link MetricName}. */
export const METRIC_NAMES: readonly MetricName[] = ['fid', 'kid', 'prdc'];

/** The metrics of an evaluation when none are named: FID and KID. */
export const DEFAULT_METRICS: readonly MetricName[] = ['fid', 'kid'];

/**
 * Checks a metrics list (known names, `fid` included) and returns it without duplicates, in
 * {@link METRIC_NAMES} order. Throws a `RangeError` saying what is wrong.
 */
export function resolveMetrics(metrics: readonly string[] = DEFAULT_METRICS): MetricName[] {
  const unknown = metrics.filter((m) => !(METRIC_NAMES as readonly string[]).includes(m));
  if (unknown.length) {
    throw new RangeError(
      `unknown metric ${unknown.map((m) => `'${m}'`).join(', ')} (known: ${METRIC_NAMES.join(', ')})`,
    );
  }
  if (!metrics.includes('fid')) {
    throw new RangeError(
      `metrics must include 'fid' (every result row reports FID), got ${metrics.join(', ') || 'none'}`,
    );
  }
  return METRIC_NAMES.filter((m) => metrics.includes(m));
}

/** Where a long evaluation stands (for progress bars). */
export interface EvaluationProgress {
  /**
   * `reference`: features of the real images; `generated`: of a generator's samples; `prdc`: the
   * k-NN distances of precision / recall / density / coverage (of the reference features alone
   * when `generator` is absent, else of that generator's trial).
   */
  readonly phase: 'reference' | 'generated' | 'prdc';
  readonly extractor: string;
  /** The generator (phases `generated` and `prdc`). */
  readonly generator?: string;
  /** 0-based trial (phases `generated` and `prdc`). */
  readonly trial?: number;
  /** Images (phase `prdc`: pairs of feature vectors) done / to do in this phase. */
  readonly done: number;
  readonly total: number;
}

/** Options shared by the feature helpers. */
export interface FeatureOptions {
  /** Images per generate / extract call (default 500): bounds memory. */
  readonly batchSize?: number;
  readonly onProgress?: (progress: { readonly done: number; readonly total: number }) => void;
  /** Stops between batches with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Options of {@link generatorFeatures}. */
export interface GeneratedFeatureOptions extends FeatureOptions {
  /**
   * Seed of the draws (default 0; an integer in [0, MAX_SEED], 0 included): batch `i` is drawn
   * with seed `deriveSeed(seed, 'generator-batch', i)` (never 0, which tfjs would read as "no
   * seed").
   */
  readonly seed?: number;
  /**
   * Round generated images to uint8 levels (`round(255 x) / 255`, clipped to [0, 1]) before the
   * extractor sees them, as the FID protocol does (default true): real images are uint8 already.
   */
  readonly quantize?: boolean;
  /**
   * The Two-Stage VAE reference code's per-image min-max normalisation of generated images
   * (`(x - min) / (max - min)`) before FID. Non-standard, so off by default.
   */
  readonly minMaxNormalize?: boolean;
}

function checkCount(name: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive integer, got ${n}`);
}

function checkSeed(name: string, seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`${name} must be an integer in [0, ${MAX_SEED}], got ${seed}`);
  }
}

async function collect(
  extractor: FeatureExtractor,
  total: number,
  options: FeatureOptions,
  batch: (start: number, size: number) => Promise<tf.Tensor4D>,
): Promise<Float32Array> {
  const bs = options.batchSize ?? 500;
  checkCount('batchSize', bs);
  const d = extractor.featureDim;
  const out = new Float32Array(total * d);
  for (let start = 0; start < total; start += bs) {
    options.signal?.throwIfAborted();
    const size = Math.min(bs, total - start);
    const images = await batch(start, size);
    let features: tf.Tensor2D;
    try {
      features = await extractor.extract(images);
    } finally {
      images.dispose();
    }
    try {
      if (features.shape[0] !== size || features.shape[1] !== d) {
        throw new Error(
          `feature extractor '${extractor.name}' returned shape [${features.shape.join(', ')}] for ${size} images; expected [${size}, ${d}]`,
        );
      }
      out.set(await features.data(), start * d);
    } finally {
      features.dispose();
    }
    options.onProgress?.({ done: start + size, total });
  }
  return out;
}

/**
 * Features of the first `count` examples of a split (default all), row-major `[count, dim]`.
 * uint8 splits are scaled to [0, 1].
 */
export async function splitFeatures(
  extractor: FeatureExtractor,
  split: DataSplit,
  options: FeatureOptions & { readonly count?: number } = {},
): Promise<Float32Array> {
  const count = options.count ?? split.size;
  checkCount('count', count);
  if (count > split.size) throw new RangeError(`count ${count} exceeds the split's ${split.size} examples`);
  return collect(extractor, count, options, async (start, size) =>
    toTensor(
      split,
      Int32Array.from({ length: size }, (_, k) => start + k),
    ),
  );
}

/**
 * Quantises and/or min-max normalises generated images (see {@link GeneratedFeatureOptions}): the
 * one place tsvae does either. Extractors (the FID Inception network included) take their input
 * as it comes, so every extractor sees the same prepared images.
 */
export function prepareGenerated(
  images: tf.Tensor4D,
  options: { readonly quantize?: boolean; readonly minMaxNormalize?: boolean } = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    let x: tf.Tensor4D = images;
    if (options.minMaxNormalize) {
      const lo = tf.min(x, [1, 2, 3], true);
      const hi = tf.max(x, [1, 2, 3], true);
      x = tf.div(tf.sub(x, lo), tf.maximum(tf.sub(hi, lo), 1e-12));
    }
    if (options.quantize ?? true) x = tf.div(tf.round(tf.mul(tf.clipByValue(x, 0, 1), 255)), 255);
    return x === images ? tf.clone(x) : x;
  });
}

/**
 * Features of `count` images drawn from a generator, a batch at a time (never all images at
 * once), row-major `[count, dim]`. Batch `i` is drawn with seed
 * `deriveSeed(seed, 'generator-batch', i)`, then goes through {@link prepareGenerated}.
 */
export async function generatorFeatures(
  extractor: FeatureExtractor,
  generator: Generator,
  count: number,
  options: GeneratedFeatureOptions = {},
): Promise<Float32Array> {
  checkCount('count', count);
  const seed = options.seed ?? 0;
  checkSeed('seed', seed);
  const bs = options.batchSize ?? 500;
  return collect(extractor, count, options, async (start, size) => {
    const raw = await generator.generate(size, {
      seed: deriveSeed(seed, 'generator-batch', Math.floor(start / bs)),
      batchSize: bs,
    });
    if (raw.shape[0] !== size) {
      raw.dispose();
      throw new Error(`generator '${generator.name}' returned ${raw.shape[0]} images; asked for ${size}`);
    }
    try {
      return prepareGenerated(raw, options);
    } finally {
      raw.dispose();
    }
  });
}

/** Mean and (population, ddof = 0) standard deviation. */
export interface MeanStd {
  readonly mean: number;
  readonly std: number;
}

function meanStd(values: readonly number[]): MeanStd {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const v = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(v) };
}

/** Precision, recall, density and coverage of one trial (see `precisionRecallDensityCoverage`). */
export interface PrdcValues {
  readonly precision: number;
  readonly recall: number;
  readonly density: number;
  readonly coverage: number;
}

/** One trial: fresh samples of a generator against the reference features. */
export interface TrialResult {
  readonly seed: number;
  readonly fid: number;
  /** KID mean and std over its subsets (absent when KID is off). */
  readonly kid?: MeanStd;
  /** Absent unless the metrics include `prdc`. */
  readonly prdc?: PrdcValues;
}

/** FID and KID of one generator under one feature extractor. */
export interface GeneratorEvaluation {
  readonly generator: string;
  readonly extractor: string;
  readonly featureDim: number;
  /** Generated images per trial (N). */
  readonly count: number;
  /** Reference images (N of the real side). */
  readonly referenceCount: number;
  /** FID mean over trials and std over trials (0 for one trial). */
  readonly fid: MeanStd;
  /**
   * KID: mean over trials; std over KID subsets for one trial (the usual KID report), over
   * trials otherwise (`stdOver` says which). Absent when KID is off.
   */
  readonly kid?: MeanStd & {
    readonly stdOver: 'subsets' | 'trials';
    readonly subsets: number;
    readonly subsetSize: number;
  };
  /**
   * Precision, recall, density and coverage: mean and std over trials (std 0 for one trial), with
   * `k` and the comparison (`closedBalls`). Absent unless the metrics include `prdc`.
   */
  readonly prdc?: { readonly [K in keyof PrdcValues]: MeanStd } & {
    readonly k: number;
    readonly closedBalls: boolean;
  };
  readonly trials: readonly TrialResult[];
  readonly seconds: number;
}

/** The sampling and scoring protocol of an evaluation (recorded in the report). */
export interface EvaluationProtocolOptions {
  /** Generated images per generator and trial (default 10000, the recipe's N). */
  readonly count?: number;
  /** First N reference images (default min(10000, reference size)). */
  readonly referenceCount?: number;
  /** Trials, each with fresh samples (seed `seed + trial`); default 1. The paper reports 10. */
  readonly trials?: number;
  /**
   * Seed of trial 0 (default 0; 0 reproduces like any other). Trial `t` uses seed `seed + t` for
   * everything it draws (samples: see {@link GeneratedFeatureOptions.seed}; KID subsets:
   * {@link KidOptions.seed}), so trial `t` of a multi-trial run equals a one-trial run with
   * `seed: seed + t`. `seed + trials - 1` must not exceed `MAX_SEED`.
   */
  readonly seed?: number;
  /** Images per generate / extract call (default 500). */
  readonly batchSize?: number;
  /** See {@link GeneratedFeatureOptions.quantize} (default true). */
  readonly quantize?: boolean;
  /** See {@link GeneratedFeatureOptions.minMaxNormalize} (default false). */
  readonly minMaxNormalize?: boolean;
  /**
   * KID options (default 100 subsets of 1000, seeded by the trial's seed, subset size clamped to
   * the sample counts), or `false` to skip KID.
   */
  readonly kid?: Omit<KidOptions, 'seed'> | false;
  /**
   * Metrics to compute (default `['fid', 'kid']`; `fid` is required). Leaving `kid` out is the
   * same as `kid: false`. `prdc` adds precision, recall, density and coverage (k-NN, float64;
   * about `(N^2 / 2 + M^2 / 2 + N M) dim` multiply-adds: minutes at 10k x 10k x 2048).
   */
  readonly metrics?: readonly MetricName[];
  /**
   * Options of precision / recall / density / coverage (default `k` 3, strict balls), used when
   * the metrics include `prdc`. Needs at least `k + 1` generated and reference images.
   */
  readonly prdc?: Omit<PrdcOptions, 'realRadii'>;
}

/** Options of {@link evaluateGenerators}. */
export interface EvaluateOptions extends EvaluationProtocolOptions {
  /** Generators to evaluate, by the name to report them under. */
  readonly generators: Readonly<Record<string, Generator>>;
  /** Real images (usually the test split). */
  readonly reference: DataSplit;
  readonly extractors: readonly FeatureExtractor[];
  /**
   * Supplies the reference features of an extractor, e.g. from a cache: called with a thunk that
   * computes them (`[referenceCount, featureDim]`); return its result or a stored copy.
   */
  readonly referenceFeatures?: (
    extractor: FeatureExtractor,
    compute: () => Promise<Float32Array>,
  ) => Promise<Float32Array>;
  readonly onProgress?: (progress: EvaluationProgress) => void;
  readonly signal?: AbortSignal;
}

/**
 * FID and KID (and, with `metrics: ['fid', 'kid', 'prdc']`, precision / recall / density /
 * coverage) of each generator against a reference split under each feature extractor, as in the
 * paper's protocol (N generated vs N test images, mean ± std over trials). Reference features
 * (and their k-NN radii) are computed once per extractor; samples are drawn and featurised a batch
 * at a time.
 *
 * @example
 * ```ts
 * import { create } from '@tsvae/core';
 * import { evaluateGenerators } from '@tsvae/metrics';
 * const extractor = await create('feature-extractor', 'classifier', { dataset: 'mnist' });
 * const test = await (await create('dataset', 'mnist', {})).load('test');
 * const [row] = await evaluateGenerators({
 *   generators: { 'two-stage': myGenerator }, reference: test, extractors: [extractor], count: 10000,
 * });
 * console.log(`FID ${row.fid.mean} (N = ${row.count} vs ${row.referenceCount})`);
 * ```
 */
export async function evaluateGenerators(options: EvaluateOptions): Promise<GeneratorEvaluation[]> {
  const names = Object.keys(options.generators);
  if (names.length === 0) throw new RangeError('evaluateGenerators: no generators given');
  if (options.extractors.length === 0)
    throw new RangeError('evaluateGenerators: no feature extractors given');
  const count = options.count ?? 10000;
  checkCount('count', count);
  const refCount = options.referenceCount ?? Math.min(10000, options.reference.size);
  checkCount('referenceCount', refCount);
  const trials = options.trials ?? 1;
  checkCount('trials', trials);
  const seed = options.seed ?? 0;
  checkSeed('seed', seed);
  checkSeed(`seed + trials - 1 (the last trial's seed)`, seed + trials - 1);
  const metrics = resolveMetrics(options.metrics);
  const kidOpts = options.kid === false || !metrics.includes('kid') ? null : (options.kid ?? {});
  const prdcOpts = metrics.includes('prdc') ? { k: 3, closedBalls: false, ...(options.prdc ?? {}) } : null;
  if (prdcOpts) {
    if (!Number.isInteger(prdcOpts.k) || prdcOpts.k <= 0) {
      throw new RangeError(`prdc.k must be a positive integer, got ${prdcOpts.k}`);
    }
    for (const [name, n] of [
      ['count', count],
      ['referenceCount', refCount],
    ] as const) {
      if (n < prdcOpts.k + 1) {
        throw new RangeError(
          `${name} ${n} is too small for prdc with k = ${prdcOpts.k} (needs at least ${prdcOpts.k + 1})`,
        );
      }
    }
  }
  const common = {
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const results: GeneratorEvaluation[] = [];
  for (const extractor of options.extractors) {
    const compute = () =>
      splitFeatures(extractor, options.reference, {
        ...common,
        count: refCount,
        onProgress: (p) => options.onProgress?.({ phase: 'reference', extractor: extractor.name, ...p }),
      });
    const real = options.referenceFeatures
      ? await options.referenceFeatures(extractor, compute)
      : await compute();
    const d = extractor.featureDim;
    if (real.length !== refCount * d) {
      throw new Error(
        `reference features for '${extractor.name}' hold ${real.length} values; expected ${refCount} x ${d}`,
      );
    }
    // Reference statistics once per extractor (2048-d: tens of seconds in float64 JS), unless the
    // sample counts are small enough for the feature route of fidFromFeatures.
    const lowRank = preferLowRank(count, refCount, d);
    const realStats: FeatureStatistics | null = lowRank ? null : computeStatistics(real, d);
    // The reference k-NN radii once per extractor (a refCount^2 / 2 pass), shared by every trial.
    let realRadii: Float64Array | undefined;
    const prdcProgress =
      (total: number, generator?: string, trial?: number) =>
      (f: number): void =>
        options.onProgress?.({
          phase: 'prdc',
          extractor: extractor.name,
          ...(generator !== undefined ? { generator, trial: trial ?? 0 } : {}),
          done: Math.round(f * total),
          total,
        });
    if (prdcOpts) {
      realRadii = new Float64Array(refCount);
      await runSteps(
        knnRadiiSteps(real, d, prdcOpts, realRadii),
        options.signal,
        prdcProgress((refCount * (refCount - 1)) / 2),
      );
    }
    for (const name of names) {
      const generator = options.generators[name] as Generator;
      const started = performance.now();
      const rows: TrialResult[] = [];
      let subsets = 0;
      let subsetSize = 0;
      for (let t = 0; t < trials; t++) {
        const fake = await generatorFeatures(extractor, generator, count, {
          ...common,
          seed: seed + t,
          quantize: options.quantize ?? true,
          minMaxNormalize: options.minMaxNormalize ?? false,
          onProgress: (p) =>
            options.onProgress?.({
              phase: 'generated',
              extractor: extractor.name,
              generator: name,
              trial: t,
              ...p,
            }),
        });
        const fid = realStats
          ? frechetDistance(realStats, computeStatistics(fake, d)).fid
          : fidFromFeatures(real, fake, d).fid;
        let kid: MeanStd | undefined;
        if (kidOpts) {
          const k = kernelInceptionDistance(real, fake, d, {
            clampSubsetSize: true,
            ...kidOpts,
            seed: seed + t,
          });
          subsets = k.values.length;
          subsetSize = k.subsetSize;
          kid = { mean: k.mean, std: k.std };
        }
        let prdc: PrdcValues | undefined;
        if (prdcOpts && realRadii) {
          const out: { result?: PrdcResult } = {};
          await runSteps(
            prdcSteps(real, fake, d, { ...prdcOpts, realRadii }, out),
            options.signal,
            prdcProgress((count * (count - 1)) / 2 + count * refCount, name, t),
          );
          const r = out.result as PrdcResult;
          prdc = { precision: r.precision, recall: r.recall, density: r.density, coverage: r.coverage };
        }
        rows.push({ seed: seed + t, fid, ...(kid ? { kid } : {}), ...(prdc ? { prdc } : {}) });
      }
      const fid = meanStd(rows.map((r) => r.fid));
      let kid: GeneratorEvaluation['kid'];
      if (kidOpts) {
        const means = meanStd(rows.map((r) => r.kid?.mean ?? Number.NaN));
        kid =
          trials === 1
            ? {
                mean: means.mean,
                std: rows[0]?.kid?.std ?? Number.NaN,
                stdOver: 'subsets',
                subsets,
                subsetSize,
              }
            : { ...means, stdOver: 'trials', subsets, subsetSize };
      }
      let prdc: GeneratorEvaluation['prdc'];
      if (prdcOpts) {
        const of = (m: keyof PrdcValues): MeanStd => meanStd(rows.map((r) => r.prdc?.[m] ?? Number.NaN));
        prdc = {
          precision: of('precision'),
          recall: of('recall'),
          density: of('density'),
          coverage: of('coverage'),
          k: prdcOpts.k,
          closedBalls: prdcOpts.closedBalls,
        };
      }
      results.push({
        generator: name,
        extractor: extractor.name,
        featureDim: d,
        count,
        referenceCount: refCount,
        fid,
        ...(kid ? { kid } : {}),
        ...(prdc ? { prdc } : {}),
        trials: rows,
        seconds: (performance.now() - started) / 1000,
      });
    }
  }
  return results;
}
