/**
 * @packageDocumentation
 * Plugin interfaces and the process-wide plugin registry of tsvae.
 */

export { epochOrder, gatherFloat, holdOut, subset, toTensor } from './data';
export {
  type ConfigIssue,
  DuplicatePluginError,
  InvalidConfigError,
  PluginError,
  PluginLoadError,
  UnknownPluginError,
} from './errors';
export {
  GRID_GAP,
  gridCellAt,
  gridLayout,
  type ImageGridOptions,
  imageGrid,
  type RgbaImage,
  toByte,
} from './image-grid';
export { consoleLogger, type LogFields, type Logger, MemoryLogger, silentLogger } from './logger';
export {
  type ConfigSchema,
  type CreateOptions,
  create,
  createSync,
  definePlugin,
  getRegistry,
  loadPlugins,
  PLUGIN_KINDS,
  type PluginDefinition,
  type PluginKind,
  type PluginKinds,
  type PluginModuleExports,
  Registry,
  register,
  z,
} from './registry';
export { createRng, deriveSeed, MAX_SEED, type Rng, type RngState } from './rng';
export {
  DEFAULT_SAMPLE_BATCH_SIZE,
  decoderMean,
  type InterpolationMethod,
  interpolateLatents,
  type SampleDecoder,
  type SampleOptions,
  type SamplingMode,
  sampleLatents,
  sampleOneStage,
  sampleTwoStage,
} from './sample';
export type {
  DataSplit,
  Dataset,
  Decoder,
  DecoderOutput,
  Encoder,
  FeatureExtractor,
  ForwardOptions,
  GaussianParams,
  Generator,
  ImageShape,
  LossOptions,
  LossTerms,
  Module,
  NamedWeight,
  PluginContext,
  Progress,
  SecondStage,
  SecondStageCodes,
  SecondStageFitOptions,
  SecondStageFitProgress,
  SplitName,
  Stage1Model,
  TrainingCallback,
  TrainingLogs,
  VaeLossTerms,
} from './types';
