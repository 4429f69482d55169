import * as tf from '@tensorflow/tfjs-core';
import { createRng, type DataSplit, type Rng } from '@tsvae/core';

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

/** The example order of one epoch: `0..n-1`, shuffled with `rng` when given. */
export function epochOrder(n: number, rng?: Rng): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (rng) rng.shuffle(order);
  return order;
}

/**
 * Gathers examples into a float32 buffer `[indices.length, H, W, C]`: uint8 values are scaled by
 * 1/255, float values copied.
 */
export function gatherFloat(split: DataSplit, indices: ArrayLike<number>): Float32Array {
  const [h, w, c] = split.shape;
  const e = h * w * c;
  const out = new Float32Array(indices.length * e);
  const data = split.data;
  const scale = data instanceof Uint8Array ? 1 / 255 : 1;
  for (let b = 0; b < indices.length; b++) {
    const idx = indices[b]!;
    if (idx < 0 || idx >= split.size) throw new RangeError(`index ${idx} outside [0, ${split.size})`);
    const src = idx * e;
    const dst = b * e;
    if (scale === 1) out.set(data.subarray(src, src + e), dst);
    else for (let k = 0; k < e; k++) out[dst + k] = data[src + k]! * scale;
  }
  return out;
}

/** Converts examples of a split to one float32 tensor `[n, H, W, C]` in [0, 1] (caller disposes). */
export function toTensor(split: DataSplit, indices?: ArrayLike<number>): tf.Tensor4D {
  const idx = indices ?? epochOrder(split.size);
  const [h, w, c] = split.shape;
  return tf.tensor4d(gatherFloat(split, idx), [idx.length, h, w, c], 'float32');
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

function withLabels(base: Omit<DataSplit, 'labels'>, labels: Int32Array | undefined): DataSplit {
  return labels ? { ...base, labels } : base;
}

/**
 * A subset of a split: the first `n` examples (a view, no copy), `n` examples drawn without
 * replacement with `seed`, or the examples at `indices` (copied, in that order).
 */
export function subset(
  split: DataSplit,
  selection: number | ArrayLike<number>,
  options: { readonly seed?: number } = {},
): DataSplit {
  const [h, w, c] = split.shape;
  const e = h * w * c;
  if (typeof selection === 'number') {
    if (!Number.isInteger(selection) || selection < 0 || selection > split.size) {
      throw new RangeError(`subset: n must be an integer in [0, ${split.size}], got ${selection}`);
    }
    if (options.seed === undefined) {
      return withLabels(
        { size: selection, shape: split.shape, data: split.data.subarray(0, selection * e) },
        split.labels?.subarray(0, selection),
      );
    }
    const order = epochOrder(split.size, createRng(options.seed)).subarray(0, selection);
    return subset(split, order);
  }
  const n = selection.length;
  const data = split.data instanceof Uint8Array ? new Uint8Array(n * e) : new Float32Array(n * e);
  const labels = split.labels ? new Int32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const idx = selection[i]!;
    if (!Number.isInteger(idx) || idx < 0 || idx >= split.size) {
      throw new RangeError(`subset: index ${idx} outside [0, ${split.size})`);
    }
    data.set(split.data.subarray(idx * e, (idx + 1) * e), i * e);
    if (labels) labels[i] = split.labels![idx]!;
  }
  return withLabels({ size: n, shape: split.shape, data }, labels);
}

/**
 * Splits off a held-out part (e.g. a validation set): returns `[rest, heldOut]` with `heldOut`
 * holding `n` examples drawn with `seed` (default 0).
 */
export function holdOut(split: DataSplit, n: number, seed = 0): [rest: DataSplit, heldOut: DataSplit] {
  if (!Number.isInteger(n) || n < 0 || n > split.size) {
    throw new RangeError(`holdOut: n must be an integer in [0, ${split.size}], got ${n}`);
  }
  const order = epochOrder(split.size, createRng(seed));
  const held = order.slice(0, n).sort();
  const rest = order.slice(n).sort();
  return [subset(split, rest), subset(split, held)];
}
