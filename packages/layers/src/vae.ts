/**
 * The stage-1 κ-simple VAE: a registry encoder and decoder plus the decoder likelihood.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Decoder, Encoder, ForwardOptions, GaussianParams, ImageShape, NamedWeight } from '@tsvae/core';
import { create, createSync } from '@tsvae/core';
import { bernoulliNll, DEFAULT_BERNOULLI_CLAMP, gaussianNll, klStandardNormal } from '@tsvae/distributions';
import { LearnedGamma } from './custom-layers';
import type {
  GammaConvention,
  Likelihood,
  PluginRef,
  Stage1Vae,
  VaeLossOptions,
  VaeLossTerms,
} from './types';

/** What {@link createStage1Vae} builds a VAE from. */
export interface Stage1VaeSpec {
  /** Encoder plugin (registry kind `encoder`); its config receives `latentDim` and `imageShape`. */
  readonly encoder: PluginRef;
  /** Decoder plugin (registry kind `decoder`); its config receives `latentDim` and `imageShape`. */
  readonly decoder: PluginRef;
  /** κ; default 64. */
  readonly latentDim?: number;
  /** Image shape `[H, W, C]`. */
  readonly imageShape: ImageShape;
  /** Default `learned-gamma`. */
  readonly likelihood?: Likelihood;
  /** Default `std` (the reference code's convention: gamma is a standard deviation). */
  readonly gammaConvention?: GammaConvention;
  /** The gamma of the `fixed-gamma` likelihood (in the model's convention); default 1. */
  readonly fixedGamma?: number;
}

/** A {@link Stage1VaeSpec} with every default filled in and the plugin configs as passed to the registry. */
export interface ResolvedStage1VaeSpec {
  readonly encoder: { readonly name: string; readonly config: Readonly<Record<string, unknown>> };
  readonly decoder: { readonly name: string; readonly config: Readonly<Record<string, unknown>> };
  readonly latentDim: number;
  readonly imageShape: ImageShape;
  readonly likelihood: Likelihood;
  readonly gammaConvention: GammaConvention;
  readonly fixedGamma: number;
}

const LIKELIHOODS: readonly Likelihood[] = ['learned-gamma', 'fixed-gamma', 'bernoulli'];

/** Fills in the defaults of a spec and checks it; errors name the offending field. */
export function resolveStage1VaeSpec(spec: Stage1VaeSpec): ResolvedStage1VaeSpec {
  const latentDim = spec.latentDim ?? 64;
  const likelihood = spec.likelihood ?? 'learned-gamma';
  const gammaConvention = spec.gammaConvention ?? 'std';
  const fixedGamma = spec.fixedGamma ?? 1;
  if (!Number.isInteger(latentDim) || latentDim <= 0) {
    throw new Error(`createStage1Vae: latentDim must be a positive integer, got ${latentDim}`);
  }
  if (!LIKELIHOODS.includes(likelihood)) {
    throw new Error(
      `createStage1Vae: likelihood must be one of ${LIKELIHOODS.join(', ')}, got '${likelihood}'`,
    );
  }
  if (gammaConvention !== 'std' && gammaConvention !== 'variance') {
    throw new Error(`createStage1Vae: gammaConvention must be 'std' or 'variance', got '${gammaConvention}'`);
  }
  if (!(fixedGamma > 0) || !Number.isFinite(fixedGamma)) {
    throw new Error(`createStage1Vae: fixedGamma must be a positive number, got ${fixedGamma}`);
  }
  const shape = spec.imageShape;
  if (!Array.isArray(shape) || shape.length !== 3 || shape.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new Error(
      `createStage1Vae: imageShape must be [height, width, channels], got ${JSON.stringify(shape)}`,
    );
  }
  const imageShape: ImageShape = [shape[0], shape[1], shape[2]];
  const withShape = (ref: PluginRef) => ({
    name: ref.name,
    config: { ...ref.config, latentDim, imageShape: [...imageShape] },
  });
  return {
    encoder: withShape(spec.encoder),
    decoder: withShape(spec.decoder),
    latentDim,
    imageShape,
    likelihood,
    gammaConvention,
    fixedGamma,
  };
}

/** Options of {@link Stage1VaeModel}. */
export interface Stage1VaeOptions {
  readonly likelihood?: Likelihood;
  readonly gammaConvention?: GammaConvention;
  readonly fixedGamma?: number;
  /** Recorded for saving (see `saveStage1Vae`); set by {@link createStage1Vae}. */
  readonly spec?: ResolvedStage1VaeSpec;
}

/**
 * A stage-1 VAE from an encoder and a decoder (any implementations of core's interfaces).
 * Loss on `x` in [0, 1], averaged over the batch and summed over dimensions:
 * `KL = sum(mu^2 + sigma^2 - 2 log sigma - 1) / 2` plus the NLL of the likelihood: Gaussian with a
 * learned scalar `logGamma` (a {@link LearnedGamma}, initialised to 0), Gaussian with a fixed gamma,
 * or Bernoulli cross-entropy (from the decoder's logits when it has them). `z = mu + sigma * eps`.
 *
 * Weight names: `encoder/<name>`, `decoder/<name>`, and `logGamma` when learned.
 */
export class Stage1VaeModel implements Stage1Vae {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly latentDim: number;
  readonly likelihood: Likelihood;
  readonly gammaConvention: GammaConvention;
  /** The fixed gamma (`fixed-gamma` likelihood). */
  readonly fixedGamma: number;
  /** The spec it was built from, when built by {@link createStage1Vae}. */
  readonly spec: ResolvedStage1VaeSpec | undefined;
  /** The learned `logGamma` layer (`learned-gamma` only). */
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
    this.spec = options.spec;
    if (this.likelihood === 'learned-gamma') {
      this.gammaLayer = new LearnedGamma({ convention: this.gammaConvention, name: 'loggamma_x' });
      this.gammaLayer.ensureBuilt();
      this.fixedLogGamma = null;
    } else {
      this.gammaLayer = null;
      this.fixedLogGamma = tf.keep(
        tf.scalar(this.likelihood === 'fixed-gamma' ? Math.log(this.fixedGamma) : 0),
      );
    }
  }

  /** `logGamma`: the learned variable, or the fixed value (0 for Bernoulli). */
  logGamma(): tf.Scalar {
    return this.gammaLayer ? (this.gammaLayer.logGamma() as tf.Scalar) : (this.fixedLogGamma as tf.Scalar);
  }

  trainableVariables(): tf.Variable[] {
    return [
      ...this.encoder.trainableVariables(),
      ...this.decoder.trainableVariables(),
      ...(this.gammaLayer ? [this.gammaLayer.logGamma()] : []),
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
    if (this.gammaLayer && lg) this.gammaLayer.logGamma().assign(tf.tidy(() => tf.reshape(lg, [])));
  }

  countParams(): number {
    return this.encoder.countParams() + this.decoder.countParams() + (this.gammaLayer ? 1 : 0);
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

  loss(x: tf.Tensor4D, options: VaeLossOptions): VaeLossTerms {
    return tf.tidy(() => {
      const { mu, logSigma } = this.encoder.encode(x, options);
      const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', options.seed);
      const z = tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D;
      const out = this.decoder.decode(z, options);
      const logGamma = this.logGamma();
      let nll: tf.Tensor1D;
      if (this.likelihood === 'bernoulli') {
        nll = out.logits
          ? bernoulliNll(x, out.logits, { from: 'logits' })
          : bernoulliNll(x, out.mean, { from: 'probs', clamp: DEFAULT_BERNOULLI_CLAMP });
      } else {
        nll = gaussianNll(x, out.mean, logGamma, this.gammaConvention);
      }
      const reconstruction = tf.mean(nll) as tf.Scalar;
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
 * Builds a stage-1 VAE whose encoder and decoder come from the process-wide registry (their configs
 * receive `latentDim` and `imageShape`). Synchronous: the plugin factories must return
 * synchronously (every built-in one does); see {@link createStage1VaeAsync} otherwise.
 *
 * @example
 * ```ts
 * import '@tsvae/layers';
 * const vae = createStage1Vae({ encoder: { name: 'infogan' }, decoder: { name: 'infogan' }, imageShape: [28, 28, 1] });
 * ```
 */
export function createStage1Vae(spec: Stage1VaeSpec): Stage1VaeModel {
  const r = resolveStage1VaeSpec(spec);
  const encoder = createSync('encoder', r.encoder.name, r.encoder.config);
  let decoder: Decoder;
  try {
    decoder = createSync('decoder', r.decoder.name, r.decoder.config);
  } catch (e) {
    encoder.dispose();
    throw e;
  }
  return new Stage1VaeModel(encoder, decoder, { ...r, spec: r });
}

/** {@link createStage1Vae} for plugins with asynchronous factories. */
export async function createStage1VaeAsync(spec: Stage1VaeSpec): Promise<Stage1VaeModel> {
  const r = resolveStage1VaeSpec(spec);
  const encoder = await create('encoder', r.encoder.name, r.encoder.config);
  let decoder: Decoder;
  try {
    decoder = await create('decoder', r.decoder.name, r.decoder.config);
  } catch (e) {
    encoder.dispose();
    throw e;
  }
  return new Stage1VaeModel(encoder, decoder, { ...r, spec: r });
}

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
  vae: Pick<Stage1Vae, 'loss' | 'trainableVariables'>,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  seed?: number,
): StepResult {
  let terms: [number, number, number] = [Number.NaN, Number.NaN, Number.NaN];
  const opts: VaeLossOptions = seed === undefined ? { training: true } : { training: true, seed };
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
