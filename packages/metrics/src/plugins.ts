import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { create, type FeatureExtractor, getRegistry, MAX_SEED, type PluginDefinition, z } from '@tsvae/core';
import { cacheDir, hashBytes, writeFileAtomic } from '@tsvae/core/node';
import { ClassifierFeatureExtractor, FeatureClassifier, trainClassifier } from './classifier';
import type { EvaluationExtractorPlugin, ExtractorAvailability, ExtractorEnvironment } from './extractors';
import { FidInception, LOGITS_DIM, POOL3_DIM, type PreprocessOptions } from './inception';
import { stableJson } from './stable-json';
import { FID_WEIGHTS_FILE, FID_WEIGHTS_URL, loadInceptionParams, localInceptionWeights } from './weights';

/** Options of {@link InceptionFeatureExtractor}. */
export interface InceptionExtractorOptions extends PreprocessOptions {
  /** `pool3` (2048-d, FID / KID) or `logits` (1008-d). Default `pool3`. */
  readonly output?: 'pool3' | 'logits';
  /** Images per forward pass (default 16). */
  readonly batchSize?: number;
}

/** The FID Inception network as a core `FeatureExtractor` (pool3 by default). */
export class InceptionFeatureExtractor implements FeatureExtractor {
  readonly name = 'inception-fid';
  readonly featureDim: number;
  readonly #net: FidInception;
  readonly #options: InceptionExtractorOptions;

  constructor(net: FidInception, options: InceptionExtractorOptions = {}) {
    this.#net = net;
    this.#options = options;
    this.featureDim = options.output === 'logits' ? LOGITS_DIM : POOL3_DIM;
  }

  /** Features `[B, featureDim]` of images `[B, H, W, C]` in [0, 1]. */
  async extract(images: tf.Tensor4D): Promise<tf.Tensor2D> {
    const logits = this.#options.output === 'logits';
    const f = await this.#net.extract(images, { ...this.#options, logits });
    const data = logits ? (f.logits as Float32Array) : f.pool3;
    return tf.tensor2d(data, [f.count, this.featureDim]);
  }

  dispose(): void {
    this.#net.dispose();
  }
}

const inceptionSchema = z.object({
  /** Local pt_inception-2015-12-05-6726825d.pth; downloaded (sha256-checked) when absent. */
  path: z.string().optional(),
  url: z.string().optional(),
  sha256: z.string().optional(),
  cacheDir: z.string().optional(),
  resize: z.enum(['tf1-legacy', 'pytorch-fid']).default('tf1-legacy'),
  output: z.enum(['pool3', 'logits']).default('pool3'),
  batchSize: z.number().int().positive().default(16),
});

/**
 * Availability of `inception-fid`: with a `path` in the user's config, always; else when the
 * weights are on disk (the explicit `inceptionWeights`, then `$TSVAE_FID_WEIGHTS`, then
 * `<cacheDir>/pt_inception-2015-12-05-6726825d.pth`). Without them it is available only when
 * named, and then downloads them (sha256-checked) on creation; `'auto'` never downloads.
 */
function inceptionAvailability(env: ExtractorEnvironment): ExtractorAvailability {
  const defaults = { cacheDir: env.cacheDir };
  if (env.userConfig['path'] !== undefined) return { available: true, defaults };
  const weights = localInceptionWeights({ path: env.inceptionWeights, cacheDir: env.cacheDir });
  if (weights) return { available: true, defaults: { ...defaults, path: weights } };
  if (env.requested) return { available: true, defaults };
  return {
    available: false,
    reason: `FID Inception weights not found (${FID_WEIGHTS_FILE} in ${env.cacheDir}); give a local copy (inceptionWeights, or TSVAE_FID_WEIGHTS), or name inception-fid explicitly to download it from ${FID_WEIGHTS_URL}`,
  };
}

/**
 * `feature-extractor` plugin `inception-fid`: pytorch-fid's FID InceptionV3 in tfjs. Its config
 * has no quantisation options: generated images are quantised (and optionally min-max
 * normalised) once, by `evaluateGenerators` (`prepareGenerated`), before any extractor.
 */
export const inceptionFidPlugin: EvaluationExtractorPlugin<typeof inceptionSchema> = {
  kind: 'feature-extractor',
  name: 'inception-fid',
  description: 'FID InceptionV3 (inception-2015-12-05, pytorch-fid weights): pool3 2048-d or 1008 logits',
  configSchema: inceptionSchema,
  availability: inceptionAvailability,
  create: async (config, context) => {
    const params = await loadInceptionParams({
      ...(config.path !== undefined ? { path: config.path } : {}),
      ...(config.url !== undefined ? { url: config.url } : {}),
      ...(config.sha256 !== undefined ? { sha256: config.sha256 } : {}),
      ...(config.cacheDir !== undefined ? { cacheDir: config.cacheDir } : {}),
      onProgress: (done, total) => context.logger.debug('downloading FID Inception weights', { done, total }),
      logger: context.logger,
    });
    return new InceptionFeatureExtractor(new FidInception(params), {
      resize: config.resize,
      output: config.output,
      batchSize: config.batchSize,
    });
  },
};

const classifierSchema = z.object({
  /** Registered dataset plugin to train on when no saved classifier exists (e.g. `mnist`, `fashion-mnist`). */
  dataset: z.string().default('mnist'),
  /** Config of that dataset plugin (e.g. a local `path`); part of the default cache file name. */
  datasetConfig: z.record(z.string(), z.unknown()).default({}),
  /** Saved classifier (.npz); default `<cacheDir>/metrics/classifier-<dataset>-s<seed>.npz`. */
  path: z.string().optional(),
  cacheDir: z.string().optional(),
  epochs: z.number().int().positive().default(2),
  /** Train on the first `trainSize` training images (default all). */
  trainSize: z.number().int().positive().optional(),
  /** Seed of the classifier's training (any integer in [0, MAX_SEED]; 0 reproduces too). */
  seed: z.number().int().min(0).max(MAX_SEED).default(0),
});

/**
 * Where the `classifier` plugin saves / finds its network when no `path` is given:
 * `<cacheDir>/metrics/classifier-<dataset>[-<config hash>]-s<seed>-e<epochs>[-n<trainSize>].npz`.
 */
export function defaultClassifierPath(config: {
  readonly dataset: string;
  readonly datasetConfig?: Readonly<Record<string, unknown>>;
  readonly cacheDir?: string | undefined;
  readonly seed: number;
  readonly epochs: number;
  readonly trainSize?: number | undefined;
}): string {
  const dc = config.datasetConfig ?? {};
  const hash = Object.keys(dc).length ? `-${hashBytes(stableJson(dc)).slice(0, 8)}` : '';
  const n = config.trainSize === undefined ? '' : `-n${config.trainSize}`;
  return join(
    cacheDir(config.cacheDir),
    'metrics',
    `classifier-${config.dataset}${hash}-s${config.seed}-e${config.epochs}${n}.npz`,
  );
}

/**
 * Availability of `classifier`: when the dataset has labels to train it on, or the user's config
 * names a dataset to train on instead. Defaults: the evaluation's dataset (and its config) and
 * cache directory.
 */
function classifierAvailability(env: ExtractorEnvironment): ExtractorAvailability {
  const named = env.userConfig['dataset'];
  if (named !== undefined && named !== env.dataset.name) {
    // Another dataset's classifier: this dataset's config is not that dataset's.
    return { available: true, defaults: { cacheDir: env.cacheDir } };
  }
  if (!env.dataset.labelled) {
    return {
      available: false,
      reason: `dataset '${env.dataset.name}' has no labels to train the classifier on (name a labelled dataset in the classifier's config, e.g. {"dataset":"mnist"}, to use its classifier)`,
    };
  }
  return {
    available: true,
    defaults: { dataset: env.dataset.name, datasetConfig: { ...env.dataset.config }, cacheDir: env.cacheDir },
  };
}

/**
 * `feature-extractor` plugin `classifier`: 128-d features of a small CNN trained on a dataset
 * (MNIST, Fashion-MNIST) on first use, saved, and reused afterwards.
 */
export const classifierPlugin: EvaluationExtractorPlugin<typeof classifierSchema> = {
  kind: 'feature-extractor',
  name: 'classifier',
  description: 'Penultimate features (128-d) of a small CNN trained on the dataset itself (MNIST-like)',
  configSchema: classifierSchema,
  availability: classifierAvailability,
  create: async (config, context) => {
    const path = config.path ?? defaultClassifierPath(config);
    let model: FeatureClassifier;
    if (existsSync(path)) {
      model = FeatureClassifier.load(new Uint8Array(await readFile(path)));
      context.logger.debug('loaded feature classifier', { path });
    } else {
      const ds = await create('dataset', config.dataset, config.datasetConfig, { context });
      const split = await ds.load('train');
      if (!split.labels)
        throw new Error(`dataset '${config.dataset}' has no labels to train a classifier on`);
      const n = Math.min(split.size, config.trainSize ?? split.size);
      const [h, w, c] = split.shape;
      const per = h * w * c;
      const images =
        split.data instanceof Uint8Array
          ? tf.tensor4d(Int32Array.from(split.data.subarray(0, n * per)), [n, h, w, c], 'int32')
          : tf.tensor4d(split.data.subarray(0, n * per), [n, h, w, c]);
      model = await trainClassifier(images, split.labels.subarray(0, n), {
        classes: ds.numClasses ?? 10,
        epochs: config.epochs,
        seed: config.seed,
        trainedOn: `${config.dataset} train[0:${n}]`,
        onProgress: (p) => {
          if (p.step % 50 === 0 || p.step === p.steps)
            context.logger.info('training feature classifier', { ...p });
        },
      });
      images.dispose();
      writeFileAtomic(path, await model.save());
      context.logger.info('saved feature classifier', { path });
    }
    return new ClassifierFeatureExtractor(model, { name: `classifier-${config.dataset}` });
  },
};

/** Every plugin of this package. */
export const metricsPlugins: readonly PluginDefinition[] = [
  inceptionFidPlugin as unknown as PluginDefinition,
  classifierPlugin as unknown as PluginDefinition,
];

/** Registers this package's plugins in the process-wide registry (idempotent). */
export function registerMetricsPlugins(): void {
  const registry = getRegistry();
  for (const def of metricsPlugins) {
    if (!registry.has(def.kind, def.name)) registry.register(def);
  }
}
