/**
 * The plugin kinds of the GAN baselines: `gan-generator`, `gan-discriminator` and `gan-loss`,
 * added to `@tsvae/core`'s registry by declaration merging and `registerKind`.
 *
 * Why new kinds rather than reusing `decoder` for the generator: a GAN generator has no likelihood,
 * draws its codes from its own prior (`z ~ U(-1, 1)` in compare_gan), and is trained against a
 * discriminator, which has no counterpart among the VAE kinds; separate kinds keep each kind's
 * listing (`tsvae info`) and strict config validation about one job, and let a loss check at
 * validation time that the discriminator gives what it needs (logits or reconstructions).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, ImageShape, Module, NamedWeight } from '@tsvae/core';
import { getRegistry } from '@tsvae/core';

/** A GAN generator: codes `z` `[B, zDim]` to images `[B, H, W, C]` (in [0, 1] for image data). */
export interface GanGenerator extends Module {
  readonly zDim: number;
  readonly outputShape: ImageShape;
  /** `G(z)`; `training` uses BatchNorm batch statistics (and updates the moving ones). */
  forward(z: tf.Tensor2D, options: ForwardOptions): tf.Tensor4D;
}

/**
 * What a discriminator returns: `critic` (one logit / critic value per image, `[B, 1]`; every
 * loss but BEGAN) or `autoencoder` (a reconstruction `[B, H, W, C]`; BEGAN).
 */
export type DiscriminatorOutput = 'critic' | 'autoencoder';

/** A GAN discriminator (or critic, or BEGAN's autoencoder). */
export interface GanDiscriminator extends Module {
  readonly inputShape: ImageShape;
  readonly output: DiscriminatorOutput;
  /** `D(x)`: logits `[B, 1]` (`critic`) or reconstructions `[B, H, W, C]` (`autoencoder`). */
  forward(x: tf.Tensor4D, options: ForwardOptions): tf.Tensor;
}

/** A loss's value and the scalars it reports (e.g. a penalty, a critic estimate). */
export interface GanLossTerms {
  /** What the step minimises. */
  readonly loss: tf.Scalar;
  /** Scalars averaged into the epoch's metrics (`extra`), by name. */
  readonly values: Readonly<Record<string, tf.Scalar>>;
}

/** What a discriminator loss sees. */
export interface DiscriminatorLossInput {
  /** A batch of real images. */
  readonly real: tf.Tensor4D;
  /** `G(z)` for a batch of codes (a constant here: only the discriminator is trained). */
  readonly fake: tf.Tensor4D;
  readonly discriminator: GanDiscriminator;
  /**
   * Seed of the loss's own random draws (penalty interpolations, DRAGAN's perturbation), derived
   * by the trainer from the run seed and the step; never 0.
   */
  readonly seed: number;
}

/** What a generator loss sees. */
export interface GeneratorLossInput {
  /** `G(z)`, differentiable with respect to the generator's weights. */
  readonly fake: tf.Tensor4D;
  readonly discriminator: GanDiscriminator;
  readonly seed: number;
}

/**
 * A GAN objective (registry kind `gan-loss`): the discriminator's and the generator's losses, how
 * many discriminator steps a generator step follows, and what it does after a discriminator step
 * (WGAN's weight clipping, BEGAN's `k_t` update). State it keeps across steps (BEGAN's `k_t`) is in
 * `getWeights` / `setWeights`, so checkpoints hold it.
 */
export interface GanLoss {
  readonly name: string;
  /** What the discriminator must return. */
  readonly discriminatorOutput: DiscriminatorOutput;
  /** Discriminator steps per generator step (compare_gan's `disc_iters`). */
  readonly discriminatorSteps: number;
  discriminatorLoss(input: DiscriminatorLossInput): GanLossTerms;
  generatorLoss(input: GeneratorLossInput): GanLossTerms;
  /**
   * Called after each discriminator update with that step's terms (before they are disposed): WGAN
   * clips the weights, BEGAN updates `k_t`.
   */
  afterDiscriminatorStep?(discriminator: GanDiscriminator, terms: GanLossTerms): void;
  /** State scalars worth logging at the end of an epoch (e.g. BEGAN's `k`). */
  diagnostics?(): Record<string, number>;
  /** The loss's state (empty for stateless losses). */
  getWeights(): NamedWeight[];
  setWeights(weights: readonly NamedWeight[]): void;
  dispose(): void;
}

declare module '@tsvae/core' {
  interface PluginKinds {
    'gan-generator': GanGenerator;
    'gan-discriminator': GanDiscriminator;
    'gan-loss': GanLoss;
  }
}

/** The plugin kinds this package adds. */
export const GAN_KINDS = ['gan-generator', 'gan-discriminator', 'gan-loss'] as const;

/** Adds {@link GAN_KINDS} to the process-wide registry (idempotent). */
export function registerGanKinds(): void {
  const registry = getRegistry();
  for (const kind of GAN_KINDS) registry.registerKind(kind);
}
