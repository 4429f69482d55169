/**
 * The WAE network (CelebA 64x64x3, Table 2 of the paper).
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import type {
  Decoder,
  Encoder,
  ForwardOptions,
  GaussianParams,
  ImageShape,
  PluginDefinition,
} from '@tsvae/core';
import { definePlugin, z } from '@tsvae/core';
import { check, latentDimSchema, resolveImageShape, shapeFields, stage1InitSchema } from './config';
import { BatchNorm, type KernelInit, layerInitializers } from './custom-layers';
import { LogitsDecoder } from './infogan';
import { LayersModule, runModel } from './module';

/** The resolved config of the `wae` encoder and decoder. */
export interface WaeConfig {
  readonly imageShape: ImageShape;
  readonly latentDim: number;
  readonly baseDim: number;
  readonly kernelSize: number;
  readonly init: 'recipe' | 'glorot-uniform';
  readonly bnMomentum: number;
  readonly bnEpsilon: number;
  readonly bnZeroDebias: boolean;
}

/**
 * Config schema of the `wae` encoder and decoder: `imageShape` `[H, W, C]` (the recipe's 64x64x3;
 * any H, W divisible by 8 work), `latentDim` (64), `baseDim` (128: channels 128/256/512/1024),
 * `kernelSize` (5), `init`, `bnMomentum`, `bnEpsilon`, `bnZeroDebias`.
 */
export const waeConfigSchema = z
  .object({
    ...shapeFields,
    latentDim: latentDimSchema,
    baseDim: z.number().int().positive().default(128),
    kernelSize: z.number().int().positive().default(5),
    init: stage1InitSchema,
    bnMomentum: z.number().gt(0).lt(1).default(0.999),
    bnEpsilon: z.number().positive().default(1e-5),
    bnZeroDebias: z.boolean().default(true),
  })
  .transform((c, ctx): WaeConfig => {
    const imageShape = resolveImageShape(c, ctx);
    if (!imageShape) return z.NEVER;
    const ok =
      check(imageShape[0] % 8 === 0, ctx, 'imageShape', `height ${imageShape[0]} must be divisible by 8`) &&
      check(imageShape[1] % 8 === 0, ctx, 'imageShape', `width ${imageShape[1]} must be divisible by 8`);
    if (!ok) return z.NEVER;
    return {
      imageShape,
      latentDim: c.latentDim,
      baseDim: c.baseDim,
      kernelSize: c.kernelSize,
      init: c.init,
      bnMomentum: c.bnMomentum,
      bnEpsilon: c.bnEpsilon,
      bnZeroDebias: c.bnZeroDebias,
    };
  });

function sym(x: unknown): SymbolicTensor {
  return x as SymbolicTensor;
}

function inits(c: { readonly init: 'recipe' | 'glorot-uniform' }): { conv: KernelInit; dense: KernelInit } {
  return c.init === 'recipe'
    ? { conv: 'truncated-normal-0.02', dense: 'normal-0.02' }
    : { conv: 'glorot-uniform', dense: 'glorot-uniform' };
}

/**
 * Encoder: conv5x5 (b, s1) / (2b, s2) / (4b, s2) / (8b, s2), each BN + ReLU -> flatten -> dense mu,
 * dense log sigma. Outputs `[mu, logSigma]`.
 */
export function buildWaeEncoderModel(c: WaeConfig, seed?: number): LayersModel {
  const kinds = inits(c);
  const init = layerInitializers(seed);
  const x = input({ shape: [...c.imageShape], name: 'x' });
  let y: SymbolicTensor = x;
  [1, 2, 4, 8].forEach((m, i) => {
    y = sym(
      layers
        .conv2d({
          filters: c.baseDim * m,
          kernelSize: c.kernelSize,
          strides: i === 0 ? 1 : 2,
          padding: 'same',
          kernelInitializer: init(kinds.conv, `conv${i + 1}`),
          name: `conv${i + 1}`,
        })
        .apply(y),
    );
    y = sym(
      new BatchNorm({
        momentum: c.bnMomentum,
        epsilon: c.bnEpsilon,
        zeroDebias: c.bnZeroDebias,
        name: `bn${i + 1}`,
      }).apply(y),
    );
    y = sym(layers.reLU({ name: `relu${i + 1}` }).apply(y));
  });
  y = sym(layers.flatten({ name: 'flatten' }).apply(y));
  const mu = sym(
    layers.dense({ units: c.latentDim, kernelInitializer: init(kinds.dense, 'mu'), name: 'mu' }).apply(y),
  );
  const logSigma = sym(
    layers
      .dense({ units: c.latentDim, kernelInitializer: init(kinds.dense, 'log_sigma'), name: 'log_sigma' })
      .apply(y),
  );
  return model({ inputs: x, outputs: [mu, logSigma], name: 'wae_encoder' });
}

/**
 * Decoder: dense (H/8)(W/8)(8b) + ReLU -> deconv5x5 s2 (4b) / (2b) / (b), each BN + ReLU ->
 * deconv5x5 s1 (C). Outputs logits; the mean is `sigmoid(logits)`.
 */
export function buildWaeDecoderModel(c: WaeConfig, seed?: number): LayersModel {
  const kinds = inits(c);
  const init = layerInitializers(seed);
  const [h, w, ch] = c.imageShape;
  const z = input({ shape: [c.latentDim], name: 'z' });
  const top = 8 * c.baseDim;
  let y = sym(
    layers
      .dense({
        units: (h / 8) * (w / 8) * top,
        activation: 'relu',
        kernelInitializer: init(kinds.dense, 'fc1'),
        name: 'fc1',
      })
      .apply(z),
  );
  y = sym(layers.reshape({ targetShape: [h / 8, w / 8, top], name: 'reshape' }).apply(y));
  [4, 2, 1].forEach((m, i) => {
    y = sym(
      layers
        .conv2dTranspose({
          filters: c.baseDim * m,
          kernelSize: c.kernelSize,
          strides: 2,
          padding: 'same',
          kernelInitializer: init(kinds.dense, `deconv${i + 1}`),
          name: `deconv${i + 1}`,
        })
        .apply(y),
    );
    y = sym(
      new BatchNorm({
        momentum: c.bnMomentum,
        epsilon: c.bnEpsilon,
        zeroDebias: c.bnZeroDebias,
        name: `bn${i + 1}`,
      }).apply(y),
    );
    y = sym(layers.reLU({ name: `relu${i + 1}` }).apply(y));
  });
  const logits = sym(
    layers
      .conv2dTranspose({
        filters: ch,
        kernelSize: c.kernelSize,
        strides: 1,
        padding: 'same',
        kernelInitializer: init(kinds.dense, 'deconv4'),
        name: 'deconv4',
      })
      .apply(y),
  );
  return model({ inputs: z, outputs: logits, name: 'wae_decoder' });
}

/** A stage-1 encoder over a tfjs-layers model with outputs `[mu, logSigma]` (sigma = exp). */
export class TwoHeadEncoder extends LayersModule implements Encoder {
  readonly inputShape: ImageShape;
  readonly latentDim: number;
  readonly model: LayersModel;

  constructor(inputShape: ImageShape, latentDim: number, m: LayersModel) {
    super({ '': m });
    this.model = m;
    this.inputShape = inputShape;
    this.latentDim = latentDim;
  }

  encode(x: tf.Tensor4D, options: ForwardOptions): GaussianParams {
    return tf.tidy(() => {
      const [mu, logSigma] = runModel(this.model, x, options.training) as [tf.Tensor2D, tf.Tensor2D];
      return { mu, logSigma };
    });
  }
}

/** The `wae` encoder plugin. */
export const waeEncoderPlugin: PluginDefinition<'encoder', typeof waeConfigSchema> = definePlugin({
  kind: 'encoder',
  name: 'wae',
  description: 'WAE encoder (conv5x5 128/256/512/1024 + BN + ReLU), 64x64x3 in the recipe.',
  configSchema: waeConfigSchema,
  create: (config, context): Encoder =>
    new TwoHeadEncoder(config.imageShape, config.latentDim, buildWaeEncoderModel(config, context.seed)),
});

/** The `wae` decoder plugin. */
export const waeDecoderPlugin: PluginDefinition<'decoder', typeof waeConfigSchema> = definePlugin({
  kind: 'decoder',
  name: 'wae',
  description: 'WAE decoder (dense 8x8x1024 -> deconv5x5 512/256/128 + BN + ReLU -> deconv C, sigmoid).',
  configSchema: waeConfigSchema,
  create: (config, context): Decoder =>
    new LogitsDecoder(config.imageShape, config.latentDim, buildWaeDecoderModel(config, context.seed)),
});
