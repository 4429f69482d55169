/**
 * @packageDocumentation
 * FID, KID, precision / recall / density / coverage for tsvae: float64 statistics, a float64
 * symmetric eigensolver, pytorch-fid's `.npz` statistics layout, k-NN metrics computed a block at a
 * time, an exact tfjs port of the FID Inception network (weights read from
 * pytorch-fid's `.pth`), feature-extractor plugins (`inception-fid`, `classifier`) that declare
 * when they can run, and `evaluate()`: one call from generators and a dataset to the report.
 * Importing the package registers the plugins in `@tsvae/core`'s registry.
 */
export {
  CLASSIFIER_FEATURE_DIM,
  ClassifierFeatureExtractor,
  type ClassifierWeights,
  FeatureClassifier,
  type TrainClassifierOptions,
  trainClassifier,
} from './classifier';
export { energyDistance, euclidean, type RowDistance, torusDistance } from './energy';
export { EvaluationError, type EvaluationErrorInit } from './errors';
export {
  DEFAULT_METRICS,
  type EvaluateOptions,
  type EvaluationProgress,
  type EvaluationProtocolOptions,
  evaluateGenerators,
  type FeatureOptions,
  type GeneratedFeatureOptions,
  type GeneratorEvaluation,
  generatorFeatures,
  METRIC_NAMES,
  type MeanStd,
  type MetricName,
  type PrdcValues,
  prepareGenerated,
  resolveMetrics,
  splitFeatures,
  type TrialResult,
} from './evaluate';
export {
  type EvaluatedExtractor,
  type EvaluationOptions,
  type EvaluationReport,
  type EvaluationStart,
  evaluate,
} from './evaluation';
export {
  type ChosenExtractor,
  type EvaluationExtractorPlugin,
  type ExtractorAvailability,
  type ExtractorEnvironment,
  type ExtractorSelection,
  hasAvailability,
  type SelectionEnvironment,
  type SkippedExtractor,
  selectExtractors,
} from './extractors';
export { type FidResult, fidFromFeatures, frechetDistance } from './fid';
export {
  type ExtractOptions,
  FidInception,
  type InceptionFeatures,
  type InceptionParams,
  InceptionWeightsError,
  inceptionConvSpecs,
  LOGITS_DIM,
  POOL3_DIM,
  type PreprocessOptions,
  paramsFromStateDict,
  preprocessImages,
  type ResizeMode,
} from './inception';
export { type KidOptions, type KidResult, kernelInceptionDistance, polynomialMmd2 } from './kid';
export { EigenError, type SymmetricEigen, symmetricEigen, traceSqrtProduct } from './linalg';
export {
  type NpyArray,
  type NpyData,
  type NpyDtype,
  NpyError,
  readNpy,
  readNpz,
  writeNpy,
  writeNpz,
} from './npy';
export {
  classifierPlugin,
  defaultClassifierPath,
  type InceptionExtractorOptions,
  InceptionFeatureExtractor,
  inceptionFidPlugin,
  metricsPlugins,
  registerMetricsPlugins,
} from './plugins';
export {
  knnRadii,
  type PrdcOptions,
  type PrdcResult,
  precisionRecallDensityCoverage,
} from './prdc';
export {
  type ReferenceCache,
  type ReferenceCacheOptions,
  type ReferenceRecord,
  referenceFeatureCache,
} from './reference-cache';
export {
  computeStatistics,
  type FeatureRows,
  type FeatureStatistics,
  StatisticsAccumulator,
  statisticsFromNpz,
  statisticsToNpz,
} from './stats';
export {
  readTorchCheckpoint,
  TorchCheckpointError,
  type TorchDtype,
  type TorchTensor,
} from './torch-checkpoint';
export {
  FID_WEIGHTS_FILE,
  FID_WEIGHTS_SHA256_PREFIX,
  FID_WEIGHTS_URL,
  type LoadWeightsOptions,
  loadConvertedParams,
  loadInceptionParams,
  localInceptionWeights,
  saveConvertedParams,
  WeightsDownloadError,
} from './weights';

import { registerMetricsPlugins } from './plugins';

registerMetricsPlugins();
