/**
 * @packageDocumentation
 * The baselines of the Two-Stage VAE paper's Table 1 as tsvae plugins and trainers, on the same
 * networks, data and FID pipeline: the GANs of Lucic et al. 2018 (compare_gan's one InfoGAN-style
 * network with the MM, NS, LS, WGAN, WGAN-GP, DRAGAN and BEGAN objectives), trained by
 * {@link trainGan} in tsvae run directories and sampled through the `gan-run` generator; and the VAE
 * rows `wae-mmd` and `vae-flow` as `stage1` plugins for `@tsvae/stages`' `trainTwoStage`.
 * Importing the package registers its plugin kinds, its plugins and `@tsvae/backend`'s
 * higher-order gradients. The 2-D toy plugins for tests are in `@tsvae/baselines/testing`; the
 * generator and GAN sampling alone, browser-safe, in `@tsvae/baselines/browser`.
 */
import '@tsvae/stages';
import { registerBaselinesPlugins } from './plugins';

export {
  createGanModels,
  GAN_TRAINER,
  type GanModels,
  type GanRunComponents,
  type GanRunRecord,
  readGanRecord,
  resolveGanComponents,
} from './components';
export {
  type BaselineModelName,
  GAN_MODELS,
  type GanModelName,
  type GanRunConfig,
  type GanRunConfigInput,
  ganPresetConfig,
  ganRunConfigSchema,
  parseGanRunConfig,
  resolveGanRunConfig,
  type VaeBaselineName,
} from './config';
export { ganGeneratorPlugins, registerGanGeneratorPlugins } from './generator-plugins';
export {
  type DiscriminatorLossInput,
  type DiscriminatorOutput,
  GAN_KINDS,
  type GanDiscriminator,
  type GanGenerator,
  type GanLoss,
  type GanLossTerms,
  type GeneratorLossInput,
  registerGanKinds,
} from './kinds';
export { ganRunGenerator, type LoadedGanRun, loadGanRun } from './load-gan';
export {
  beganLossPlugin,
  draganLossPlugin,
  gradientPenalty,
  lossPlugins,
  lsganLossPlugin,
  mmGanLossPlugin,
  nsGanLossPlugin,
  wganGpLossPlugin,
  wganLossPlugin,
} from './losses';
export {
  BASELINE_MODEL_NAMES,
  BASELINE_MODELS,
  type BaselineModel,
  type BaselineRunConfig,
  baselineModel,
  baselineRunConfig,
  GAN_OPTIONS,
} from './models';
export {
  buildInfoganAutoencoder,
  buildInfoganDiscriminator,
  buildInfoganGenerator,
  type InfoganAutoencoderConfig,
  type InfoganDiscriminatorConfig,
  type InfoganGeneratorConfig,
  infoganAutoencoderConfigSchema,
  infoganAutoencoderPlugin,
  infoganDiscriminatorConfigSchema,
  infoganDiscriminatorPlugin,
  infoganGeneratorConfigSchema,
  infoganGeneratorPlugin,
  LayersDiscriminator,
  LayersGenerator,
} from './networks';
export { baselinesPlugins, registerBaselinesPlugins } from './plugins';
export {
  DEFAULT_GAN_BATCH_SIZE,
  drawCodes,
  GAN_PRIORS,
  type GanPrior,
  type GanSampleOptions,
  GanSampler,
  sampleGan,
  sampleGanCodes,
} from './sample';
export {
  BASELINES_VERSION,
  type GanEpochMetrics,
  ganEpochMetricsSchema,
  type TrainGanOptions,
  type TrainGanResult,
  trainGan,
  validateGanRun,
} from './train-gan';
export {
  DETERMINISTIC_LOG_SIGMA,
  imqMmd,
  PlanarFlow,
  type VaeFlowConfig,
  VaeFlowModel,
  vaeFlowConfigSchema,
  vaeFlowStage1Plugin,
  type WaeMmdConfig,
  WaeMmdModel,
  waeMmdConfigSchema,
  waeMmdStage1Plugin,
} from './vae-baselines';

registerBaselinesPlugins();
