/**
 * The Gaussian decoder likelihood `p(x|z) = N(x_hat, gamma I)` of the Two-Stage VAE, with one learned
 * scalar `logGamma`.
 */

import type { Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { LOG_2PI } from './constants';
import { asFloat, assertBatched, sumEvent } from './internal';

/**
 * What `gamma = exp(logGamma)` means:
 * - `'std'` (the default, the reference TensorFlow code's): gamma is a standard deviation, so the
 *   decoder variance is `gamma^2`;
 * - `'variance'` (the paper's notation): gamma is the variance.
 *
 * The two describe the same model family: `logGamma_variance = 2 * logGamma_std`.
 */
export type GammaConvention = 'std' | 'variance';

function checkConvention(convention: GammaConvention): void {
  if (convention !== 'std' && convention !== 'variance') {
    throw new Error(`unknown gamma convention '${String(convention)}' (expected 'std' or 'variance')`);
  }
}

/**
 * The log standard deviation of the decoder noise for a given `logGamma`: `logGamma` under `'std'`,
 * `logGamma / 2` under `'variance'`. Differentiable; a new tensor of the shape of `logGamma`.
 */
export function gammaLogStd(logGamma: Tensor, convention: GammaConvention = 'std'): Tensor {
  checkConvention(convention);
  return tf.tidy(() => (convention === 'std' ? tf.clone(asFloat(logGamma)) : tf.mul(asFloat(logGamma), 0.5)));
}

/**
 * Negative log-likelihood of `x` under `N(xHat, gamma I)` per example, shape `[B]`:
 * - `'std'`: `sum(((x - xHat) / gamma)^2 / 2 + log gamma + log(2π) / 2)` (the reference code's loss);
 * - `'variance'`: `sum((x - xHat)^2 / (2 gamma) + log(gamma) / 2 + log(2π) / 2)` (the paper's).
 *
 * Computed as `(x - xHat) * exp(-logStd)`, never dividing by gamma, so it stays finite and accurate
 * from gamma = 1e-4 to 1e3 and beyond. A negative value is normal when gamma is small.
 *
 * @param x - data, shape `[B, ...event]`.
 * @param xHat - decoder mean, broadcastable against `x`.
 * @param logGamma - `log gamma`, usually a scalar (a per-dimension tensor broadcastable against `x`
 *   also works).
 * @param convention - see {@link GammaConvention}; default `'std'`.
 */
export function gaussianNll(
  x: Tensor,
  xHat: Tensor,
  logGamma: Tensor,
  convention: GammaConvention = 'std',
): Tensor1D {
  assertBatched(x, 'x');
  checkConvention(convention);
  return tf.tidy(() => {
    const logStd = convention === 'std' ? asFloat(logGamma) : tf.mul(asFloat(logGamma), 0.5);
    const d = tf.mul(tf.sub(asFloat(x), asFloat(xHat)), tf.exp(tf.neg(logStd)));
    const perDim = tf.add(tf.mul(tf.square(d), 0.5), tf.add(logStd, 0.5 * LOG_2PI));
    return sumEvent(perDim);
  });
}

/**
 * The `logGamma` that minimises {@link gaussianNll} for the given reconstruction, in closed form:
 * with `mse` the mean of `(x - xHat)^2` over the batch and every dimension, the optimal variance is
 * `mse`, so `gamma = sqrt(mse)` (`'std'`) or `gamma = mse` (`'variance'`) — σ-VAE's "optimal
 * sigma" (Rybkin et al., 2021). `floor` bounds gamma from below in the same convention (a perfect
 * reconstruction would send it to 0). A scalar, differentiable in `x` and `xHat` (away from the
 * floor); by the envelope theorem the gradient of the NLL at this gamma w.r.t. `xHat` equals the
 * gradient at gamma held fixed.
 */
export function optimalLogGamma(
  x: Tensor,
  xHat: Tensor,
  convention: GammaConvention = 'std',
  floor = 1e-3,
): Tensor {
  checkConvention(convention);
  if (!(floor > 0) || !Number.isFinite(floor))
    throw new RangeError(`floor must be a positive number, got ${floor}`);
  return tf.tidy(() => {
    const mse = tf.mean(tf.square(tf.sub(asFloat(x), asFloat(xHat))));
    const variance = tf.maximum(mse, convention === 'std' ? floor * floor : floor);
    const logVariance = tf.log(variance);
    return convention === 'std' ? tf.mul(logVariance, 0.5) : logVariance;
  });
}

/**
 * The decoder likelihood `p(x|z) = N(xHat, gamma I)` with one scalar learned `logGamma` (the
 * Two-Stage VAE's stage-1 and stage-2 decoders). Keeps references to `xHat` and `logGamma` without
 * copying or disposing them; every method returns a new tensor owned by the caller.
 *
 * @example
 * ```ts
 * const lik = new GaussianDecoderLikelihood(xHat, logGamma); // logGamma: scalar tf.Variable
 * const nll = lik.nll(x);                                    // [B]
 * ```
 */
export class GaussianDecoderLikelihood {
  /** The decoder mean, shape `[B, ...event]`. */
  readonly xHat: Tensor;
  /** `log gamma` (a scalar, or broadcastable against `xHat`). */
  readonly logGamma: Tensor;
  /** What gamma means; see {@link GammaConvention}. */
  readonly convention: GammaConvention;

  /**
   * @param xHat - decoder mean, shape `[B, ...event]`.
   * @param logGamma - `log gamma`, a scalar (e.g. a `tf.Variable` initialised to 0).
   * @param convention - `'std'` (default) or `'variance'`.
   */
  constructor(xHat: Tensor, logGamma: Tensor, convention: GammaConvention = 'std') {
    assertBatched(xHat, 'xHat');
    checkConvention(convention);
    this.xHat = xHat;
    this.logGamma = logGamma;
    this.convention = convention;
  }

  /** `log p(x|z)` per example, shape `[B]` (= `-nll(x)`). */
  logProb(x: Tensor): Tensor1D {
    return tf.tidy(() => tf.neg(this.nll(x)));
  }

  /** `-log p(x|z)` per example, shape `[B]`; see {@link gaussianNll}. */
  nll(x: Tensor): Tensor1D {
    return gaussianNll(x, this.xHat, this.logGamma, this.convention);
  }

  /** The mean, `xHat` (a new tensor). */
  mean(): Tensor {
    return tf.tidy(() => tf.clone(asFloat(this.xHat)));
  }

  /** `gamma = exp(logGamma)` in this likelihood's convention. */
  gamma(): Tensor {
    return tf.tidy(() => tf.exp(asFloat(this.logGamma)));
  }

  /** The noise standard deviation: `gamma` (`'std'`) or `sqrt(gamma)` (`'variance'`). */
  stddev(): Tensor {
    return tf.tidy(() => tf.exp(gammaLogStd(this.logGamma, this.convention)));
  }

  /**
   * A reparameterised sample `xHat + stddev * eps`, shape of `xHat` (e.g. the stage-2 sampling step
   * `z = decoder2(u) + gamma_z * eps`).
   *
   * @param seed - makes `eps` deterministic (tfjs `randomNormal` seed).
   */
  sample(seed?: number): Tensor {
    return tf.tidy(() => {
      const eps = tf.randomNormal(this.xHat.shape, 0, 1, 'float32', seed);
      return tf.add(asFloat(this.xHat), tf.mul(tf.exp(gammaLogStd(this.logGamma, this.convention)), eps));
    });
  }
}
