/**
 * @packageDocumentation
 * Test helpers of `@tsvae/stages` (the `@tsvae/stages/testing` subpath, not the main API): small
 * plugins that train in seconds (`tiny-dense`, `tiny-mlp`, `tiny-manifold`) — also examples of how
 * to write an encoder, decoder, second stage or dataset plugin — and small configs of the
 * production networks for tests.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type {
  DataSplit,
  Dataset,
  Decoder,
  Encoder,
  ImageShape,
  NamedWeight,
  PluginDefinition,
  SecondStage,
  Stage1Model,
} from '@tsvae/core';
import { createRng, definePlugin, deriveSeed, getRegistry, z } from '@tsvae/core';
import { gaussianNll, klStandardNormal } from '@tsvae/distributions';
import { mergeConfig, type RunConfigInput } from './config';

/** A dense layer's variables. */
interface Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
}

function dense(inDim: number, outDim: number, std: number, seed: number | undefined, name: string): Dense {
  const s = seed === undefined ? undefined : deriveSeed(seed, name);
  return tf.tidy(() => ({
    w: tf.variable(tf.randomNormal([inDim, outDim], 0, std, 'float32', s), true),
    b: tf.variable(tf.zeros([outDim]), true),
  }));
}

function apply(l: Dense, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(x, l.w), l.b) as tf.Tensor2D;
}

class DenseStack {
  constructor(readonly layers: Record<string, Dense>) {}
  trainableVariables(): tf.Variable[] {
    return Object.values(this.layers).flatMap((l) => [l.w, l.b]);
  }
  getWeights(): NamedWeight[] {
    return Object.entries(this.layers).flatMap(([n, l]) => [
      { name: `${n}/kernel`, tensor: l.w },
      { name: `${n}/bias`, tensor: l.b },
    ]);
  }
  setWeights(weights: readonly NamedWeight[]): void {
    const byName = new Map(weights.map((w) => [w.name, w.tensor]));
    for (const [n, l] of Object.entries(this.layers)) {
      for (const [suffix, v] of [
        ['kernel', l.w],
        ['bias', l.b],
      ] as const) {
        const t = byName.get(`${n}/${suffix}`);
        if (!t) throw new Error(`setWeights: missing weight "${n}/${suffix}"`);
        if (!tf.util.arraysEqual(t.shape, v.shape)) {
          throw new Error(`setWeights: "${n}/${suffix}" has shape [${t.shape}], expected [${v.shape}]`);
        }
        if (t !== v) v.assign(t);
      }
    }
  }
  countParams(): number {
    return this.trainableVariables().reduce((s, v) => s + v.size, 0);
  }
  dispose(): void {
    for (const v of this.trainableVariables()) v.dispose();
  }
}

const imageShapeSchema = z
  .tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()])
  .readonly();

const denseConfig = z
  .object({
    latentDim: z.number().int().positive(),
    /** Image shape `[H, W, C]`; `inputShape` (encoder) / `outputShape` (decoder) are accepted too. */
    imageShape: imageShapeSchema.optional(),
    inputShape: imageShapeSchema.optional(),
    outputShape: imageShapeSchema.optional(),
    hidden: z.number().int().positive().default(32),
    /** Decoder output: `sigmoid` (images in [0, 1], the default) or `linear` (real-valued vectors). */
    output: z.enum(['sigmoid', 'linear']).default('sigmoid'),
  })
  .transform((c, ctx) => {
    const imageShape = c.imageShape ?? c.inputShape ?? c.outputShape;
    if (!imageShape) {
      ctx.addIssue({ code: 'custom', path: ['imageShape'], message: 'imageShape [H, W, C] is required' });
      return z.NEVER;
    }
    return { latentDim: c.latentDim, hidden: c.hidden, output: c.output, imageShape };
  });

/**
 * `tiny-dense` encoder: flatten -> dense(hidden, ReLU) -> dense mu, dense log sigma. For tests and
 * examples (it trains in seconds on a CPU); not a model for real images.
 */
export const tinyDenseEncoder: PluginDefinition<'encoder', typeof denseConfig> = definePlugin({
  kind: 'encoder',
  name: 'tiny-dense',
  description: 'A one-hidden-layer dense encoder for tests and examples.',
  configSchema: denseConfig,
  create(config, context): Encoder {
    const d = config.imageShape[0] * config.imageShape[1] * config.imageShape[2];
    const seed = context.seed;
    const s = new DenseStack({
      h: dense(d, config.hidden, Math.sqrt(2 / d), seed, 'h'),
      mu: dense(config.hidden, config.latentDim, 0.02, seed, 'mu'),
      logSigma: dense(config.hidden, config.latentDim, 0.02, seed, 'logSigma'),
    });
    const L = s.layers as Record<'h' | 'mu' | 'logSigma', Dense>;
    return {
      inputShape: config.imageShape as ImageShape,
      latentDim: config.latentDim,
      trainableVariables: () => s.trainableVariables(),
      getWeights: () => s.getWeights(),
      setWeights: (w) => s.setWeights(w),
      countParams: () => s.countParams(),
      dispose: () => s.dispose(),
      encode: (x) =>
        tf.tidy(() => {
          const h = tf.relu(apply(L.h, tf.reshape(x, [x.shape[0], d]) as tf.Tensor2D)) as tf.Tensor2D;
          return { mu: apply(L.mu, h), logSigma: apply(L.logSigma, h) };
        }),
    };
  },
});

/**
 * `tiny-dense` decoder: dense(hidden, ReLU) -> dense(H*W*C) -> sigmoid (or linear, `output:
 * 'linear'`, for real-valued data). For tests and examples.
 */
export const tinyDenseDecoder: PluginDefinition<'decoder', typeof denseConfig> = definePlugin({
  kind: 'decoder',
  name: 'tiny-dense',
  description: 'A one-hidden-layer dense decoder for tests and examples.',
  configSchema: denseConfig,
  create(config, context): Decoder {
    const [hh, ww, cc] = config.imageShape;
    const d = hh * ww * cc;
    const s = new DenseStack({
      h: dense(config.latentDim, config.hidden, Math.sqrt(2 / config.latentDim), context.seed, 'h'),
      out: dense(config.hidden, d, 0.02, context.seed, 'out'),
    });
    const L = s.layers as Record<'h' | 'out', Dense>;
    return {
      outputShape: config.imageShape as ImageShape,
      latentDim: config.latentDim,
      trainableVariables: () => s.trainableVariables(),
      getWeights: () => s.getWeights(),
      setWeights: (w) => s.setWeights(w),
      countParams: () => s.countParams(),
      dispose: () => s.dispose(),
      decode: (zz) =>
        tf.tidy(() => {
          const logits = tf.reshape(apply(L.out, tf.relu(apply(L.h, zz)) as tf.Tensor2D), [
            zz.shape[0],
            hh,
            ww,
            cc,
          ]) as tf.Tensor4D;
          return config.output === 'linear' ? { mean: logits } : { mean: tf.sigmoid(logits), logits };
        }),
    };
  },
});

const secondConfig = z.object({
  latentDim: z.number().int().positive(),
  secondLatentDim: z.number().int().positive().optional(),
  width: z.number().int().positive().default(64),
  gammaConvention: z.enum(['std', 'variance']).default('std'),
});

/**
 * `tiny-mlp` second stage: a small VAE on the codes z (encoder dense(width, ReLU) -> concat[z, h]
 * -> mu_u, log sigma_u; decoder dense(width, ReLU) -> concat[u, h] -> z_hat; learned scalar
 * log gamma_z). The recipe's network with depth 1. Shows how to plug in a second stage.
 */
export const tinyMlpSecondStage: PluginDefinition<'second-stage', typeof secondConfig> = definePlugin({
  kind: 'second-stage',
  name: 'tiny-mlp',
  description: 'A depth-1 second-stage VAE for tests and examples.',
  configSchema: secondConfig,
  create(config, context): SecondStage {
    const k = config.latentDim;
    const u = config.secondLatentDim ?? k;
    const w = config.width;
    const seed = context.seed;
    const s = new DenseStack({
      encH: dense(k, w, Math.sqrt(2 / k), seed, 'encH'),
      encMu: dense(k + w, u, 0.02, seed, 'encMu'),
      encLogSigma: dense(k + w, u, 0.02, seed, 'encLogSigma'),
      decH: dense(u, w, Math.sqrt(2 / u), seed, 'decH'),
      decOut: dense(u + w, k, 0.02, seed, 'decOut'),
    });
    const L = s.layers as Record<'encH' | 'encMu' | 'encLogSigma' | 'decH' | 'decOut', Dense>;
    const logGamma = tf.tidy(() => tf.variable(tf.scalar(0), true));
    const decode = (uu: tf.Tensor2D): tf.Tensor2D => {
      const h = tf.relu(apply(L.decH, uu)) as tf.Tensor2D;
      return apply(L.decOut, tf.concat([uu, h], 1) as tf.Tensor2D);
    };
    const noiseStd = (): tf.Scalar =>
      (config.gammaConvention === 'std' ? tf.exp(logGamma) : tf.exp(tf.mul(logGamma, 0.5))) as tf.Scalar;
    return {
      latentDim: k,
      trainableVariables: () => [...s.trainableVariables(), logGamma],
      getWeights: () => [...s.getWeights(), { name: 'logGammaZ', tensor: logGamma }],
      setWeights(weights) {
        s.setWeights(weights);
        const lg = weights.find((x) => x.name === 'logGammaZ');
        if (!lg) throw new Error('setWeights: missing weight "logGammaZ"');
        logGamma.assign(lg.tensor as tf.Scalar);
      },
      countParams: () => s.countParams() + 1,
      dispose() {
        s.dispose();
        logGamma.dispose();
      },
      loss: (zz, opts) =>
        tf.tidy(() => {
          const h = tf.relu(apply(L.encH, zz)) as tf.Tensor2D;
          const zh = tf.concat([zz, h], 1) as tf.Tensor2D;
          const mu = apply(L.encMu, zh);
          const logSigma = apply(L.encLogSigma, zh);
          const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', opts.seed);
          const uu = tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D;
          const recon = tf.mean(gaussianNll(zz, decode(uu), logGamma, config.gammaConvention)) as tf.Scalar;
          const kl = tf.mean(klStandardNormal(mu, logSigma)) as tf.Scalar;
          return { loss: tf.add(recon, kl) as tf.Scalar, reconstruction: recon, kl };
        }),
      sample: (n, opts) =>
        tf.tidy(() => {
          const seed = opts?.seed;
          const draw = (purpose: string) => (seed === undefined ? undefined : deriveSeed(seed, purpose));
          const uu = tf.randomNormal([n, u], 0, 1, 'float32', draw('u')) as tf.Tensor2D;
          const eps = tf.randomNormal([n, k], 0, 1, 'float32', draw('eps'));
          return tf.add(decode(uu), tf.mul(noiseStd(), eps)) as tf.Tensor2D;
        }),
      diagnostics: () => ({ gamma: Math.exp(logGamma.dataSync()[0] as number) }),
    };
  },
});

const manifoldConfig = z.object({
  /** Intrinsic dimension r. */
  intrinsicDim: z.number().int().positive().default(2),
  /** Side of the square images. */
  side: z.number().int().positive().default(4),
  size: z.number().int().positive().default(512),
  seed: z.number().int().default(7),
});

/**
 * `tiny-manifold` dataset: `size` images of `side x side x 1` on an r-dimensional manifold,
 * `x = sigmoid(A u + b)` with `u ~ N(0, I_r)` and fixed random `A`, `b`; float32 data. For tests.
 */
export const tinyManifoldDataset: PluginDefinition<'dataset', typeof manifoldConfig> = definePlugin({
  kind: 'dataset',
  name: 'tiny-manifold',
  description: 'Small images on an r-dimensional manifold (tests and examples).',
  configSchema: manifoldConfig,
  create(config): Dataset {
    const shape: ImageShape = [config.side, config.side, 1];
    const d = config.side * config.side;
    const r = config.intrinsicDim;
    const rng = createRng(config.seed);
    const a = Float64Array.from({ length: d * r }, () => rng.normal() * 1.5);
    const bias = Float64Array.from({ length: d }, () => rng.normal() * 0.5);
    const make = (n: number, seed: number): DataSplit => {
      const g = createRng(seed);
      const data = new Float32Array(n * d);
      const u = new Float64Array(r);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < r; j++) u[j] = g.normal();
        for (let p = 0; p < d; p++) {
          let s = bias[p] as number;
          for (let j = 0; j < r; j++) s += (a[p * r + j] as number) * (u[j] as number);
          data[i * d + p] = 1 / (1 + Math.exp(-s));
        }
      }
      return { size: n, shape, data };
    };
    const cache = new Map<string, DataSplit>();
    return {
      name: 'tiny-manifold',
      shape,
      async load(split) {
        let s = cache.get(split);
        if (!s) {
          s = make(
            split === 'train' ? config.size : Math.max(64, config.size >> 2),
            config.seed + (split === 'train' ? 1 : 2),
          );
          cache.set(split, s);
        }
        return s;
      },
    };
  },
});

/** The small plugins of this package, for tests and examples. */
export const tinyPlugins: readonly PluginDefinition[] = [
  tinyDenseEncoder as unknown as PluginDefinition,
  tinyDenseDecoder as unknown as PluginDefinition,
  tinyMlpSecondStage as unknown as PluginDefinition,
  tinyManifoldDataset as unknown as PluginDefinition,
];

/**
 * Registers `tiny-dense` (encoder and decoder), `tiny-mlp` (second stage) and `tiny-manifold`
 * (dataset) in the process-wide registry; registering twice is a no-op.
 */
export function registerTinyPlugins(): void {
  const reg = getRegistry();
  for (const p of tinyPlugins) if (!reg.has(p.kind, p.name)) reg.register(p);
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'tsvae-stages-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The production InfoGAN networks at test size (8x8 images). */
export const SMALL_INFOGAN: Readonly<Record<string, unknown>> = { convDims: [4, 8], fcDim: 16 };

/**
 * A run config of the production models at test size: the `vae` stage 1 over small `infogan`
 * networks and the `mlp` second stage, on 128 `tiny-manifold` images of 8x8 (4 steps an epoch,
 * 2 epochs a stage; seconds on the cpu backend). Register the tiny plugins first.
 */
export function smallRunConfig(overrides: Record<string, unknown> = {}): RunConfigInput {
  return mergeConfig<RunConfigInput>(
    {
      preset: 'test',
      dataset: { name: 'tiny-manifold', config: { size: 128, intrinsicDim: 2, side: 8 } },
      seed: 3,
      batchSize: 32,
      latentDim: 4,
      stage1: {
        encoder: { name: 'infogan', config: { ...SMALL_INFOGAN } },
        decoder: { name: 'infogan', config: { ...SMALL_INFOGAN } },
        epochs: 2,
        lr: 1e-2,
        lrEpochs: 2,
      },
      stage2: { model: { name: 'mlp', config: { width: 16, depth: 2 } }, epochs: 2, lr: 1e-2, lrEpochs: 1 },
      diagnostics: { samples: 64, activeThreshold: 0.05 },
      checkpoint: { everyEpochs: 1, keep: 3 },
      samples: { count: 16, seed: 5 },
    },
    overrides,
  );
}

/**
 * A stage 1 whose codes you choose, for tests of what is computed on codes: vector data
 * (`[1, 1, latentDim]` examples) encodes to `mu = x` and the fixed `logSigma` (one value per
 * dimension, or one for all; default -30, i.e. `sigma` ~ 1e-13, codes `z = x`); `decode` returns
 * `z` as `[B, 1, 1, latentDim]`. No weights; `loss` is a plain Gaussian-likelihood VAE loss.
 */
export function identityStage1(latentDim: number, logSigma: number | readonly number[] = -30): Stage1Model {
  const ls = typeof logSigma === 'number' ? new Array<number>(latentDim).fill(logSigma) : [...logSigma];
  if (ls.length !== latentDim)
    throw new RangeError(`identityStage1: ${ls.length} logSigma values for ${latentDim} dims`);
  const shape: ImageShape = [1, 1, latentDim];
  const encode = (x: tf.Tensor4D) =>
    tf.tidy(() => ({
      mu: tf.reshape(x, [x.shape[0], latentDim]) as tf.Tensor2D,
      logSigma: tf.tile(tf.tensor2d([ls], [1, latentDim]), [x.shape[0], 1]) as tf.Tensor2D,
    }));
  const decode = (zz: tf.Tensor2D) => tf.reshape(zz, [zz.shape[0], 1, 1, latentDim]) as tf.Tensor4D;
  const none = {
    trainableVariables: () => [],
    getWeights: () => [],
    setWeights: () => {},
    countParams: () => 0,
    dispose: () => {},
  };
  return {
    ...none,
    latentDim,
    encoder: { ...none, inputShape: shape, latentDim, encode },
    decoder: { ...none, outputShape: shape, latentDim, decode: (zz) => ({ mean: decode(zz) }) },
    encode,
    decode,
    gamma: () => 1,
    loss: (x) =>
      tf.tidy(() => {
        const { mu, logSigma: l } = encode(x);
        const reconstruction = tf.mean(gaussianNll(x, decode(mu), tf.scalar(0))) as tf.Scalar;
        const kl = tf.mean(klStandardNormal(mu, l)) as tf.Scalar;
        return { loss: tf.add(reconstruction, kl) as tf.Scalar, reconstruction, kl, gamma: tf.scalar(1) };
      }),
  };
}

/** The tiny plugins under the name `tsvae --plugins @tsvae/stages/testing` loads. */
export const plugins: readonly PluginDefinition[] = tinyPlugins;
