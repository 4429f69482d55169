/**
 * The stage-1 κ-simple VAE: a registry encoder and decoder plus the decoder likelihood. The one
 * stage-1 model of tsvae, registered as the `vae` plugin of kind `stage1`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  Decoder,
  DecoderOutput,
  Encoder,
  ForwardOptions,
  GaussianParams,
  LossOptions,
  NamedWeight,
  PluginContext,
  PluginDefinition,
  Stage1Model,
  VaeLossTerms,
} from '@tsvae/core';
import { create, createSync, definePlugin, deriveSeed, z } from '@tsvae/core';
import {
  bernoulliNll,
  DEFAULT_BERNOULLI_CLAMP,
  gaussianNll,
  klStandardNormal,
  optimalLogGamma,
} from '@tsvae/distributions';
import { imageShapeSchema } from './config';
import { LearnedGamma } from './custom-layers';
import type { GammaConvention, Likelihood } from './types';

const partSchema = (name: string) =>
  z.object({ name: z.string().min(1), config: z.record(z.string(), z.unknown()).default({}) }).default({
    name,
    config: {},
  });

/**
 * Config schema of the `vae` stage-1 plugin: `encoder` and `decoder` (registry references
 * `{ name, config }`, default `infogan`; their configs receive `latentDim` and `imageShape`),
 * `latentDim` κ (64), `imageShape` `[H, W, C]` (required), `likelihood` (`learned-gamma`),
 * `gammaConvention` (`std`), `fixedGamma` (1, for `fixed-gamma`).
 */
export const vaeConfigSchema = z.object({
  encoder: partSchema('infogan'),
  decoder: partSchema('infogan'),
  latentDim: z.number().int().positive().default(64),
  imageShape: imageShapeSchema,
  likelihood: z.enum(['learned-gamma', 'optimal-gamma', 'fixed-gamma', 'bernoulli']).default('learned-gamma'),
  gammaConvention: z.enum(['std', 'variance']).default('std'),
  fixedGamma: z.number().positive().finite().default(1),
  /** Lower bound of gamma (in the model's convention) for `optimal-gamma`. */
  gammaFloor: z.number().positive().finite().default(1e-3),
});

/** The resolved config of the `vae` stage-1 plugin. */
export type VaeConfig = z.output<typeof vaeConfigSchema>;
/** The config of the `vae` stage-1 plugin before defaults. */
export type VaeConfigInput = z.input<typeof vaeConfigSchema>;

/** The encoder's and decoder's registry configs: their own config plus `latentDim` and `imageShape`. */
function partConfigs(c: VaeConfig): { encoder: Record<string, unknown>; decoder: Record<string, unknown> } {
  const shape = { latentDim: c.latentDim, imageShape: [...c.imageShape] };
  return { encoder: { ...c.encoder.config, ...shape }, decoder: { ...c.decoder.config, ...shape } };
}

/** The creation context of the encoder or decoder: the VAE's logger, and a seed derived from its seed. */
function partContext(context: Partial<PluginContext>, part: 'encoder' | 'decoder'): Partial<PluginContext> {
  return {
    ...(context.logger ? { logger: context.logger } : {}),
    ...(context.seed === undefined ? {} : { seed: deriveSeed(context.seed, part) }),
  };
}

/** Options of {@link Stage1VaeModel}. */
export interface Stage1VaeOptions {
  readonly likelihood?: Likelihood;
  readonly gammaConvention?: GammaConvention;
  readonly fixedGamma?: number;
  /** Lower bound of gamma for `optimal-gamma` (default 1e-3). */
  readonly gammaFloor?: number;
  /** The `vae` plugin config it was built from (recorded for saving; set by the plugin). */
  readonly config?: VaeConfig;
}

/**
 * A stage-1 VAE from an encoder and a decoder (any implementations of core's interfaces).
 * Loss on `x` in [0, 1], averaged over the batch and summed over dimensions:
 * `KL = sum(mu^2 + sigma^2 - 2 log sigma - 1) / 2` plus the NLL of the likelihood: Gaussian with a
 * learned scalar `logGamma` (a {@link LearnedGamma}, initialised to 0); Gaussian with gamma set at
 * every step to its closed-form optimum for the batch (`optimal-gamma`: gamma^2 = the batch's
 * mean squared error, floored; see `optimalLogGamma`); Gaussian with a fixed gamma; or Bernoulli
 * cross-entropy (from the decoder's logits when it has them). `z = mu + sigma * eps`.
 *
 * Weight names: `encoder/<name>`, `decoder/<name>`, and `logGamma` for the learned and optimal
 * gammas (the optimal one holds the last training batch's gamma; not trained by the optimiser).
 */
export class Stage1VaeModel implements Stage1Model {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly latentDim: number;
  readonly likelihood: Likelihood;
  readonly gammaConvention: GammaConvention;
  /** The fixed gamma (`fixed-gamma` likelihood). */
  readonly fixedGamma: number;
  /** The lower bound of gamma (`optimal-gamma`). */
  readonly gammaFloor: number;
  /** The `vae` plugin config it was built from, when built through the plugin. */
  readonly config: VaeConfig | undefined;
  /** The `logGamma` layer (`learned-gamma`: trained; `optimal-gamma`: written by the loss). */
  readonly gammaLayer: LearnedGamma | null;
  private readonly fixedLogGamma: tf.Scalar | null;

  constructor(encoder: Encoder, decoder: Decoder, options: Stage1VaeOptions = {}) {
    if (encoder.latentDim !== decoder.latentDim) {
      throw new Error(
        `Stage1VaeModel: encoder latentDim ${encoder.latentDim} differs from decoder latentDim ${decoder.latentDim}`,
      );
    }
    this.encoder = encoder;
    this.decoder = decoder;
    this.latentDim = encoder.latentDim;
    this.likelihood = options.likelihood ?? 'learned-gamma';
    this.gammaConvention = options.gammaConvention ?? 'std';
    this.fixedGamma = options.fixedGamma ?? 1;
    this.gammaFloor = options.gammaFloor ?? 1e-3;
    this.config = options.config;
    if (this.likelihood === 'learned-gamma' || this.likelihood === 'optimal-gamma') {
      this.gammaLayer = new LearnedGamma({
        convention: this.gammaConvention,
        trainable: this.likelihood === 'learned-gamma',
        name: 'loggamma_x',
      });
      this.gammaLayer.ensureBuilt();
      this.fixedLogGamma = null;
    } else {
      this.gammaLayer = null;
      this.fixedLogGamma = tf.keep(
        tf.scalar(this.likelihood === 'fixed-gamma' ? Math.log(this.fixedGamma) : 0),
      );
    }
  }

  /** `logGamma`: the learned (or last optimal) variable, or the fixed value (0 for Bernoulli). */
  logGamma(): tf.Scalar {
    return this.gammaLayer ? (this.gammaLayer.logGamma() as tf.Scalar) : (this.fixedLogGamma as tf.Scalar);
  }

  trainableVariables(): tf.Variable[] {
    return [
      ...this.encoder.trainableVariables(),
      ...this.decoder.trainableVariables(),
      ...(this.gammaLayer?.learned ? [this.gammaLayer.logGamma()] : []),
    ];
  }

  getWeights(): NamedWeight[] {
    return [
      ...this.encoder.getWeights().map((w) => ({ name: `encoder/${w.name}`, tensor: w.tensor })),
      ...this.decoder.getWeights().map((w) => ({ name: `decoder/${w.name}`, tensor: w.tensor })),
      ...(this.gammaLayer ? [{ name: 'logGamma', tensor: this.gammaLayer.logGamma() as tf.Tensor }] : []),
    ];
  }

  setWeights(weights: readonly NamedWeight[]): void {
    const strip = (prefix: string) =>
      weights
        .filter((w) => w.name.startsWith(prefix))
        .map((w) => ({ name: w.name.slice(prefix.length), tensor: w.tensor }));
    let lg: tf.Tensor | undefined;
    if (this.gammaLayer) {
      lg = weights.find((w) => w.name === 'logGamma')?.tensor;
      if (!lg) throw new Error('setWeights: missing weight "logGamma"');
      if (lg.size !== 1)
        throw new Error(`setWeights: weight "logGamma" has shape [${lg.shape}], expected []`);
    }
    this.encoder.setWeights(strip('encoder/'));
    this.decoder.setWeights(strip('decoder/'));
    if (this.gammaLayer && lg) {
      const scalar = tf.reshape(lg, []);
      this.gammaLayer.logGamma().assign(scalar as tf.Scalar);
      scalar.dispose();
    }
  }

  countParams(): number {
    return this.encoder.countParams() + this.decoder.countParams() + (this.gammaLayer?.learned ? 1 : 0);
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
    this.gammaLayer?.dispose();
    this.fixedLogGamma?.dispose();
  }

  encode(x: tf.Tensor4D, options: ForwardOptions): GaussianParams {
    return this.encoder.encode(x, options);
  }

  decode(z: tf.Tensor2D, options: ForwardOptions): tf.Tensor4D {
    return tf.tidy(() => this.decoder.decode(z, options).mean);
  }

  gamma(): number {
    if (this.gammaLayer) return this.gammaLayer.gamma();
    return this.likelihood === 'fixed-gamma' ? this.fixedGamma : 1;
  }

  /**
   * The decoder likelihood term of the loss for a decoder output: the mean negative
   * log-likelihood of `x` and the `logGamma` it used (for `optimal-gamma` the batch optimum,
   * written into the `logGamma` state when `options.training`). Shared by every stage-1 model
   * built on this one (e.g. `@tsvae/baselines`' `vae-flow`).
   */
  reconstructionTerm(
    x: tf.Tensor4D,
    out: DecoderOutput,
    options: Pick<LossOptions, 'training'>,
  ): { reconstruction: tf.Scalar; logGamma: tf.Scalar } {
    let logGamma = this.logGamma();
    if (this.likelihood === 'optimal-gamma') {
      logGamma = optimalLogGamma(x, out.mean, this.gammaConvention, this.gammaFloor) as tf.Scalar;
      if (options.training) this.gammaLayer?.setLogGamma(logGamma);
    }
    const nll =
      this.likelihood === 'bernoulli'
        ? out.logits
          ? bernoulliNll(x, out.logits, { from: 'logits' })
          : bernoulliNll(x, out.mean, { from: 'probs', clamp: DEFAULT_BERNOULLI_CLAMP })
        : gaussianNll(x, out.mean, logGamma, this.gammaConvention);
    return { reconstruction: tf.mean(nll) as tf.Scalar, logGamma };
  }

  loss(x: tf.Tensor4D, options: LossOptions): VaeLossTerms {
    return tf.tidy(() => {
      const { mu, logSigma } = this.encoder.encode(x, options);
      const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', options.seed);
      const z = tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D;
      const { reconstruction, logGamma } = this.reconstructionTerm(
        x,
        this.decoder.decode(z, options),
        options,
      );
      const kl = tf.mean(klStandardNormal(mu, logSigma)) as tf.Scalar;
      return {
        loss: tf.add(reconstruction, kl) as tf.Scalar,
        reconstruction,
        kl,
        gamma: tf.exp(logGamma) as tf.Scalar,
      };
    });
  }
}

/**
 * Builds the stage-1 VAE of a `vae` config synchronously, its encoder and decoder from the
 * process-wide registry (their factories must be synchronous, as every built-in one is; the `vae`
 * plugin itself also takes asynchronous ones). `options.seed` seeds the initial weights.
 *
 * @example
 * ```ts
 * import { createStage1Vae } from '@tsvae/layers';
 * const vae = createStage1Vae({ imageShape: [28, 28, 1], latentDim: 16 }, { seed: 1 });
 * ```
 */
export function createStage1Vae(
  config: VaeConfigInput,
  options: Partial<PluginContext> = {},
): Stage1VaeModel {
  const c = vaeConfigSchema.parse(config);
  const parts = partConfigs(c);
  const encoder = createSync('encoder', c.encoder.name, parts.encoder, {
    context: partContext(options, 'encoder'),
  });
  let decoder: Decoder;
  try {
    decoder = createSync('decoder', c.decoder.name, parts.decoder, {
      context: partContext(options, 'decoder'),
    });
  } catch (e) {
    encoder.dispose();
    throw e;
  }
  return new Stage1VaeModel(encoder, decoder, { ...c, config: c });
}

/** The `vae` plugin (kind `stage1`): the Two-Stage VAE's κ-simple stage-1 VAE. */
export const vaeStage1Plugin: PluginDefinition<'stage1', typeof vaeConfigSchema> = definePlugin({
  kind: 'stage1',
  name: 'vae',
  description:
    'κ-simple VAE: registry encoder + decoder, Gaussian (learned / fixed gamma) or Bernoulli decoder.',
  configSchema: vaeConfigSchema,
  async create(c, context): Promise<Stage1Model> {
    const parts = partConfigs(c);
    const encoder = await create('encoder', c.encoder.name, parts.encoder, {
      context: partContext(context, 'encoder'),
    });
    let decoder: Decoder;
    try {
      decoder = await create('decoder', c.decoder.name, parts.decoder, {
        context: partContext(context, 'decoder'),
      });
    } catch (e) {
      encoder.dispose();
      throw e;
    }
    return new Stage1VaeModel(encoder, decoder, { ...c, config: c });
  },
});

/** What {@link stage1Step} returns: the loss terms before the update, as numbers. */
export interface StepResult {
  readonly loss: number;
  readonly reconstruction: number;
  readonly kl: number;
  readonly gamma: number;
}

/**
 * One training step of a stage-1 VAE (or anything with the same `loss`): minimises the loss on `x`
 * in training mode with `optimizer` over `trainableVariables()`. A minimal helper for examples and
 * tests; `@tsvae/stages` owns the real training loop.
 */
export function stage1Step(
  vae: Pick<Stage1Model, 'loss' | 'trainableVariables'>,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  seed?: number,
): StepResult {
  let terms: [number, number, number] = [Number.NaN, Number.NaN, Number.NaN];
  const opts: LossOptions = seed === undefined ? { training: true } : { training: true, seed };
  const cost = optimizer.minimize(
    () => {
      const t = vae.loss(x, opts);
      terms = [
        t.reconstruction.dataSync()[0] as number,
        t.kl.dataSync()[0] as number,
        t.gamma.dataSync()[0] as number,
      ];
      return t.loss;
    },
    true,
    vae.trainableVariables(),
  );
  const loss = cost ? (cost.dataSync()[0] as number) : Number.NaN;
  cost?.dispose();
  return { loss, reconstruction: terms[0], kl: terms[1], gamma: terms[2] };
}
