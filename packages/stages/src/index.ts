/**
 * @packageDocumentation
 * Two-stage training, encoding and sampling of the Two-Stage VAE (Dai & Wipf, ICLR 2019), with
 * resumable run directories.
 */
export {
  type CheckpointManifest,
  type ComponentRecord,
  checkpointsDir,
  type LoadedCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  type PartialEpoch,
  saveCheckpoint,
  type TrainingPosition,
} from './checkpoint';
export {
  learningRateAt,
  mergeConfig,
  type PluginRefConfig,
  PRESETS,
  type PresetName,
  parseRunConfig,
  pluginRefSchema,
  presetConfig,
  type RunConfig,
  type RunConfigInput,
  type RunConfigOverrides,
  resolveRunConfig,
  runConfigSchema,
} from './config';
export { stepsPerEpoch } from './data';
export { NonFiniteLossError, RunConfigError, type RunConfigIssue, RunDirectoryError } from './errors';
export {
  createStageOptimizer,
  optimizerState,
  restoreOptimizerState,
  type StageOptimizer,
  setLearningRate,
} from './optimizer';
export { withSeededMathRandom, withSeededMathRandomAsync } from './random';
export {
  buildModels,
  type LoadedRun,
  loadRun,
  loadTrainingData,
  RUN_FILES,
  type RunEnvironment,
  type RunRecord,
  readMetrics,
  readRunRecord,
  STAGES_VERSION,
  type TrainTwoStageOptions,
  type TrainTwoStageResult,
  trainTwoStage,
  vaeRunGenerator,
} from './run';
export {
  imageGridPng,
  type SampleOptions,
  type SamplingMode,
  sampleOneStage,
  sampleTwoStage,
  VaeGenerator,
  writeImageGrid,
} from './sample';
export {
  registerTinyPlugins,
  tinyDenseDecoder,
  tinyDenseEncoder,
  tinyManifoldDataset,
  tinyMlpSecondStage,
  tinyPlugins,
} from './tiny';
export {
  type EncodedDataset,
  type EpochMetrics,
  encodeDataset,
  type LoopState,
  type Stage1Diagnostics,
  type StageResult,
  type StageTrainOptions,
  type StepTerms,
  stage1Diagnostics,
  trainStage1,
  trainStage2,
} from './train';
export {
  BUILTIN_STAGE1_FACTORY,
  builtinStage1Factory,
  composeStage1Vae,
  defaultStage1Factory,
  defaultStage1FactoryName,
  type GammaConvention,
  LAYERS_STAGE1_FACTORY,
  type Likelihood,
  type Stage1Factory,
  type Stage1LossTerms,
  type Stage1Model,
  type Stage1Spec,
  stage1FactoryFor,
  stage1FactoryName,
} from './vae';
