/**
 * The second-stage `mlp` VAE of the Two-Stage VAE: a VAE on the stage-1 codes `z` with skip
 * concatenations and its own learned `logGamma_z`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import type { ForwardOptions, LossOptions, PluginDefinition, SecondStage, VaeLossTerms } from '@tsvae/core';
import { definePlugin, deriveSeed, z } from '@tsvae/core';
import { gammaLogStd, gaussianNll, klStandardNormal, optimalLogGamma } from '@tsvae/distributions';
import { type KernelInit, LearnedGamma, layerInitializers } from './custom-layers';
import { LayersModule, runModel } from './module';
import type { GammaConvention } from './types';

/** The resolved config of the `mlp` second stage. */
export interface MlpConfig {
  /** Dimension of the stage-1 code `z`. */
  readonly latentDim: number;
  /** Dimension of the stage-2 code `u` (default: `latentDim`). */
  readonly secondLatentDim: number;
  /** Hidden layers per network (3). */
  readonly depth: number;
  /** Hidden width (1024). */
  readonly width: number;
  readonly gammaConvention: GammaConvention;
  /**
   * `learned` (the reference code: `logGamma_z` trained by the optimiser) or `optimal` (set at
   * every step to its closed-form optimum for the batch, floored at `gammaFloor`).
   */
  readonly gamma: 'learned' | 'optimal';
  /** Lower bound of gamma_z for `gamma: 'optimal'`. */
  readonly gammaFloor: number;
  /** Kernel initialiser: `glorot-uniform` (the reference code's `tf.layers.dense`) or `normal-0.02`. */
  readonly kernelInit: 'glorot-uniform' | 'normal-0.02';
}

/**
 * Config schema of the `mlp` second stage: `latentDim` (64), `secondLatentDim` (= latentDim),
 * `depth` (3), `width` (1024), `gammaConvention` (`std`), `gamma` (`learned`), `gammaFloor`
 * (1e-3), `kernelInit` (`glorot-uniform`).
 */
export const mlpConfigSchema = z
  .object({
    latentDim: z.number().int().positive().default(64),
    secondLatentDim: z.number().int().positive().optional(),
    depth: z.number().int().nonnegative().default(3),
    width: z.number().int().positive().default(1024),
    gammaConvention: z.enum(['std', 'variance']).default('std'),
    gamma: z.enum(['learned', 'optimal']).default('learned'),
    gammaFloor: z.number().positive().finite().default(1e-3),
    kernelInit: z.enum(['glorot-uniform', 'normal-0.02']).default('glorot-uniform'),
  })
  .transform(
    (c): MlpConfig => ({
      latentDim: c.latentDim,
      secondLatentDim: c.secondLatentDim ?? c.latentDim,
      depth: c.depth,
      width: c.width,
      gammaConvention: c.gammaConvention,
      gamma: c.gamma,
      gammaFloor: c.gammaFloor,
      kernelInit: c.kernelInit,
    }),
  );

function sym(x: unknown): SymbolicTensor {
  return x as SymbolicTensor;
}

type Init = ReturnType<typeof layerInitializers>;

function hidden(c: MlpConfig, x: SymbolicTensor, init: Init): SymbolicTensor {
  let t = x;
  for (let i = 0; i < c.depth; i++) {
    t = sym(
      layers
        .dense({
          units: c.width,
          activation: 'relu',
          kernelInitializer: init(c.kernelInit as KernelInit, `fc${i}`),
          name: `fc${i}`,
        })
        .apply(t),
    );
  }
  return c.depth === 0 ? x : sym(layers.concatenate({ axis: -1, name: 'skip_concat' }).apply([x, t]));
}

/** Stage-2 encoder: z -> depth x dense(width, ReLU) -> concat[z, h] -> dense mu_u, dense log sigma_u. */
export function buildMlpEncoderModel(c: MlpConfig, seed?: number): LayersModel {
  const zIn = input({ shape: [c.latentDim], name: 'z' });
  const init = layerInitializers(seed);
  const t = hidden(c, zIn, init);
  const kind = c.kernelInit as KernelInit;
  const mu = sym(
    layers.dense({ units: c.secondLatentDim, kernelInitializer: init(kind, 'mu_u'), name: 'mu_u' }).apply(t),
  );
  const ls = sym(
    layers
      .dense({ units: c.secondLatentDim, kernelInitializer: init(kind, 'logsd_u'), name: 'logsd_u' })
      .apply(t),
  );
  return model({ inputs: zIn, outputs: [mu, ls], name: 'mlp_encoder' });
}

/**
 * Stage-2 decoder: u -> depth x dense(width, ReLU) -> concat[u, h] -> dense z_hat; plus a
 * {@link LearnedGamma} output (`logGamma_z` repeated, `[B, 1]`) so the model serialises it.
 */
export function buildMlpDecoderModel(c: MlpConfig, seed?: number): LayersModel {
  const uIn = input({ shape: [c.secondLatentDim], name: 'u' });
  const init = layerInitializers(seed);
  const t = hidden(c, uIn, init);
  const zHat = sym(
    layers
      .dense({
        units: c.latentDim,
        kernelInitializer: init(c.kernelInit as KernelInit, 'z_hat'),
        name: 'z_hat',
      })
      .apply(t),
  );
  const lg = sym(
    new LearnedGamma({
      convention: c.gammaConvention,
      trainable: c.gamma === 'learned',
      name: 'loggamma_z',
    }).apply(uIn),
  );
  return model({ inputs: uIn, outputs: [zHat, lg], name: 'mlp_decoder' });
}

/**
 * The Two-Stage VAE's second stage. Loss on codes `z` (averaged over the batch):
 * `KL(q(u|z) || N(0, I)) + NLL(z | z_hat, gamma_z)`; sampling: `u ~ N(0, I)`,
 * `z = decoder(u) + gamma_z * eps` (gamma_z the noise std in the `std` convention, `sqrt(gamma_z)`
 * in the `variance` one).
 */
export class MlpSecondStage extends LayersModule implements SecondStage {
  readonly latentDim: number;
  readonly config: MlpConfig;
  readonly encoderModel: LayersModel;
  readonly decoderModel: LayersModel;
  private readonly gammaLayer: LearnedGamma;

  /** `seed`: of the initial weights (see `PluginContext.seed`); unseeded without one. */
  constructor(config: MlpConfig, seed?: number) {
    const enc = buildMlpEncoderModel(config, seed === undefined ? undefined : deriveSeed(seed, 'encoder'));
    const dec = buildMlpDecoderModel(config, seed === undefined ? undefined : deriveSeed(seed, 'decoder'));
    super({ 'encoder/': enc, 'decoder/': dec });
    this.config = config;
    this.latentDim = config.latentDim;
    this.encoderModel = enc;
    this.decoderModel = dec;
    this.gammaLayer = dec.getLayer('loggamma_z') as LearnedGamma;
  }

  /** The scalar `logGamma_z` variable. */
  logGamma(): tf.Variable {
    return this.gammaLayer.logGamma();
  }

  /** `gamma_z = exp(logGamma_z)` (in the config's convention). */
  gamma(): number {
    return this.gammaLayer.gamma();
  }

  /** `q(u|z)` parameters. */
  encode(zIn: tf.Tensor2D, options: ForwardOptions): { mu: tf.Tensor2D; logSigma: tf.Tensor2D } {
    return tf.tidy(() => {
      const [mu, logSigma] = runModel(this.encoderModel, zIn, options.training) as [tf.Tensor2D, tf.Tensor2D];
      return { mu, logSigma };
    });
  }

  /** The decoder mean `z_hat` for codes `u`. */
  decode(u: tf.Tensor2D, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const [zHat] = runModel(this.decoderModel, u, options.training) as [tf.Tensor2D];
      return zHat;
    });
  }

  loss(zIn: tf.Tensor2D, options: LossOptions): VaeLossTerms {
    return tf.tidy(() => {
      const { mu, logSigma } = this.encode(zIn, options);
      const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', options.seed);
      const u = tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D;
      const zHat = this.decode(u, options);
      let lg: tf.Tensor = this.logGamma();
      if (this.config.gamma === 'optimal') {
        lg = optimalLogGamma(zIn, zHat, this.config.gammaConvention, this.config.gammaFloor);
        if (options.training) this.gammaLayer.setLogGamma(lg);
      }
      const reconstruction = tf.mean(gaussianNll(zIn, zHat, lg, this.config.gammaConvention)) as tf.Scalar;
      const kl = tf.mean(klStandardNormal(mu, logSigma)) as tf.Scalar;
      return {
        loss: tf.add(reconstruction, kl) as tf.Scalar,
        reconstruction,
        kl,
        gamma: tf.exp(lg) as tf.Scalar,
      };
    });
  }

  /** `u ~ N(0, I)`, `z = decoder(u) + gamma_z * eps`; `seed` fixes both draws (`u` and `eps` get seeds derived from it). */
  sample(n: number, options: { readonly seed?: number } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const seed = options.seed;
      const draw = (purpose: string) => (seed === undefined ? undefined : deriveSeed(seed, purpose));
      const u = tf.randomNormal([n, this.config.secondLatentDim], 0, 1, 'float32', draw('u')) as tf.Tensor2D;
      const zHat = this.decode(u, { training: false });
      const eps = tf.randomNormal(zHat.shape, 0, 1, 'float32', draw('eps'));
      const std = tf.exp(gammaLogStd(this.logGamma(), this.config.gammaConvention));
      return tf.add(zHat, tf.mul(std, eps)) as tf.Tensor2D;
    });
  }

  diagnostics(): Record<string, number> {
    return { gamma: this.gamma() };
  }
}

/** The `mlp` second-stage plugin (kind `second-stage`). */
export const mlpSecondStagePlugin: PluginDefinition<'second-stage', typeof mlpConfigSchema> = definePlugin({
  kind: 'second-stage',
  name: 'mlp',
  description: "The Two-Stage VAE's second stage: dense VAE with skip concat and learned gamma_z.",
  configSchema: mlpConfigSchema,
  create: (config, context): SecondStage => new MlpSecondStage(config, context.seed),
});
