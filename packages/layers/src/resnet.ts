/**
 * The ResNet network of the Two-Stage VAE (the extended paper's experiments).
 */
import { input, type LayersModel, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import type { Decoder, Encoder, ImageShape, PluginDefinition } from '@tsvae/core';
import { definePlugin, z } from '@tsvae/core';
import { latentDimSchema, resolveImageShape, shapeFields, stage1InitSchema } from './config';
import { BatchNorm, type KernelInit, layerInitializers } from './custom-layers';
import { LogitsDecoder } from './infogan';
import { TwoHeadEncoder } from './wae';

/** The resolved config of the `resnet` encoder and decoder. */
export interface ResnetConfig {
  readonly imageShape: ImageShape;
  readonly latentDim: number;
  readonly baseDim: number;
  readonly numScale: number;
  readonly kernelSize: number;
  readonly blockPerScale: number;
  readonly depthPerBlock: number;
  readonly fcDim: number;
  readonly maxDim: number;
  readonly init: 'recipe' | 'glorot-uniform';
  readonly bnMomentum: number;
  readonly bnEpsilon: number;
  readonly bnZeroDebias: boolean;
}

/**
 * Config schema of the `resnet` encoder and decoder: `imageShape`, `latentDim` (64), `baseDim` (16),
 * `numScale` (4, encoder scales), `kernelSize` (3), `blockPerScale` (1), `depthPerBlock` (2),
 * `fcDim` (512), `maxDim` (1024, channel cap), `init`, `bnMomentum`, `bnEpsilon`, `bnZeroDebias`.
 */
export const resnetConfigSchema = z
  .object({
    ...shapeFields,
    latentDim: latentDimSchema,
    baseDim: z.number().int().positive().default(16),
    numScale: z.number().int().positive().default(4),
    kernelSize: z.number().int().positive().default(3),
    blockPerScale: z.number().int().positive().default(1),
    depthPerBlock: z.number().int().positive().default(2),
    fcDim: z.number().int().positive().default(512),
    maxDim: z.number().int().positive().default(1024),
    init: stage1InitSchema,
    bnMomentum: z.number().gt(0).lt(1).default(0.999),
    bnEpsilon: z.number().positive().default(1e-5),
    bnZeroDebias: z.boolean().default(true),
  })
  .transform((c, ctx): ResnetConfig => {
    const imageShape = resolveImageShape(c, ctx);
    if (!imageShape) return z.NEVER;
    return {
      imageShape,
      latentDim: c.latentDim,
      baseDim: c.baseDim,
      numScale: c.numScale,
      kernelSize: c.kernelSize,
      blockPerScale: c.blockPerScale,
      depthPerBlock: c.depthPerBlock,
      fcDim: c.fcDim,
      maxDim: c.maxDim,
      init: c.init,
      bnMomentum: c.bnMomentum,
      bnEpsilon: c.bnEpsilon,
      bnZeroDebias: c.bnZeroDebias,
    };
  });

function sym(x: unknown): SymbolicTensor {
  return x as SymbolicTensor;
}

function inits(c: ResnetConfig): { conv: KernelInit; dense: KernelInit } {
  return c.init === 'recipe'
    ? { conv: 'truncated-normal-0.02', dense: 'normal-0.02' }
    : { conv: 'glorot-uniform', dense: 'glorot-uniform' };
}

/** A config plus the seed of the network's initial weights. */
type Seeded = ResnetConfig & { readonly seed?: number | undefined };

function conv(
  c: Seeded,
  filters: number,
  name: string,
  strides = 1,
  transpose = false,
): { apply(x: SymbolicTensor): unknown } {
  const kinds = inits(c);
  const args = {
    filters,
    kernelSize: c.kernelSize,
    strides,
    padding: 'same' as const,
    kernelInitializer: layerInitializers(c.seed)(transpose ? kinds.dense : kinds.conv, name),
    name,
  };
  return transpose ? layers.conv2dTranspose(args) : layers.conv2d(args);
}

/** Residual block: `depth` x (BN -> ReLU -> conv), plus a conv shortcut of the input. */
function resBlock(c: Seeded, x: SymbolicTensor, dim: number, name: string): SymbolicTensor {
  let y = x;
  for (let i = 0; i < c.depthPerBlock; i++) {
    y = sym(
      new BatchNorm({
        momentum: c.bnMomentum,
        epsilon: c.bnEpsilon,
        zeroDebias: c.bnZeroDebias,
        name: `${name}_bn${i}`,
      }).apply(y),
    );
    y = sym(layers.reLU({ name: `${name}_relu${i}` }).apply(y));
    y = sym(conv(c, dim, `${name}_conv${i}`).apply(y));
  }
  const s = sym(conv(c, dim, `${name}_shortcut`).apply(x));
  return sym(layers.add({ name: `${name}_add` }).apply([y, s]));
}

function scaleBlock(c: Seeded, x: SymbolicTensor, dim: number, name: string): SymbolicTensor {
  let y = x;
  for (let i = 0; i < c.blockPerScale; i++) y = resBlock(c, y, dim, `${name}_block${i}`);
  return y;
}

/**
 * Encoder: conv (baseDim) -> numScale scale blocks with a stride-2 conv doubling the channels
 * (capped at maxDim) between them -> global mean pool -> residual fc block (fcDim) -> dense mu,
 * dense log sigma.
 */
export function buildResnetEncoderModel(config: ResnetConfig, seed?: number): LayersModel {
  const c: Seeded = { ...config, seed };
  const kinds = inits(c);
  const init = layerInitializers(seed);
  const x = input({ shape: [...c.imageShape], name: 'x' });
  let dim = c.baseDim;
  let y = sym(conv(c, dim, 'conv0').apply(x));
  for (let i = 0; i < c.numScale; i++) {
    y = scaleBlock(c, y, dim, `scale${i}`);
    if (i !== c.numScale - 1) {
      dim = Math.min(dim * 2, c.maxDim);
      y = sym(conv(c, dim, `downsample${i}`, 2).apply(y));
    }
  }
  y = sym(layers.globalAveragePooling2d({ name: 'mean_pool' }).apply(y));
  for (let b = 0; b < c.blockPerScale; b++) {
    const inp = y;
    let t = y;
    for (let i = 0; i < c.depthPerBlock; i++) {
      t = sym(layers.reLU({ name: `fc_block${b}_relu${i}` }).apply(t));
      t = sym(
        layers
          .dense({
            units: c.fcDim,
            kernelInitializer: init(kinds.dense, `fc_block${b}_dense${i}`),
            name: `fc_block${b}_dense${i}`,
          })
          .apply(t),
      );
    }
    const s = sym(
      layers
        .dense({
          units: c.fcDim,
          kernelInitializer: init(kinds.dense, `fc_block${b}_shortcut`),
          name: `fc_block${b}_shortcut`,
        })
        .apply(inp),
    );
    y = sym(layers.add({ name: `fc_block${b}_add` }).apply([t, s]));
  }
  const mu = sym(
    layers.dense({ units: c.latentDim, kernelInitializer: init(kinds.dense, 'mu'), name: 'mu' }).apply(y),
  );
  const logSigma = sym(
    layers
      .dense({ units: c.latentDim, kernelInitializer: init(kinds.dense, 'log_sigma'), name: 'log_sigma' })
      .apply(y),
  );
  return model({ inputs: x, outputs: [mu, logSigma], name: 'resnet_encoder' });
}

/**
 * The decoder's starting resolution and channel widths: halve `[H, W]` while both are even and
 * larger than 2 (the reference code starts at 2x2 for power-of-two sizes); widths double from
 * `baseDim` per upsampling, capped at `maxDim`, largest first.
 */
export function resnetDecoderPlan(c: ResnetConfig): { start: [number, number]; dims: number[] } {
  let [h, w] = c.imageShape;
  let ups = 0;
  while (h % 2 === 0 && w % 2 === 0 && Math.min(h, w) > 2) {
    h /= 2;
    w /= 2;
    ups++;
  }
  const dims: number[] = [];
  let d = c.baseDim;
  for (let i = 0; i <= ups; i++) {
    dims.push(d);
    d = Math.min(d * 2, c.maxDim);
  }
  return { start: [h, w], dims: dims.reverse() };
}

/**
 * Decoder: dense to `start` x `dims[0]` -> per upsampling a stride-2 transposed conv to the next
 * width then a scale block -> conv to C. Outputs logits.
 */
export function buildResnetDecoderModel(config: ResnetConfig, seed?: number): LayersModel {
  const c: Seeded = { ...config, seed };
  const kinds = inits(c);
  const init = layerInitializers(seed);
  const { start, dims } = resnetDecoderPlan(c);
  const z = input({ shape: [c.latentDim], name: 'z' });
  const d0 = dims[0] as number;
  let y = sym(
    layers
      .dense({
        units: start[0] * start[1] * d0,
        kernelInitializer: init(kinds.dense, 'fc0'),
        name: 'fc0',
      })
      .apply(z),
  );
  y = sym(layers.reshape({ targetShape: [start[0], start[1], d0], name: 'reshape' }).apply(y));
  for (let i = 0; i < dims.length - 1; i++) {
    const dim = dims[i + 1] as number;
    y = sym(conv(c, dim, `up${i}`, 2, true).apply(y));
    y = scaleBlock(c, y, dim, `scale${i}`);
  }
  const logits = sym(conv(c, c.imageShape[2], 'conv_out').apply(y));
  return model({ inputs: z, outputs: logits, name: 'resnet_decoder' });
}

/** The `resnet` encoder plugin. */
export const resnetEncoderPlugin: PluginDefinition<'encoder', typeof resnetConfigSchema> = definePlugin({
  kind: 'encoder',
  name: 'resnet',
  description: 'ResNet encoder (BN-ReLU-conv residual blocks, stride-2 downsampling, residual fc block).',
  configSchema: resnetConfigSchema,
  create: (config, context): Encoder =>
    new TwoHeadEncoder(config.imageShape, config.latentDim, buildResnetEncoderModel(config, context.seed)),
});

/** The `resnet` decoder plugin. */
export const resnetDecoderPlugin: PluginDefinition<'decoder', typeof resnetConfigSchema> = definePlugin({
  kind: 'decoder',
  name: 'resnet',
  description: 'ResNet decoder (dense to 2x2, transposed-conv upsampling + residual blocks, sigmoid).',
  configSchema: resnetConfigSchema,
  create: (config, context): Decoder =>
    new LogitsDecoder(config.imageShape, config.latentDim, buildResnetDecoderModel(config, context.seed)),
});
