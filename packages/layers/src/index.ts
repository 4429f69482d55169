/**
 * @packageDocumentation
 * The κ-simple VAE of the Two-Stage VAE on TensorFlow.js: the `infogan`, `wae` and `resnet`
 * encoder/decoder plugins, the second-stage `mlp`, the {@link LearnedGamma} layer, the stage-1 VAE
 * ({@link createStage1Vae}) and save/load through tfjs artifacts. Importing the package registers
 * the plugins in `@tsvae/core`'s process-wide registry.
 */
import { registerLayersPlugins } from './plugins';

export { imageShapeSchema } from './config';
export {
  BatchNorm,
  type BatchNormArgs,
  type KernelInit,
  kernelInitializer,
  LearnedGamma,
  type LearnedGammaArgs,
  registerCustomLayers,
  SpectralNormConv2D,
  type SpectralNormConv2DArgs,
  SpectralNormDense,
  type SpectralNormDenseArgs,
} from './custom-layers';
export {
  buildInfoganDecoderModel,
  buildInfoganEncoderModel,
  type InfoganConfig,
  InfoganEncoder,
  infoganConfigSchema,
  infoganDecoderPlugin,
  infoganEncoderPlugin,
  LogitsDecoder,
} from './infogan';
export {
  loadSecondStage,
  loadStage1Vae,
  type MemoryIOHandler,
  memoryIO,
  type SecondStageTopology,
  type Stage1Topology,
  saveSecondStage,
  saveStage1Vae,
} from './io';
export {
  buildMlpDecoderModel,
  buildMlpEncoderModel,
  type MlpConfig,
  MlpSecondStage,
  mlpConfigSchema,
  mlpSecondStagePlugin,
  type SecondStageLossOptions,
} from './mlp';
export { LayersModule } from './module';
export { layersPlugins, registerLayersPlugins } from './plugins';
export {
  buildResnetDecoderModel,
  buildResnetEncoderModel,
  type ResnetConfig,
  resnetConfigSchema,
  resnetDecoderPlan,
  resnetDecoderPlugin,
  resnetEncoderPlugin,
} from './resnet';
export type {
  GammaConvention,
  Likelihood,
  PluginRef,
  Stage1Vae,
  VaeLossOptions,
  VaeLossTerms,
} from './types';
export {
  createStage1Vae,
  createStage1VaeAsync,
  type ResolvedStage1VaeSpec,
  resolveStage1VaeSpec,
  Stage1VaeModel,
  type Stage1VaeOptions,
  type Stage1VaeSpec,
  type StepResult,
  stage1Step,
} from './vae';
export {
  buildWaeDecoderModel,
  buildWaeEncoderModel,
  TwoHeadEncoder,
  type WaeConfig,
  waeConfigSchema,
  waeDecoderPlugin,
  waeEncoderPlugin,
} from './wae';

registerLayersPlugins();
