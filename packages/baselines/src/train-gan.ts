/**
 * `trainGan`: a GAN baseline's training in a tsvae run directory (the layout, checkpoints, lock
 * and record of `@tsvae/stages`), resumable at any point, bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  adam,
  adamStateToWeights,
  disposeAdamState,
  type FusedAdamOptimizer,
  registerHigherOrderGradients,
} from '@tsvae/backend';
import {
  create,
  createRng,
  type DataSplit,
  deriveSeed,
  epochOrder,
  type Logger,
  type NamedWeight,
  silentLogger,
  subset,
  type TrainingCallback,
  toTensor,
  z,
} from '@tsvae/core';
import {
  assertNoRun,
  createRun,
  type LoadedCheckpoint,
  NonFiniteLossError,
  newRunRecord,
  type PartialEpoch,
  RunDirectory,
  RunDirectoryError,
  type RunEnvironment,
  type RunLock,
  RunWriter,
  restoreOptimizer,
  resumeRun,
  STAGES_VERSION,
  stepsPerEpoch,
  type TrainingPosition,
} from '@tsvae/stages';
import pkg from '../package.json' with { type: 'json' };
import {
  createGanModels,
  GAN_TRAINER,
  type GanModels,
  type GanRunComponents,
  type GanRunRecord,
  readGanRecord,
  resolveGanComponents,
} from './components';
import { type GanRunConfig, parseGanRunConfig } from './config';
import type { GanLossTerms } from './kinds';
import { drawCodes, sampleGan } from './sample';

/** The version of `@tsvae/baselines`. */
export const BASELINES_VERSION: string = pkg.version;

/** The `stage` of GAN training in callbacks, metrics and errors. */
const STAGE = 'gan';

/** One line of a GAN run's `metrics.jsonl`: a finished epoch. */
export interface GanEpochMetrics {
  readonly stage: 'gan';
  /** 1-based: the number of epochs done. */
  readonly epoch: number;
  /** Mean over the epoch's discriminator steps of the discriminator's loss. */
  readonly discriminatorLoss: number;
  /** Mean over the epoch's generator steps of the generator's loss (null when there was none). */
  readonly generatorLoss: number | null;
  /** Discriminator steps (batches) of the epoch. */
  readonly steps: number;
  /** Generator steps of the epoch. */
  readonly generatorSteps: number;
  readonly lr: number;
  readonly seconds: number;
  /**
   * The loss's own scalars: per-epoch means of what its steps report (`realScore` / `fakeScore`,
   * WGAN's `criticEstimate` of the Wasserstein distance, a `penalty`, BEGAN's `convergence` M,
   * `realError`, `fakeError`) and its end-of-epoch state (BEGAN's `k`).
   */
  readonly extra: Readonly<Record<string, number>>;
}

/** The schema of {@link GanEpochMetrics} (what `RunDirectory.readMetricsWith` reads). */
export const ganEpochMetricsSchema = z.object({
  stage: z.literal('gan'),
  epoch: z.number().int().positive(),
  discriminatorLoss: z.number(),
  generatorLoss: z.number().nullable(),
  steps: z.number().int().min(0),
  generatorSteps: z.number().int().min(0),
  lr: z.number(),
  seconds: z.number(),
  extra: z.record(z.string(), z.number()),
});

/** Options of {@link trainGan} (the same as `@tsvae/stages`' `trainTwoStage`). */
export interface TrainGanOptions {
  /** The run directory (created if needed). */
  readonly runDir: string;
  /** The GAN run configuration (validated); ignored when resuming (the run's `config.json` is used). */
  readonly config?: unknown;
  /** Continue the run in `runDir` from its last good checkpoint. */
  readonly resume?: boolean;
  readonly logger?: Logger;
  /** Called with `stage: 'gan'`; `onBatchEnd` gets each discriminator step. */
  readonly callbacks?: readonly TrainingCallback[];
  /** Abort to checkpoint and return `status: 'aborted'` (wire SIGINT / SIGTERM / SIGHUP to it). */
  readonly signal?: AbortSignal;
  readonly environment?: RunEnvironment;
}

/** How {@link trainGan} ended (the same as `trainTwoStage`'s result, with GAN metrics). */
export interface TrainGanResult {
  readonly status: 'completed' | 'aborted';
  readonly runDir: string;
  readonly lastCheckpoint: string | null;
  /** Every epoch's metrics so far (including those before a resume). */
  readonly metrics: readonly GanEpochMetrics[];
  /** Sample grids written (PNG paths). */
  readonly samples: readonly string[];
}

/**
 * Validates a GAN run configuration as a run would, without training or writing anything: the
 * config, every plugin name and every component config (strictly). Creates the dataset plugin to
 * learn the image shape (no data is loaded).
 */
export async function validateGanRun(
  input: unknown,
  logger: Logger = silentLogger,
): Promise<{ config: GanRunConfig; components: GanRunComponents }> {
  const config = parseGanRunConfig(input);
  const dataset = await create('dataset', config.dataset.name, config.dataset.config, {
    context: { logger },
  });
  return { config, components: resolveGanComponents(config, dataset.shape) };
}

async function loadTrainingData(
  components: GanRunComponents,
  config: GanRunConfig,
  logger: Logger,
): Promise<DataSplit> {
  const dataset = await create('dataset', components.dataset.plugin, components.dataset.config, {
    context: { logger },
  });
  const split = await dataset.load('train');
  const n = config.dataset.subset;
  return n === undefined || n >= split.size ? split : subset(split, n);
}

async function callAll(
  callbacks: readonly TrainingCallback[] | undefined,
  fn: (c: TrainingCallback) => void | Promise<void>,
): Promise<void> {
  for (const c of callbacks ?? []) await fn(c);
}

/** Name prefixes of the weights in a GAN checkpoint. */
const PREFIX = {
  generator: 'generator/',
  discriminator: 'discriminator/',
  loss: 'loss/',
  generatorOptimizer: 'optimizer/generator/',
  discriminatorOptimizer: 'optimizer/discriminator/',
} as const;

function prefixed(prefix: string, weights: readonly NamedWeight[]): NamedWeight[] {
  return weights.map((w) => ({ name: `${prefix}${w.name}`, tensor: w.tensor }));
}

/** The Adam of one network, with its config's settings. */
function createOptimizer(config: GanRunConfig): FusedAdamOptimizer {
  const o = config.optimizer;
  return adam(o.lr, o.beta1, o.beta2, o.epsilon);
}

/** A step's scalars read back in one transfer. */
interface StepNumbers {
  readonly loss: number;
  readonly gradNormSq: number;
  readonly values: Record<string, number>;
}

/** One training session on a GAN run directory: the lock, the models, the optimizers, the data. */
class GanSession {
  readonly metrics: GanEpochMetrics[];
  readonly writer: RunWriter;
  position: TrainingPosition;
  readonly generatorOptimizer: FusedAdamOptimizer;
  readonly discriminatorOptimizer: FusedAdamOptimizer;
  /** The resumed checkpoint's partial epoch sums. */
  private partial: PartialEpoch | null;

  constructor(
    readonly dir: RunDirectory,
    readonly config: GanRunConfig,
    readonly data: DataSplit,
    readonly models: GanModels,
    private readonly lock: RunLock,
    readonly options: TrainGanOptions,
    checkpoint: LoadedCheckpoint | null,
  ) {
    this.generatorOptimizer = createOptimizer(config);
    this.discriminatorOptimizer = createOptimizer(config);
    this.position = checkpoint?.manifest.position ?? { stage: 'stage1', epoch: 0, step: 0 };
    this.partial = checkpoint?.manifest.partial ?? null;
    this.writer = new RunWriter(dir, {
      keep: config.checkpoint.keep,
      resumeCommand: `tsvae train --resume ${dir.path}`,
      lastCheckpoint: checkpoint?.path ?? null,
      logger: this.logger,
    });
    if (checkpoint) {
      models.generator.setWeights(checkpoint.group(PREFIX.generator));
      models.discriminator.setWeights(checkpoint.group(PREFIX.discriminator));
      models.loss.setWeights(checkpoint.group(PREFIX.loss));
    }
    const pos = this.position;
    this.metrics = dir.readMetricsWith(ganEpochMetricsSchema).filter((m) => m.epoch <= pos.epoch);
    this.writeMetrics();
  }

  /** Restores both optimizers from the checkpoint being resumed (its tensors are copied). */
  async restoreOptimizers(checkpoint: LoadedCheckpoint): Promise<void> {
    const state = checkpoint.manifest.optimizer?.state as
      | { generator?: Record<string, unknown>; discriminator?: Record<string, unknown> }
      | undefined;
    if (!state?.generator || !state.discriminator) {
      throw new RunDirectoryError(
        `${checkpoint.path}: the manifest has no generator and discriminator optimizer state (not a GAN checkpoint?)`,
        checkpoint.path,
      );
    }
    await restoreOptimizer(this.generatorOptimizer, checkpoint.weights, state.generator);
    await restoreOptimizer(this.discriminatorOptimizer, checkpoint.weights, state.discriminator);
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

  /** Writes a checkpoint: both networks, the loss's state and both optimizers' full state. */
  async save(position: TrainingPosition, partial: PartialEpoch | null): Promise<string> {
    const { generator, discriminator, loss } = this.models;
    const g = await this.generatorOptimizer.getState();
    let d: Awaited<ReturnType<FusedAdamOptimizer['getState']>> | undefined;
    try {
      d = await this.discriminatorOptimizer.getState();
      const gw = adamStateToWeights(g, { prefix: PREFIX.generatorOptimizer });
      const dw = adamStateToWeights(d, { prefix: PREFIX.discriminatorOptimizer });
      const path = await this.writer.checkpoint({
        position,
        partial,
        optimizer: { stage: 'stage1', state: { generator: { ...gw.meta }, discriminator: { ...dw.meta } } },
        weights: [
          ...prefixed(PREFIX.generator, generator.getWeights()),
          ...prefixed(PREFIX.discriminator, discriminator.getWeights()),
          ...prefixed(PREFIX.loss, loss.getWeights()),
          ...gw.weights,
          ...dw.weights,
        ],
      });
      this.position = position;
      return path;
    } finally {
      disposeAdamState(g);
      if (d) disposeAdamState(d);
    }
  }

  /** A sample grid into `samples/<name>` (the images are disposed). */
  grid(name: string, images: tf.Tensor4D): void {
    this.writer.grid(name, images);
  }

  /** Runs `f` under `variableGrads` over `variables`, applies the update and returns the numbers. */
  private async update(
    optimizer: FusedAdamOptimizer,
    variables: tf.Variable[],
    f: () => GanLossTerms,
    where: { epoch: number; step: number; who: 'discriminator' | 'generator' },
    after?: (terms: GanLossTerms) => void,
  ): Promise<StepNumbers> {
    let kept: GanLossTerms | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const t = f();
      kept = {
        loss: t.loss,
        values: Object.fromEntries(Object.entries(t.values).map(([k, v]) => [k, tf.keep(v)])),
      };
      return t.loss;
    }, variables);
    const terms = kept as GanLossTerms;
    const names = Object.keys(terms.values);
    let numbers: StepNumbers;
    try {
      const stats = tf.tidy(() => {
        const gs = Object.values(grads);
        const gsq = gs.length ? tf.addN(gs.map((g) => tf.sum(tf.square(g)))) : tf.scalar(0);
        return tf.stack([value, gsq, ...names.map((n) => terms.values[n] as tf.Scalar)]);
      });
      const v = await stats.data();
      stats.dispose();
      numbers = {
        loss: v[0] as number,
        gradNormSq: v[1] as number,
        values: Object.fromEntries(names.map((n, i) => [n, v[i + 2] as number])),
      };
      const named: Record<string, number> = {
        [`${where.who}Loss`]: numbers.loss,
        [`${where.who}GradNormSq`]: numbers.gradNormSq,
        ...numbers.values,
      };
      if (!Object.values(named).every(Number.isFinite)) {
        throw new NonFiniteLossError(STAGE, where.epoch, where.step, named, this.lastCheckpoint);
      }
      // A variable the loss does not reach gets a zero gradient, so Adam's slots keep their order.
      const zeros: tf.Tensor[] = [];
      optimizer.applyGradients(
        variables.map((v) => {
          const g = grads[v.name];
          if (g) return { name: v.name, tensor: g };
          const z0 = tf.zerosLike(v);
          zeros.push(z0);
          return { name: v.name, tensor: z0 };
        }),
      );
      tf.dispose(zeros);
      after?.(terms);
    } finally {
      tf.dispose([value, ...Object.values(grads), ...Object.values(terms.values)]);
    }
    return numbers;
  }

  /** Trains from where the run stands; returns how it ended. */
  async train(): Promise<'completed' | 'aborted'> {
    const { generator, discriminator, loss } = this.models;
    const config = this.config;
    const batchSize = config.batchSize;
    const steps = stepsPerEpoch(this.data.size, batchSize);
    const every = config.checkpoint.everyEpochs;
    const lr = config.optimizer.lr;
    const callbacks = this.options.callbacks;
    const dVars = discriminator.trainableVariables();
    const gVars = generator.trainableVariables();
    const start = this.position;
    if (start.stage === 'done') return 'completed';
    // Where the last checkpoint stands: an interrupt right after it needs no second one.
    let checkpointed: string | null = this.lastCheckpoint ? `${start.epoch}/${start.step}` : null;
    let lastYield = performance.now();
    await callAll(callbacks, (c) =>
      c.onTrainBegin?.({ stage: STAGE, epochs: config.epochs, stepsPerEpoch: steps }),
    );
    for (let epoch = start.epoch; epoch < config.epochs; epoch++) {
      const resuming = epoch === start.epoch && start.step > 0;
      const order = epochOrder(this.data.size, createRng(deriveSeed(config.seed, STAGE, 'order', epoch)));
      const partial = resuming ? this.partial : null;
      const sums: Record<string, number> = partial ? { ...partial.sums } : {};
      let seconds = partial ? partial.seconds : 0;
      await callAll(callbacks, (c) => c.onEpochBegin?.(epoch, { stage: STAGE }));
      for (let step = resuming ? start.step : 0; step < steps; step++) {
        // Let signal handlers and timers run: tfjs reads resolve as microtasks.
        if (performance.now() - lastYield > 50) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
        if (this.options.signal?.aborted) {
          if (checkpointed !== `${epoch}/${step}`) {
            await this.save({ stage: 'stage1', epoch, step }, step > 0 ? { sums, seconds } : null);
          }
          this.logger.info('training interrupted', {
            stage: STAGE,
            epoch: epoch + 1,
            step,
            checkpoint: this.lastCheckpoint,
          });
          return 'aborted';
        }
        const t0 = performance.now();
        const stepSeed = deriveSeed(config.seed, STAGE, 'step', epoch, step);
        const indices = order.subarray(step * batchSize, (step + 1) * batchSize);
        const real = toTensor(this.data, indices);
        const fake = tf.tidy(() =>
          generator.forward(drawCodes(batchSize, config.zDim, config.prior, deriveSeed(stepSeed, 'z')), {
            training: true,
          }),
        );
        let d: StepNumbers;
        try {
          d = await this.update(
            this.discriminatorOptimizer,
            dVars,
            () => loss.discriminatorLoss({ real, fake, discriminator, seed: deriveSeed(stepSeed, 'loss') }),
            { epoch, step, who: 'discriminator' },
            (terms) => loss.afterDiscriminatorStep?.(discriminator, terms),
          );
        } finally {
          tf.dispose([real, fake]);
        }
        const logs: Record<string, number> = { discriminatorLoss: d.loss, ...d.values };
        sums['discriminatorLoss'] = (sums['discriminatorLoss'] ?? 0) + d.loss;
        sums['steps'] = (sums['steps'] ?? 0) + 1;
        for (const [k, v] of Object.entries(d.values)) sums[`extra:${k}`] = (sums[`extra:${k}`] ?? 0) + v;
        // The generator follows every `discriminatorSteps`-th discriminator step, counted over the run.
        if ((epoch * steps + step + 1) % loss.discriminatorSteps === 0) {
          const g = await this.update(
            this.generatorOptimizer,
            gVars,
            () => {
              const codes = drawCodes(
                batchSize,
                config.zDim,
                config.prior,
                deriveSeed(stepSeed, 'generator-z'),
              );
              const generated = generator.forward(codes, { training: true });
              return loss.generatorLoss({
                fake: generated,
                discriminator,
                seed: deriveSeed(stepSeed, 'generator-loss'),
              });
            },
            { epoch, step, who: 'generator' },
          );
          logs['generatorLoss'] = g.loss;
          sums['generatorLoss'] = (sums['generatorLoss'] ?? 0) + g.loss;
          sums['generatorSteps'] = (sums['generatorSteps'] ?? 0) + 1;
        }
        seconds += (performance.now() - t0) / 1000;
        await callAll(callbacks, (c) => c.onBatchEnd?.(step, { ...logs, lr }, { stage: STAGE, epoch }));
      }
      const n = sums['steps'] ?? 0;
      const gn = sums['generatorSteps'] ?? 0;
      const extra: Record<string, number> = {};
      for (const [k, v] of Object.entries(sums))
        if (k.startsWith('extra:')) extra[k.slice(6)] = v / Math.max(1, n);
      Object.assign(extra, loss.diagnostics?.() ?? {});
      const m: GanEpochMetrics = {
        stage: 'gan',
        epoch: epoch + 1,
        discriminatorLoss: (sums['discriminatorLoss'] ?? 0) / Math.max(1, n),
        generatorLoss: gn > 0 ? (sums['generatorLoss'] ?? 0) / gn : null,
        steps: n,
        generatorSteps: gn,
        lr,
        seconds,
        extra,
      };
      this.metrics.push(m);
      this.writeMetrics();
      const epochLogs: Record<string, number> = {
        discriminatorLoss: m.discriminatorLoss,
        lr,
        seconds,
        ...extra,
      };
      if (m.generatorLoss !== null) epochLogs['generatorLoss'] = m.generatorLoss;
      await callAll(callbacks, (c) => c.onEpochEnd?.(epoch, epochLogs, { stage: STAGE }));
      this.logger.debug('epoch done', { ...m });
      const last = epoch + 1 === config.epochs;
      if ((epoch + 1) % every === 0 || last) {
        const path = await this.save(
          last
            ? { stage: 'done', epoch: epoch + 1, step: 0 }
            : { stage: 'stage1', epoch: epoch + 1, step: 0 },
          null,
        );
        checkpointed = `${epoch + 1}/0`;
        await callAll(callbacks, (c) => c.onCheckpoint?.(path, { stage: STAGE, epoch }));
      }
    }
    if (this.position.stage !== 'done') {
      // no epochs to run (epochs 0): the initial weights are the result
      await this.save({ stage: 'done', epoch: config.epochs, step: 0 }, null);
    }
    const lastMetrics = this.metrics.at(-1);
    await callAll(callbacks, (c) =>
      c.onTrainEnd?.(
        lastMetrics
          ? {
              discriminatorLoss: lastMetrics.discriminatorLoss,
              ...(lastMetrics.generatorLoss === null ? {} : { generatorLoss: lastMetrics.generatorLoss }),
            }
          : {},
        { stage: STAGE },
      ),
    );
    return 'completed';
  }

  result(status: TrainGanResult['status']): TrainGanResult {
    return {
      status,
      runDir: this.dir.path,
      lastCheckpoint: this.lastCheckpoint,
      metrics: this.metrics,
      samples: this.writer.samples,
    };
  }

  close(): void {
    this.generatorOptimizer.dispose();
    this.discriminatorOptimizer.dispose();
    this.models.dispose();
    this.lock.release();
  }
}

function checkBatches(config: GanRunConfig, data: DataSplit): void {
  if (config.epochs > 0 && stepsPerEpoch(data.size, config.batchSize) === 0) {
    throw new RangeError(
      `batchSize ${config.batchSize} is larger than the ${data.size} training examples: an epoch would have no batch; lower the batch size`,
    );
  }
}

/**
 * Opens a session: for a new run, validates everything (config, plugins, component configs, data,
 * batch size, model creation and fit) before anything is written, then locks the directory and
 * writes `config.json`; for a resume, locks the run, clears what a killed writer left and restores
 * the last good checkpoint, refusing (with each damaged checkpoint named) when none loads.
 */
async function openSession(options: TrainGanOptions): Promise<GanSession> {
  const logger = options.logger ?? silentLogger;
  const dir = new RunDirectory(options.runDir);
  if (options.resume) {
    const record = readGanRecord(dir);
    const { lock, checkpoint } = resumeRun(dir, logger);
    let models: GanModels | undefined;
    let session: GanSession | undefined;
    try {
      const data = await loadTrainingData(record.components, record.config, logger);
      models = await createGanModels(
        record.components,
        { seed: record.config.seed, zDim: record.config.zDim, imageShape: data.shape },
        logger,
      );
      session = new GanSession(dir, record.config, data, models, lock, options, checkpoint);
      if (checkpoint) await session.restoreOptimizers(checkpoint);
      return session;
    } catch (e) {
      if (session) session.close();
      else {
        models?.dispose();
        lock.release();
      }
      throw e;
    } finally {
      checkpoint?.dispose();
    }
  }
  assertNoRun(dir);
  const { config, components } = await validateGanRun(options.config, logger);
  const data = await loadTrainingData(components, config, logger);
  checkBatches(config, data);
  const models = await createGanModels(
    components,
    { seed: config.seed, zDim: config.zDim, imageShape: data.shape },
    logger,
  );
  try {
    const record: GanRunRecord = newRunRecord(GAN_TRAINER, config, components, {
      environment: options.environment,
      versions: { '@tsvae/baselines': BASELINES_VERSION, '@tsvae/stages': STAGES_VERSION },
    });
    return new GanSession(dir, config, data, models, createRun(dir, record), options, null);
  } catch (e) {
    models.dispose();
    throw e;
  }
}

/**
 * Trains a GAN baseline in a run directory, or resumes one. One training step is one discriminator
 * update on one batch (a fresh seeded order each epoch, the remainder dropped); the generator is
 * updated after every `discriminatorSteps`-th of them, counted over the run. Writes `config.json`
 * (`trainer: 'gan'`, components dataset / generator / discriminator / loss as `{ plugin, config }`),
 * `metrics.jsonl` (one {@link GanEpochMetrics} per epoch), `checkpoints/ckpt-NNNNNN/` (both
 * networks, the loss's state, both Adams' full state) and `samples/gan.png`, every file atomically,
 * under a lock on the directory. Every random draw (order, codes, penalty draws) is derived with
 * `deriveSeed` from the run seed and the position (epoch, step), so resuming continues bit for bit.
 * A NaN/Inf loss or gradient throws `NonFiniteLossError` (stage `gan`, the epoch and step) before
 * the update; aborting `signal` writes a checkpoint and returns `status: 'aborted'`.
 *
 * @example
 * ```ts
 * import '@tsvae/datasets';
 * import { resolveGanRunConfig, trainGan } from '@tsvae/baselines';
 * const result = await trainGan({ runDir: 'runs/wgan-gp', config: resolveGanRunConfig('wgan-gp', 'quick', 'mnist') });
 * ```
 */
export async function trainGan(options: TrainGanOptions): Promise<TrainGanResult> {
  registerHigherOrderGradients();
  const session = await openSession(options);
  try {
    if ((await session.train()) === 'aborted') return session.result('aborted');
    const { count, seed } = session.config.samples;
    session.grid(
      'gan.png',
      sampleGan(session.models.generator, count, { seed, prior: session.config.prior }),
    );
    return session.result('completed');
  } finally {
    session.close();
  }
}
