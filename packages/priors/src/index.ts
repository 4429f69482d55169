/**
 * @packageDocumentation
 * Second stages for the Two-Stage VAE beside the paper's `mlp` VAE, for comparing second stages on
 * one stage 1: `gmm`, a Gaussian mixture fitted by EM in float64 (through `SecondStage.fit`), and
 * `flow`, a RealNVP normalising flow trained by maximum likelihood. Importing the package
 * registers both plugins (kind `second-stage`) in `@tsvae/core`'s registry.
 */
export {
  type CovarianceType,
  componentLogDensities,
  type EmIteration,
  type EmSettings,
  type FitMixtureOptions,
  type FitMixtureResult,
  fitMixture,
  identityMixture,
  kmeansPlusPlus,
  type MixtureData,
  type MixtureDensity,
  MixtureFitError,
  type MixtureParams,
  mixtureDensity,
  mixtureLogLikelihood,
} from './em';
export { couplingMask, type FlowConfig, flowConfigSchema, flowSecondStagePlugin, RealNvpFlow } from './flow';
export { GaussianMixture, type GmmConfig, gmmConfigSchema, gmmSecondStagePlugin } from './gmm';
export { cholesky, invertLower, logAbsDet } from './linalg';
export { plugins, priorsPlugins, registerPriorsPlugins } from './plugins';

import { registerPriorsPlugins } from './plugins';

registerPriorsPlugins();
