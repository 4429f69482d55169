import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type {
  DataSplit,
  Generator,
  ImageShape,
  Logger,
  NamedWeight,
  PluginDefinition,
  PluginKind,
  SecondStage,
  TrainingCallback,
} from '@tsvae/core';
import { create, createRng, definePlugin, getRegistry, silentLogger, subset, toTensor, z } from '@tsvae/core';
import { writeFileAtomic, writeJsonAtomic } from '@tsvae/core/node';
import pkg from '../package.json' with { type: 'json' };
import {
  type CheckpointManifest,
  type ComponentRecord,
  type LoadedCheckpoint,
  loadLatestCheckpoint,
  saveCheckpoint,
  type TrainingPosition,
} from './checkpoint';
import { parseRunConfig, type RunConfig } from './config';
import { RunDirectoryError } from './errors';
import {
  createStageOptimizer,
  optimizerState,
  restoreOptimizerState,
  type StageOptimizer,
} from './optimizer';
import { withSeededMathRandomAsync } from './random';
import { sampleOneStage, sampleTwoStage, VaeGenerator, writeImageGrid } from './sample';
import { type EpochMetrics, encodeDataset, type LoopState, trainStage1, trainStage2 } from './train';
import {
  defaultStage1Factory,
  type Stage1Factory,
  type Stage1Model,
  stage1FactoryFor,
  stage1FactoryName,
} from './vae';

/** The version of `@tsvae/stages`. */
export const STAGES_VERSION: string = pkg.version;

/** What is recorded about the environment in `config.json`. */
export interface RunEnvironment {
  /** Package versions (the run adds `@tsvae/stages` and `@tensorflow/tfjs-core`). */
  readonly versions?: Readonly<Record<string, string>>;
  /** The backend and why it was chosen (e.g. `@tsvae/backend`'s `BackendInfo`). */
  readonly backend?: unknown;
}

/** Contents of `config.json`. */
export interface RunRecord {
  readonly format: 'tsvae-run';
  readonly version: 1;
  readonly createdAt: string;
  readonly config: RunConfig;
  /** Each component's plugin and resolved config. */
  readonly components: Readonly<Record<string, ComponentRecord>>;
  readonly versions: Readonly<Record<string, string>>;
  readonly backend: unknown;
  readonly tfBackend: string;
  readonly seed: number;
}

/** Options of {@link trainTwoStage}. */
export interface TrainTwoStageOptions {
  /** The run directory (created if needed). */
  readonly runDir: string;
  /** The run configuration (validated); ignored when resuming (the run's `config.json` is used). */
  readonly config?: unknown;
  /** Continue the run in `runDir` from its last checkpoint. */
  readonly resume?: boolean;
  readonly logger?: Logger;
  readonly callbacks?: readonly TrainingCallback[];
  /** Abort to checkpoint and return `status: 'aborted'` (wire SIGINT to it). */
  readonly signal?: AbortSignal;
  /** Builds the stage-1 VAE (default: `@tsvae/layers`' `createStage1Vae`, else the built-in composition). */
  readonly createStage1?: Stage1Factory;
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

/** Files of a run directory. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  samples: 'samples',
  checkpoints: 'checkpoints',
} as const;

interface Built {
  readonly stage1: Stage1Model;
  readonly secondStage: SecondStage;
  readonly components: Record<string, ComponentRecord>;
  readonly imageShape: ImageShape;
}

function resolvedConfig(
  kind: PluginKind,
  name: string,
  config: Record<string, unknown>,
): Record<string, unknown> {
  try {
    return getRegistry().resolveConfig(kind, name, config);
  } catch {
    return config;
  }
}

/**
 * Creates the stage-1 VAE and the second stage of a run, with initial weights drawn under a
 * generator seeded from the run seed (so a run is reproducible even with plugins that take no seed).
 */
export async function buildModels(
  config: RunConfig,
  imageShape: ImageShape,
  factory: Stage1Factory = defaultStage1Factory,
): Promise<Built> {
  const s1 = config.stage1;
  const spec = {
    encoder: s1.encoder,
    decoder: s1.decoder,
    latentDim: config.latentDim,
    imageShape,
    likelihood: s1.likelihood,
    gammaConvention: s1.gammaConvention,
    fixedGamma: s1.fixedGamma,
  };
  const initRng = createRng(config.seed ^ 0x5eed);
  const stage1 = await withSeededMathRandomAsync(initRng.seed(), () => factory(spec));
  const secondConfig = {
    gammaConvention: s1.gammaConvention,
    ...config.stage2.model.config,
    latentDim: config.latentDim,
  };
  let secondStage: SecondStage;
  try {
    secondStage = await withSeededMathRandomAsync(initRng.seed(), () =>
      create('second-stage', config.stage2.model.name, secondConfig),
    );
  } catch (e) {
    stage1.dispose();
    throw e;
  }
  const shapeCfg = { latentDim: config.latentDim, imageShape: [...imageShape] };
  const components: Record<string, ComponentRecord> = {
    stage1: {
      plugin: stage1FactoryName(factory),
      config: { ...spec, imageShape: [...imageShape] },
    },
    encoder: {
      plugin: s1.encoder.name,
      config: resolvedConfig('encoder', s1.encoder.name, { ...s1.encoder.config, ...shapeCfg }),
    },
    decoder: {
      plugin: s1.decoder.name,
      config: resolvedConfig('decoder', s1.decoder.name, { ...s1.decoder.config, ...shapeCfg }),
    },
    secondStage: {
      plugin: config.stage2.model.name,
      config: resolvedConfig('second-stage', config.stage2.model.name, secondConfig),
    },
  };
  return { stage1, secondStage, components, imageShape };
}

/** Loads a dataset's training split (subset applied) from the registry. */
export async function loadTrainingData(config: RunConfig, logger: Logger = silentLogger): Promise<DataSplit> {
  const dataset = await create('dataset', config.dataset.name, config.dataset.config, {
    context: { logger },
  });
  const split = await dataset.load('train');
  const n = config.dataset.subset;
  return n === undefined || n >= split.size ? split : subset(split, n);
}

/** Reads a run's `config.json`. */
export function readRunRecord(runDir: string): RunRecord {
  const path = join(runDir, RUN_FILES.config);
  if (!existsSync(path))
    throw new RunDirectoryError(`${path} does not exist: ${runDir} is not a tsvae run directory`, path);
  let json: RunRecord;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
  } catch (e) {
    throw new RunDirectoryError(`Cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, path);
  }
  return { ...json, config: parseRunConfig(json.config) };
}

/** Reads a run's `metrics.jsonl` (an absent file reads as no records). */
export function readMetrics(runDir: string): EpochMetrics[] {
  const path = join(runDir, RUN_FILES.metrics);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EpochMetrics);
}

const STAGE_ORDER = { stage1: 0, stage2: 1, done: 2 } as const;

function metricsUpTo(records: readonly EpochMetrics[], pos: TrainingPosition): EpochMetrics[] {
  return records.filter(
    (m) => STAGE_ORDER[m.stage] < STAGE_ORDER[pos.stage] || (m.stage === pos.stage && m.epoch <= pos.epoch),
  );
}

function restoreModule(
  mod: { setWeights(w: readonly NamedWeight[]): void },
  ckpt: LoadedCheckpoint,
  prefix: string,
): void {
  const ws = ckpt.group(prefix);
  if (ws.length) mod.setWeights(ws);
}

/**
 * Trains a Two-Stage VAE end to end in a run directory, or resumes one:
 * stage 1 -> encode the training set once -> stage 2 -> sample grids. Writes `config.json`,
 * `metrics.jsonl` (one record per epoch), `checkpoints/ckpt-NNNNNN/` (tfjs weights + manifest) and
 * `samples/*.png`, every file atomically. Resuming continues bit for bit from the last checkpoint
 * (weights, optimizer state, epoch and step, RNG state). A NaN/Inf loss or gradient throws
 * `NonFiniteLossError` and leaves the last good checkpoint in place; aborting `signal` writes a
 * checkpoint and returns `status: 'aborted'`.
 */
export async function trainTwoStage(options: TrainTwoStageOptions): Promise<TrainTwoStageResult> {
  const logger = options.logger ?? silentLogger;
  const { runDir } = options;
  let factory = options.createStage1 ?? defaultStage1Factory;
  let config: RunConfig;
  let ckpt: LoadedCheckpoint | null = null;
  if (options.resume) {
    const record = readRunRecord(runDir);
    config = record.config;
    factory = options.createStage1 ?? resolveFactory(record, runDir);
    ckpt = loadLatestCheckpoint(runDir, logger);
    // Killed before its first checkpoint: start the recorded run again from the beginning.
    if (!ckpt) logger.info('no checkpoint yet: starting the recorded run from the beginning', { runDir });
  } else {
    config = parseRunConfig(options.config);
    if (existsSync(join(runDir, RUN_FILES.config))) {
      throw new RunDirectoryError(
        `${runDir} already holds a run (${RUN_FILES.config} exists): resume it or choose another directory`,
        runDir,
      );
    }
  }
  // Unknown plugin names fail here, before a possibly long dataset download.
  const reg = getRegistry();
  reg.get('dataset', config.dataset.name);
  reg.get('encoder', config.stage1.encoder.name);
  reg.get('decoder', config.stage1.decoder.name);
  reg.get('second-stage', config.stage2.model.name);
  const data = await loadTrainingData(config, logger);
  const built = await buildModels(config, data.shape, factory);
  const { stage1, secondStage } = built;
  const rng = createRng(config.seed);
  const samples: string[] = [];
  let optimizer: StageOptimizer | null = null;
  try {
    if (!ckpt) {
      const record: RunRecord = {
        format: 'tsvae-run',
        version: 1,
        createdAt: new Date().toISOString(),
        config,
        components: built.components,
        versions: {
          '@tsvae/stages': STAGES_VERSION,
          '@tensorflow/tfjs-core': tf.version_core,
          ...options.environment?.versions,
        },
        backend: options.environment?.backend ?? null,
        tfBackend: tf.getBackend(),
        seed: config.seed,
      };
      writeJsonAtomic(join(runDir, RUN_FILES.config), record);
    }
    let position: TrainingPosition = { stage: 'stage1', epoch: 0, step: 0 };
    let permutation: Int32Array | null = null;
    let partial: CheckpointManifest['partial'] = null;
    let lastCheckpoint: string | null = null;
    if (ckpt) {
      restoreModule(stage1, ckpt, 'stage1/');
      restoreModule(secondStage, ckpt, 'stage2/');
      rng.setState(ckpt.manifest.rng);
      position = ckpt.manifest.position;
      partial = ckpt.manifest.partial;
      const permT = ckpt.weights['state/permutation'];
      permutation = permT ? Int32Array.from(permT.dataSync()) : null;
      lastCheckpoint = ckpt.path;
      logger.info('resuming', { checkpoint: ckpt.path, ...position });
    }
    const metrics = metricsUpTo(readMetrics(runDir), position);
    const writeMetrics = () =>
      writeFileAtomic(join(runDir, RUN_FILES.metrics), metrics.map((m) => `${JSON.stringify(m)}\n`).join(''));
    writeMetrics();

    const save = async (pos: TrainingPosition, state: Partial<LoopState> = {}): Promise<string> => {
      const weights: NamedWeight[] = [
        ...stage1.getWeights().map((w) => ({ name: `stage1/${w.name}`, tensor: w.tensor })),
        ...secondStage.getWeights().map((w) => ({ name: `stage2/${w.name}`, tensor: w.tensor })),
      ];
      let disposeOpt = () => {};
      if (state.optimizer) {
        const os = await optimizerState(state.optimizer);
        disposeOpt = os.dispose;
        weights.push(...os.weights.map((w) => ({ name: `optimizer/${w.name}`, tensor: w.tensor })));
      }
      const permT = state.permutation ? tf.tensor1d(state.permutation, 'int32') : null;
      if (permT) weights.push({ name: 'state/permutation', tensor: permT });
      try {
        const path = await saveCheckpoint(
          runDir,
          {
            position: pos,
            components: built.components,
            rng: rng.getState(),
            optimizer:
              state.optimizer && state.stage
                ? { stage: state.stage, learningRate: state.learningRate ?? 0 }
                : null,
            partial: state.partial ?? null,
            weights,
          },
          { keep: config.checkpoint.keep },
        );
        lastCheckpoint = path;
        return path;
      } finally {
        disposeOpt();
        permT?.dispose();
      }
    };
    const loopCheckpoint = (state: LoopState) =>
      save({ stage: state.stage, epoch: state.epoch, step: state.step }, state);
    const onEpochMetrics = (m: EpochMetrics) => {
      metrics.push(m);
      writeMetrics();
    };
    const common = {
      batchSize: config.batchSize,
      rng,
      logger,
      callbacks: options.callbacks ?? [],
      checkpoint: loopCheckpoint,
      checkpointEvery: config.checkpoint.everyEpochs,
      onEpochMetrics,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const grid = (name: string, images: tf.Tensor4D) => {
      const path = join(runDir, RUN_FILES.samples, name);
      writeImageGrid(path, images);
      images.dispose();
      samples.push(path);
    };
    const sampleOpts = { seed: config.samples.seed };

    if (position.stage === 'stage1') {
      optimizer = createStageOptimizer(config.stage1.lr);
      if (ckpt?.manifest.optimizer?.stage === 'stage1')
        await restoreOptimizerState(optimizer, ckpt.group('optimizer/'));
      ckpt?.dispose();
      ckpt = null;
      const r = await trainStage1(stage1, data, {
        ...common,
        epochs: config.stage1.epochs,
        lr: config.stage1.lr,
        lrEpochs: config.stage1.lrEpochs,
        optimizer,
        start: { epoch: position.epoch, step: position.step, permutation, partial },
        lastCheckpoint,
        diagnostics: { threshold: config.diagnostics.activeThreshold, samples: config.diagnostics.samples },
      });
      if (r.status === 'aborted') return { status: 'aborted', runDir, lastCheckpoint, metrics, samples };
      optimizer.dispose();
      optimizer = null;
      grid('one-stage-after-stage1.png', sampleOneStage(stage1, config.samples.count, sampleOpts));
      const recon = tf.tidy(() => {
        const n = Math.min(data.size, Math.max(1, Math.floor(config.samples.count / 2)));
        const x = toTensor(
          data,
          Int32Array.from({ length: n }, (_, i) => i),
        );
        const xr = stage1.decode(stage1.encode(x, { training: false }).mu, { training: false });
        return tf.concat([x, xr], 0) as tf.Tensor4D;
      });
      grid('reconstructions.png', recon);
      position = { stage: 'stage2', epoch: 0, step: 0 };
      permutation = null;
      partial = null;
      await save(position);
    }
    if (position.stage === 'stage2') {
      const codes = encodeDataset(stage1, data, { batchSize: Math.max(config.batchSize, 256) });
      optimizer = createStageOptimizer(config.stage2.lr);
      if (ckpt?.manifest.optimizer?.stage === 'stage2')
        await restoreOptimizerState(optimizer, ckpt.group('optimizer/'));
      ckpt?.dispose();
      ckpt = null;
      const r = await trainStage2(secondStage, codes, {
        ...common,
        epochs: config.stage2.epochs,
        lr: config.stage2.lr,
        lrEpochs: config.stage2.lrEpochs,
        optimizer,
        start: { epoch: position.epoch, step: position.step, permutation, partial },
        lastCheckpoint,
      });
      if (r.status === 'aborted') return { status: 'aborted', runDir, lastCheckpoint, metrics, samples };
      optimizer.dispose();
      optimizer = null;
      position = { stage: 'done', epoch: 0, step: 0 };
      await save(position);
    }
    ckpt?.dispose();
    ckpt = null;
    grid('one-stage.png', sampleOneStage(stage1, config.samples.count, sampleOpts));
    grid('two-stage.png', sampleTwoStage(stage1, secondStage, config.samples.count, sampleOpts));
    return { status: 'completed', runDir, lastCheckpoint, metrics, samples };
  } finally {
    ckpt?.dispose();
    optimizer?.dispose();
    safeDispose(stage1, 'stage-1 VAE', logger);
    safeDispose(secondStage, 'second stage', logger);
  }
}

/** Disposes a model; a failing dispose is logged, never thrown (it must not hide the real outcome). */
function safeDispose(m: { dispose(): void }, what: string, logger: Logger): void {
  try {
    m.dispose();
  } catch (e) {
    logger.warn(`disposing the ${what} failed`, { error: e instanceof Error ? e.message : String(e) });
  }
}

function resolveFactory(record: RunRecord, runDir: string): Stage1Factory {
  const name = record.components['stage1']?.plugin;
  const f = stage1FactoryFor(name);
  if (f) return f;
  throw new RunDirectoryError(
    `${join(runDir, RUN_FILES.config)} was trained with the stage-1 factory "${name}", which is not available here: pass it as createStage1`,
    runDir,
  );
}

/** A trained run loaded for sampling or encoding; `dispose` frees the models. */
export interface LoadedRun {
  readonly runDir: string;
  readonly record: RunRecord;
  readonly config: RunConfig;
  readonly stage1: Stage1Model;
  readonly secondStage: SecondStage;
  /** Where the loaded checkpoint stands (`done` for a finished run). */
  readonly position: TrainingPosition;
  readonly checkpoint: string;
  dispose(): void;
}

/**
 * Loads the models of a run from its last checkpoint (the plugins named in `config.json` must be
 * registered).
 */
export async function loadRun(
  runDir: string,
  options: { readonly createStage1?: Stage1Factory; readonly logger?: Logger } = {},
): Promise<LoadedRun> {
  const record = readRunRecord(runDir);
  const ckpt = loadLatestCheckpoint(runDir, options.logger);
  if (!ckpt) throw new RunDirectoryError(`${runDir} holds no complete checkpoint`, runDir);
  try {
    const shape = (record.components['stage1']?.config['imageShape'] ?? null) as ImageShape | null;
    if (!shape)
      throw new RunDirectoryError(
        `${join(runDir, RUN_FILES.config)} does not record the image shape`,
        runDir,
      );
    const built = await buildModels(
      record.config,
      shape,
      options.createStage1 ?? resolveFactory(record, runDir),
    );
    restoreModule(built.stage1, ckpt, 'stage1/');
    restoreModule(built.secondStage, ckpt, 'stage2/');
    return {
      runDir,
      record,
      config: record.config,
      stage1: built.stage1,
      secondStage: built.secondStage,
      position: ckpt.manifest.position,
      checkpoint: ckpt.path,
      dispose: () => {
        safeDispose(built.stage1, 'stage-1 VAE', options.logger ?? silentLogger);
        safeDispose(built.secondStage, 'second stage', options.logger ?? silentLogger);
      },
    };
  } finally {
    ckpt.dispose();
  }
}

const runGeneratorConfig = z.object({
  /** A finished (or checkpointed) run directory. */
  runDir: z.string().min(1),
  mode: z.enum(['two-stage', 'one-stage']).default('two-stage'),
});

/**
 * `vae-run` generator plugin: a trained run directory as a {@link Generator} (two-stage or
 * one-stage sampling), for apps that compare generators through the registry. Its `dispose` frees
 * the models. Not registered on import: `register(vaeRunGenerator)`.
 */
export const vaeRunGenerator: PluginDefinition<'generator', typeof runGeneratorConfig> = definePlugin({
  kind: 'generator',
  name: 'vae-run',
  description: 'Samples from a tsvae run directory (two-stage or one-stage).',
  configSchema: runGeneratorConfig,
  async create(config, context): Promise<Generator> {
    const run = await loadRun(config.runDir, { logger: context.logger });
    const g = new VaeGenerator(run.stage1, run.secondStage, config.mode);
    return {
      name: g.name,
      outputShape: g.outputShape,
      generate: (n, opts) => g.generate(n, opts),
      dispose: () => run.dispose(),
    };
  },
});
