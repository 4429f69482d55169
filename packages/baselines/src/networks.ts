/**
 * compare_gan's InfoGAN-style generator and discriminators (the one network of every GAN row of
 * Table 1), built from `@tsvae/layers`' pieces (`BatchNorm`, `layerInitializers`, `LayersModule`).
 *
 * Source: google/compare_gan, `compare_gan/src/gans/abstract_gan.py` (the code of Lucic et al.
 * 2018) and its later `compare_gan/architectures/infogan.py`; both use leaky ReLU (0.2) in the
 * generator, as the recipe says (the InfoGAN paper itself uses ReLU: `activation: 'relu'`).
 * BatchNorm as compare_gan's `ops.batch_norm` (decay 0.999, epsilon 1e-3, no zero-debiasing);
 * weights as its `ops.conv2d` (truncated normal, std 0.02), `linear` and `deconv2d` (normal, std
 * 0.02), biases 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import type { ForwardOptions, ImageShape, PluginDefinition } from '@tsvae/core';
import { definePlugin, z } from '@tsvae/core';
import { BatchNorm, imageShapeSchema, LayersModule, layerInitializers } from '@tsvae/layers';
import type { DiscriminatorOutput, GanDiscriminator, GanGenerator } from './kinds';

function sym(x: unknown): SymbolicTensor {
  return x as SymbolicTensor;
}

/** BatchNorm settings shared by the networks (compare_gan's `ops.batch_norm`). */
const bnFields = {
  /** Moving-average decay (compare_gan 0.999). */
  bnMomentum: z.number().gt(0).lt(1).default(0.999),
  /** Variance epsilon (compare_gan 1e-3). */
  bnEpsilon: z.number().positive().default(1e-3),
  /** Zero-debiased moving averages (compare_gan: no, `tf.contrib.layers.batch_norm`'s default). */
  bnZeroDebias: z.boolean().default(false),
};

const widths = {
  /** Channels of the two stride-2 (de)convolutions (compare_gan 64, 128). */
  convDims: z.tuple([z.number().int().positive(), z.number().int().positive()]).default([64, 128]),
};

function divisibleBy4(shape: readonly number[], ctx: z.RefinementCtx): boolean {
  if ((shape[0] as number) % 4 === 0 && (shape[1] as number) % 4 === 0) return true;
  ctx.addIssue({
    code: 'custom',
    path: ['imageShape'],
    message: `height and width must be divisible by 4, got [${shape.join(', ')}]`,
  });
  return false;
}

type Bn = { bnMomentum: number; bnEpsilon: number; bnZeroDebias: boolean };

function bn(c: Bn, name: string): BatchNorm {
  return new BatchNorm({ momentum: c.bnMomentum, epsilon: c.bnEpsilon, zeroDebias: c.bnZeroDebias, name });
}

function apply(layer: { apply(x: SymbolicTensor): unknown }, x: SymbolicTensor): SymbolicTensor {
  return sym(layer.apply(x));
}

const lrelu = (alpha: number, name: string) => layers.leakyReLU({ alpha, name });

/** Config schema of the `infogan` generator. */
export const infoganGeneratorConfigSchema = z
  .object({
    /** Dimension of z (set by the trainer from the run's `zDim`). */
    zDim: z.number().int().positive().default(64),
    /** Output image shape `[H, W, C]`, H and W divisible by 4 (set by the trainer). */
    imageShape: imageShapeSchema,
    /** Width of the first fully connected layer (compare_gan 1024). */
    fcDim: z.number().int().positive().default(1024),
    ...widths,
    /** Hidden activation: `lrelu` (0.2; compare_gan) or `relu` (the InfoGAN paper). */
    activation: z.enum(['lrelu', 'relu']).default('lrelu'),
    ...bnFields,
  })
  .superRefine((c, ctx) => {
    divisibleBy4(c.imageShape, ctx);
  });

/** The resolved config of the `infogan` generator. */
export type InfoganGeneratorConfig = z.output<typeof infoganGeneratorConfigSchema>;

/**
 * Builds compare_gan's InfoGAN generator: fc(fcDim) + BN + act -> fc(convDims[1] (H/4)(W/4)) + BN
 * + act -> deconv4x4 s2 (convDims[0]) + BN + act -> deconv4x4 s2 (C) -> sigmoid.
 */
export function buildInfoganGenerator(c: InfoganGeneratorConfig, seed?: number): LayersModel {
  const [h, w, ch] = c.imageShape;
  const init = layerInitializers(seed);
  const act = (name: string) => (c.activation === 'relu' ? layers.reLU({ name }) : lrelu(0.2, name));
  const z = input({ shape: [c.zDim], name: 'z' });
  let y = apply(
    layers.dense({ units: c.fcDim, kernelInitializer: init('normal-0.02', 'fc1'), name: 'fc1' }),
    z,
  );
  y = apply(act('act1'), apply(bn(c, 'bn1'), y));
  const small = c.convDims[1] * (h / 4) * (w / 4);
  y = apply(layers.dense({ units: small, kernelInitializer: init('normal-0.02', 'fc2'), name: 'fc2' }), y);
  y = apply(act('act2'), apply(bn(c, 'bn2'), y));
  y = apply(layers.reshape({ targetShape: [h / 4, w / 4, c.convDims[1]], name: 'reshape' }), y);
  const deconv = (filters: number, name: string) =>
    layers.conv2dTranspose({
      filters,
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      kernelInitializer: init('normal-0.02', name),
      name,
    });
  y = apply(deconv(c.convDims[0], 'dc3'), y);
  y = apply(act('act3'), apply(bn(c, 'bn3'), y));
  y = apply(deconv(ch, 'dc4'), y);
  const out = apply(layers.activation({ activation: 'sigmoid', name: 'sigmoid' }), y);
  return model({ inputs: z, outputs: out, name: 'infogan_generator' });
}

/** A {@link GanGenerator} over a tfjs-layers model `[B, zDim] -> [B, H, W, C]`. */
export class LayersGenerator extends LayersModule implements GanGenerator {
  readonly model: LayersModel;
  constructor(
    m: LayersModel,
    readonly zDim: number,
    readonly outputShape: ImageShape,
  ) {
    super({ '': m });
    this.model = m;
  }
  forward(z: tf.Tensor2D, options: ForwardOptions): tf.Tensor4D {
    return tf.tidy(() => this.model.apply(z, { training: options.training }) as tf.Tensor4D);
  }
}

/** A {@link GanDiscriminator} over a tfjs-layers model. */
export class LayersDiscriminator extends LayersModule implements GanDiscriminator {
  readonly model: LayersModel;
  constructor(
    m: LayersModel,
    readonly inputShape: ImageShape,
    readonly output: DiscriminatorOutput,
  ) {
    super({ '': m });
    this.model = m;
  }
  forward(x: tf.Tensor4D, options: ForwardOptions): tf.Tensor {
    return tf.tidy(() => this.model.apply(x, { training: options.training }) as tf.Tensor);
  }
}

/** The `infogan` generator plugin (kind `gan-generator`). */
export const infoganGeneratorPlugin: PluginDefinition<'gan-generator', typeof infoganGeneratorConfigSchema> =
  definePlugin({
    kind: 'gan-generator',
    name: 'infogan',
    description:
      "compare_gan's InfoGAN generator (fc1024-fc128*(H/4)*(W/4)-deconv64-deconvC, BN, lrelu, sigmoid).",
    configSchema: infoganGeneratorConfigSchema,
    create: (c, context): GanGenerator =>
      new LayersGenerator(buildInfoganGenerator(c, context.seed), c.zDim, c.imageShape as ImageShape),
  });

/** Config schema of the `infogan` discriminator. */
export const infoganDiscriminatorConfigSchema = z
  .object({
    /** Input image shape `[H, W, C]`, H and W divisible by 4 (set by the trainer). */
    imageShape: imageShapeSchema,
    ...widths,
    /** Width of the hidden fully connected layer (compare_gan 1024). */
    fcDim: z.number().int().positive().default(1024),
    /**
     * BatchNorm after conv2 and fc3 (compare_gan's `discriminator_batchnorm`; off for WGAN-GP and
     * DRAGAN, whose penalties are per-example gradients).
     */
    batchNorm: z.boolean().default(true),
    /** Leaky-ReLU slope (compare_gan 0.2). */
    lreluAlpha: z.number().min(0).lt(1).default(0.2),
    ...bnFields,
  })
  .superRefine((c, ctx) => {
    divisibleBy4(c.imageShape, ctx);
  });

/** The resolved config of the `infogan` discriminator. */
export type InfoganDiscriminatorConfig = z.output<typeof infoganDiscriminatorConfigSchema>;

function conv(seed: number | undefined, filters: number, name: string) {
  return layers.conv2d({
    filters,
    kernelSize: 4,
    strides: 2,
    padding: 'same',
    kernelInitializer: layerInitializers(seed)('truncated-normal-0.02', name),
    name,
  });
}

/**
 * Builds compare_gan's InfoGAN discriminator: conv4x4 s2 (convDims[0]) + lrelu -> conv4x4 s2
 * (convDims[1]) [+ BN] + lrelu -> fc(fcDim) [+ BN] + lrelu -> fc 1 (a logit / critic value).
 */
export function buildInfoganDiscriminator(c: InfoganDiscriminatorConfig, seed?: number): LayersModel {
  const init = layerInitializers(seed);
  const x = input({ shape: [...c.imageShape], name: 'x' });
  let y = apply(lrelu(c.lreluAlpha, 'lrelu1'), apply(conv(seed, c.convDims[0], 'conv1'), x));
  y = apply(conv(seed, c.convDims[1], 'conv2'), y);
  if (c.batchNorm) y = apply(bn(c, 'bn2'), y);
  y = apply(lrelu(c.lreluAlpha, 'lrelu2'), y);
  y = apply(layers.flatten({ name: 'flatten' }), y);
  y = apply(layers.dense({ units: c.fcDim, kernelInitializer: init('normal-0.02', 'fc3'), name: 'fc3' }), y);
  if (c.batchNorm) y = apply(bn(c, 'bn3'), y);
  y = apply(lrelu(c.lreluAlpha, 'lrelu3'), y);
  const out = apply(
    layers.dense({ units: 1, kernelInitializer: init('normal-0.02', 'fc4'), name: 'fc4' }),
    y,
  );
  return model({ inputs: x, outputs: out, name: 'infogan_discriminator' });
}

/** The `infogan` discriminator plugin (kind `gan-discriminator`, output `critic`). */
export const infoganDiscriminatorPlugin: PluginDefinition<
  'gan-discriminator',
  typeof infoganDiscriminatorConfigSchema
> = definePlugin({
  kind: 'gan-discriminator',
  name: 'infogan',
  description: "compare_gan's InfoGAN discriminator (conv64-conv128-fc1024-fc1, lrelu 0.2, optional BN).",
  configSchema: infoganDiscriminatorConfigSchema,
  create: (c, context): GanDiscriminator =>
    new LayersDiscriminator(buildInfoganDiscriminator(c, context.seed), c.imageShape as ImageShape, 'critic'),
});

/** Config schema of the `infogan-autoencoder` discriminator (BEGAN). */
export const infoganAutoencoderConfigSchema = z
  .object({
    imageShape: imageShapeSchema,
    ...widths,
    /** Width of the code (compare_gan's BEGAN: 64). */
    codeDim: z.number().int().positive().default(64),
    /** BatchNorm on the code and the decoding layers (compare_gan's BEGAN default: off). */
    batchNorm: z.boolean().default(false),
    lreluAlpha: z.number().min(0).lt(1).default(0.2),
    ...bnFields,
  })
  .superRefine((c, ctx) => {
    divisibleBy4(c.imageShape, ctx);
  });

/** The resolved config of the `infogan-autoencoder` discriminator. */
export type InfoganAutoencoderConfig = z.output<typeof infoganAutoencoderConfigSchema>;

/**
 * Builds compare_gan's BEGAN discriminator, an autoencoder: conv4x4 s2 (convDims[0]) + lrelu ->
 * conv4x4 s2 (convDims[1]) (no activation, as compare_gan) -> fc(codeDim) [+ BN] + lrelu ->
 * fc(convDims[1] (H/4)(W/4)) [+ BN] + lrelu -> deconv4x4 s2 (convDims[0]) [+ BN] + lrelu ->
 * deconv4x4 s2 (C) -> sigmoid.
 */
export function buildInfoganAutoencoder(c: InfoganAutoencoderConfig, seed?: number): LayersModel {
  const [h, w, ch] = c.imageShape;
  const init = layerInitializers(seed);
  const x = input({ shape: [...c.imageShape], name: 'x' });
  let y = apply(lrelu(c.lreluAlpha, 'lrelu1'), apply(conv(seed, c.convDims[0], 'conv1'), x));
  y = apply(conv(seed, c.convDims[1], 'conv2'), y);
  y = apply(layers.flatten({ name: 'flatten' }), y);
  y = apply(
    layers.dense({ units: c.codeDim, kernelInitializer: init('normal-0.02', 'code'), name: 'code' }),
    y,
  );
  if (c.batchNorm) y = apply(bn(c, 'bn_code'), y);
  y = apply(lrelu(c.lreluAlpha, 'lrelu_code'), y);
  const small = c.convDims[1] * (h / 4) * (w / 4);
  y = apply(
    layers.dense({ units: small, kernelInitializer: init('normal-0.02', 'fc_up'), name: 'fc_up' }),
    y,
  );
  if (c.batchNorm) y = apply(bn(c, 'bn_up'), y);
  y = apply(lrelu(c.lreluAlpha, 'lrelu_up'), y);
  y = apply(layers.reshape({ targetShape: [h / 4, w / 4, c.convDims[1]], name: 'reshape' }), y);
  const deconv = (filters: number, name: string) =>
    layers.conv2dTranspose({
      filters,
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      kernelInitializer: init('normal-0.02', name),
      name,
    });
  y = apply(deconv(c.convDims[0], 'deconv1'), y);
  if (c.batchNorm) y = apply(bn(c, 'bn_deconv1'), y);
  y = apply(lrelu(c.lreluAlpha, 'lrelu_deconv1'), y);
  y = apply(deconv(ch, 'deconv2'), y);
  const out = apply(layers.activation({ activation: 'sigmoid', name: 'sigmoid' }), y);
  return model({ inputs: x, outputs: out, name: 'infogan_autoencoder' });
}

/** The `infogan-autoencoder` discriminator plugin (kind `gan-discriminator`, output `autoencoder`). */
export const infoganAutoencoderPlugin: PluginDefinition<
  'gan-discriminator',
  typeof infoganAutoencoderConfigSchema
> = definePlugin({
  kind: 'gan-discriminator',
  name: 'infogan-autoencoder',
  description: "compare_gan's BEGAN autoencoder discriminator (conv64-conv128-fc64-fc-deconv64-deconvC).",
  configSchema: infoganAutoencoderConfigSchema,
  create: (c, context): GanDiscriminator =>
    new LayersDiscriminator(
      buildInfoganAutoencoder(c, context.seed),
      c.imageShape as ImageShape,
      'autoencoder',
    ),
});
