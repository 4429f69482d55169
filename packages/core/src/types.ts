import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { Logger } from './logger';

/** Image shape as `[height, width, channels]`. */
export type ImageShape = readonly [height: number, width: number, channels: number];

/** A named weight, as saved in checkpoints. */
export interface NamedWeight {
  readonly name: string;
  readonly tensor: Tensor;
}

/** Parameters of a diagonal Gaussian `N(mu, diag(exp(logSigma)^2))`, both `[batch, dim]`. */
export interface GaussianParams {
  readonly mu: Tensor2D;
  readonly logSigma: Tensor2D;
}

/** Options for a forward pass. */
export interface ForwardOptions {
  /** Training mode: BatchNorm uses batch statistics and updates its moving averages. */
  readonly training: boolean;
}

/**
 * A trainable network piece. Its weights are tfjs variables; `getWeights` / `setWeights` cover
 * every piece of state needed to restore it (including BatchNorm moving statistics).
 */
export interface Module {
  /** The variables an optimiser updates. */
  trainableVariables(): Variable[];
  /** Every weight needed to restore this module, with stable unique names. */
  getWeights(): NamedWeight[];
  /** Restores weights by name; throws on a missing name or a shape mismatch. */
  setWeights(weights: readonly NamedWeight[]): void;
  /** The number of trainable scalars. */
  countParams(): number;
  dispose(): void;
}

/** Stage-1 encoder `q(z|x)`: images `[B, H, W, C]` in [0, 1] to Gaussian parameters `[B, latentDim]`. */
export interface Encoder extends Module {
  readonly inputShape: ImageShape;
  readonly latentDim: number;
  encode(x: Tensor4D, options: ForwardOptions): GaussianParams;
}

/** What a decoder returns: the mean image in [0, 1], and logits when it has them (for Bernoulli losses). */
export interface DecoderOutput {
  readonly mean: Tensor4D;
  readonly logits?: Tensor4D;
}

/** Stage-1 decoder `p(x|z)` mean network: `[B, latentDim]` to images `[B, H, W, C]`. */
export interface Decoder extends Module {
  readonly outputShape: ImageShape;
  readonly latentDim: number;
  decode(z: Tensor2D, options: ForwardOptions): DecoderOutput;
}

/** The terms of a (negative) ELBO on a batch, each a scalar averaged over the batch. */
export interface LossTerms {
  /** reconstruction + kl (what is minimised). */
  readonly loss: Scalar;
  /** Negative log-likelihood of the data under the decoder. */
  readonly reconstruction: Scalar;
  /** KL(q(latent | data) || prior). */
  readonly kl: Scalar;
}

/** Options of a loss evaluation during training. */
export interface LossOptions extends ForwardOptions {
  /**
   * Seed of the loss's random draws (e.g. the reparameterisation noise). Given by the trainer
   * (derived with `deriveSeed`), so a run and its resume draw the same noise; never 0.
   */
  readonly seed?: number;
}

/** The loss terms of a VAE plus its current decoder scale gamma. */
export interface VaeLossTerms extends LossTerms {
  /** Current gamma (in the model's convention) as a scalar. */
  readonly gamma: Scalar;
}

/**
 * The first stage: a VAE-like model of images (registry kind `stage1`; the Two-Stage VAE's is
 * `@tsvae/layers`' `vae`, a κ-simple VAE over any registry encoder and decoder).
 */
export interface Stage1Model extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly latentDim: number;
  /** The minimised loss on a batch `x` in [0, 1], averaged over the batch. */
  loss(x: Tensor4D, options: LossOptions): VaeLossTerms;
  /** Encoder parameters of `q(z|x)`. */
  encode(x: Tensor4D, options: ForwardOptions): GaussianParams;
  /** The decoder mean for codes `z`. */
  decode(z: Tensor2D, options: ForwardOptions): Tensor4D;
  /** Current gamma as a number (1 where the likelihood has none). */
  gamma(): number;
}

/**
 * A model of the stage-1 latent codes `z` (the second stage). The default is the Two-Stage VAE's
 * `mlp` VAE, but anything with a trainable loss and a sampler fits (a flow, a mixture, ...).
 */
export interface SecondStage extends Module {
  /** Dimension of `z` (the stage-1 latent). */
  readonly latentDim: number;
  /** The loss on a batch of codes `[B, latentDim]`; the orchestrator minimises `loss`. */
  loss(z: Tensor2D, options: LossOptions): LossTerms;
  /** Draws `n` codes `z` `[n, latentDim]` from the model. */
  sample(n: number, options?: { readonly seed?: number }): Tensor2D;
  /** Scalars worth logging per epoch (e.g. `{ gamma: 0.01 }`). */
  diagnostics?(): Record<string, number>;
  /**
   * The exact log-density `log p(z)` of each row of `z` `[B, latentDim]` under the model, `[B]`
   * (nats), in inference mode. Only for models whose density is tractable (a mixture, a flow:
   * `@tsvae/priors`' `gmm` and `flow`); absent where it is not (a VAE such as `mlp`, whose `loss`
   * is a negative ELBO, a bound). Evaluations (held-out log-likelihood of the codes) use it when
   * present and fall back to minus the loss otherwise.
   */
  logProb?(z: Tensor2D): Tensor1D;
  /**
   * Fits the model directly to the stage-1 codes, for models not trained by gradient steps (e.g.
   * a Gaussian mixture fitted by EM). When present, trainers call it instead of their gradient
   * loop, once, with every training example's posterior `q(z|x_i) = N(mu_i, diag(sigma_i^2))`;
   * the model decides how it uses them (fresh draws `mu + sigma * eps` seeded from
   * `options.seed`, or the Gaussians themselves) and documents it. The result must depend only on
   * `codes`, `options.seed` and the model's config (not on its weights before the call), so an
   * interrupted fit re-runs identically. Afterwards `getWeights` holds the fitted model.
   *
   * Rejects with the signal's reason when `options.signal` aborts (between iterations); the
   * model's weights are then unspecified.
   */
  fit?(codes: SecondStageCodes, options: SecondStageFitOptions): Promise<void>;
}

/** What {@link SecondStage.fit} fits: the stage-1 posterior of every training example. */
export interface SecondStageCodes {
  /** Number of examples. */
  readonly size: number;
  /** Dimension of `z`. */
  readonly latentDim: number;
  /** Posterior means, `[size, latentDim]` row-major. */
  readonly mu: Float32Array;
  /** Posterior standard deviations, `[size, latentDim]` row-major. */
  readonly sigma: Float32Array;
}

/** One iteration of a {@link SecondStage.fit}. */
export interface SecondStageFitProgress {
  /** 1-based iteration just finished. */
  readonly iteration: number;
  /** The most iterations the fit will run (it may stop earlier, converged). */
  readonly maxIterations: number;
  /** What the fit minimises, per example (e.g. the negative log-likelihood); trainers log it as the loss. */
  readonly loss: number;
  /** Other scalars of the iteration (e.g. `{ logLikelihood, change }`). */
  readonly logs: Readonly<Record<string, number>>;
}

/** Options of {@link SecondStage.fit}. */
export interface SecondStageFitOptions {
  /** Seed of every random choice of the fit (initialisation, draws); from `deriveSeed`, never 0. */
  readonly seed: number;
  readonly logger?: Logger;
  /** Aborting stops the fit between iterations; it then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Called after every iteration (awaited). */
  readonly onProgress?: (progress: SecondStageFitProgress) => void | Promise<void>;
}

/** One split of a dataset, held in memory in its compact storage type. */
export interface DataSplit {
  /** Number of examples. */
  readonly size: number;
  /** Shape of one example; vectors use `[1, 1, d]`. */
  readonly shape: ImageShape;
  /**
   * Example data, `size * H * W * C` values in row-major NHWC order. `Uint8Array` holds pixels
   * 0..255 (scaled to [0, 1] when batched); `Float32Array` holds values used as they are.
   */
  readonly data: Uint8Array | Float32Array;
  /** Class labels, when the dataset has them. */
  readonly labels?: Int32Array;
}

/** Which split of a dataset. */
export type SplitName = 'train' | 'test';

/** A dataset plugin: loads splits on demand. */
export interface Dataset {
  readonly name: string;
  /** Shape of one example. */
  readonly shape: ImageShape;
  /** Number of classes, when labelled. */
  readonly numClasses?: number;
  /** Loads (and caches) one split. */
  load(split: SplitName): Promise<DataSplit>;
}

/** Progress of a long operation. */
export interface Progress {
  readonly done: number;
  readonly total: number;
}

/** Maps images to feature vectors, for FID / KID. */
export interface FeatureExtractor {
  readonly name: string;
  readonly featureDim: number;
  /** Images `[B, H, W, C]` as floats in [0, 1] to features `[B, featureDim]`. */
  extract(images: Tensor4D): Promise<Tensor2D>;
  dispose(): void;
}

/**
 * Anything that samples images: a one- or two-stage VAE, a GAN baseline. Comparison apps treat
 * them alike.
 */
export interface Generator {
  readonly name: string;
  readonly outputShape: ImageShape;
  /** Draws `n` images `[n, H, W, C]` in [0, 1]. */
  generate(n: number, options?: { readonly seed?: number; readonly batchSize?: number }): Promise<Tensor4D>;
  dispose(): void;
}

/** Scalars reported during training. */
export type TrainingLogs = Readonly<Record<string, number>>;

/** Hooks called during training; every hook is optional and may be async. */
export interface TrainingCallback {
  onTrainBegin?(info: {
    readonly stage: string;
    readonly epochs: number;
    readonly stepsPerEpoch: number;
  }): void | Promise<void>;
  onEpochBegin?(epoch: number, info: { readonly stage: string }): void | Promise<void>;
  onBatchEnd?(
    step: number,
    logs: TrainingLogs,
    info: { readonly stage: string; readonly epoch: number },
  ): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: TrainingLogs, info: { readonly stage: string }): void | Promise<void>;
  onCheckpoint?(path: string, info: { readonly stage: string; readonly epoch: number }): void | Promise<void>;
  onTrainEnd?(logs: TrainingLogs, info: { readonly stage: string }): void | Promise<void>;
}

/** Passed to every plugin factory. */
export interface PluginContext {
  readonly logger: Logger;
  /**
   * Seed of the instance's initial weights (and of anything else its construction draws), derived
   * by the caller from the run seed with `deriveSeed`; never 0. A plugin passes it, or seeds
   * derived from it, to every random initializer, so a run rebuilt from its seed is identical.
   * Absent: the plugin may draw unseeded.
   */
  readonly seed?: number;
}
