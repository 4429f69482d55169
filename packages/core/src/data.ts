import * as tf from '@tensorflow/tfjs-core';
import { createRng, type Rng } from './rng';
import type { DataSplit } from './types';

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
