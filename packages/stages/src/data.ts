import * as tf from '@tensorflow/tfjs-core';
import type { DataSplit, ImageShape, Rng } from '@tsvae/core';

/** Values per example of a split. */
export function exampleSize(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

/** The first `n` examples of a split (the split itself when `n` is absent or not smaller). */
export function subsetSplit(split: DataSplit, n: number | undefined): DataSplit {
  if (n === undefined || n >= split.size) return split;
  const d = exampleSize(split.shape);
  const data = split.data.subarray(0, n * d);
  return split.labels
    ? { size: n, shape: split.shape, data, labels: split.labels.subarray(0, n) }
    : { size: n, shape: split.shape, data };
}

/**
 * Copies the examples at `indices` into a float32 batch `[B, H, W, C]`; uint8 pixels are scaled to
 * [0, 1], float data is used as it is.
 */
export function gatherBatch(split: DataSplit, indices: ArrayLike<number>): tf.Tensor4D {
  const d = exampleSize(split.shape);
  const out = new Float32Array(indices.length * d);
  const scale = split.data instanceof Uint8Array ? 1 / 255 : 1;
  for (let b = 0; b < indices.length; b++) {
    const src = (indices[b] as number) * d;
    const dst = b * d;
    if (scale === 1) out.set(split.data.subarray(src, src + d), dst);
    else for (let i = 0; i < d; i++) out[dst + i] = (split.data[src + i] as number) * scale;
  }
  return tf.tensor4d(out, [indices.length, split.shape[0], split.shape[1], split.shape[2]]);
}

/** A seeded permutation of `0..n-1` drawn from `rng`. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  rng.shuffle(p);
  return p;
}

/** Steps per epoch: `floor(n / batchSize)` (the remainder is dropped, as in the recipe). */
export function stepsPerEpoch(n: number, batchSize: number): number {
  return Math.floor(n / batchSize);
}
