/**
 * @packageDocumentation
 * Probability distributions of the Two-Stage VAE on tfjs tensors: the diagonal Gaussian encoder
 * posterior, the standard normal prior, the Bernoulli decoder baseline and the Gaussian decoder
 * likelihood with one learned scalar `log gamma`.
 *
 * Convention: axis 0 is the batch axis, every other axis an event axis; `logProb`, `entropy`, `kl*`
 * and the `*Nll` functions return one value per example (shape `[B]`, summed over the event axes,
 * never averaged).
 */

export type { BernoulliNllOptions, BernoulliProbsOptions } from './bernoulli';
export { Bernoulli, bernoulliNll, DEFAULT_BERNOULLI_CLAMP } from './bernoulli';
export { LOG_2PI } from './constants';
export { DiagonalGaussian, klStandardNormal, StandardNormal } from './gaussian';
export type { GammaConvention } from './likelihood';
export { GaussianDecoderLikelihood, gammaLogStd, gaussianNll, optimalLogGamma } from './likelihood';
