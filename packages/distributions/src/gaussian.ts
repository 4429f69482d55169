/**
 * Gaussian distributions on tfjs tensors: a diagonal Gaussian (the VAE encoder's `q(z|x)`) and the
 * standard normal prior `p(z) = N(0, I)`.
 *
 * Convention: axis 0 is the batch axis and every other axis is an event axis; `logProb`,
 * `entropy` and the KL divergences sum over the event axes and return one value per example,
 * shape `[B]` (never averaged over the batch).
 */

import type { Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { LOG_2PI } from './constants';
import { asFloat, assertBatched, expm1MinusX, sumEvent } from './internal';

/**
 * KL divergence `KL(N(mu, diag sigma^2) || N(0, I))` per example:
 * `sum(mu^2 + sigma^2 - 2 log sigma - 1) / 2` over the event axes, shape `[B]`.
 *
 * Computed from `logSigma` as `sum(mu^2 + expm1(2 logSigma) - 2 logSigma) / 2`, which is finite for
 * any finite `logSigma` below ~44, exactly non-negative in float32, and keeps its relative accuracy
 * when `sigma` is close to 1.
 *
 * @param mu - means, shape `[B, ...event]`.
 * @param logSigma - log standard deviations, same shape as `mu` (or broadcastable to it).
 * @returns a new tensor of shape `[B]` owned by the caller.
 */
export function klStandardNormal(mu: Tensor, logSigma: Tensor): Tensor1D {
  assertBatched(mu, 'mu');
  return tf.tidy(() => {
    const m = asFloat(mu);
    const ls = asFloat(logSigma);
    const perDim = tf.mul(tf.add(tf.square(m), expm1MinusX(tf.mul(ls, 2))), 0.5);
    return sumEvent(perDim);
  });
}

/**
 * A Gaussian with diagonal covariance, `N(mu, diag(sigma^2))`, parameterised by `mu` and
 * `logSigma = log(sigma)` (every computation goes through `logSigma`, so tiny and huge sigmas stay
 * finite in float32).
 *
 * The distribution keeps references to the tensors it is given and does not copy or dispose them;
 * every method returns a new tensor that the caller owns (dispose it or call inside `tf.tidy`).
 *
 * @example
 * ```ts
 * const q = new DiagonalGaussian(mu, logSigma); // both [B, kappa]
 * const z = q.sample(seed);                     // [B, kappa], differentiable in mu and logSigma
 * const kl = q.klToStandardNormal();            // [B]
 * ```
 */
export class DiagonalGaussian {
  /** Means, shape `[B, ...event]`. */
  readonly mu: Tensor;
  /** Log standard deviations, same shape as {@link DiagonalGaussian.mu}. */
  readonly logSigma: Tensor;
  /** Whether `logSigma` was created here (by {@link DiagonalGaussian.fromSigma}) and is freed by `dispose`. */
  private ownsLogSigma = false;

  /**
   * @param mu - means, shape `[B, ...event]` (rank >= 1).
   * @param logSigma - log standard deviations, the same shape as `mu`.
   * @throws if `mu` is a scalar or the shapes differ.
   */
  constructor(mu: Tensor, logSigma: Tensor) {
    assertBatched(mu, 'mu');
    if (!tf.util.arraysEqual(mu.shape, logSigma.shape)) {
      throw new Error(
        `DiagonalGaussian: mu and logSigma must have the same shape, got [${mu.shape.join(', ')}] and [${logSigma.shape.join(', ')}]`,
      );
    }
    this.mu = mu;
    this.logSigma = logSigma;
  }

  /**
   * Builds a diagonal Gaussian from standard deviations `sigma > 0` (it stores `log(sigma)`, a tensor
   * it owns and frees in {@link DiagonalGaussian.dispose}).
   */
  static fromSigma(mu: Tensor, sigma: Tensor): DiagonalGaussian {
    const logSigma = tf.tidy(() => tf.log(asFloat(sigma)));
    try {
      const d = new DiagonalGaussian(mu, logSigma);
      d.ownsLogSigma = true;
      return d;
    } catch (e) {
      logSigma.dispose();
      throw e;
    }
  }

  /** Event shape: the shape of `mu` without its batch axis. */
  get eventShape(): number[] {
    return this.mu.shape.slice(1);
  }

  /** Standard deviations `exp(logSigma)`, same shape as `mu`. */
  sigma(): Tensor {
    return tf.tidy(() => tf.exp(asFloat(this.logSigma)));
  }

  /** The mean, `mu` (a new tensor). */
  mean(): Tensor {
    return tf.tidy(() => tf.clone(asFloat(this.mu)));
  }

  /**
   * A reparameterised sample `mu + sigma * eps`, `eps ~ N(0, I)`, shape of `mu`; gradients flow to
   * `mu` and `logSigma`.
   *
   * @param seed - makes `eps` deterministic (tfjs `randomNormal` seed).
   */
  sample(seed?: number): Tensor {
    return tf.tidy(() => {
      const eps = tf.randomNormal(this.mu.shape, 0, 1, 'float32', seed);
      return tf.add(asFloat(this.mu), tf.mul(tf.exp(asFloat(this.logSigma)), eps));
    });
  }

  /**
   * Log density of `x` per example:
   * `sum(-((x - mu) / sigma)^2 / 2 - log sigma - log(2π) / 2)`, shape `[B]`.
   *
   * @param x - shape of `mu` (or broadcastable to it).
   */
  logProb(x: Tensor): Tensor1D {
    return tf.tidy(() => {
      const ls = asFloat(this.logSigma);
      const d = tf.mul(tf.sub(asFloat(x), asFloat(this.mu)), tf.exp(tf.neg(ls)));
      const perDim = tf.sub(tf.mul(tf.square(d), -0.5), tf.add(ls, 0.5 * LOG_2PI));
      return sumEvent(perDim);
    });
  }

  /** Differential entropy per example: `sum(log sigma + (1 + log 2π) / 2)`, shape `[B]`. */
  entropy(): Tensor1D {
    return tf.tidy(() => sumEvent(tf.add(asFloat(this.logSigma), 0.5 * (1 + LOG_2PI))));
  }

  /** `KL(this || N(0, I))` per example, shape `[B]`; see {@link klStandardNormal}. */
  klToStandardNormal(): Tensor1D {
    return klStandardNormal(this.mu, this.logSigma);
  }

  /**
   * `KL(this || other)` per example, shape `[B]`:
   * `sum(log sigma_q - log sigma_p + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2)`,
   * computed as `sum(expm1(t) - t + ((mu_p - mu_q) / sigma_q)^2) / 2` with
   * `t = 2 (log sigma_p - log sigma_q)` (no division by a small sigma, exactly non-negative).
   *
   * @param other - a diagonal Gaussian whose shape broadcasts against this one's.
   */
  kl(other: DiagonalGaussian): Tensor1D {
    return tf.tidy(() => {
      const lsP = asFloat(this.logSigma);
      const lsQ = asFloat(other.logSigma);
      const t = tf.mul(tf.sub(lsP, lsQ), 2);
      const d = tf.mul(tf.sub(asFloat(this.mu), asFloat(other.mu)), tf.exp(tf.neg(lsQ)));
      return sumEvent(tf.mul(tf.add(expm1MinusX(t), tf.square(d)), 0.5));
    });
  }

  /** Frees the tensors this distribution created itself (the `log sigma` of {@link DiagonalGaussian.fromSigma}); the tensors passed in stay the caller's. */
  dispose(): void {
    if (this.ownsLogSigma) {
      this.logSigma.dispose();
    }
  }
}

/**
 * The standard normal `N(0, I)` over events of shape `eventShape` (the VAE prior `p(z)`, and the
 * stage-2 prior `p(u)`).
 */
export class StandardNormal {
  /** The event shape, e.g. `[kappa]`. */
  readonly eventShape: readonly number[];

  /** @param eventShape - shape of one event, e.g. `[64]` for a 64-dimensional latent. */
  constructor(eventShape: number[]) {
    if (!eventShape.every((s) => Number.isInteger(s) && s > 0)) {
      throw new Error(
        `StandardNormal: eventShape must hold positive integers, got [${eventShape.join(', ')}]`,
      );
    }
    this.eventShape = [...eventShape];
  }

  /**
   * `n` draws, shape `[n, ...eventShape]`.
   *
   * @param seed - makes the draw deterministic (tfjs `randomNormal` seed).
   */
  sample(n: number, seed?: number): Tensor {
    if (!Number.isInteger(n) || n < 0) {
      throw new Error(`StandardNormal.sample: n must be a non-negative integer, got ${n}`);
    }
    return tf.randomNormal([n, ...this.eventShape], 0, 1, 'float32', seed);
  }

  /** Log density per example, `sum(-x^2 / 2 - log(2π) / 2)` over the event axes, shape `[B]`. */
  logProb(x: Tensor): Tensor1D {
    assertBatched(x, 'x');
    return tf.tidy(() => sumEvent(tf.sub(tf.mul(tf.square(asFloat(x)), -0.5), 0.5 * LOG_2PI)));
  }

  /** Differential entropy of one event, `d (1 + log 2π) / 2` with `d` the event size (a number). */
  entropy(): number {
    const d = this.eventShape.reduce((a, b) => a * b, 1);
    return 0.5 * d * (1 + LOG_2PI);
  }
}
