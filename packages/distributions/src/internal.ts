/** Helpers shared by the distributions (not part of the public API). */

import type { Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

/** Throws unless `t` has a batch axis (rank >= 1). */
export function assertBatched(t: Tensor, what: string): void {
  if (t.rank < 1) {
    throw new Error(`${what} must have a batch axis (rank >= 1), got a scalar`);
  }
}

/** `t` as float32 (a cast only when needed; call inside `tf.tidy`). */
export function asFloat(t: Tensor): Tensor {
  return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
}

/**
 * Sums an elementwise tensor over its event axes (every axis but axis 0), giving shape `[B]`.
 * Call inside `tf.tidy`.
 */
export function sumEvent(t: Tensor): Tensor1D {
  assertBatched(t, 'tensor');
  if (t.rank === 1) {
    return tf.clone(t) as Tensor1D;
  }
  const axes = Array.from({ length: t.rank - 1 }, (_, i) => i + 1);
  return tf.sum(t, axes) as Tensor1D;
}

/**
 * `expm1(t) - t` elementwise, i.e. `exp(t) - 1 - t >= 0`, accurate when `t` is near 0 (where
 * `exp(t) - 1 - t` computed directly in float32 loses every digit). Call inside `tf.tidy`.
 */
export function expm1MinusX(t: Tensor): Tensor {
  return tf.sub(tf.expm1(t), t);
}
