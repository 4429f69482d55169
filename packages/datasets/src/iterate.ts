import * as tf from '@tensorflow/tfjs-core';
import { createRng, type DataSplit, epochOrder, gatherFloat, type Rng } from '@tsvae/core';

/** Options for {@link batches} and {@link labelledBatches}. */
export interface BatchOptions {
  /** Examples per batch. Default 64 (the recipe). */
  readonly batchSize?: number;
  /** Shuffle the order every epoch. Default true. */
  readonly shuffle?: boolean;
  /** Seed of the shuffling RNG ({@link createRng}). Default 0. Ignored when `rng` is given. */
  readonly seed?: number;
  /** A generator to draw the shuffles from (its state advances; save it to resume). */
  readonly rng?: Rng;
  /**
   * Drop the last incomplete batch of each epoch. Default true (the recipe: an epoch is
   * `floor(N / batchSize)` steps).
   */
  readonly dropRemainder?: boolean;
  /** Number of passes over the data. Default 1; `Infinity` for an endless stream. */
  readonly epochs?: number;
}

/** A batch with its labels and the example indices it holds. */
export interface LabelledBatch {
  /** Images `[B, H, W, C]`, float32 in [0, 1] (uint8 data / 255; float data as stored). */
  readonly x: tf.Tensor4D;
  /** Labels of the batch (empty when the split has none). */
  readonly labels: Int32Array;
  /** Indices into the split of the batch's examples. */
  readonly indices: Int32Array;
  /** Epoch (from 0) this batch belongs to. */
  readonly epoch: number;
}

/** The number of batches in one epoch. */
export function batchesPerEpoch(size: number, batchSize = 64, dropRemainder = true): number {
  return dropRemainder ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
}

function checkOptions(
  split: DataSplit,
  options: BatchOptions,
): Required<Omit<BatchOptions, 'seed' | 'rng'>> & { rng: Rng } {
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
  const epochs = options.epochs ?? 1;
  if (!(epochs >= 0) || (!Number.isInteger(epochs) && epochs !== Number.POSITIVE_INFINITY)) {
    throw new RangeError(`epochs must be a non-negative integer or Infinity, got ${epochs}`);
  }
  const dropRemainder = options.dropRemainder ?? true;
  if (epochs === Number.POSITIVE_INFINITY && batchesPerEpoch(split.size, batchSize, dropRemainder) === 0) {
    throw new RangeError(
      `an endless stream needs at least one batch per epoch (size ${split.size}, batchSize ${batchSize})`,
    );
  }
  return {
    batchSize,
    epochs,
    dropRemainder,
    shuffle: options.shuffle ?? true,
    rng: options.rng ?? createRng(options.seed ?? 0),
  };
}

/**
 * Iterates over a split in batches, with labels and indices. Each epoch is reshuffled from the
 * same seeded generator, so a seed gives the same sequence of batches every run. The caller owns
 * each `x` and must dispose it (or iterate inside `tf.tidy`-managed code); nothing else is
 * allocated on the tfjs backend.
 */
export function* labelledBatches(split: DataSplit, options: BatchOptions = {}): Generator<LabelledBatch> {
  const o = checkOptions(split, options);
  const [h, w, c] = split.shape;
  const per = batchesPerEpoch(split.size, o.batchSize, o.dropRemainder);
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = epochOrder(split.size, o.shuffle ? o.rng : undefined);
    for (let b = 0; b < per; b++) {
      const indices = order.subarray(b * o.batchSize, Math.min(split.size, (b + 1) * o.batchSize));
      const labels = new Int32Array(split.labels ? indices.length : 0);
      if (split.labels) for (let i = 0; i < indices.length; i++) labels[i] = split.labels[indices[i]!]!;
      const x = tf.tensor4d(gatherFloat(split, indices), [indices.length, h, w, c], 'float32');
      yield { x, labels, indices: indices.slice(), epoch };
    }
  }
}

/**
 * Iterates over a split as float32 image batches `[B, H, W, C]` in [0, 1] (the recipe's input).
 * Defaults: batch 64, shuffled with seed 0, remainder dropped, one epoch. With
 * `withLabels: true` it yields {@link LabelledBatch}es instead (as {@link labelledBatches}). The
 * caller disposes each batch.
 *
 * @example
 * ```ts
 * for (const x of batches(train, { batchSize: 64, seed: 1, epochs: 1 })) {
 *   // ... a training step on x ...
 *   x.dispose();
 * }
 * for (const { x, labels } of batches(train, { withLabels: true })) x.dispose();
 * ```
 */
export function batches(
  split: DataSplit,
  options: BatchOptions & { readonly withLabels: true },
): Generator<LabelledBatch>;
export function batches(
  split: DataSplit,
  options?: BatchOptions & { readonly withLabels?: false },
): Generator<tf.Tensor4D>;
export function* batches(
  split: DataSplit,
  options: BatchOptions & { readonly withLabels?: boolean } = {},
): Generator<tf.Tensor4D | LabelledBatch> {
  for (const b of labelledBatches(split, options)) yield options.withLabels ? b : b.x;
}
