/**
 * Decoder likelihood of a VAE:
 * - `learned-gamma`: Gaussian with one learned scalar `logGamma` (the Two-Stage VAE default);
 * - `optimal-gamma`: Gaussian with gamma set at every step to its closed-form optimum given the
 *   batch's reconstruction error (gamma^2 = mean squared error, floored; σ-VAE), so gamma is not
 *   bounded by the learning rate;
 * - `fixed-gamma`: Gaussian with a fixed gamma (baseline, gamma = 1 by default);
 * - `bernoulli`: Bernoulli cross-entropy (baseline; probabilities clamped at 1e-8 as the reference code does).
 */
export type Likelihood = 'learned-gamma' | 'optimal-gamma' | 'fixed-gamma' | 'bernoulli';

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
