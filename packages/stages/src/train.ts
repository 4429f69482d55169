import * as tf from '@tensorflow/tfjs-core';
// Training needs every op's gradient. tfjs-core's Node build registers none; tfjs-layers' Node
// build registers them all (tfjs-core's `dist/register_all_gradients` is not loadable by Node).
import '@tensorflow/tfjs-layers';
import type { DataSplit, Logger, SecondStage, Stage1Model, TrainingCallback } from '@tsvae/core';
import { createRng, deriveSeed, epochOrder, silentLogger, toTensor } from '@tsvae/core';
import type { PartialEpoch } from './checkpoint';
import { learningRateAt } from './config';
import { stepsPerEpoch } from './data';
import { NonFiniteLossError } from './errors';
import { createStageOptimizer, type StageOptimizer } from './optimizer';
import type { EpochMetrics } from './run-dir';

/** What a training step's loss function returns (scalars; `gamma` optional). */
export interface StepTerms {
  readonly loss: tf.Scalar;
  readonly reconstruction: tf.Scalar;
  readonly kl: tf.Scalar;
  readonly gamma?: tf.Scalar;
}

/** Where training is when a checkpoint is asked for. */
export interface LoopState {
  readonly stage: 'stage1' | 'stage2';
  /** Next epoch (0-based) and step to run. */
  readonly epoch: number;
  readonly step: number;
  /** The sums of the current epoch so far (when mid-epoch). */
  readonly partial: PartialEpoch | null;
  readonly reason: 'epoch' | 'abort';
  readonly optimizer: StageOptimizer;
  readonly learningRate: number;
}

/** Options shared by {@link trainStage1} and {@link trainStage2}. */
export interface StageTrainOptions {
  readonly epochs: number;
  readonly batchSize: number;
  /** Initial learning rate (default 1e-4). */
  readonly lr?: number;
  /** Halve the learning rate every this many epochs (default: never). */
  readonly lrEpochs?: number;
  /**
   * The run seed. Every random choice is derived from it with `deriveSeed`: epoch `e`'s example
   * order from `(seed, stage, 'order', e)`, step `t`'s noise from `(seed, stage, 'step', e, t)`.
   * Nothing else is random, so training resumed at (epoch, step) continues exactly.
   */
  readonly seed: number;
  /** An optimizer to continue with (default: a fresh Adam). */
  readonly optimizer?: StageOptimizer;
  /** Where to start (default epoch 0, step 0); `partial` continues an epoch's sums. */
  readonly start?: {
    readonly epoch: number;
    readonly step: number;
    readonly partial?: PartialEpoch | null;
  };
  readonly logger?: Logger;
  readonly callbacks?: readonly TrainingCallback[];
  /** When aborted, training checkpoints (through `checkpoint`) and returns `status: 'aborted'`. */
  readonly signal?: AbortSignal;
  /** Saves a checkpoint; returns its path. Called at epoch ends (see `checkpointEvery`) and on abort. */
  readonly checkpoint?: (state: LoopState) => Promise<string>;
  /** Checkpoint every this many epochs (default 1) and always after the last epoch. */
  readonly checkpointEvery?: number;
  /** The last good checkpoint so far (named in errors). */
  readonly lastCheckpoint?: string | null;
  /** Called after each epoch with its metrics (after the callbacks). */
  readonly onEpochMetrics?: (metrics: EpochMetrics) => void | Promise<void>;
}

/** How a stage ended. */
export interface StageResult {
  readonly status: 'completed' | 'aborted';
  readonly metrics: EpochMetrics[];
  readonly lastCheckpoint: string | null;
  /** The optimizer (owned by the caller, who disposes it). */
  readonly optimizer: StageOptimizer;
}

interface LoopSpec {
  readonly stage: 'stage1' | 'stage2';
  readonly n: number;
  readonly variables: () => tf.Variable[];
  /** Builds a step's inputs (its randomness derived from `seed`) and returns its loss function. */
  prepareStep(indices: Int32Array, seed: number): { lossFn: () => StepTerms; dispose: () => void };
  epochDiagnostics(): {
    gamma: number | null;
    activeDims: number | null;
    reconMse: number | null;
    extra?: Record<string, number>;
  };
}

async function callAll(
  callbacks: readonly TrainingCallback[] | undefined,
  fn: (c: TrainingCallback) => void | Promise<void>,
): Promise<void> {
  for (const c of callbacks ?? []) await fn(c);
}

async function trainLoop(spec: LoopSpec, opts: StageTrainOptions): Promise<StageResult> {
  const logger = opts.logger ?? silentLogger;
  const { stage } = spec;
  const batchSize = opts.batchSize;
  const steps = stepsPerEpoch(spec.n, batchSize);
  if (steps === 0 && opts.epochs > 0) {
    throw new RangeError(`${stage}: ${spec.n} examples make no batch of ${batchSize}; lower the batch size`);
  }
  const lr0 = opts.lr ?? 1e-4;
  const lrEpochs = opts.lrEpochs ?? Number.POSITIVE_INFINITY;
  const optimizer = opts.optimizer ?? createStageOptimizer(lr0);
  const every = opts.checkpointEvery ?? 1;
  const variables = spec.variables();
  const metrics: EpochMetrics[] = [];
  let lastCheckpoint = opts.lastCheckpoint ?? null;
  const start = opts.start ?? { epoch: 0, step: 0 };
  // Where the last checkpoint stands: an interrupt right after it needs no second one.
  let checkpointed: string | null = lastCheckpoint ? `${start.epoch}/${start.step}` : null;
  let lastYield = performance.now();

  const checkpoint = async (state: LoopState): Promise<void> => {
    if (!opts.checkpoint) return;
    lastCheckpoint = await opts.checkpoint(state);
    checkpointed = `${state.epoch}/${state.step}`;
  };

  await callAll(opts.callbacks, (c) =>
    c.onTrainBegin?.({ stage, epochs: opts.epochs, stepsPerEpoch: steps }),
  );
  for (let epoch = start.epoch; epoch < opts.epochs; epoch++) {
    const resuming = epoch === start.epoch && start.step > 0;
    const lr = learningRateAt(lr0, lrEpochs, epoch);
    optimizer.setLearningRate(lr);
    const order = epochOrder(spec.n, createRng(deriveSeed(opts.seed, stage, 'order', epoch)));
    const sums: Record<string, number> = resuming && start.partial ? { ...start.partial.sums } : {};
    let seconds = resuming && start.partial ? start.partial.seconds : 0;
    const firstStep = resuming ? start.step : 0;
    await callAll(opts.callbacks, (c) => c.onEpochBegin?.(epoch, { stage }));
    for (let step = firstStep; step < steps; step++) {
      // Let signal handlers (SIGINT) and timers run: tfjs reads resolve as microtasks, so without
      // this a training loop never returns to the event loop.
      if (performance.now() - lastYield > 50) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      if (opts.signal?.aborted) {
        if (checkpointed !== `${epoch}/${step}`) {
          await checkpoint({
            stage,
            epoch,
            step,
            partial: step > 0 ? { sums, seconds } : null,
            reason: 'abort',
            optimizer,
            learningRate: lr,
          });
        }
        logger.info('training interrupted', { stage, epoch: epoch + 1, step, checkpoint: lastCheckpoint });
        return { status: 'aborted', metrics, lastCheckpoint, optimizer };
      }
      const t0 = performance.now();
      const indices = order.subarray(step * batchSize, (step + 1) * batchSize);
      const prepared = spec.prepareStep(indices, deriveSeed(opts.seed, stage, 'step', epoch, step));
      let aux: tf.Tensor1D | undefined;
      let values: Float32Array | Int32Array | Uint8Array;
      let grads: tf.NamedTensorMap = {};
      let value: tf.Scalar | undefined;
      try {
        const out = tf.variableGrads(() => {
          const t = prepared.lossFn();
          aux = tf.keep(tf.stack([t.reconstruction, t.kl, t.gamma ?? tf.scalar(0)]) as tf.Tensor1D);
          return t.loss;
        }, variables);
        grads = out.grads;
        value = out.value;
        const stats = tf.tidy(() => {
          const gsq = tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))));
          return tf.concat([tf.reshape(value as tf.Scalar, [1]), aux as tf.Tensor1D, tf.reshape(gsq, [1])]);
        });
        values = await stats.data();
        stats.dispose();
      } finally {
        prepared.dispose();
      }
      const [loss, recon, kl, gamma, gradSq] = Array.from(values, Number) as [
        number,
        number,
        number,
        number,
        number,
      ];
      const named: Record<string, number> = { loss, reconstruction: recon, kl, gradNormSq: gradSq };
      if (spec.stage === 'stage1' || gamma !== 0) named['gamma'] = gamma;
      if (!Object.values(named).every(Number.isFinite)) {
        tf.dispose([value, aux, ...Object.values(grads)]);
        throw new NonFiniteLossError(stage, epoch, step, named, lastCheckpoint);
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
      tf.dispose([value, aux, ...Object.values(grads), ...zeros]);
      for (const k of ['loss', 'reconstruction', 'kl'] as const)
        sums[k] = (sums[k] ?? 0) + (named[k] as number);
      sums['steps'] = (sums['steps'] ?? 0) + 1;
      seconds += (performance.now() - t0) / 1000;
      await callAll(opts.callbacks, (c) => c.onBatchEnd?.(step, { ...named, lr }, { stage, epoch }));
    }
    const t1 = performance.now();
    const diag = spec.epochDiagnostics();
    seconds += (performance.now() - t1) / 1000;
    const nSteps = sums['steps'] ?? 0;
    const m: EpochMetrics = {
      stage,
      epoch: epoch + 1,
      loss: (sums['loss'] ?? 0) / Math.max(1, nSteps),
      reconstruction: (sums['reconstruction'] ?? 0) / Math.max(1, nSteps),
      kl: (sums['kl'] ?? 0) / Math.max(1, nSteps),
      gamma: diag.gamma,
      activeDims: diag.activeDims,
      reconMse: diag.reconMse,
      lr,
      steps: nSteps,
      seconds,
      ...(diag.extra ? { extra: diag.extra } : {}),
    };
    metrics.push(m);
    const logs: Record<string, number> = {
      loss: m.loss,
      reconstruction: m.reconstruction,
      kl: m.kl,
      lr,
      seconds,
    };
    if (m.gamma !== null) logs['gamma'] = m.gamma;
    if (m.activeDims !== null) logs['activeDims'] = m.activeDims;
    if (m.reconMse !== null) logs['reconMse'] = m.reconMse;
    await opts.onEpochMetrics?.(m);
    await callAll(opts.callbacks, (c) => c.onEpochEnd?.(epoch, logs, { stage }));
    logger.debug('epoch done', { ...m });
    if ((epoch + 1) % every === 0 || epoch + 1 === opts.epochs) {
      await checkpoint({
        stage,
        epoch: epoch + 1,
        step: 0,
        partial: null,
        reason: 'epoch',
        optimizer,
        learningRate: lr,
      });
      const path = lastCheckpoint;
      if (path) await callAll(opts.callbacks, (c) => c.onCheckpoint?.(path, { stage, epoch }));
    }
  }
  const last = metrics.at(-1);
  await callAll(opts.callbacks, (c) =>
    c.onTrainEnd?.(last ? { loss: last.loss, reconstruction: last.reconstruction, kl: last.kl } : {}, {
      stage,
    }),
  );
  return { status: 'completed', metrics, lastCheckpoint, optimizer };
}

/** Per-epoch stage-1 diagnostics on a data subset (inference mode). */
export interface Stage1Diagnostics {
  /** Decoder gamma. */
  readonly gamma: number;
  /** Dimensions whose mean encoder variance is below `threshold`. */
  readonly activeDims: number;
  /** Mean encoder variance per latent dimension. */
  readonly meanVariance: Float32Array;
  /** Mean squared error of `decode(mu(x))` against `x`, per pixel. */
  readonly reconMse: number;
}

/**
 * Diagnostics of the theory: gamma, active latent dimensions (a dimension is active when its mean
 * encoder variance over the data is below `threshold`, default 0.05; inactive ones sit near 1) and
 * the reconstruction MSE, on `data` in inference mode.
 */
export function stage1Diagnostics(
  vae: Stage1Model,
  data: DataSplit,
  options: { readonly threshold?: number; readonly batchSize?: number } = {},
): Stage1Diagnostics {
  const threshold = options.threshold ?? 0.05;
  const batchSize = options.batchSize ?? 256;
  const varSum = new Float64Array(vae.latentDim);
  let sqErr = 0;
  for (let start = 0; start < data.size; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, data.size - start) }, (_, i) => start + i);
    const [v, e] = tf.tidy(() => {
      const x = toTensor(data, idx);
      const { mu, logSigma } = vae.encode(x, { training: false });
      const vsum = tf.sum(tf.exp(tf.mul(logSigma, 2)), 0);
      const xr = vae.decode(mu, { training: false });
      return [vsum, tf.sum(tf.square(tf.sub(x, xr)))];
    });
    const vd = v.dataSync();
    for (let j = 0; j < vae.latentDim; j++) varSum[j] = (varSum[j] as number) + (vd[j] as number);
    sqErr += e.dataSync()[0] as number;
    tf.dispose([v, e]);
  }
  const meanVariance = Float32Array.from(varSum, (s) => s / Math.max(1, data.size));
  const d = data.shape[0] * data.shape[1] * data.shape[2];
  return {
    gamma: vae.gamma(),
    activeDims: meanVariance.filter((v) => v < threshold).length,
    meanVariance,
    reconMse: sqErr / Math.max(1, data.size * d),
  };
}

/**
 * Trains a stage-1 VAE on `data` (Adam, `lr * 0.5^floor(epoch / lrEpochs)`, batches in a fresh
 * seeded order each epoch, the remainder dropped). Per-epoch diagnostics run on the first
 * `diagnostics.samples` examples.
 */
export function trainStage1(
  vae: Stage1Model,
  data: DataSplit,
  options: StageTrainOptions & {
    readonly diagnostics?: { readonly threshold?: number; readonly samples?: number };
  },
): Promise<StageResult> {
  const diagSplit: DataSplit = {
    size: Math.min(data.size, options.diagnostics?.samples ?? 1024),
    shape: data.shape,
    data: data.data,
  };
  return trainLoop(
    {
      stage: 'stage1',
      n: data.size,
      variables: () => vae.trainableVariables(),
      prepareStep(indices, seed) {
        const x = toTensor(data, indices);
        return { lossFn: () => vae.loss(x, { training: true, seed }), dispose: () => x.dispose() };
      },
      epochDiagnostics() {
        const d = stage1Diagnostics(vae, diagSplit, {
          threshold: options.diagnostics?.threshold ?? 0.05,
          batchSize: Math.max(options.batchSize, 128),
        });
        return { gamma: d.gamma, activeDims: d.activeDims, reconMse: d.reconMse };
      },
    },
    options,
  );
}

/** The stage-1 posterior parameters of every example. */
export interface EncodedDataset {
  readonly size: number;
  readonly latentDim: number;
  /** `[size, latentDim]` row-major. */
  readonly mu: Float32Array;
  /** `[size, latentDim]` row-major, the encoder standard deviations. */
  readonly sigma: Float32Array;
}

/**
 * Encodes every example once (BatchNorm in inference mode): `mu_z` and `sigma_z` for stage 2.
 */
export function encodeDataset(
  vae: Stage1Model,
  data: DataSplit,
  options: { readonly batchSize?: number } = {},
): EncodedDataset {
  const batchSize = options.batchSize ?? 256;
  const k = vae.latentDim;
  const mu = new Float32Array(data.size * k);
  const sigma = new Float32Array(data.size * k);
  for (let start = 0; start < data.size; start += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, data.size - start) }, (_, i) => start + i);
    const [m, s] = tf.tidy(() => {
      const p = vae.encode(toTensor(data, idx), { training: false });
      return [p.mu, tf.exp(p.logSigma)];
    });
    mu.set(m.dataSync(), start * k);
    sigma.set(s.dataSync(), start * k);
    tf.dispose([m, s]);
  }
  return { size: data.size, latentDim: k, mu, sigma };
}

/** Options of {@link fitStage2}. */
export interface StageFitOptions {
  /** The run seed; the fit gets `deriveSeed(seed, 'stage2', 'fit')`. */
  readonly seed: number;
  readonly logger?: Logger;
  /** Called like a stage's: `onTrainBegin` at the first iteration, `onEpochEnd` after each one. */
  readonly callbacks?: readonly TrainingCallback[];
  /** Aborting stops the fit between iterations: nothing of it is kept (`status: 'aborted'`). */
  readonly signal?: AbortSignal;
  /** Called once the fit is done with all its records (before the checkpoint). */
  readonly onMetrics?: (metrics: readonly EpochMetrics[]) => void | Promise<void>;
  /** Saves a checkpoint of the fitted model; returns its path (then `onCheckpoint` is called). */
  readonly checkpoint?: () => Promise<string>;
}

/** How a {@link fitStage2} ended, with one stage-2 metrics record per fit iteration. */
export interface StageFitResult {
  readonly status: 'completed' | 'aborted';
  readonly metrics: EpochMetrics[];
}

/**
 * Fits a second stage that has {@link SecondStage.fit} (e.g. a Gaussian mixture by EM) to encoded
 * data, instead of the gradient loop of {@link trainStage2}. Each fit iteration becomes one
 * stage-2 metrics record: `epoch` the 1-based iteration, `loss` and `reconstruction` the fit's
 * per-example loss (e.g. the negative log-likelihood), `kl` 0, `lr` 0, `steps` 1, `extra` the fit's
 * other scalars (e.g. `logLikelihood`). The fit is one unit: aborted, it returns `status:
 * 'aborted'` and no records, and is re-run from scratch (identically: its seed is derived from the
 * run seed) on resume.
 */
export async function fitStage2(
  model: SecondStage,
  codes: EncodedDataset,
  options: StageFitOptions,
): Promise<StageFitResult> {
  if (!model.fit) throw new TypeError('fitStage2: this second stage has no fit(); train it with trainStage2');
  const stage = 'stage2';
  const logger = options.logger ?? silentLogger;
  const metrics: EpochMetrics[] = [];
  let begun = false;
  let last = performance.now();
  try {
    await model.fit(codes, {
      seed: deriveSeed(options.seed, stage, 'fit'),
      logger,
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: async (p) => {
        if (!begun) {
          begun = true;
          await callAll(options.callbacks, (c) =>
            c.onTrainBegin?.({ stage, epochs: p.maxIterations, stepsPerEpoch: 1 }),
          );
        }
        const now = performance.now();
        const seconds = (now - last) / 1000;
        last = now;
        const m: EpochMetrics = {
          stage,
          epoch: p.iteration,
          loss: p.loss,
          reconstruction: p.loss,
          kl: 0,
          gamma: null,
          activeDims: null,
          reconMse: null,
          lr: 0,
          steps: 1,
          seconds,
          ...(Object.keys(p.logs).length ? { extra: { ...p.logs } } : {}),
        };
        metrics.push(m);
        await callAll(options.callbacks, (c) =>
          c.onEpochEnd?.(
            p.iteration - 1,
            { loss: p.loss, reconstruction: p.loss, kl: 0, lr: 0, seconds, ...p.logs },
            { stage },
          ),
        );
        // let signal handlers run between iterations
        await new Promise<void>((resolve) => setImmediate(resolve));
      },
    });
  } catch (e) {
    if (options.signal?.aborted) {
      logger.info('fit interrupted: it will run again from the start on resume', { stage });
      return { status: 'aborted', metrics: [] };
    }
    throw e;
  }
  await options.onMetrics?.(metrics);
  if (options.checkpoint) {
    const path = await options.checkpoint();
    const epoch = Math.max(0, metrics.length - 1);
    await callAll(options.callbacks, (c) => c.onCheckpoint?.(path, { stage, epoch }));
  }
  const end = metrics.at(-1);
  await callAll(options.callbacks, (c) =>
    c.onTrainEnd?.(end ? { loss: end.loss, reconstruction: end.reconstruction, kl: end.kl } : {}, { stage }),
  );
  return { status: 'completed', metrics };
}

/**
 * Trains a second stage on encoded data: every step draws fresh codes `z = mu + sigma * eps`
 * (eps seeded per step from the run seed).
 */
export function trainStage2(
  model: SecondStage,
  codes: EncodedDataset,
  options: StageTrainOptions,
): Promise<StageResult> {
  const k = codes.latentDim;
  return trainLoop(
    {
      stage: 'stage2',
      n: codes.size,
      variables: () => model.trainableVariables(),
      prepareStep(indices, seed) {
        const rng = createRng(deriveSeed(seed, 'codes'));
        const buf = new Float32Array(indices.length * k);
        for (let b = 0; b < indices.length; b++) {
          const row = (indices[b] as number) * k;
          for (let j = 0; j < k; j++) {
            buf[b * k + j] = (codes.mu[row + j] as number) + (codes.sigma[row + j] as number) * rng.normal();
          }
        }
        const z = tf.tensor2d(buf, [indices.length, k]);
        const lossSeed = deriveSeed(seed, 'loss');
        return {
          lossFn: () => {
            const t = model.loss(z, { training: true, seed: lossSeed });
            return { loss: t.loss, reconstruction: t.reconstruction, kl: t.kl };
          },
          dispose: () => z.dispose(),
        };
      },
      epochDiagnostics() {
        const extra = model.diagnostics?.() ?? {};
        const g = extra['gamma'];
        return {
          gamma: typeof g === 'number' ? g : null,
          activeDims: null,
          reconMse: null,
          ...(Object.keys(extra).length ? { extra } : {}),
        };
      },
    },
    options,
  );
}
