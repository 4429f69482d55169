import { join } from 'node:path';
import {
  create,
  type DataSplit,
  type FeatureExtractor,
  type Generator,
  type Logger,
  MAX_SEED,
  type SplitName,
  silentLogger,
} from '@tsvae/core';
import { cacheDir as cacheDirRule } from '@tsvae/core/node';
import { EvaluationError } from './errors';
import {
  type EvaluationProgress,
  type EvaluationProtocolOptions,
  evaluateGenerators,
  type GeneratorEvaluation,
  type MetricName,
  resolveMetrics,
} from './evaluate';
import { type ChosenExtractor, type SkippedExtractor, selectExtractors } from './extractors';
import { type ReferenceRecord, referenceFeatureCache } from './reference-cache';

/** Options of {@link evaluate}. */
export interface EvaluationOptions extends EvaluationProtocolOptions {
  /** Generators to evaluate, by the name to report them under. */
  readonly generators: Readonly<Record<string, Generator>>;
  /** The dataset of the reference images, created through the registry. */
  readonly dataset: { readonly name: string; readonly config?: Readonly<Record<string, unknown>> };
  /** The reference split (default `test`; `train` for datasets without a test split). */
  readonly split?: SplitName;
  /**
   * Feature extractors: registry names, or `'auto'` (default): every extractor that declares its
   * availability and says it can run here (see `selectExtractors`).
   */
  readonly extractors?: readonly string[] | 'auto';
  /** Per-extractor plugin configs, by plugin name; laid over each extractor's defaults. */
  readonly extractorConfigs?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** A local FID Inception weights file (else `$TSVAE_FID_WEIGHTS`, else the cache). */
  readonly inceptionWeights?: string;
  /** Cache directory (default: `@tsvae/core/node`'s `cacheDir()` rule). */
  readonly cacheDir?: string;
  /** Keep / reuse the reference features in `<cacheDir>/metrics/reference` (default true). */
  readonly referenceCache?: boolean;
  /** Receives the extractors' set-up records (e.g. classifier training) and cache warnings. */
  readonly logger?: Logger;
  /** Called once the extractors are created, before any feature is computed. */
  readonly onStart?: (start: EvaluationStart) => void;
  readonly onProgress?: (progress: EvaluationProgress) => void;
  /** Stops between batches with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** One extractor of an evaluation as the report records it. */
export interface EvaluatedExtractor {
  /** The extractor's own name (e.g. `classifier-mnist`): the `extractor` of result rows. */
  readonly name: string;
  /** The registry plugin it was created from. */
  readonly plugin: string;
  /** The config it was created with (defaults + user config, before the plugin's own defaults). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly featureDim: number;
}

/** What {@link EvaluationOptions.onStart} is told. */
export interface EvaluationStart {
  readonly dataset: EvaluationReport['dataset'];
  readonly count: number;
  readonly referenceCount: number;
  readonly trials: number;
  readonly extractors: readonly EvaluatedExtractor[];
  readonly skipped: readonly SkippedExtractor[];
}

/** The whole result of {@link evaluate}: what was compared, how, and the numbers. */
export interface EvaluationReport {
  readonly dataset: {
    readonly name: string;
    readonly config: Readonly<Record<string, unknown>>;
    readonly split: SplitName;
    /** Images in the split. */
    readonly size: number;
  };
  readonly protocol: {
    readonly count: number;
    readonly referenceCount: number;
    /** `<split>[0:<referenceCount>]`. */
    readonly referenceImages: string;
    readonly trials: number;
    readonly seed: number;
    readonly quantize: boolean;
    readonly minMaxNormalize: boolean;
    /** The metrics computed (`fid` always; `kid`, `prdc` when asked). */
    readonly metrics: readonly MetricName[];
    readonly kid:
      | {
          readonly subsets: number;
          readonly subsetSize: number;
          readonly kernel: string;
          readonly estimator: string;
        }
      | false;
    /** Precision / recall / density / coverage settings, or `false` when not computed. */
    readonly prdc:
      | {
          readonly k: number;
          readonly closedBalls: boolean;
          /** `'d < r'` (Naeem et al.'s code) or `'d <= r'` (closed balls). */
          readonly inside: string;
        }
      | false;
    readonly stdOver: string;
    readonly batchSize: number;
  };
  /** Each extractor, with where its reference features came from (`null`: cache off or unwritable). */
  readonly extractors: readonly (EvaluatedExtractor & { readonly reference: ReferenceRecord | null })[];
  /** Extractors `'auto'` left out, with the reason. */
  readonly skipped: readonly SkippedExtractor[];
  /** One row per extractor and generator. */
  readonly results: readonly GeneratorEvaluation[];
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * One evaluation, end to end: loads the reference split through the registry, picks the feature
 * extractors (`'auto'` or named, each with its defaults; see `selectExtractors`), creates them
 * (and disposes them), reuses or fills the reference-feature cache, runs
 * {@link evaluateGenerators} and returns the report: dataset, protocol, extractors (config,
 * feature width, reference-cache record), skipped extractors and the result rows.
 *
 * `metrics` picks the metrics (default FID and KID; `['fid', 'kid', 'prdc']` adds precision,
 * recall, density and coverage, recorded in `protocol.prdc` and in each row's `prdc`).
 *
 * Problems with the request are {@link EvaluationError}s naming the option: a split that cannot
 * be loaded (with the hint to use `train`), `referenceCount` beyond the split, an unknown or
 * unavailable extractor, no extractor at all, a missing weights file, an unknown metric.
 *
 * @example
 * ```ts
 * import '@tsvae/datasets'; // registers mnist
 * import { evaluate } from '@tsvae/metrics';
 * const report = await evaluate({
 *   generators: { 'two-stage': myGenerator }, dataset: { name: 'mnist' }, count: 10000,
 * });
 * for (const r of report.results) console.log(r.extractor, r.generator, r.fid.mean);
 * ```
 */
export async function evaluate(options: EvaluationOptions): Promise<EvaluationReport> {
  const logger = options.logger ?? silentLogger;
  const split: SplitName = options.split ?? 'test';
  if (split !== 'test' && split !== 'train') {
    throw new EvaluationError({ field: 'split', problem: `must be test or train, got "${String(split)}"` });
  }
  const count = options.count ?? 10000;
  const trials = options.trials ?? 1;
  const seed = options.seed ?? 0;
  for (const [field, n] of [
    ['count', count],
    ['trials', trials],
  ] as const) {
    if (!Number.isInteger(n) || n <= 0) {
      throw new EvaluationError({ field, problem: `must be a positive integer, got ${n}` });
    }
  }
  if (!Number.isInteger(seed) || seed < 0 || seed + trials - 1 > MAX_SEED) {
    throw new EvaluationError({
      field: 'seed',
      problem: `must be an integer with 0 <= seed and seed + trials - 1 <= ${MAX_SEED}, got ${seed}`,
    });
  }
  if (Object.keys(options.generators).length === 0) {
    throw new EvaluationError({ field: 'generators', problem: 'no generators given' });
  }
  let metrics: MetricName[];
  try {
    metrics = resolveMetrics(options.metrics);
  } catch (e) {
    throw new EvaluationError({ field: 'metrics', problem: message(e) });
  }
  const prdcK = options.prdc?.k ?? 3;
  if (metrics.includes('prdc')) {
    if (!Number.isInteger(prdcK) || prdcK <= 0) {
      throw new EvaluationError({ field: 'prdc', problem: `k must be a positive integer, got ${prdcK}` });
    }
    if (count < prdcK + 1) {
      throw new EvaluationError({
        field: 'count',
        problem: `${count} is too small for prdc with k = ${prdcK} (needs at least ${prdcK + 1})`,
      });
    }
  }
  const cache = cacheDirRule(options.cacheDir);
  const datasetName = options.dataset.name;
  const datasetConfig = { ...(options.dataset.config ?? {}) };

  const dataset = await create('dataset', datasetName, datasetConfig, { context: { logger } });
  let reference: DataSplit;
  try {
    reference = await dataset.load(split);
  } catch (e) {
    throw new EvaluationError({
      field: 'split',
      subject: `cannot load the ${split} split of ${datasetName}`,
      problem: message(e),
      ...(split === 'test' ? { hint: "split 'train' compares against the training images instead" } : {}),
    });
  }
  const referenceCount = options.referenceCount ?? Math.min(10000, reference.size);
  if (!Number.isInteger(referenceCount) || referenceCount <= 0) {
    throw new EvaluationError({
      field: 'referenceCount',
      problem: `must be a positive integer, got ${referenceCount}`,
    });
  }
  if (referenceCount > reference.size) {
    throw new EvaluationError({
      field: 'referenceCount',
      subject: 'referenceCount',
      problem: `${referenceCount} exceeds the ${reference.size} ${split} images of ${datasetName}`,
    });
  }
  if (metrics.includes('prdc') && referenceCount < prdcK + 1) {
    throw new EvaluationError({
      field: 'referenceCount',
      problem: `${referenceCount} is too small for prdc with k = ${prdcK} (needs at least ${prdcK + 1})`,
    });
  }

  const { chosen, skipped } = selectExtractors(
    options.extractors ?? 'auto',
    {
      dataset: {
        name: datasetName,
        config: datasetConfig,
        labelled: dataset.numClasses !== undefined || reference.labels !== undefined,
      },
      cacheDir: cache,
      inceptionWeights: options.inceptionWeights,
    },
    options.extractorConfigs ?? {},
  );
  if (chosen.length === 0) {
    throw new EvaluationError({
      field: 'extractors',
      subject: `no feature extractor is available for ${datasetName}`,
      problem: skipped.map((s) => `${s.plugin}: ${s.reason}`).join('; '),
    });
  }

  const created: { choice: ChosenExtractor; extractor: FeatureExtractor }[] = [];
  try {
    for (const choice of chosen) {
      options.signal?.throwIfAborted();
      created.push({
        choice,
        extractor: await create('feature-extractor', choice.plugin, choice.config, { context: { logger } }),
      });
    }
    const extractors: EvaluatedExtractor[] = created.map(({ choice, extractor }) => ({
      name: extractor.name,
      plugin: choice.plugin,
      config: choice.config,
      featureDim: extractor.featureDim,
    }));
    const datasetRecord = { name: datasetName, config: datasetConfig, split, size: reference.size };
    options.onStart?.({ dataset: datasetRecord, count, referenceCount, trials, extractors, skipped });

    const configs = new Map(created.map((c) => [c.extractor, c.choice.config] as const));
    const referenceCache =
      options.referenceCache === false
        ? undefined
        : referenceFeatureCache({
            dir: join(cache, 'metrics', 'reference'),
            dataset: { name: datasetName, config: datasetConfig },
            split,
            reference,
            count: referenceCount,
            configOf: (e) => configs.get(e) ?? {},
            logger,
          });
    const kid =
      options.kid === false || !metrics.includes('kid')
        ? false
        : { subsets: 100, subsetSize: 1000, ...(options.kid ?? {}) };
    const prdc = metrics.includes('prdc') ? { closedBalls: false, ...(options.prdc ?? {}), k: prdcK } : false;
    const batchSize = options.batchSize ?? 500;
    const quantize = options.quantize ?? true;
    const minMaxNormalize = options.minMaxNormalize ?? false;
    const results = await evaluateGenerators({
      generators: options.generators,
      reference,
      extractors: created.map((c) => c.extractor),
      count,
      referenceCount,
      trials,
      seed,
      batchSize,
      quantize,
      minMaxNormalize,
      kid,
      metrics,
      ...(prdc ? { prdc } : {}),
      ...(referenceCache ? { referenceFeatures: referenceCache.referenceFeatures } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return {
      dataset: datasetRecord,
      protocol: {
        count,
        referenceCount,
        referenceImages: `${split}[0:${referenceCount}]`,
        trials,
        seed,
        quantize,
        minMaxNormalize,
        metrics: metrics.filter((m) => m !== 'kid' || kid !== false),
        kid: kid ? { ...kid, kernel: '(x.y/d + 1)^3', estimator: 'unbiased MMD^2' } : false,
        prdc: prdc
          ? { k: prdc.k, closedBalls: prdc.closedBalls, inside: prdc.closedBalls ? 'd <= r' : 'd < r' }
          : false,
        stdOver:
          'FID std is over trials (ddof 0); KID std is over subsets for one trial, over trials otherwise',
        batchSize,
      },
      extractors: extractors.map((e) => ({ ...e, reference: referenceCache?.records.get(e.name) ?? null })),
      skipped,
      results,
    };
  } finally {
    for (const c of created) c.extractor.dispose();
  }
}
