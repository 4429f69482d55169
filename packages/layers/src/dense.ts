/**
 * Fully connected encoder and decoder for vector data (e.g. points of the synthetic manifolds,
 * shape `[1, 1, d]`), where the image networks' strided convolutions do not apply.
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import type {
  Decoder,
  DecoderOutput,
  Encoder,
  ForwardOptions,
  ImageShape,
  PluginDefinition,
} from '@tsvae/core';
import { definePlugin, z } from '@tsvae/core';
import { latentDimSchema, resolveImageShape, shapeFields } from './config';
import { layerInitializers } from './custom-layers';
import { LogitsDecoder } from './infogan';
import { LayersModule, runModel } from './module';
import { TwoHeadEncoder } from './wae';

/** The resolved config of the `dense` encoder and decoder. */
export interface DenseConfig {
  readonly imageShape: ImageShape;
  readonly latentDim: number;
  /** Hidden layers. */
  readonly depth: number;
  /** Hidden width. */
  readonly width: number;
  readonly activation: 'relu' | 'elu' | 'tanh';
  /** Decoder output: `linear` (real-valued vectors) or `sigmoid` (values in [0, 1], with logits). */
  readonly output: 'linear' | 'sigmoid';
}

/**
 * Config schema of the `dense` encoder and decoder: `imageShape` (or `inputShape` /
 * `outputShape`), `latentDim` (64), `depth` (2), `width` (256), `activation` (`relu`), `output`
 * (`linear`).
 */
export const denseConfigSchema = z
  .object({
    ...shapeFields,
    latentDim: latentDimSchema,
    depth: z.number().int().nonnegative().default(2),
    width: z.number().int().positive().default(256),
    activation: z.enum(['relu', 'elu', 'tanh']).default('relu'),
    output: z.enum(['linear', 'sigmoid']).default('linear'),
  })
  .transform((c, ctx): DenseConfig => {
    const imageShape = resolveImageShape(c, ctx);
    if (!imageShape) return z.NEVER;
    return {
      imageShape,
      latentDim: c.latentDim,
      depth: c.depth,
      width: c.width,
      activation: c.activation,
      output: c.output,
    };
  });

function hidden(c: DenseConfig, x: SymbolicTensor, seed: number | undefined): SymbolicTensor {
  const init = layerInitializers(seed);
  let t = x;
  for (let i = 0; i < c.depth; i++) {
    t = layers
      .dense({
        units: c.width,
        activation: c.activation,
        kernelInitializer: init('glorot-uniform', `fc${i}`),
        name: `fc${i}`,
      })
      .apply(t) as SymbolicTensor;
  }
  return t;
}

/** Encoder: flatten -> depth x dense(width) -> dense mu, dense log sigma. */
export function buildDenseEncoderModel(c: DenseConfig, seed?: number): LayersModel {
  const init = layerInitializers(seed);
  const x = input({ shape: [...c.imageShape], name: 'x' });
  const t = hidden(c, layers.flatten({ name: 'flatten' }).apply(x) as SymbolicTensor, seed);
  const mu = layers
    .dense({ units: c.latentDim, kernelInitializer: init('glorot-uniform', 'mu'), name: 'mu' })
    .apply(t);
  const ls = layers
    .dense({ units: c.latentDim, kernelInitializer: init('glorot-uniform', 'log_sigma'), name: 'log_sigma' })
    .apply(t);
  return model({ inputs: x, outputs: [mu as SymbolicTensor, ls as SymbolicTensor], name: 'dense_encoder' });
}

/** Decoder: depth x dense(width) -> dense(H W C) -> reshape; linear, or logits for a sigmoid output. */
export function buildDenseDecoderModel(c: DenseConfig, seed?: number): LayersModel {
  const init = layerInitializers(seed);
  const [h, w, ch] = c.imageShape;
  const z0 = input({ shape: [c.latentDim], name: 'z' });
  const t = hidden(c, z0, seed);
  const o = layers
    .dense({ units: h * w * ch, kernelInitializer: init('glorot-uniform', 'out'), name: 'out' })
    .apply(t);
  const img = layers.reshape({ targetShape: [h, w, ch], name: 'reshape' }).apply(o as SymbolicTensor);
  return model({ inputs: z0, outputs: img as SymbolicTensor, name: 'dense_decoder' });
}

/** A decoder whose model's output is the mean itself (real-valued data; no logits). */
export class LinearDecoder extends LayersModule implements Decoder {
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
      const [mean] = runModel(this.model, z, options.training) as [tf.Tensor4D];
      return { mean };
    });
  }
}

/** The `dense` encoder plugin (kind `encoder`). */
export const denseEncoderPlugin: PluginDefinition<'encoder', typeof denseConfigSchema> = definePlugin({
  kind: 'encoder',
  name: 'dense',
  description: 'Fully connected encoder for vector data (depth x dense(width) -> mu, log sigma).',
  configSchema: denseConfigSchema,
  create: (c, context): Encoder =>
    new TwoHeadEncoder(c.imageShape, c.latentDim, buildDenseEncoderModel(c, context.seed)),
});

/** The `dense` decoder plugin (kind `decoder`). */
export const denseDecoderPlugin: PluginDefinition<'decoder', typeof denseConfigSchema> = definePlugin({
  kind: 'decoder',
  name: 'dense',
  description: 'Fully connected decoder for vector data (linear output, or sigmoid with logits).',
  configSchema: denseConfigSchema,
  create: (c, context): Decoder => {
    const m = buildDenseDecoderModel(c, context.seed);
    return c.output === 'sigmoid'
      ? new LogitsDecoder(c.imageShape, c.latentDim, m)
      : new LinearDecoder(c.imageShape, c.latentDim, m);
  },
});
