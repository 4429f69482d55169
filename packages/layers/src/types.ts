import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { Decoder, Encoder, ForwardOptions, GaussianParams, LossTerms, Module } from '@tsvae/core';

/**
 * Decoder likelihood of a VAE:
 * - `learned-gamma`: Gaussian with one learned scalar `logGamma` (the Two-Stage VAE default);
 * - `fixed-gamma`: Gaussian with a fixed gamma (baseline, gamma = 1 by default);
 * - `bernoulli`: Bernoulli cross-entropy (baseline; probabilities clamped at 1e-8 as the reference code does).
 */
export type Likelihood = 'learned-gamma' | 'fixed-gamma' | 'bernoulli';

/**
 * What gamma means: `std` (the reference code: gamma = exp(logGamma) is a standard deviation,
 * the default) or `variance` (the paper: gamma is the variance).
 */
export type GammaConvention = 'std' | 'variance';

/** A registry reference: plugin name plus its (unvalidated) config. */
export interface PluginRef {
  readonly name: string;
  readonly config?: Readonly<Record<string, unknown>>;
}

/** The loss terms of a VAE plus the current gamma. */
export interface VaeLossTerms extends LossTerms {
  /** Current gamma (in the model's convention) as a scalar. */
  readonly gamma: Scalar;
}

/** Options of a loss evaluation. */
export interface VaeLossOptions extends ForwardOptions {
  /** Seed of the reparameterisation noise (deterministic when given). */
  readonly seed?: number;
}

/** A stage-1 κ-simple VAE: registry encoder + decoder + likelihood (with `logGamma` when learned). */
export interface Stage1Vae extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly latentDim: number;
  readonly likelihood: Likelihood;
  readonly gammaConvention: GammaConvention;
  /** Negative ELBO on a batch `x` in [0, 1], averaged over the batch (sums over dimensions). */
  loss(x: Tensor4D, options: VaeLossOptions): VaeLossTerms;
  /** Encoder parameters of `q(z|x)`. */
  encode(x: Tensor4D, options: ForwardOptions): GaussianParams;
  /** The decoder mean for codes `z`. */
  decode(z: Tensor2D, options: ForwardOptions): Tensor4D;
  /** Current gamma as a number (in the model's convention). */
  gamma(): number;
}
