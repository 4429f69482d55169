/**
 * The InfoGAN-style encoder and decoder (the Two-Stage VAE's default network, Table 1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import type {
  Decoder,
  DecoderOutput,
  Encoder,
  ForwardOptions,
  GaussianParams,
  ImageShape,
  PluginDefinition,
} from '@tsvae/core';
import { definePlugin, deriveSeed, z } from '@tsvae/core';
import { check, latentDimSchema, resolveImageShape, shapeFields, stage1InitSchema } from './config';
import { BatchNorm, layerInitializers, SpectralNormConv2D, SpectralNormDense } from './custom-layers';
import { LayersModule, runModel } from './module';

const infoganFields = {
  ...shapeFields,
  latentDim: latentDimSchema,
  /** Channels of the two stride-2 convolutions (the recipe's 64, 128). */
  convDims: z.tuple([z.number().int().positive(), z.number().int().positive()]).default([64, 128]),
  /** Width of the hidden fully connected layer (the recipe's 1024). */
  fcDim: z.number().int().positive().default(1024),
  /** Spectral norm on the encoder's conv and fc layers (the reference code: on). */
  spectralNorm: z.boolean().default(true),
  /** `recipe`: conv truncated-normal std 0.02, dense/deconv normal std 0.02; or `glorot-uniform`. */
  init: stage1InitSchema,
  /** BatchNorm moving-average decay. */
  bnMomentum: z.number().gt(0).lt(1).default(0.999),
  /** BatchNorm epsilon. */
  bnEpsilon: z.number().positive().default(1e-5),
  /** Zero-debiased BatchNorm moving averages (the reference code's `assign_moving_average`). */
  bnZeroDebias: z.boolean().default(true),
};

/** The resolved config of the `infogan` encoder and decoder. */
export interface InfoganConfig {
  readonly imageShape: ImageShape;
  readonly latentDim: number;
  readonly convDims: readonly [number, number];
  readonly fcDim: number;
  readonly spectralNorm: boolean;
  readonly init: 'recipe' | 'glorot-uniform';
  readonly bnMomentum: number;
  readonly bnEpsilon: number;
  readonly bnZeroDebias: boolean;
}

/**
 * Config schema of the `infogan` encoder and decoder: `imageShape` (or `inputShape` /
 * `outputShape`) `[H, W, C]` with H and W divisible by 4, `latentDim` (64), `convDims` ([64, 128]),
 * `fcDim` (1024), `spectralNorm` (true, encoder only), `init` (`recipe`), `bnMomentum` (0.999),
 * `bnEpsilon` (1e-5), `bnZeroDebias` (true).
 */
export const infoganConfigSchema = z.object(infoganFields).transform((c, ctx): InfoganConfig => {
  const imageShape = resolveImageShape(c, ctx);
  if (!imageShape) return z.NEVER;
  const ok =
    check(imageShape[0] % 4 === 0, ctx, 'imageShape', `height ${imageShape[0]} must be divisible by 4`) &&
    check(imageShape[1] % 4 === 0, ctx, 'imageShape', `width ${imageShape[1]} must be divisible by 4`);
  if (!ok) return z.NEVER;
  return {
    imageShape,
    latentDim: c.latentDim,
    convDims: c.convDims,
    fcDim: c.fcDim,
    spectralNorm: c.spectralNorm,
    init: c.init,
    bnMomentum: c.bnMomentum,
    bnEpsilon: c.bnEpsilon,
    bnZeroDebias: c.bnZeroDebias,
  };
});

function bn(c: InfoganConfig, name: string): BatchNorm {
  return new BatchNorm({ momentum: c.bnMomentum, epsilon: c.bnEpsilon, zeroDebias: c.bnZeroDebias, name });
}

function sym(x: unknown): SymbolicTensor {
  return x as SymbolicTensor;
}

/**
 * Builds the encoder model: conv4x4 s2 (convDims[0]) + lrelu(0.2) -> conv4x4 s2 (convDims[1]) + BN
 * + lrelu -> fc(fcDim) + BN + lrelu -> fc(2 latentDim), spectral norm on every conv/fc. Output: the
 * raw `[B, 2 latentDim]`; `mu` is the first half, `sigma = 1e-6 + softplus(second half)`.
 */
export function buildInfoganEncoderModel(c: InfoganConfig, seed?: number): LayersModel {
  const convInit = c.init === 'recipe' ? 'truncated-normal-0.02' : 'glorot-uniform';
  const denseInit = c.init === 'recipe' ? 'normal-0.02' : 'glorot-uniform';
  const init = layerInitializers(seed);
  const layerSeed = (name: string) => (seed === undefined ? {} : { seed: deriveSeed(seed, name) });
  const conv = (filters: number, name: string) =>
    c.spectralNorm
      ? new SpectralNormConv2D({
          filters,
          kernelSize: 4,
          strides: 2,
          kernelInit: convInit,
          name,
          ...layerSeed(name),
        })
      : layers.conv2d({
          filters,
          kernelSize: 4,
          strides: 2,
          padding: 'same',
          kernelInitializer: init(convInit, name),
          name,
        });
  const dense = (units: number, name: string) =>
    c.spectralNorm
      ? new SpectralNormDense({ units, kernelInit: denseInit, name, ...layerSeed(name) })
      : layers.dense({ units, kernelInitializer: init(denseInit, name), name });
  const x = input({ shape: [...c.imageShape], name: 'x' });
  let y = sym(conv(c.convDims[0], 'conv1').apply(x));
  y = sym(layers.leakyReLU({ alpha: 0.2, name: 'lrelu1' }).apply(y));
  y = sym(conv(c.convDims[1], 'conv2').apply(y));
  y = sym(bn(c, 'bn2').apply(y));
  y = sym(layers.leakyReLU({ alpha: 0.2, name: 'lrelu2' }).apply(y));
  y = sym(layers.flatten({ name: 'flatten' }).apply(y));
  y = sym(dense(c.fcDim, 'fc3').apply(y));
  y = sym(bn(c, 'bn3').apply(y));
  y = sym(layers.leakyReLU({ alpha: 0.2, name: 'lrelu3' }).apply(y));
  const out = sym(dense(2 * c.latentDim, 'en4').apply(y));
  return model({ inputs: x, outputs: out, name: 'infogan_encoder' });
}

/**
 * Builds the decoder model: fc(fcDim) + BN + ReLU -> fc(convDims[1] (H/4)(W/4)) + BN + ReLU ->
 * deconv4x4 s2 (convDims[0]) + BN + ReLU -> deconv4x4 s2 (C). Output: logits `[B, H, W, C]`; the
 * mean is `sigmoid(logits)`.
 */
export function buildInfoganDecoderModel(c: InfoganConfig, seed?: number): LayersModel {
  const [h, w, ch] = c.imageShape;
  const kind = c.init === 'recipe' ? 'normal-0.02' : 'glorot-uniform';
  const init = layerInitializers(seed);
  const z = input({ shape: [c.latentDim], name: 'z' });
  let y = sym(layers.dense({ units: c.fcDim, kernelInitializer: init(kind, 'fc1'), name: 'fc1' }).apply(z));
  y = sym(bn(c, 'bn1').apply(y));
  y = sym(layers.reLU({ name: 'relu1' }).apply(y));
  const small = c.convDims[1] * (h / 4) * (w / 4);
  y = sym(layers.dense({ units: small, kernelInitializer: init(kind, 'fc2'), name: 'fc2' }).apply(y));
  y = sym(bn(c, 'bn2').apply(y));
  y = sym(layers.reLU({ name: 'relu2' }).apply(y));
  y = sym(layers.reshape({ targetShape: [h / 4, w / 4, c.convDims[1]], name: 'reshape' }).apply(y));
  y = sym(
    layers
      .conv2dTranspose({
        filters: c.convDims[0],
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        kernelInitializer: init(kind, 'conv3'),
        name: 'conv3',
      })
      .apply(y),
  );
  y = sym(bn(c, 'bn3').apply(y));
  y = sym(layers.reLU({ name: 'relu3' }).apply(y));
  const logits = sym(
    layers
      .conv2dTranspose({
        filters: ch,
        kernelSize: 4,
        strides: 2,
        padding: 'same',
        kernelInitializer: init(kind, 'conv4'),
        name: 'conv4',
      })
      .apply(y),
  );
  return model({ inputs: z, outputs: logits, name: 'infogan_decoder' });
}

/** A stage-1 encoder over a tfjs-layers model whose output is `[B, 2 latentDim]` (mu, raw sigma). */
export class InfoganEncoder extends LayersModule implements Encoder {
  readonly inputShape: ImageShape;
  readonly latentDim: number;
  /** The resolved config. */
  readonly config: InfoganConfig;
  readonly model: LayersModel;

  constructor(config: InfoganConfig, m: LayersModel = buildInfoganEncoderModel(config)) {
    super({ '': m });
    this.config = config;
    this.model = m;
    this.inputShape = config.imageShape;
    this.latentDim = config.latentDim;
  }

  encode(x: tf.Tensor4D, options: ForwardOptions): GaussianParams {
    return tf.tidy(() => {
      const [raw] = runModel(this.model, x, options.training) as [tf.Tensor2D];
      const k = this.latentDim;
      const mu = tf.slice(raw, [0, 0], [-1, k]) as tf.Tensor2D;
      const sigma = tf.add(tf.softplus(tf.slice(raw, [0, k], [-1, k])), 1e-6);
      return { mu, logSigma: tf.log(sigma) as tf.Tensor2D };
    });
  }
}

/** A stage-1 decoder over a tfjs-layers model that outputs logits `[B, H, W, C]`. */
export class LogitsDecoder extends LayersModule implements Decoder {
  readonly outputShape: ImageShape;
  readonly latentDim: number;
  readonly model: LayersModel;

  constructor(outputShape: ImageShape, latentDim: number, m: LayersModel) {
    super({ '': m });
    this.model = m;
    this.outputShape = outputShape;
    this.latentDim = latentDim;
  }

  decode(z: tf.Tensor2D, options: ForwardOptions): DecoderOutput {
    return tf.tidy(() => {
      const [logits] = runModel(this.model, z, options.training) as [tf.Tensor4D];
      return { mean: tf.sigmoid(logits), logits };
    });
  }
}

/** The `infogan` encoder plugin (kind `encoder`). */
export const infoganEncoderPlugin: PluginDefinition<'encoder', typeof infoganConfigSchema> = definePlugin({
  kind: 'encoder',
  name: 'infogan',
  description: 'InfoGAN-style encoder (conv64-conv128-fc1024, spectral norm, BN), any H x W divisible by 4.',
  configSchema: infoganConfigSchema,
  create: (config, context): Encoder =>
    new InfoganEncoder(config, buildInfoganEncoderModel(config, context.seed)),
});

/** The `infogan` decoder plugin (kind `decoder`). */
export const infoganDecoderPlugin: PluginDefinition<'decoder', typeof infoganConfigSchema> = definePlugin({
  kind: 'decoder',
  name: 'infogan',
  description: 'InfoGAN-style decoder (fc1024-fc128*(H/4)*(W/4)-deconv64-deconvC, BN, sigmoid).',
  configSchema: infoganConfigSchema,
  create: (config, context): Decoder =>
    new LogitsDecoder(config.imageShape, config.latentDim, buildInfoganDecoderModel(config, context.seed)),
});
