/**
 * The cells of a study (one per model and seed), where each stands on disk, and what running the
 * study would do with it. Every cell is a normal tsvae run directory, `<dir>/runs/<cell>/`; its
 * status file (`<dir>/cells/<cell>.json`) records attempts, errors and the evaluation, and its
 * training output goes to `<dir>/cells/<cell>.log`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readJsonFile, writeJsonAtomic } from '@tsvae/core/node';
import type { EvaluationReport, GeneratorEvaluation } from '@tsvae/metrics';
import { type CheckpointManifest, RunDirectory, scanCheckpoints, type TrainingPosition } from '@tsvae/stages';
import { shortHash, stableJson } from './stable';
import { cellOverrides, cellRunConfig, type Study, type StudyModel } from './study';

/** The format tag of a cell's status file. */
export const CELL_FORMAT = 'tsvae-compare-cell/1';

/** One start of a cell's training process. */
export interface CellAttempt {
  readonly startedAt: string;
  readonly resume: boolean;
  readonly pid: number | null;
  /** The tfjs backend the process reported (its `start` line), if it got that far. */
  readonly backend: string | null;
  /** Wall seconds the process ran. */
  readonly seconds: number;
  readonly outcome: 'completed' | 'interrupted' | 'failed';
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly error: string | null;
}

/** A cell's evaluation as its status file keeps it. */
export interface CellEvaluationRecord {
  /** {@link evaluationKey} of the protocol it was computed under. */
  readonly key: string;
  /** The checkpoint evaluated. */
  readonly checkpoint: string;
  readonly createdAt: string;
  readonly seconds: number;
  readonly extractors: EvaluationReport['extractors'];
  readonly skipped: EvaluationReport['skipped'];
  readonly protocol: EvaluationReport['protocol'];
  /** One row per extractor (the generator is the cell's model id). */
  readonly results: readonly GeneratorEvaluation[];
}

/** The status file of a cell (`<dir>/cells/<cell>.json`), written atomically. */
export interface CellStatus {
  readonly format: typeof CELL_FORMAT;
  readonly cell: string;
  readonly model: string;
  readonly modelId: string;
  readonly seed: number;
  readonly runDir: string;
  readonly attempts: readonly CellAttempt[];
  /** The last failure, by phase; null once the phase succeeded again. */
  readonly error: {
    readonly phase: 'training' | 'evaluation';
    readonly message: string;
    readonly at: string;
  } | null;
  readonly evaluation: CellEvaluationRecord | null;
  readonly updatedAt: string;
}

/**
 * Where a cell stands:
 * - `pending`: never trained; `interrupted`: a run with a checkpoint before its end;
 * - `trained`: training finished, evaluation missing (or under another protocol or checkpoint);
 * - `done`: trained and evaluated under this study's protocol;
 * - `failed`: its last attempt failed (`detail` says how; running the study retries it: it
 *   resumes from the last checkpoint, or evaluates again);
 * - `stale`: its run directory holds a run with another config than the study now asks for.
 */
export type CellState = 'pending' | 'interrupted' | 'trained' | 'done' | 'failed' | 'stale';

/** What running the study does with a cell. */
export type CellAction = 'train' | 'resume' | 'evaluate' | 'none';

/** One cell of a study: a model and a seed, its run directory, state and next action. */
export interface Cell {
  /** `<model id>-seed<seed>`. */
  readonly id: string;
  readonly model: StudyModel;
  readonly seed: number;
  readonly runDir: string;
  readonly statusFile: string;
  readonly logFile: string;
  /** The config overrides file passed to `tsvae train --config` (null when none are needed). */
  readonly overridesFile: string | null;
  readonly overrides: Readonly<Record<string, unknown>>;
  /** The run config the cell trains (as `tsvae train` makes it) and its trainer. */
  readonly trainer: string;
  readonly config: unknown;
  /** {@link evaluationKey} of the cell's protocol. */
  readonly evaluationKey: string;
  readonly state: CellState;
  readonly action: CellAction;
  /** One line: where training stands, or the error. */
  readonly detail: string;
  /** The last good checkpoint and its position (null before the first). */
  readonly checkpoint: string | null;
  readonly position: TrainingPosition | null;
  readonly status: CellStatus | null;
  /** The `tsvae` arguments of the next training step (empty when there is none). */
  readonly command: readonly string[];
}

/** A study's cells, in study order (models, then seeds). */
export interface StudyPlan {
  readonly study: Study;
  readonly dir: string;
  readonly cells: readonly Cell[];
}

/** Options that reach every training process. */
export interface PlanOptions {
  /** Plugin module specifiers (the study's and the command line's). */
  readonly plugins?: readonly string[];
  /** The backend the workers use (`--backend`); default: theirs (automatic). */
  readonly backend?: string;
}

/** The cell name of a model and seed. */
export function cellId(model: Pick<StudyModel, 'id'>, seed: number): string {
  return `${model.id}-seed${seed}`;
}

/**
 * A short hash of what decides a cell's numbers besides its weights: the evaluation protocol, the
 * dataset and the sampling mode. A cell evaluated under another key is evaluated again.
 */
export function evaluationKey(study: Study, mode: string): string {
  const { cacheDir: _where, inceptionWeights: _file, ...protocol } = study.evaluation;
  return shortHash(stableJson({ protocol, dataset: study.dataset, mode }));
}

function readStatus(file: string): CellStatus | null {
  if (!existsSync(file)) return null;
  try {
    const s = readJsonFile(file) as Partial<CellStatus> | null;
    return s && s.format === CELL_FORMAT && Array.isArray(s.attempts) ? (s as CellStatus) : null;
  } catch {
    return null; // a damaged status file is rebuilt from the run directory
  }
}

/** Writes a cell's status file atomically. */
export function writeStatus(cell: Pick<Cell, 'statusFile'>, status: CellStatus): void {
  writeJsonAtomic(cell.statusFile, status);
}

/** A fresh status record of a cell (no attempts yet). */
export function emptyStatus(cell: Pick<Cell, 'id' | 'model' | 'seed' | 'runDir'>): CellStatus {
  return {
    format: CELL_FORMAT,
    cell: cell.id,
    model: cell.model.name,
    modelId: cell.model.id,
    seed: cell.seed,
    runDir: cell.runDir,
    attempts: [],
    error: null,
    evaluation: null,
    updatedAt: new Date().toISOString(),
  };
}

/** The last good checkpoint of a run and its position (null: none yet). */
export function latestPosition(runDir: string): { checkpoint: string; position: TrainingPosition } | null {
  const { good } = scanCheckpoints(new RunDirectory(runDir).checkpointsDir);
  const last = good.at(-1);
  if (!last) return null;
  const manifest = readJsonFile(join(last.path, 'manifest.json')) as CheckpointManifest;
  return { checkpoint: last.path, position: manifest.position };
}

/** Where a run's last checkpoint stands, in words (`checkpoint in epoch 3 (step 59)`, `stage 2: ...`). */
function where(p: TrainingPosition, model: StudyModel): string {
  if (p.stage === 'done') return 'finished';
  const stage = model.family === 'two-stage' ? `stage ${p.stage === 'stage2' ? 2 : 1}: ` : '';
  return p.step > 0
    ? `${stage}checkpoint in epoch ${p.epoch + 1} (step ${p.step})`
    : `${stage}checkpoint after epoch ${p.epoch}`;
}

/** `tsvae train` options every cell's process gets. */
function commonArgs(options: PlanOptions): string[] {
  return [
    '--no-eval',
    '--json',
    ...(options.backend ? ['--backend', options.backend] : []),
    ...(options.plugins ?? []).flatMap((p) => ['--plugins', p]),
  ];
}

/** The `tsvae train` arguments that start a cell from scratch. */
function trainArgs(cell: Omit<Cell, 'command'>, study: Study, options: PlanOptions): string[] {
  const { budget } = cell.model;
  return [
    'train',
    '--model',
    cell.model.name,
    '--dataset',
    study.dataset.name,
    '--preset',
    cell.model.preset,
    '--seed',
    String(cell.seed),
    ...(budget.epochs !== undefined ? ['--epochs', String(budget.epochs)] : []),
    ...(budget.stage1Epochs !== undefined ? ['--stage1-epochs', String(budget.stage1Epochs)] : []),
    ...(budget.stage2Epochs !== undefined ? ['--stage2-epochs', String(budget.stage2Epochs)] : []),
    ...(cell.overridesFile ? ['--config', cell.overridesFile] : []),
    '--run-dir',
    cell.runDir,
    ...commonArgs(options),
  ];
}

/** The overrides a cell passes through `--config`: the model's config and the dataset's. */
function configOverrides(study: Study, model: StudyModel, seed: number): Record<string, unknown> {
  const { seed: _seed, ...rest } = cellOverrides(study, model, seed);
  // the budget goes through --epochs / --stage1-epochs / --stage2-epochs: leave it out here
  const strip = (o: unknown, key: string): unknown => {
    if (typeof o !== 'object' || o === null) return o;
    const { [key]: _drop, ...keep } = o as Record<string, unknown>;
    return keep;
  };
  const out: Record<string, unknown> = { ...rest };
  if (model.family === 'gan') delete out['epochs'];
  else {
    out['stage1'] = strip(out['stage1'], 'epochs');
    if (model.family === 'two-stage') out['stage2'] = strip(out['stage2'], 'epochs');
  }
  for (const k of ['stage1', 'stage2']) {
    const v = out[k];
    if (typeof v === 'object' && v !== null && Object.keys(v).length === 0) delete out[k];
  }
  const ds = out['dataset'] as { config?: Record<string, unknown>; subset?: number } | undefined;
  if (ds && Object.keys(ds.config ?? {}).length === 0 && Object.keys(ds).length === 1) delete out['dataset'];
  return out;
}

/**
 * One cell of a study in `dir`: its run config, where it stands on disk and what running the study
 * would do next (nothing is written). A cell whose run directory holds a run with another config
 * (the study file was edited since) is `stale`: running refuses it.
 */
export function planCell(
  study: Study,
  dir: string,
  model: StudyModel,
  seed: number,
  options: PlanOptions = {},
): Cell {
  const key = evaluationKey(study, model.mode);
  const id = cellId(model, seed);
  const runDir = join(dir, 'runs', id);
  const statusFile = join(dir, 'cells', `${id}.json`);
  const { trainer, config } = cellRunConfig(study, model, seed);
  const overrides = configOverrides(study, model, seed);
  const status = readStatus(statusFile);
  const run = new RunDirectory(runDir);
  const at = run.holdsRun() ? latestPosition(runDir) : null;
  let state: CellState;
  let action: CellAction;
  let detail: string;
  if (run.holdsRun()) {
    const record = run.readRecord();
    if (record.trainer !== trainer || stableJson(record.config) !== stableJson(config)) {
      state = 'stale';
      action = 'none';
      detail = `${runDir} holds a run with another config than the study asks for now (the study changed?): move it away to retrain, or restore the study`;
    } else if (at?.position.stage === 'done') {
      const ev = status?.evaluation;
      if (ev && ev.key === key && ev.checkpoint === at.checkpoint) {
        state = 'done';
        action = 'none';
        detail = 'trained and evaluated';
      } else {
        state = status?.error?.phase === 'evaluation' ? 'failed' : 'trained';
        action = 'evaluate';
        detail =
          state === 'failed'
            ? `evaluation failed: ${status?.error?.message}`
            : ev
              ? 'trained; evaluated under another protocol or checkpoint: evaluating again'
              : 'trained, not evaluated';
      }
    } else {
      state = status?.error?.phase === 'training' ? 'failed' : 'interrupted';
      action = 'resume';
      const pos = at ? where(at.position, model) : 'no checkpoint yet';
      detail = state === 'failed' ? `${status?.error?.message} (${pos})` : pos;
    }
  } else {
    state = status?.error ? 'failed' : 'pending';
    action = 'train';
    detail = status?.error ? status.error.message : 'not started';
  }
  const base = {
    id,
    model,
    seed,
    runDir,
    statusFile,
    logFile: join(dir, 'cells', `${id}.log`),
    overridesFile: Object.keys(overrides).length ? join(dir, 'cells', `${id}.config.json`) : null,
    overrides,
    trainer,
    config,
    evaluationKey: key,
    state,
    action,
    detail,
    checkpoint: at?.checkpoint ?? null,
    position: at?.position ?? null,
    status,
  };
  const command =
    action === 'train'
      ? trainArgs(base, study, options)
      : action === 'resume'
        ? ['train', '--resume', runDir, ...commonArgs(options)]
        : [];
  return { ...base, command };
}

/** The plan of a study in `dir` ({@link planCell} of every model and seed, in study order). */
export function planStudy(study: Study, dir: string, options: PlanOptions = {}): StudyPlan {
  const abs = resolve(dir);
  return {
    study,
    dir: abs,
    cells: study.models.flatMap((model) =>
      study.seeds.map((seed) => planCell(study, abs, model, seed, options)),
    ),
  };
}

/** A cell's budget in words (`stage 1: 5 + stage 2: 20 epochs`, `5 epochs`). */
export function describeBudget(model: StudyModel): string {
  const b = model.budget;
  return model.family === 'two-stage'
    ? `stage 1: ${b.stage1Epochs} + stage 2: ${b.stage2Epochs} epochs`
    : `${b.epochs} epoch${b.epochs === 1 ? '' : 's'}`;
}
