/**
 * @packageDocumentation
 * Comparison studies of tsvae's generative models, and the reference for building your own app
 * on tsvae's public APIs: a study file (dataset, models with budgets and config overrides, seeds,
 * the evaluation protocol) becomes cells (model x seed), each a normal `tsvae train` run directory
 * trained in its own worker process; every finished cell is evaluated with `@tsvae/metrics`'
 * `evaluate()`; the results (each trial, each model's mean ± std over seeds) go to results.json,
 * summary.md and a self-contained report.html (charts from `@tsvae/report`). Runs resume where
 * they stopped. The `tsvae-compare` command ({@link main}) is also `tsvae compare`.
 */
import '@tsvae/datasets';
import '@tsvae/baselines';
import '@tsvae/priors';
import '@tsvae/metrics';

export {
  type CellJobStatus,
  cancelStudy,
  cellsDigest,
  collectStudy,
  JOBS_FORMAT,
  type JobRecord,
  type JobsFile,
  type RunTaskOptions,
  readJobs,
  resolveCompareCli,
  runTask,
  type SubmitStudyOptions,
  type SubmitStudyResult,
  studyStatus,
  submitStudy,
} from './batch';
export {
  type BatchExecutor,
  type BatchSubmission,
  type BatchSubmitRequest,
  type BatchTaskState,
  SubmissionError,
} from './batch-types';
export {
  checkEvaluation,
  type EvaluateCellOptions,
  evaluateCell,
  evaluationOptions,
  extractorConfigs,
} from './evaluate-cell';
export {
  type CellExit,
  type CellTask,
  defaultJobs,
  type Executor,
  type ExecutorCallbacks,
  type JobsChoice,
  type LocalExecutorOptions,
  localExecutor,
  resolveTsvaeCli,
  type TrainEvent,
} from './executor';
export {
  createExecutor,
  EXECUTOR_KIND,
  isBatchExecutor,
  localExecutorSchema,
  registerExecutorPlugins,
  slurmExecutorSchema,
} from './executors';
export { buildProgram, describePlan, main, processIO, studyDir } from './main';
export {
  CELL_FORMAT,
  type Cell,
  type CellAction,
  type CellAttempt,
  type CellEvaluationRecord,
  type CellState,
  type CellStatus,
  cellId,
  describeBudget,
  emptyStatus,
  evaluationKey,
  latestPosition,
  type PlanOptions,
  planCell,
  planStudy,
  type StudyPlan,
  writeStatus,
} from './plan';
export {
  epochsDone,
  jsonStudyProgress,
  type ProgressStream,
  type StudyProgress,
  ttyStudyProgress,
} from './progress';
export {
  type PublishedFid,
  publishedFid,
  TABLE1,
  TABLE1_DATASETS,
  TABLE1_SOURCE,
  table1Order,
} from './published';
export { renderReport, reportHtml, type StudyReport, summaryMarkdown } from './report';
export {
  type CellMetrics,
  type CellResult,
  collectResults,
  type ModelMetrics,
  type ModelResult,
  PRDC_KEYS,
  RESULTS_FORMAT,
  type StudyResults,
  studyVersions,
} from './results';
export {
  CompareError,
  checkStudy,
  prepareStudy,
  type RunStudyOptions,
  type RunStudyResult,
  runStudy,
} from './run';
export {
  arrayList,
  batchScript,
  parseArrayList,
  parseSacct,
  parseScontrol,
  type SlurmExecutorOptions,
  slurmExecutor,
} from './slurm';
export {
  cellOverrides,
  cellRunConfig,
  loadStudy,
  parseStudy,
  resolvePluginSpecifier,
  type Study,
  StudyError,
  type StudyEvaluation,
  type StudyInput,
  type StudyIssue,
  type StudyModel,
  studySchema,
} from './study';
