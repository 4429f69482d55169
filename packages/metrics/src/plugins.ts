import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  create,
  definePlugin,
  type FeatureExtractor,
  getRegistry,
  MAX_SEED,
  type PluginDefinition,
  z,
} from '@tsvae/core';
import { cacheDir, hashBytes, writeFileAtomic } from '@tsvae/core/node';
import { ClassifierFeatureExtractor, FeatureClassifier, trainClassifier } from './classifier';
import { FidInception, LOGITS_DIM, POOL3_DIM, type PreprocessOptions } from './inception';
import { loadInceptionParams } from './weights';

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
 * `feature-extractor` plugin `inception-fid`: pytorch-fid's FID InceptionV3 in tfjs. Its config
 * has no quantisation options: generated images are quantised (and optionally min-max
 * normalised) once, by `evaluateGenerators` (`prepareGenerated`), before any extractor.
 */
export const inceptionFidPlugin: PluginDefinition<'feature-extractor', typeof inceptionSchema> = definePlugin(
  {
    kind: 'feature-extractor',
    name: 'inception-fid',
    description: 'FID InceptionV3 (inception-2015-12-05, pytorch-fid weights): pool3 2048-d or 1008 logits',
    configSchema: inceptionSchema,
    create: async (config, context) => {
      const params = await loadInceptionParams({
        ...(config.path !== undefined ? { path: config.path } : {}),
        ...(config.url !== undefined ? { url: config.url } : {}),
        ...(config.sha256 !== undefined ? { sha256: config.sha256 } : {}),
        ...(config.cacheDir !== undefined ? { cacheDir: config.cacheDir } : {}),
        onProgress: (done, total) =>
          context.logger.debug('downloading FID Inception weights', { done, total }),
        logger: context.logger,
      });
      return new InceptionFeatureExtractor(new FidInception(params), {
        resize: config.resize,
        output: config.output,
        batchSize: config.batchSize,
      });
    },
  },
);

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

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/**
 * `feature-extractor` plugin `classifier`: 128-d features of a small CNN trained on a dataset
 * (MNIST, Fashion-MNIST) on first use, saved, and reused afterwards.
 */
export const classifierPlugin: PluginDefinition<'feature-extractor', typeof classifierSchema> = definePlugin({
  kind: 'feature-extractor',
  name: 'classifier',
  description: 'Penultimate features (128-d) of a small CNN trained on the dataset itself (MNIST-like)',
  configSchema: classifierSchema,
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
});

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
