/**
 * Further second stages of a finished stage 1: `fitSecondStage` trains (or fits) another second
 * stage on a run's stage 1 and keeps it in `<run>/stage2-<name>/`, a run directory of its own,
 * resumable and locked like a run; `loadRun(run, { stage2: name })` loads it.
 */

import { dirname } from 'node:path';
import { type Logger, type NamedWeight, silentLogger, type TrainingCallback } from '@tsvae/core';
import { hashBytes } from '@tsvae/core/node';
import { z } from 'zod';
import type { ComponentRecord, LoadedCheckpoint, PartialEpoch, TrainingPosition } from './checkpoint';
import { createModels, type RunModels, readVaeRecord, resolveSecondStage } from './components';
import { seedSchema } from './config';
import { stepsPerEpoch } from './data';
import { RunDirectoryError } from './errors';
import {
  createStageOptimizer,
  optimizerCheckpoint,
  restoreOptimizer,
  type StageOptimizer,
} from './optimizer';
import { type EpochMetrics, RunDirectory, type RunEnvironment, type RunRecord } from './run-dir';
import { assertNoRun, createRun, loadNewestCheckpoint, newRunRecord, RunWriter, resumeRun } from './session';
import { encodeDataset, fitStage2, type LoopState, trainStage2 } from './train';
import { loadTrainingData, STAGES_VERSION } from './train-run';

/** The `trainer` of a further second stage's `config.json`. */
export const SECOND_STAGE_TRAINER = 'second-stage';

const secondStageRunConfigSchema = z
  .object({
    /** The name: the directory is `<run>/stage2-<name>/`. */
    name: z.string().min(1),
    /** The stage 1 it was fitted on: the parent run's checkpoint then, and a digest of its stage-1 weights. */
    stage1: z.object({ checkpoint: z.string(), digest: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    epochs: z.number().int().min(0),
    lr: z.number().positive().finite(),
    lrEpochs: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    seed: seedSchema,
    checkpoint: z
      .object({ everyEpochs: z.number().int().positive(), keep: z.number().int().positive() })
      .strict(),
  })
  .strict();

/** The config of a further second stage, as its `config.json` records it. */
export type SecondStageRunConfig = z.output<typeof secondStageRunConfigSchema>;

/** The `config.json` of a further second stage (component `secondStage`). */
export type SecondStageRunRecord = RunRecord<SecondStageRunConfig> & {
  readonly components: { readonly secondStage: ComponentRecord };
};

/** Reads a further second stage's `config.json` (errors name the file and the field). */
export function readSecondStageRecord(dir: RunDirectory): SecondStageRunRecord {
  return dir.readRecordOf(SECOND_STAGE_TRAINER, (c) => secondStageRunConfigSchema.parse(c), [
    'secondStage',
  ]) as SecondStageRunRecord;
}

/** SHA-256 over the names, shapes, dtypes and bytes of `weights` (in order). */
export function weightsDigest(weights: readonly NamedWeight[]): string {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const w of weights) {
    parts.push(enc.encode(`${w.name}|${w.tensor.dtype}|${w.tensor.shape.join(',')}\n`));
    const d = w.tensor.dataSync() as Float32Array | Int32Array | Uint8Array;
    parts.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return hashBytes(all);
}

/**
 * The newest good checkpoint of a run whose stage 1 is finished (damaged ones skipped with a
 * warning); throws naming the run otherwise. The caller disposes it.
 */
export function loadStage1Checkpoint(dir: RunDirectory, logger: Logger): LoadedCheckpoint {
  const checkpoint = loadNewestCheckpoint(dir, logger);
  if (checkpoint.manifest.position.stage === 'stage1') {
    const at = checkpoint.manifest.position;
    checkpoint.dispose();
    throw new RunDirectoryError(
      `stage 1 of ${dir.path} has not finished (its last checkpoint is at stage1 epoch ${at.epoch}): finish it first (tsvae train --resume ${dir.path})`,
      dir.checkpointsDir,
    );
  }
  return checkpoint;
}

/** Checks that a further second stage was fitted on the stage 1 of `checkpoint`. */
export function checkStage1(
  record: SecondStageRunRecord,
  checkpoint: LoadedCheckpoint,
  subDir: string,
): void {
  const digest = weightsDigest(checkpoint.group('stage1/'));
  if (digest !== record.config.stage1.digest) {
    throw new RunDirectoryError(
      `${subDir} was fitted on another stage 1 (the run's stage-1 weights changed since ${record.config.stage1.checkpoint}); fit it again under another name`,
      subDir,
    );
  }
}

/** Options of {@link fitSecondStage}. */
export interface FitSecondStageOptions {
  /** The run whose stage 1 is used (finished). */
  readonly runDir: string;
  /**
   * The second stage: plugin name (kind `second-stage`) and its config (`latentDim` is the run's).
   * Required for a new one; ignored when resuming (the recorded one is used).
   */
  readonly secondStage?: { readonly name: string; readonly config?: Readonly<Record<string, unknown>> };
  /** The name: `<run>/stage2-<name>/` (default: the plugin name). */
  readonly name?: string;
  /** Epochs (gradient training) — default the run's `stage2.epochs`; 0 trains nothing. A fitted model (`fit`) ignores it unless 0. */
  readonly epochs?: number;
  /** Learning rate (default the run's `stage2.lr`). */
  readonly lr?: number;
  /** Halve the learning rate every this many epochs (default the run's `stage2.lrEpochs`). */
  readonly lrEpochs?: number;
  /** Batch size (default the run's). */
  readonly batchSize?: number;
  /**
   * Seed of the second stage's initial weights, batches, noise and fit (default the run's): the
   * same seeds as the run's own stage 2, so the run's own second stage refitted here is identical.
   */
  readonly seed?: number;
  /** Continue `<run>/stage2-<name>/` from its last good checkpoint (`name` required). */
  readonly resume?: boolean;
  readonly logger?: Logger;
  readonly callbacks?: readonly TrainingCallback[];
  /** Abort: checkpoint (gradient training) and return `status: 'aborted'`; an aborted fit runs again on resume. */
  readonly signal?: AbortSignal;
  readonly environment?: RunEnvironment;
}

/** How {@link fitSecondStage} ended. */
export interface FitSecondStageResult {
  readonly status: 'completed' | 'aborted';
  /** The run whose stage 1 was used. */
  readonly runDir: string;
  /** `<run>/stage2-<name>/`. */
  readonly dir: string;
  readonly name: string;
  readonly lastCheckpoint: string | null;
  /** Every record of its `metrics.jsonl`. */
  readonly metrics: readonly EpochMetrics[];
}

const settingsSchema = z
  .object({
    epochs: z.number().int().min(0),
    lr: z.number().positive().finite(),
    lrEpochs: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    seed: seedSchema,
  })
  .strict();

/**
 * Trains or fits another second stage on the finished stage 1 of a run and keeps it in
 * `<run>/stage2-<name>/` (`RunDirectory.secondStageDir`): its own `config.json` (trainer
 * `second-stage`: the component record, the settings, and a digest of the stage-1 weights it was
 * fitted on), `metrics.jsonl` and `checkpoints/` (weights `stage2/...`). The codes are the run's
 * training split (its `subset`) encoded by its stage 1 exactly as `trainTwoStage` encodes them; a
 * model with `fit` (e.g. `gmm`) is fitted, any other trained by the gradient loop with fresh codes
 * `mu + sigma * eps` every step. Everything is validated before anything is written; the directory
 * is locked while it is written; `resume` continues from the last good checkpoint exactly. The run
 * itself is only read. Load the result with `loadRun(run, { stage2: name })`.
 */
export async function fitSecondStage(options: FitSecondStageOptions): Promise<FitSecondStageResult> {
  const logger = options.logger ?? silentLogger;
  const parent = new RunDirectory(options.runDir);
  const record = readVaeRecord(parent);
  const name = options.name ?? options.secondStage?.name;
  if (!name) throw new TypeError('fitSecondStage: give `name` (and, for a new one, `secondStage`)');
  const sub = new RunDirectory(parent.secondStageDir(name));
  let sr: SecondStageRunRecord | null = null;
  if (options.resume) {
    sr = readSecondStageRecord(sub);
  } else {
    if (!options.secondStage)
      throw new TypeError('fitSecondStage: `secondStage` ({ name, config }) is required');
    assertNoRun(sub, 'a second stage', 'resume it or choose another name');
  }
  const stage1Ckpt = loadStage1Checkpoint(parent, logger);
  let models: RunModels | undefined;
  let resumeFrom: LoadedCheckpoint | null = null;
  let lock: { release(): void } | undefined;
  try {
    let component: ComponentRecord;
    let config: SecondStageRunConfig;
    if (sr) {
      checkStage1(sr, stage1Ckpt, sub.path);
      component = sr.components.secondStage;
      config = sr.config;
    } else {
      component = resolveSecondStage(record.config, options.secondStage as { name: string });
      const s2 = record.config.stage2;
      const settings = settingsSchema.parse({
        epochs: options.epochs ?? s2.epochs,
        lr: options.lr ?? s2.lr,
        lrEpochs: options.lrEpochs ?? s2.lrEpochs,
        batchSize: options.batchSize ?? record.config.batchSize,
        seed: options.seed ?? record.config.seed,
      });
      config = {
        name,
        stage1: {
          checkpoint: stage1Ckpt.path.slice(parent.path.length + 1),
          digest: weightsDigest(stage1Ckpt.group('stage1/')),
        },
        ...settings,
        checkpoint: { ...record.config.checkpoint },
      };
    }
    models = await createModels(
      { stage1: record.components.stage1, secondStage: component },
      config.seed,
      logger,
    );
    models.stage1.setWeights(stage1Ckpt.group('stage1/'));
    const data = await loadTrainingData(record.components, record.config, logger);
    const fitted = Boolean(models.secondStage.fit) && config.epochs > 0;
    if (!fitted && config.epochs > 0 && stepsPerEpoch(data.size, config.batchSize) === 0) {
      throw new RangeError(
        `batchSize ${config.batchSize} is larger than the ${data.size} training examples: the second stage would have no batch; lower the batch size`,
      );
    }
    if (sr) {
      const point = resumeRun(sub, logger);
      lock = point.lock;
      resumeFrom = point.checkpoint;
      if (resumeFrom) models.secondStage.setWeights(resumeFrom.group('stage2/'));
    } else {
      const created: SecondStageRunRecord = newRunRecord(
        SECOND_STAGE_TRAINER,
        config,
        { secondStage: component },
        { environment: options.environment, versions: { '@tsvae/stages': STAGES_VERSION } },
      );
      lock = createRun(sub, created, 'a second stage');
    }
    const codes = encodeDataset(models.stage1, data, { batchSize: Math.max(record.config.batchSize, 256) });
    const session = new SubSession(sub, config, models, resumeFrom, options);
    resumeFrom = null; // owned by the session now
    try {
      const status = await session.run(codes, fitted);
      return {
        status,
        runDir: parent.path,
        dir: sub.path,
        name,
        lastCheckpoint: session.lastCheckpoint,
        metrics: session.metrics,
      };
    } finally {
      session.close();
    }
  } finally {
    resumeFrom?.dispose();
    stage1Ckpt.dispose();
    models?.dispose();
    lock?.release();
  }
}

/** Training state of one {@link fitSecondStage} call in `<run>/stage2-<name>/`. */
class SubSession {
  readonly metrics: EpochMetrics[];
  private readonly writer: RunWriter;
  private position: TrainingPosition;
  private resumeFrom: LoadedCheckpoint | null;

  constructor(
    readonly dir: RunDirectory,
    readonly config: SecondStageRunConfig,
    readonly models: RunModels,
    checkpoint: LoadedCheckpoint | null,
    readonly options: FitSecondStageOptions,
  ) {
    this.resumeFrom = checkpoint;
    this.writer = new RunWriter(dir, {
      keep: config.checkpoint.keep,
      resumeCommand: `tsvae fit-stage2 ${dirname(dir.path)} --name ${config.name} --resume`,
      lastCheckpoint: checkpoint?.path ?? null,
      logger: this.logger,
    });
    this.position = checkpoint?.manifest.position ?? { stage: 'stage2', epoch: 0, step: 0 };
    const pos = this.position;
    this.metrics = dir.readMetrics().filter((m) => pos.stage === 'done' || m.epoch <= pos.epoch);
    this.write();
  }

  private get logger(): Logger {
    return this.options.logger ?? silentLogger;
  }

  get lastCheckpoint(): string | null {
    return this.writer.lastCheckpoint;
  }

  private write(): void {
    this.writer.writeMetrics(this.metrics);
  }

  private async save(
    position: TrainingPosition,
    optimizer?: StageOptimizer,
    partial: PartialEpoch | null = null,
  ): Promise<string> {
    const weights = this.models.secondStage
      .getWeights()
      .map((w) => ({ name: `stage2/${w.name}`, tensor: w.tensor }));
    const opt = optimizer ? await optimizerCheckpoint(optimizer) : null;
    try {
      const path = await this.writer.checkpoint({
        position,
        partial,
        optimizer: opt ? { stage: 'stage2', state: { ...opt.meta } } : null,
        weights: [...weights, ...(opt?.weights ?? [])],
      });
      this.position = position;
      return path;
    } finally {
      opt?.dispose();
    }
  }

  async run(codes: ReturnType<typeof encodeDataset>, fitted: boolean): Promise<'completed' | 'aborted'> {
    if (this.position.stage === 'done') {
      this.logger.info('this second stage is already done', { dir: this.dir.path });
      return 'completed';
    }
    const model = this.models.secondStage;
    const signal = this.options.signal ? { signal: this.options.signal } : {};
    if (fitted) {
      this.resumeFrom?.dispose();
      this.resumeFrom = null;
      const r = await fitStage2(model, codes, {
        seed: this.config.seed,
        logger: this.logger,
        callbacks: this.options.callbacks ?? [],
        ...signal,
        onMetrics: (records) => {
          this.metrics.push(...records);
          this.write();
        },
        checkpoint: () => this.save({ stage: 'done', epoch: 0, step: 0 }),
      });
      return r.status;
    }
    const c = this.config;
    const optimizer = createStageOptimizer(c.lr);
    try {
      const ckpt = this.resumeFrom;
      this.resumeFrom = null;
      if (ckpt) {
        try {
          if (ckpt.manifest.optimizer?.stage === 'stage2') {
            await restoreOptimizer(optimizer, ckpt.weights, ckpt.manifest.optimizer.state);
          }
        } finally {
          ckpt.dispose();
        }
      }
      const pos = this.position;
      const r = await trainStage2(model, codes, {
        epochs: c.epochs,
        batchSize: c.batchSize,
        lr: c.lr,
        lrEpochs: c.lrEpochs,
        seed: c.seed,
        optimizer,
        start: { epoch: pos.epoch, step: pos.step, partial: ckpt?.manifest.partial ?? null },
        logger: this.logger,
        callbacks: this.options.callbacks ?? [],
        checkpoint: (s: LoopState) =>
          this.save({ stage: 'stage2', epoch: s.epoch, step: s.step }, s.optimizer, s.partial),
        checkpointEvery: c.checkpoint.everyEpochs,
        lastCheckpoint: this.lastCheckpoint,
        onEpochMetrics: (m) => {
          this.metrics.push(m);
          this.write();
        },
        ...signal,
      });
      if (r.status === 'completed') await this.save({ stage: 'done', epoch: 0, step: 0 });
      return r.status;
    } finally {
      optimizer.dispose();
    }
  }

  close(): void {
    this.resumeFrom?.dispose();
    this.resumeFrom = null;
  }
}
