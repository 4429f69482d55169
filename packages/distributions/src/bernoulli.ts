/** Bernoulli distribution (the cross-entropy decoder baseline) on tfjs tensors. */

import type { Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { asFloat, assertBatched, sumEvent } from './internal';

/** The probability clamp of the reference code: `log(max(p, 1e-8))`. */
export const DEFAULT_BERNOULLI_CLAMP = 1e-8;

/** Options of {@link Bernoulli.fromProbs}. */
export interface BernoulliProbsOptions {
  /**
   * Probabilities are clamped below at this value inside logarithms, `log(max(p, clamp))` and
   * `log(max(1 - p, clamp))`. Default `1e-8` (the reference code's).
   */
  readonly clamp?: number;
}

/** Options of {@link bernoulliNll}. */
export interface BernoulliNllOptions extends BernoulliProbsOptions {
  /** Whether the second argument holds probabilities or logits. */
  readonly from: 'probs' | 'logits';
}

type Param =
  | { readonly kind: 'logits'; readonly logits: Tensor }
  | {
      readonly kind: 'probs';
      readonly probs: Tensor;
      readonly clamp: number;
    };

/**
 * Independent Bernoulli variables, one per element, parameterised by logits (preferred: exactly
 * stable) or by probabilities (the reference code's sigmoid output, clamped inside the logs).
 *
 * `logProb(x)` is the cross-entropy `sum(x log p + (1 - x) log(1 - p))` and accepts `x` in `[0, 1]`
 * (not only 0/1), as the VAE's Bernoulli decoder baseline uses it on grey levels.
 *
 * The distribution keeps a reference to the tensor it is given; every method returns a new tensor
 * owned by the caller.
 */
export class Bernoulli {
  private readonly param: Param;

  private constructor(param: Param) {
    this.param = param;
  }

  /** From logits `l` (`p = sigmoid(l)`), shape `[B, ...event]`. */
  static fromLogits(logits: Tensor): Bernoulli {
    assertBatched(logits, 'logits');
    return new Bernoulli({ kind: 'logits', logits });
  }

  /**
   * From probabilities `p` in `[0, 1]`, shape `[B, ...event]`.
   *
   * @param opts - `clamp` (default `1e-8`): lower bound of `p` and `1 - p` inside logarithms.
   */
  static fromProbs(probs: Tensor, opts: BernoulliProbsOptions = {}): Bernoulli {
    assertBatched(probs, 'probs');
    const clamp = opts.clamp ?? DEFAULT_BERNOULLI_CLAMP;
    if (!(clamp > 0 && clamp < 0.5)) {
      throw new Error(`Bernoulli.fromProbs: clamp must lie in (0, 0.5), got ${clamp}`);
    }
    return new Bernoulli({ kind: 'probs', probs, clamp });
  }

  /** How the distribution was built. */
  get parameterisation(): 'logits' | 'probs' {
    return this.param.kind;
  }

  /** The success probabilities `p` (`sigmoid(logits)` when built from logits). */
  probs(): Tensor {
    const p = this.param;
    return tf.tidy(() => (p.kind === 'logits' ? tf.sigmoid(asFloat(p.logits)) : tf.clone(asFloat(p.probs))));
  }

  /** The logits (`log(max(p, c)) - log(max(1 - p, c))` when built from probabilities). */
  logits(): Tensor {
    const p = this.param;
    return tf.tidy(() => {
      if (p.kind === 'logits') {
        return tf.clone(asFloat(p.logits));
      }
      const [logP, log1mP] = clampedLogs(asFloat(p.probs), p.clamp);
      return tf.sub(logP, log1mP);
    });
  }

  /** The mean, `p`. */
  mean(): Tensor {
    return this.probs();
  }

  /**
   * Log-probability (cross-entropy) per example, shape `[B]`:
   * from logits `sum(x l - softplus(l))` (exact for any finite `l`); from probabilities
   * `sum(x log(max(p, c)) + (1 - x) log(max(1 - p, c)))`.
   *
   * @param x - values in `[0, 1]`, broadcastable against the parameters.
   */
  logProb(x: Tensor): Tensor1D {
    const p = this.param;
    return tf.tidy(() => {
      const xf = asFloat(x);
      if (p.kind === 'logits') {
        const l = asFloat(p.logits);
        return sumEvent(tf.sub(tf.mul(xf, l), tf.softplus(l)));
      }
      const [logP, log1mP] = clampedLogs(asFloat(p.probs), p.clamp);
      return sumEvent(tf.add(tf.mul(xf, logP), tf.mul(tf.sub(1, xf), log1mP)));
    });
  }

  /**
   * Entropy per example, shape `[B]`: from logits `sum(softplus(l) - sigmoid(l) l)`; from
   * probabilities `-sum(p log(max(p, c)) + (1 - p) log(max(1 - p, c)))`.
   */
  entropy(): Tensor1D {
    const p = this.param;
    return tf.tidy(() => {
      if (p.kind === 'logits') {
        const l = asFloat(p.logits);
        return sumEvent(tf.sub(tf.softplus(l), tf.mul(tf.sigmoid(l), l)));
      }
      const pr = asFloat(p.probs);
      const [logP, log1mP] = clampedLogs(pr, p.clamp);
      return tf.neg(sumEvent(tf.add(tf.mul(pr, logP), tf.mul(tf.sub(1, pr), log1mP))));
    });
  }

  /**
   * A draw of 0/1 values (float32), shape of the parameters. Not differentiable.
   *
   * @param seed - makes the draw deterministic (tfjs `randomUniform` seed).
   */
  sample(seed?: number): Tensor {
    return tf.tidy(() => {
      const pr = this.probs();
      const u = tf.randomUniform(pr.shape, 0, 1, 'float32', seed);
      return tf.cast(tf.less(u, pr), 'float32');
    });
  }
}

function clampedLogs(p: Tensor, clamp: number): [Tensor, Tensor] {
  return [tf.log(tf.maximum(p, clamp)), tf.log(tf.maximum(tf.sub(1, p), clamp))];
}

/**
 * Bernoulli negative log-likelihood (binary cross-entropy summed over the event axes) per example,
 * shape `[B]`: `-Bernoulli.fromProbs(p, {clamp}).logProb(x)` or `-Bernoulli.fromLogits(l).logProb(x)`.
 *
 * @param x - targets in `[0, 1]`, shape `[B, ...event]`.
 * @param probsOrLogits - decoder output, broadcastable against `x`.
 * @param opts - `from: 'probs' | 'logits'`; `clamp` (probabilities only, default `1e-8`).
 */
export function bernoulliNll(x: Tensor, probsOrLogits: Tensor, opts: BernoulliNllOptions): Tensor1D {
  let dist: Bernoulli;
  if (opts.from === 'logits') {
    dist = Bernoulli.fromLogits(probsOrLogits);
  } else if (opts.from === 'probs') {
    dist =
      opts.clamp === undefined
        ? Bernoulli.fromProbs(probsOrLogits)
        : Bernoulli.fromProbs(probsOrLogits, { clamp: opts.clamp });
  } else {
    throw new Error(`bernoulliNll: 'from' must be 'probs' or 'logits', got '${String(opts.from)}'`);
  }
  return tf.tidy(() => tf.neg(dist.logProb(x)));
}
