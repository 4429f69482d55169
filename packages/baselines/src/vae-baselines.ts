/**
 * The VAE rows of Table 1 that the Two-Stage VAE's `vae` plugin does not cover, as `stage1`
 * plugins over the same registry encoders and decoders (`infogan` by default): `wae-mmd` (a
 * Wasserstein auto-encoder with the MMD penalty) and `vae-flow` (a VAE whose posterior is refined
 * by planar flows). `@tsvae/stages`' `trainTwoStage` trains them (with `stage2.epochs: 0`; sample
 * with `z ~ N(0, I)`, the run's one-stage sampling).
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  Decoder,
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
import { create, definePlugin, deriveSeed, z } from '@tsvae/core';
import { imageShapeSchema, Stage1VaeModel } from '@tsvae/layers';

const partSchema = (name: string) =>
  z.object({ name: z.string().min(1), config: z.record(z.string(), z.unknown()).default({}) }).default({
    name,
    config: {},
  });

/** The fields both plugins share with `@tsvae/layers`' `vae` (so `@tsvae/stages` passes them). */
const networkFields = {
  /** Encoder (registry reference; its config receives `latentDim` and `imageShape`). */
  encoder: partSchema('infogan'),
  /** Decoder (registry reference; its config receives `latentDim` and `imageShape`). */
  decoder: partSchema('infogan'),
  latentDim: z.number().int().positive().default(64),
  imageShape: imageShapeSchema,
};

type NetworkConfig = {
  encoder: { name: string; config: Record<string, unknown> };
  decoder: { name: string; config: Record<string, unknown> };
  latentDim: number;
  imageShape: number[];
};

/** Creates the encoder and decoder of a config, seeded like `@tsvae/layers`' `vae` does. */
async function createNetworks(
  c: NetworkConfig,
  context: Partial<PluginContext>,
): Promise<{ encoder: Encoder; decoder: Decoder }> {
  const shape = { latentDim: c.latentDim, imageShape: [...c.imageShape] };
  const partContext = (part: string): Partial<PluginContext> => ({
    ...(context.logger ? { logger: context.logger } : {}),
    ...(context.seed === undefined ? {} : { seed: deriveSeed(context.seed, part) }),
  });
  const encoder = await create(
    'encoder',
    c.encoder.name,
    { ...c.encoder.config, ...shape },
    {
      context: partContext('encoder'),
    },
  );
  try {
    const decoder = await create(
      'decoder',
      c.decoder.name,
      { ...c.decoder.config, ...shape },
      {
        context: partContext('decoder'),
      },
    );
    return { encoder, decoder };
  } catch (e) {
    encoder.dispose();
    throw e;
  }
}

/**
 * The `logSigma` a deterministic encoder reports: `log(1e-6)`, the floor of the `infogan` encoder's
 * sigma (`1e-6 + softplus`). Every dimension then counts as "active" in the stage-1 diagnostics,
 * and codes drawn as `mu + sigma * eps` are `mu` to 1e-6.
 */
export const DETERMINISTIC_LOG_SIGMA: number = Math.log(1e-6);

/**
 * The MMD estimate of WAE-MMD (Tolstikhin et al. 2018; their code's `mmd_penalty`, IMQ kernel)
 * between samples `q` and `p` `[n, d]`: for each scale `s`, `C = s * base` and
 * `k(x, y) = C / (C + |x - y|^2)`, the unbiased within-sample terms
 * `(sum_{i != j} k(q_i, q_j) + sum_{i != j} k(p_i, p_j)) / (n^2 - n)` minus the cross term
 * `2 sum_{i, j} k(q_i, p_j) / n^2`, summed over the scales.
 */
export function imqMmd(
  q: tf.Tensor2D,
  p: tf.Tensor2D,
  options: { readonly base: number; readonly scales: readonly number[] },
): tf.Scalar {
  return tf.tidy(() => {
    const n = q.shape[0];
    const sqDist = (a: tf.Tensor2D, b: tf.Tensor2D) => {
      const na = tf.sum(tf.square(a), 1, true);
      const nb = tf.sum(tf.square(b), 1, true);
      return tf.relu(tf.sub(tf.add(na, tf.transpose(nb)), tf.mul(2, tf.matMul(a, b, false, true))));
    };
    const dqq = sqDist(q, q);
    const dpp = sqDist(p, p);
    const dqp = sqDist(q, p);
    const offDiagonal = tf.sub(1, tf.eye(n));
    let stat: tf.Tensor = tf.scalar(0);
    for (const s of options.scales) {
      const c = s * options.base;
      const k = (d: tf.Tensor) => tf.div(c, tf.add(c, d));
      const within = tf.div(tf.sum(tf.mul(tf.add(k(dqq), k(dpp)), offDiagonal)), n * n - n);
      const cross = tf.div(tf.mul(2, tf.sum(k(dqp))), n * n);
      stat = tf.add(stat, tf.sub(within, cross));
    }
    return stat as tf.Scalar;
  });
}

/** Config schema of the `wae-mmd` stage-1 plugin. */
export const waeMmdConfigSchema = z.object({
  ...networkFields,
  /** Weight lambda of the MMD penalty (the WAE paper's and code's MNIST value: 10). */
  lambda: z.number().nonnegative().default(10),
  /** Scale of the prior `N(0, priorScale^2 I)` (the code's `pz_scale`: 1). */
  priorScale: z.number().positive().default(1),
  /** Kernel scales: `C = s * 2 latentDim priorScale^2` for each `s` (the code's 0.1 ... 10). */
  kernelScales: z.array(z.number().positive()).min(1).default([0.1, 0.2, 0.5, 1, 2, 5, 10]),
  /** The reconstruction cost `scale * sum (x - x_hat)^2` (the code's `l2sq` cost: 0.05). */
  reconstructionScale: z.number().positive().default(0.05),
});

/** The resolved config of `wae-mmd`. */
export type WaeMmdConfig = z.output<typeof waeMmdConfigSchema>;

/**
 * WAE-MMD (Tolstikhin et al. 2018): a deterministic encoder `z = mu(x)`, the cost
 * `reconstructionScale * |x - decoder(z)|^2` per example, plus `lambda * MMD(q(z), p(z))` with the
 * IMQ kernel ({@link imqMmd}) between the batch's codes and as many prior draws. `encode` returns
 * `mu` and {@link DETERMINISTIC_LOG_SIGMA}; `gamma()` is 1. In the loss terms, `reconstruction` is
 * the cost and `kl` holds `lambda * MMD` (the matching penalty in the KL's place).
 *
 * Weight names: `encoder/<name>`, `decoder/<name>` (as `@tsvae/layers`' `vae`).
 */
export class WaeMmdModel implements Stage1Model {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly latentDim: number;
  /** The networks' container (fixed gamma 1; it owns and names the weights). */
  private readonly base: Stage1VaeModel;

  constructor(
    encoder: Encoder,
    decoder: Decoder,
    readonly config: Omit<WaeMmdConfig, 'encoder' | 'decoder' | 'imageShape'>,
  ) {
    this.base = new Stage1VaeModel(encoder, decoder, { likelihood: 'fixed-gamma', fixedGamma: 1 });
    this.encoder = encoder;
    this.decoder = decoder;
    this.latentDim = this.base.latentDim;
  }

  trainableVariables(): tf.Variable[] {
    return this.base.trainableVariables();
  }
  getWeights(): NamedWeight[] {
    return this.base.getWeights();
  }
  setWeights(weights: readonly NamedWeight[]): void {
    this.base.setWeights(weights);
  }
  countParams(): number {
    return this.base.countParams();
  }
  dispose(): void {
    this.base.dispose();
  }

  encode(x: tf.Tensor4D, options: ForwardOptions): GaussianParams {
    return tf.tidy(() => {
      const { mu } = this.encoder.encode(x, options);
      return { mu, logSigma: tf.fill(mu.shape, DETERMINISTIC_LOG_SIGMA) as tf.Tensor2D };
    });
  }

  decode(z: tf.Tensor2D, options: ForwardOptions): tf.Tensor4D {
    return tf.tidy(() => this.decoder.decode(z, options).mean);
  }

  gamma(): number {
    return 1;
  }

  loss(x: tf.Tensor4D, options: LossOptions): VaeLossTerms {
    return tf.tidy(() => {
      const c = this.config;
      const { mu } = this.encoder.encode(x, options);
      const xr = this.decoder.decode(mu, options).mean;
      const sse = tf.sum(tf.square(tf.sub(x, xr)), [1, 2, 3]);
      const reconstruction = tf.mul(c.reconstructionScale, tf.mean(sse)) as tf.Scalar;
      const prior = tf.randomNormal(mu.shape, 0, c.priorScale, 'float32', options.seed) as tf.Tensor2D;
      const mmd = imqMmd(mu, prior, { base: 2 * this.latentDim * c.priorScale ** 2, scales: c.kernelScales });
      const penalty = tf.mul(c.lambda, mmd) as tf.Scalar;
      return {
        loss: tf.add(reconstruction, penalty) as tf.Scalar,
        reconstruction,
        kl: penalty,
        gamma: tf.scalar(1),
      };
    });
  }
}

/** The `wae-mmd` plugin (kind `stage1`). */
export const waeMmdStage1Plugin: PluginDefinition<'stage1', typeof waeMmdConfigSchema> = definePlugin({
  kind: 'stage1',
  name: 'wae-mmd',
  description: 'WAE-MMD: deterministic encoder, squared-error cost, IMQ-kernel MMD penalty (lambda 10).',
  configSchema: waeMmdConfigSchema,
  async create(c, context): Promise<Stage1Model> {
    const { encoder, decoder } = await createNetworks(c, context);
    const { encoder: _e, decoder: _d, imageShape: _s, ...rest } = c;
    return new WaeMmdModel(encoder, decoder, rest);
  },
});

/** Config schema of the `vae-flow` stage-1 plugin. */
export const vaeFlowConfigSchema = z.object({
  ...networkFields,
  /** Decoder likelihood (as the `vae` plugin's; default `learned-gamma`). */
  likelihood: z.enum(['learned-gamma', 'optimal-gamma', 'fixed-gamma', 'bernoulli']).default('learned-gamma'),
  gammaConvention: z.enum(['std', 'variance']).default('std'),
  fixedGamma: z.number().positive().finite().default(1),
  /** Lower bound of gamma for `optimal-gamma` (as the `vae` plugin's). */
  gammaFloor: z.number().positive().finite().default(1e-3),
  /** Number K of planar flow layers (Rezende & Mohamed report K = 10 to 80; 10). */
  flowLength: z.number().int().min(0).default(10),
  /** Standard deviation of the flow parameters' initial normal draws. */
  flowInitStd: z.number().positive().default(0.1),
});

/** The resolved config of `vae-flow`. */
export type VaeFlowConfig = z.output<typeof vaeFlowConfigSchema>;

/**
 * K planar flows (Rezende & Mohamed 2015), `f(z) = z + u_hat tanh(w^T z + b)` with
 * `u_hat = u + (m(w^T u) - w^T u) w / |w|^2`, `m(a) = -1 + softplus(a)` (so `w^T u_hat > -1` and
 * `f` is invertible), `log|det df/dz| = log(1 + (1 - tanh^2(w^T z + b)) w^T u_hat)`. The
 * parameters are global (shared by every input), `w` and `u` `[K, d]`, `b` `[K]`.
 */
export class PlanarFlow {
  readonly w: tf.Variable;
  readonly u: tf.Variable;
  readonly b: tf.Variable;
  constructor(
    readonly length: number,
    readonly dim: number,
    initStd: number,
    seed?: number,
  ) {
    const draw = (name: string) => (seed === undefined ? undefined : deriveSeed(seed, 'flow', name));
    [this.w, this.u, this.b] = tf.tidy(() => [
      tf.variable(tf.randomNormal([length, dim], 0, initStd, 'float32', draw('w')), true),
      tf.variable(tf.randomNormal([length, dim], 0, initStd, 'float32', draw('u')), true),
      tf.variable(tf.zeros([length]), true),
    ]);
  }

  /** `z_K = f_K(...f_1(z_0))` `[B, d]` and `sum_k log|det df_k/dz|` per example `[B]`. */
  forward(z0: tf.Tensor2D): { z: tf.Tensor2D; logDet: tf.Tensor1D } {
    return tf.tidy(() => {
      let z: tf.Tensor2D = z0;
      let logDet: tf.Tensor = tf.zeros([z0.shape[0]]);
      for (let k = 0; k < this.length; k++) {
        const w = tf.reshape(tf.slice(this.w, [k, 0], [1, this.dim]), [this.dim, 1]) as tf.Tensor2D;
        const u = tf.reshape(tf.slice(this.u, [k, 0], [1, this.dim]), [this.dim, 1]);
        const b = tf.slice(this.b, [k], [1]);
        const wu = tf.sum(tf.mul(w, u));
        const uHat = tf.add(
          u,
          tf.mul(tf.div(tf.sub(tf.sub(tf.softplus(wu), 1), wu), tf.sum(tf.square(w))), w),
        );
        const wuHat = tf.sum(tf.mul(w, uHat));
        const h = tf.tanh(tf.add(tf.matMul(z, w), b)); // [B, 1]
        z = tf.add(z, tf.matMul(h, tf.transpose(uHat))) as tf.Tensor2D;
        const det = tf.add(1, tf.mul(tf.sub(1, tf.square(h)), wuHat)); // > 0 since w^T u_hat > -1
        logDet = tf.add(logDet, tf.reshape(tf.log(det), [-1]));
      }
      return { z, logDet: logDet as tf.Tensor1D };
    });
  }

  variables(): tf.Variable[] {
    return [this.w, this.u, this.b];
  }

  dispose(): void {
    tf.dispose(this.variables());
  }
}

/**
 * A VAE whose Gaussian posterior `q0(z|x) = N(mu, sigma^2)` is refined by {@link PlanarFlow}s:
 * `z_0 = mu + sigma eps`, `z_K = f(z_0)`, the decoder sees `z_K`, and the KL term is the
 * single-sample estimate `log q_K(z_K|x) - log p(z_K)`
 * `= sum_j (-log sigma_j - eps_j^2 / 2 + z_K,j^2 / 2) - sum_k log|det df_k/dz|` (the `log 2 pi`
 * terms cancel). Likelihoods as the `vae` plugin (learned gamma by default). `encode` returns the
 * base posterior `q0`'s parameters; samples are `decode(z)`, `z ~ N(0, I)`.
 *
 * Weight names: `encoder/<name>`, `decoder/<name>`, `logGamma` (learned gamma), `flow/w`,
 * `flow/u`, `flow/b`.
 */
export class VaeFlowModel implements Stage1Model {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly latentDim: number;
  /** The networks and the likelihood (`@tsvae/layers`' stage-1 VAE; it owns and names their weights). */
  readonly base: Stage1VaeModel;
  readonly flow: PlanarFlow;

  constructor(
    encoder: Encoder,
    decoder: Decoder,
    config: Pick<
      VaeFlowConfig,
      'likelihood' | 'gammaConvention' | 'fixedGamma' | 'flowLength' | 'flowInitStd'
    > &
      Partial<Pick<VaeFlowConfig, 'gammaFloor'>>,
    seed?: number,
  ) {
    this.base = new Stage1VaeModel(encoder, decoder, {
      likelihood: config.likelihood,
      gammaConvention: config.gammaConvention,
      fixedGamma: config.fixedGamma,
      ...(config.gammaFloor === undefined ? {} : { gammaFloor: config.gammaFloor }),
    });
    this.encoder = encoder;
    this.decoder = decoder;
    this.latentDim = this.base.latentDim;
    this.flow = new PlanarFlow(config.flowLength, this.latentDim, config.flowInitStd, seed);
  }

  trainableVariables(): tf.Variable[] {
    return [...this.base.trainableVariables(), ...this.flow.variables()];
  }
  getWeights(): NamedWeight[] {
    return [
      ...this.base.getWeights(),
      { name: 'flow/w', tensor: this.flow.w },
      { name: 'flow/u', tensor: this.flow.u },
      { name: 'flow/b', tensor: this.flow.b },
    ];
  }
  setWeights(weights: readonly NamedWeight[]): void {
    const flow = (name: string, v: tf.Variable) => {
      const t = weights.find((w) => w.name === `flow/${name}`)?.tensor;
      if (!t) throw new Error(`setWeights: missing weight "flow/${name}"`);
      if (!tf.util.arraysEqual(t.shape, v.shape)) {
        throw new Error(`setWeights: weight "flow/${name}" has shape [${t.shape}], expected [${v.shape}]`);
      }
      return t;
    };
    const ts = [flow('w', this.flow.w), flow('u', this.flow.u), flow('b', this.flow.b)];
    this.base.setWeights(weights.filter((w) => !w.name.startsWith('flow/')));
    this.flow.w.assign(ts[0] as tf.Tensor);
    this.flow.u.assign(ts[1] as tf.Tensor);
    this.flow.b.assign(ts[2] as tf.Tensor);
  }
  countParams(): number {
    return this.base.countParams() + this.flow.variables().reduce((s, v) => s + v.size, 0);
  }
  dispose(): void {
    this.base.dispose();
    this.flow.dispose();
  }

  encode(x: tf.Tensor4D, options: ForwardOptions): GaussianParams {
    return this.encoder.encode(x, options);
  }
  decode(z: tf.Tensor2D, options: ForwardOptions): tf.Tensor4D {
    return this.base.decode(z, options);
  }
  gamma(): number {
    return this.base.gamma();
  }

  loss(x: tf.Tensor4D, options: LossOptions): VaeLossTerms {
    return tf.tidy(() => {
      const { mu, logSigma } = this.encoder.encode(x, options);
      const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', options.seed);
      const z0 = tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D;
      const { z, logDet } = this.flow.forward(z0);
      const { reconstruction, logGamma } = this.base.reconstructionTerm(
        x,
        this.decoder.decode(z, options),
        options,
      );
      const perExample = tf.sub(
        tf.sum(tf.add(tf.neg(logSigma), tf.mul(0.5, tf.sub(tf.square(z), tf.square(eps)))), 1),
        logDet,
      );
      const kl = tf.mean(perExample) as tf.Scalar;
      return {
        loss: tf.add(reconstruction, kl) as tf.Scalar,
        reconstruction,
        kl,
        gamma: tf.exp(logGamma) as tf.Scalar,
      };
    });
  }
}

/** The `vae-flow` plugin (kind `stage1`). */
export const vaeFlowStage1Plugin: PluginDefinition<'stage1', typeof vaeFlowConfigSchema> = definePlugin({
  kind: 'stage1',
  name: 'vae-flow',
  description: 'VAE + planar normalising flow on the posterior (K = 10), learned gamma by default.',
  configSchema: vaeFlowConfigSchema,
  async create(c, context): Promise<Stage1Model> {
    const { encoder, decoder } = await createNetworks(c, context);
    return new VaeFlowModel(
      encoder,
      decoder,
      c,
      context.seed === undefined ? undefined : deriveSeed(context.seed, 'flow'),
    );
  },
});
