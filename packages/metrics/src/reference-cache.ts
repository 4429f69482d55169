import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DataSplit, type FeatureExtractor, type Logger, silentLogger } from '@tsvae/core';
import { hashBytes, writeFileAtomic } from '@tsvae/core/node';
import type { EvaluateOptions } from './evaluate';
import { readNpy, writeNpy } from './npy';
import { stableJson } from './stable-json';

/** Where the reference features of one extractor came from (recorded in the report). */
export interface ReferenceRecord {
  /** The cache file. */
  readonly path: string;
  /** `true`: read from the cache; `false`: computed (and written there). */
  readonly cached: boolean;
}

/** Options of {@link referenceFeatureCache}. */
export interface ReferenceCacheOptions {
  /** Directory of the cache files (`evaluate()` uses `<cacheDir>/metrics/reference`). */
  readonly dir: string;
  /** The dataset of the reference images (registry name and config). */
  readonly dataset: { readonly name: string; readonly config?: Readonly<Record<string, unknown>> };
  /** The split the reference images come from. */
  readonly split: string;
  /** The reference split; the bytes of its first `count` images are hashed into the key. */
  readonly reference: DataSplit;
  /** Reference images (N). */
  readonly count: number;
  /**
   * The config each extractor was created with; part of the key without its `cacheDir` (where a
   * plugin keeps its files does not change its features).
   */
  readonly configOf: (extractor: FeatureExtractor) => Readonly<Record<string, unknown>>;
  /** Receives a warning for every cache file that is unreadable or does not match. */
  readonly logger?: Logger;
}

/** A reference-feature cache: the hook for `evaluateGenerators` and what it did. */
export interface ReferenceCache {
  /** Pass as `evaluateGenerators`' `referenceFeatures`. */
  readonly referenceFeatures: NonNullable<EvaluateOptions['referenceFeatures']>;
  /** What happened, by extractor name (set once the hook ran for it). */
  readonly records: ReadonlyMap<string, ReferenceRecord>;
  /** The cache file of an extractor. */
  pathOf(extractor: FeatureExtractor): string;
}

/** A name part that is safe in a file name (registry names may hold `/` and `@`). */
const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]/g, '_');

/**
 * Keeps the reference features of each extractor in `<dir>/<dataset>-<split>-n<N>-<extractor>-<key>.npy`
 * (float32 `[N, featureDim]`), so a later evaluation against the same images skips their
 * extraction (about 30 minutes for 10,000 images through the Inception network on 2 CPU cores).
 *
 * The key is the first 16 hex digits of a sha256 over the bytes of the N reference images (so
 * other images never hit), the dataset and its config, the split, N, the image shape, the
 * extractor's name and its config without `cacheDir`. A file that cannot be read, or holds
 * another dtype or shape, is reported through the logger and recomputed; files are written
 * atomically (`@tsvae/core/node`), so a crash never leaves a half file to be read later. A file
 * that cannot be written is reported and the evaluation goes on (its record is then absent).
 *
 * @example
 * ```ts
 * const cache = referenceFeatureCache({
 *   dir: join(cacheDir(), 'metrics', 'reference'), dataset: { name: 'mnist' }, split: 'test',
 *   reference: test, count: 10000, configOf: () => ({}),
 * });
 * await evaluateGenerators({ ...options, referenceFeatures: cache.referenceFeatures });
 * console.log(cache.records);
 * ```
 */
export function referenceFeatureCache(options: ReferenceCacheOptions): ReferenceCache {
  const { reference, count } = options;
  const logger = options.logger ?? silentLogger;
  const [h, w, c] = reference.shape;
  if (!Number.isInteger(count) || count <= 0 || count > reference.size) {
    throw new RangeError(`count must be an integer in [1, ${reference.size}], got ${count}`);
  }
  const images = reference.data.subarray(0, count * h * w * c);
  const imagesHash = hashBytes(new Uint8Array(images.buffer, images.byteOffset, images.byteLength));
  const records = new Map<string, ReferenceRecord>();

  const pathOf = (extractor: FeatureExtractor): string => {
    const { cacheDir: _where, ...config } = options.configOf(extractor);
    const key = hashBytes(
      stableJson({
        format: 'tsvae-reference/1',
        dataset: options.dataset.name,
        datasetConfig: options.dataset.config ?? {},
        split: options.split,
        count,
        shape: reference.shape,
        images: imagesHash,
        extractor: extractor.name,
        config,
      }),
    ).slice(0, 16);
    return join(
      options.dir,
      `${safe(options.dataset.name)}-${safe(options.split)}-n${count}-${safe(extractor.name)}-${key}.npy`,
    );
  };

  const read = (path: string, dim: number): Float32Array | undefined => {
    if (!existsSync(path)) return undefined;
    try {
      const a = readNpy(new Uint8Array(readFileSync(path)));
      if (a.dtype !== 'float32' || a.shape.length !== 2 || a.shape[0] !== count || a.shape[1] !== dim) {
        throw new Error(`holds ${a.dtype} [${a.shape.join(', ')}], expected float32 [${count}, ${dim}]`);
      }
      return a.data as Float32Array;
    } catch (e) {
      logger.warn(
        `ignoring the cached reference features ${path}: ${e instanceof Error ? e.message : String(e)}`,
      );
      return undefined;
    }
  };

  const referenceFeatures = async (
    extractor: FeatureExtractor,
    compute: () => Promise<Float32Array>,
  ): Promise<Float32Array> => {
    const path = pathOf(extractor);
    const dim = extractor.featureDim;
    const stored = read(path, dim);
    if (stored) {
      records.set(extractor.name, { path, cached: true });
      logger.debug('reference features from the cache', { extractor: extractor.name, path });
      return stored;
    }
    const features = await compute();
    try {
      writeFileAtomic(path, writeNpy({ dtype: 'float32', shape: [count, dim], data: features }));
      records.set(extractor.name, { path, cached: false });
    } catch (e) {
      logger.warn(
        `could not cache the reference features (${e instanceof Error ? e.message : String(e)}); going on without`,
      );
    }
    return features;
  };

  return { referenceFeatures, records, pathOf };
}
