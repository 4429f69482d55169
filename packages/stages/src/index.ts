/**
 * @packageDocumentation
 * Two-stage training, encoding and sampling of the Two-Stage VAE (Dai & Wipf, ICLR 2019), with
 * resumable, locked run directories. Importing it registers `@tsvae/layers`' plugins (the default
 * `vae` stage 1, `infogan` networks and `mlp` second stage its configs name); register a dataset
 * plugin package (`@tsvae/datasets`) or your own. Small plugins and configs for tests are in
 * `@tsvae/stages/testing`.
 */
import '@tsvae/layers';

export {
  type CheckpointContent,
  type CheckpointEntry,
  type CheckpointManifest,
  type ComponentRecord,
  checkCheckpoint,
  type DamagedCheckpoint,
  type LoadedCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  loadLatestCheckpoint,
  type OptimizerRecord,
  type PartialEpoch,
  saveCheckpoint,
  scanCheckpoints,
  type TrainingPosition,
} from './checkpoint';
export {
  createModels,
  type RunComponents,
  type RunModels,
  readVaeRecord,
  resolveComponents,
  resolveSecondStage,
  VAE_TRAINER,
  type VaeRunRecord,
} from './components';
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
  seedSchema,
} from './config';
export { stepsPerEpoch } from './data';
export {
  NonFiniteLossError,
  RunConfigError,
  type RunConfigIssue,
  RunDirectoryError,
  RunInUseError,
} from './errors';
export {
  type HeldOutLikelihood,
  heldOutCodes,
  type LatentDiagnostics,
  type LatentDiagnosticsOptions,
  latentDiagnostics,
} from './latent';
export {
  type LoadedRun,
  type LoadedSecondStage,
  type LoadRunOptions,
  loadRun,
  vaeRunGenerator,
} from './load-run';
export { type ModelInfo, VAE_MODELS, vaeModelConfig, vaeSamplingModes } from './models';
export {
  createStageOptimizer,
  optimizerCheckpoint,
  restoreOptimizer,
  type StageOptimizer,
} from './optimizer';
export {
  describeIssues,
  type EpochMetrics,
  RunDirectory,
  type RunEnvironment,
  type RunLock,
  type RunRecord,
  SECOND_STAGE_NAME,
} from './run-dir';
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
  type FitSecondStageOptions,
  type FitSecondStageResult,
  fitSecondStage,
  readSecondStageRecord,
  SECOND_STAGE_TRAINER,
  type SecondStageRunConfig,
  type SecondStageRunRecord,
} from './second-stage';
export {
  assertNoRun,
  createRun,
  loadNewestCheckpoint,
  type NewRunRecordOptions,
  newRunRecord,
  type ResumePoint,
  RunWriter,
  type RunWriterOptions,
  resumeRun,
} from './session';
export {
  type EncodedDataset,
  encodeDataset,
  fitStage2,
  type LoopState,
  type Stage1Diagnostics,
  type StageFitOptions,
  type StageFitResult,
  type StageResult,
  type StageTrainOptions,
  type StepTerms,
  stage1Diagnostics,
  trainStage1,
  trainStage2,
} from './train';
export {
  STAGES_VERSION,
  type TrainTwoStageOptions,
  type TrainTwoStageResult,
  trainTwoStage,
  validateRun,
} from './train-run';
