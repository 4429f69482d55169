/**
 * @packageDocumentation
 * The κ-simple VAE of the Two-Stage VAE on TensorFlow.js: the `infogan`, `wae` and `resnet`
 * encoder/decoder plugins, the stage-1 `vae` (kind `stage1`), the second-stage `mlp`, the
 * {@link LearnedGamma} layer and save/load through tfjs artifacts. Importing the package registers
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
  layerInitializers,
  registerCustomLayers,
  SpectralNormConv2D,
  type SpectralNormConv2DArgs,
  SpectralNormDense,
  type SpectralNormDenseArgs,
} from './custom-layers';
export {
  buildDenseDecoderModel,
  buildDenseEncoderModel,
  type DenseConfig,
  denseConfigSchema,
  denseDecoderPlugin,
  denseEncoderPlugin,
  LinearDecoder,
} from './dense';
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
export type { GammaConvention, Likelihood, PluginRef } from './types';
export {
  createStage1Vae,
  Stage1VaeModel,
  type Stage1VaeOptions,
  type StepResult,
  stage1Step,
  type VaeConfig,
  type VaeConfigInput,
  vaeConfigSchema,
  vaeStage1Plugin,
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
