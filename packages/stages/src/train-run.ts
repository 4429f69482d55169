/**
 * `trainTwoStage`: the Two-Stage VAE's training in a run directory, as the paper runs it —
 * stage 1, its sample grids, the encoded training set, stage 2, the final grids — resumable at any
 * point.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  create,
  type DataSplit,
  type Logger,
  type NamedWeight,
  silentLogger,
  subset,
  type TrainingCallback,
  toTensor,
} from '@tsvae/core';
import pkg from '../package.json' with { type: 'json' };
import type { LoadedCheckpoint, PartialEpoch, TrainingPosition } from './checkpoint';
import {
  createModels,
  type RunComponents,
  type RunModels,
  readVaeRecord,
  resolveComponents,
  VAE_TRAINER,
  type VaeRunRecord,
} from './components';
import { parseRunConfig, type RunConfig } from './config';
import { stepsPerEpoch } from './data';
import {
  createStageOptimizer,
  optimizerCheckpoint,
  restoreOptimizer,
  type StageOptimizer,
} from './optimizer';
import { type EpochMetrics, RunDirectory, type RunEnvironment, type RunLock } from './run-dir';
import { sampleOneStage, sampleTwoStage } from './sample';
import { assertNoRun, createRun, newRunRecord, RunWriter, resumeRun } from './session';
import {
  type EncodedDataset,
  encodeDataset,
  fitStage2,
  type LoopState,
  type StageResult,
  trainStage1,
  trainStage2,
} from './train';

/** The version of `@tsvae/stages`. */
export const STAGES_VERSION: string = pkg.version;

/** Options of {@link trainTwoStage}. */
export interface TrainTwoStageOptions {
  /** The run directory (created if needed). */
  readonly runDir: string;
  /** The run configuration (validated); ignored when resuming (the run's `config.json` is used). */
  readonly config?: unknown;
  /** Continue the run in `runDir` from its last good checkpoint. */
  readonly resume?: boolean;
  readonly logger?: Logger;
  readonly callbacks?: readonly TrainingCallback[];
  /** Abort to checkpoint and return `status: 'aborted'` (wire SIGINT / SIGTERM / SIGHUP to it). */
  readonly signal?: AbortSignal;
  readonly environment?: RunEnvironment;
}

/** How {@link trainTwoStage} ended. */
export interface TrainTwoStageResult {
  readonly status: 'completed' | 'aborted';
  readonly runDir: string;
  readonly lastCheckpoint: string | null;
  /** Every epoch's metrics so far (including those before a resume). */
  readonly metrics: readonly EpochMetrics[];
  /** Sample grids written (PNG paths). */
  readonly samples: readonly string[];
}

/**
 * Validates a run configuration as a run would, without training or writing anything: the config
 * itself, every plugin name, and every component config (strictly, including the stage-1 encoder's
 * and decoder's). Creates the dataset plugin to learn the image shape (cheap: no data is loaded).
 */
export async function validateRun(
  input: unknown,
  logger: Logger = silentLogger,
): Promise<{ config: RunConfig; components: RunComponents }> {
  const config = parseRunConfig(input);
  const dataset = await create('dataset', config.dataset.name, config.dataset.config, {
    context: { logger },
  });
  return { config, components: resolveComponents(config, dataset.shape) };
}

/** The training split of a run's dataset (first `subset` examples). */
export async function loadTrainingData(
  components: RunComponents,
  config: RunConfig,
  logger: Logger,
): Promise<DataSplit> {
  const dataset = await create('dataset', components.dataset.plugin, components.dataset.config, {
    context: { logger },
  });
  const split = await dataset.load('train');
  const n = config.dataset.subset;
  return n === undefined || n >= split.size ? split : subset(split, n);
}

function checkBatches(config: RunConfig, data: DataSplit): void {
  for (const stage of ['stage1', 'stage2'] as const) {
    if (config[stage].epochs > 0 && stepsPerEpoch(data.size, config.batchSize) === 0) {
      throw new RangeError(
        `batchSize ${config.batchSize} is larger than the ${data.size} training examples: ${stage} would have no batch; lower the batch size`,
      );
    }
  }
}

const STAGE_ORDER = { stage1: 0, stage2: 1, done: 2 } as const;

/** One training session on a run directory: the lock, the models, the data, where training stands. */
class RunSession {
  readonly metrics: EpochMetrics[];
  readonly writer: RunWriter;
  position: TrainingPosition;
  /** The checkpoint being resumed from, until its optimizer state is restored. */
  private resumeFrom: LoadedCheckpoint | null;

  constructor(
    readonly dir: RunDirectory,
    readonly config: RunConfig,
    readonly data: DataSplit,
    readonly models: RunModels,
    private readonly lock: RunLock,
    readonly options: TrainTwoStageOptions,
    checkpoint: LoadedCheckpoint | null,
  ) {
    this.resumeFrom = checkpoint;
    this.position = checkpoint?.manifest.position ?? { stage: 'stage1', epoch: 0, step: 0 };
    this.writer = new RunWriter(dir, {
      keep: config.checkpoint.keep,
      resumeCommand: `tsvae train --resume ${dir.path}`,
      lastCheckpoint: checkpoint?.path ?? null,
      logger: this.logger,
    });
    if (checkpoint) {
      models.stage1.setWeights(checkpoint.group('stage1/'));
      models.secondStage.setWeights(checkpoint.group('stage2/'));
    }
    const pos = this.position;
    this.metrics = dir
      .readMetrics()
      .filter(
        (m) =>
          STAGE_ORDER[m.stage] < STAGE_ORDER[pos.stage] || (m.stage === pos.stage && m.epoch <= pos.epoch),
      );
    this.writeMetrics();
  }

  get logger(): Logger {
    return this.options.logger ?? silentLogger;
  }

  get lastCheckpoint(): string | null {
    return this.writer.lastCheckpoint;
  }

  writeMetrics(): void {
    this.writer.writeMetrics(this.metrics);
  }

  /** Writes a checkpoint of the models (and of the active stage's optimizer) at `position`. */
  async save(
    position: TrainingPosition,
    state: { optimizer?: StageOptimizer; stage?: 'stage1' | 'stage2'; partial?: PartialEpoch | null } = {},
  ): Promise<string> {
    const { stage1, secondStage } = this.models;
    const weights: NamedWeight[] = [
      ...stage1.getWeights().map((w) => ({ name: `stage1/${w.name}`, tensor: w.tensor })),
      ...secondStage.getWeights().map((w) => ({ name: `stage2/${w.name}`, tensor: w.tensor })),
    ];
    const opt = state.optimizer ? await optimizerCheckpoint(state.optimizer) : null;
    try {
      const path = await this.writer.checkpoint({
        position,
        partial: state.partial ?? null,
        optimizer: opt && state.stage ? { stage: state.stage, state: { ...opt.meta } } : null,
        weights: [...weights, ...(opt?.weights ?? [])],
      });
      this.position = position;
      return path;
    } finally {
      opt?.dispose();
    }
  }

  /** A sample grid into `samples/<name>` (the images are disposed). */
  grid(name: string, images: tf.Tensor4D): void {
    this.writer.grid(name, images);
  }

  /**
   * Trains one stage from where the run stands, with its own Adam (restored from the checkpoint
   * when the run is resumed inside this stage). Returns how the stage ended.
   */
  async trainStage(
    stage: 'stage1' | 'stage2',
    train: (opts: Parameters<typeof trainStage1>[2]) => Promise<StageResult>,
  ): Promise<StageResult['status']> {
    const settings = this.config[stage];
    const optimizer = createStageOptimizer(settings.lr);
    try {
      const ckpt = this.resumeFrom;
      this.resumeFrom = null;
      if (ckpt) {
        try {
          if (ckpt.manifest.optimizer?.stage === stage) {
            await restoreOptimizer(optimizer, ckpt.weights, ckpt.manifest.optimizer.state);
          }
        } finally {
          ckpt.dispose();
        }
      }
      const pos = this.position;
      const r = await train({
        epochs: settings.epochs,
        batchSize: this.config.batchSize,
        lr: settings.lr,
        lrEpochs: settings.lrEpochs,
        seed: this.config.seed,
        optimizer,
        start: { epoch: pos.epoch, step: pos.step, partial: ckpt?.manifest.partial ?? null },
        logger: this.logger,
        callbacks: this.options.callbacks ?? [],
        checkpoint: (s: LoopState) =>
          this.save(
            { stage, epoch: s.epoch, step: s.step },
            { optimizer: s.optimizer, stage, partial: s.partial },
          ),
        checkpointEvery: this.config.checkpoint.everyEpochs,
        lastCheckpoint: this.lastCheckpoint,
        onEpochMetrics: (m) => {
          this.metrics.push(m);
          this.writeMetrics();
        },
        ...(this.options.signal ? { signal: this.options.signal } : {}),
        ...(stage === 'stage1'
          ? {
              diagnostics: {
                threshold: this.config.diagnostics.activeThreshold,
                samples: this.config.diagnostics.samples,
              },
            }
          : {}),
      });
      if (r.status === 'completed') {
        await this.save({ stage: stage === 'stage1' ? 'stage2' : 'done', epoch: 0, step: 0 });
      }
      return r.status;
    } finally {
      optimizer.dispose();
    }
  }

  /**
   * Fits a second stage that has `fit` (instead of {@link RunSession.trainStage}): one unit, its
   * records and the `done` checkpoint written after it; an interrupted fit keeps nothing and runs
   * again, identically, on resume.
   */
  async fitStage(codes: EncodedDataset): Promise<StageResult['status']> {
    this.resumeFrom?.dispose();
    this.resumeFrom = null;
    const r = await fitStage2(this.models.secondStage, codes, {
      seed: this.config.seed,
      logger: this.logger,
      callbacks: this.options.callbacks ?? [],
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      onMetrics: (records) => {
        this.metrics.push(...records);
        this.writeMetrics();
      },
      checkpoint: () => this.save({ stage: 'done', epoch: 0, step: 0 }),
    });
    return r.status;
  }

  result(status: TrainTwoStageResult['status']): TrainTwoStageResult {
    return {
      status,
      runDir: this.dir.path,
      lastCheckpoint: this.lastCheckpoint,
      metrics: this.metrics,
      samples: this.writer.samples,
    };
  }

  close(): void {
    this.resumeFrom?.dispose();
    this.resumeFrom = null;
    this.models.dispose();
    this.lock.release();
  }
}

/**
 * Opens a session: for a new run, validates everything (config, plugins, component configs, data,
 * batch size, model creation) before anything is written, then locks the directory and writes
 * `config.json`; for a resume, locks the run, clears what a killed writer left and restores the
 * last good checkpoint — refusing, with each damaged checkpoint named, when every one is damaged.
 */
async function openSession(options: TrainTwoStageOptions): Promise<RunSession> {
  const logger = options.logger ?? silentLogger;
  const dir = new RunDirectory(options.runDir);
  if (options.resume) {
    const record = readVaeRecord(dir);
    const { lock, checkpoint } = resumeRun(dir, logger);
    let models: RunModels | undefined;
    try {
      const data = await loadTrainingData(record.components, record.config, logger);
      models = await createModels(record.components, record.config.seed, logger);
      return new RunSession(dir, record.config, data, models, lock, options, checkpoint);
    } catch (e) {
      checkpoint?.dispose();
      models?.dispose();
      lock.release();
      throw e;
    }
  }
  assertNoRun(dir);
  const { config, components } = await validateRun(options.config, logger);
  const data = await loadTrainingData(components, config, logger);
  checkBatches(config, data);
  const models = await createModels(components, config.seed, logger);
  try {
    const record: VaeRunRecord = newRunRecord(VAE_TRAINER, config, components, {
      environment: options.environment,
      versions: { '@tsvae/stages': STAGES_VERSION },
    });
    return new RunSession(dir, config, data, models, createRun(dir, record), options, null);
  } catch (e) {
    models.dispose();
    throw e;
  }
}

/**
 * Trains a Two-Stage VAE end to end in a run directory, or resumes one: stage 1 -> grids -> encode
 * the training set -> stage 2 (a second stage with `fit`, e.g. `@tsvae/priors`' `gmm`, is fitted
 * instead of trained: see `fitStage2`) -> grids. Writes `config.json`, `metrics.jsonl` (one record per
 * epoch), `checkpoints/ckpt-NNNNNN/` and `samples/*.png`, every file atomically, under a lock on
 * the directory. Resuming continues bit for bit from the last good checkpoint: every random draw is
 * derived from the run seed and the position (stage, epoch, step). A NaN/Inf loss or gradient
 * throws `NonFiniteLossError` and leaves the last good checkpoint in place; aborting `signal`
 * writes a checkpoint and returns `status: 'aborted'`.
 */
export async function trainTwoStage(options: TrainTwoStageOptions): Promise<TrainTwoStageResult> {
  const run = await openSession(options);
  try {
    const { stage1, secondStage } = run.models;
    const grids = run.config.samples;
    if (run.position.stage === 'stage1') {
      if ((await run.trainStage('stage1', (o) => trainStage1(stage1, run.data, o))) === 'aborted') {
        return run.result('aborted');
      }
      run.grid('one-stage-after-stage1.png', sampleOneStage(stage1, grids.count, { seed: grids.seed }));
      run.grid('reconstructions.png', reconstructions(run));
    }
    if (run.position.stage === 'stage2') {
      const codes = encodeDataset(stage1, run.data, { batchSize: Math.max(run.config.batchSize, 256) });
      // A second stage fitted directly (e.g. EM) replaces the gradient loop; 0 epochs skips either.
      const status =
        secondStage.fit && run.config.stage2.epochs > 0
          ? await run.fitStage(codes)
          : await run.trainStage('stage2', (o) => trainStage2(secondStage, codes, o));
      if (status === 'aborted') return run.result('aborted');
    }
    run.grid('one-stage.png', sampleOneStage(stage1, grids.count, { seed: grids.seed }));
    run.grid('two-stage.png', sampleTwoStage(stage1, secondStage, grids.count, { seed: grids.seed }));
    return run.result('completed');
  } finally {
    run.close();
  }
}

/** The first images of the training set above their reconstructions `decode(mu(x))`. */
function reconstructions(run: RunSession): tf.Tensor4D {
  const { stage1 } = run.models;
  return tf.tidy(() => {
    const n = Math.min(run.data.size, Math.max(1, Math.floor(run.config.samples.count / 2)));
    const x = toTensor(
      run.data,
      Int32Array.from({ length: n }, (_, i) => i),
    );
    const xr = stage1.decode(stage1.encode(x, { training: false }).mu, { training: false });
    return tf.concat([x, xr], 0) as tf.Tensor4D;
  });
}
