/**
 * @packageDocumentation
 * Test helpers of `@tsvae/baselines` (the `@tsvae/baselines/testing` subpath, not the main API):
 * a 2-D toy (`ring-of-gaussians` dataset, `mlp` generator, `mlp` and `mlp-autoencoder`
 * discriminators) that trains every GAN in seconds, the energy distance between sample sets, and
 * small run configs of the production networks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataSplit, Dataset, ImageShape, NamedWeight, PluginDefinition } from '@tsvae/core';
import { createRng, definePlugin, deriveSeed, getRegistry, z } from '@tsvae/core';
import { imageShapeSchema } from '@tsvae/layers';
import { mergeConfig } from '@tsvae/stages';
import type { GanRunConfigInput } from './config';
import { type GanDiscriminator, type GanGenerator, registerGanKinds } from './kinds';
import { registerBaselinesPlugins } from './plugins';

const ringConfig = z.object({
  /** Number of modes on the circle (8). */
  modes: z.number().int().positive().default(8),
  /** Radius of the circle (2, as in Metz et al.'s unrolled-GAN ring). */
  radius: z.number().positive().default(2),
  /** Centre of the circle ([0, 0]). */
  center: z.tuple([z.number(), z.number()]).default([0, 0]),
  /** Standard deviation of each mode (0.02 in Metz et al.; larger trains faster). */
  std: z.number().positive().default(0.02),
  /** Training examples (the test split has a quarter, at least 256). */
  size: z.number().int().positive().default(2048),
  seed: z.number().int().default(11),
});

/** `n` points of the ring of Gaussians, `[n, 2]` row-major, drawn with `seed`. */
export function ringSamples(
  n: number,
  options: {
    readonly modes?: number;
    readonly radius?: number;
    readonly center?: readonly [number, number];
    readonly std?: number;
    readonly seed: number;
  },
): Float32Array {
  const modes = options.modes ?? 8;
  const radius = options.radius ?? 2;
  const [cx, cy] = options.center ?? [0, 0];
  const std = options.std ?? 0.02;
  const rng = createRng(options.seed);
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const angle = (2 * Math.PI * rng.nextInt(modes)) / modes;
    out[2 * i] = cx + radius * Math.cos(angle) + std * rng.normal();
    out[2 * i + 1] = cy + radius * Math.sin(angle) + std * rng.normal();
  }
  return out;
}

/**
 * `ring-of-gaussians` dataset: 2-D points (shape `[1, 1, 2]`, float32) from `modes` Gaussians of
 * standard deviation `std` evenly spaced on a circle of `radius`. For tests.
 */
export const ringDatasetPlugin: PluginDefinition<'dataset', typeof ringConfig> = definePlugin({
  kind: 'dataset',
  name: 'ring-of-gaussians',
  description: 'A ring of 2-D Gaussians (GAN tests).',
  configSchema: ringConfig,
  create(c): Dataset {
    const shape: ImageShape = [1, 1, 2];
    const cache = new Map<string, DataSplit>();
    return {
      name: 'ring-of-gaussians',
      shape,
      async load(split) {
        let s = cache.get(split);
        if (!s) {
          const n = split === 'train' ? c.size : Math.max(256, c.size >> 2);
          const data = ringSamples(n, { ...c, seed: c.seed + (split === 'train' ? 1 : 2) });
          s = { size: n, shape, data };
          cache.set(split, s);
        }
        return s;
      },
    };
  },
});

/** One dense layer's variables. */
interface DenseLayer {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
}

/**
 * A stack of dense layers on plain variables (no tfjs-layers model: its per-call overhead dominates
 * networks this small), Glorot-uniform kernels seeded per layer with `deriveSeed(seed, name)`.
 */
class DenseNet {
  readonly layers: ReadonlyMap<string, DenseLayer>;
  constructor(
    sizes: readonly (readonly [name: string, inDim: number, outDim: number])[],
    seed: number | undefined,
  ) {
    this.layers = new Map(
      sizes.map(([name, i, o]) => {
        const limit = Math.sqrt(6 / (i + o));
        const s = seed === undefined ? undefined : deriveSeed(seed, name);
        const layer = tf.tidy(() => ({
          w: tf.variable(tf.randomUniform([i, o], -limit, limit, 'float32', s), true),
          b: tf.variable(tf.zeros([o]), true),
        }));
        return [name, layer] as const;
      }),
    );
  }
  apply(name: string, x: tf.Tensor): tf.Tensor2D {
    const l = this.layers.get(name) as DenseLayer;
    return tf.add(tf.matMul(x as tf.Tensor2D, l.w as tf.Tensor2D), l.b) as tf.Tensor2D;
  }
  trainableVariables(): tf.Variable[] {
    return [...this.layers.values()].flatMap((l) => [l.w, l.b]);
  }
  getWeights(): NamedWeight[] {
    return [...this.layers].flatMap(([n, l]) => [
      { name: `${n}/kernel`, tensor: l.w },
      { name: `${n}/bias`, tensor: l.b },
    ]);
  }
  setWeights(weights: readonly NamedWeight[]): void {
    const byName = new Map(weights.map((w) => [w.name, w.tensor]));
    const pairs = [...this.layers].flatMap(([n, l]) => [
      [`${n}/kernel`, l.w],
      [`${n}/bias`, l.b],
    ]) as [string, tf.Variable][];
    for (const [name, v] of pairs) {
      const t = byName.get(name);
      if (!t) throw new Error(`setWeights: missing weight "${name}"`);
      if (!tf.util.arraysEqual(t.shape, v.shape)) {
        throw new Error(`setWeights: "${name}" has shape [${t.shape}], expected [${v.shape}]`);
      }
    }
    for (const [name, v] of pairs) v.assign(byName.get(name) as tf.Tensor);
  }
  countParams(): number {
    return this.trainableVariables().reduce((s, v) => s + v.size, 0);
  }
  dispose(): void {
    tf.dispose(this.trainableVariables());
  }
}

const mlpFields = {
  imageShape: imageShapeSchema,
  /** Hidden width (64). */
  hidden: z.number().int().positive().default(64),
  /** Hidden layers (2). */
  depth: z.number().int().positive().default(2),
};

const mlpGeneratorConfig = z.object({
  zDim: z.number().int().positive().default(2),
  ...mlpFields,
  /** Output: `linear` (real-valued data, the default) or `sigmoid` (images in [0, 1]). */
  output: z.enum(['linear', 'sigmoid']).default('linear'),
});

const size = (shape: ImageShape): number => shape[0] * shape[1] * shape[2];

function hiddenLayers(inDim: number, hidden: number, depth: number): [string, number, number][] {
  return Array.from({ length: depth }, (_, i) => [`h${i + 1}`, i === 0 ? inDim : hidden, hidden]);
}

/** `mlp` generator: z -> depth x dense(hidden, ReLU) -> dense(H W C) (linear or sigmoid). For tests. */
export const mlpGeneratorPlugin: PluginDefinition<'gan-generator', typeof mlpGeneratorConfig> = definePlugin({
  kind: 'gan-generator',
  name: 'mlp',
  description: 'A small MLP generator (tests, 2-D toys).',
  configSchema: mlpGeneratorConfig,
  create(c, context): GanGenerator {
    const shape = c.imageShape as ImageShape;
    const hidden = hiddenLayers(c.zDim, c.hidden, c.depth);
    const net = new DenseNet([...hidden, ['out', c.hidden, size(shape)]], context.seed);
    return {
      zDim: c.zDim,
      outputShape: shape,
      trainableVariables: () => net.trainableVariables(),
      getWeights: () => net.getWeights(),
      setWeights: (w) => net.setWeights(w),
      countParams: () => net.countParams(),
      dispose: () => net.dispose(),
      forward: (zz) =>
        tf.tidy(() => {
          let y: tf.Tensor = zz;
          for (const [name] of hidden) y = tf.relu(net.apply(name, y));
          y = net.apply('out', y);
          if (c.output === 'sigmoid') y = tf.sigmoid(y);
          return tf.reshape(y, [zz.shape[0], ...shape]) as tf.Tensor4D;
        }),
    };
  },
});

const mlpDiscriminatorConfig = z.object({ ...mlpFields });

const flat = (x: tf.Tensor4D): tf.Tensor2D => tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;

/** `mlp` discriminator: flatten -> depth x dense(hidden) + lrelu(0.2) -> dense 1. For tests. */
export const mlpDiscriminatorPlugin: PluginDefinition<'gan-discriminator', typeof mlpDiscriminatorConfig> =
  definePlugin({
    kind: 'gan-discriminator',
    name: 'mlp',
    description: 'A small MLP critic (tests, 2-D toys).',
    configSchema: mlpDiscriminatorConfig,
    create(c, context): GanDiscriminator {
      const shape = c.imageShape as ImageShape;
      const hidden = hiddenLayers(size(shape), c.hidden, c.depth);
      const net = new DenseNet([...hidden, ['out', c.hidden, 1]], context.seed);
      return {
        inputShape: shape,
        output: 'critic',
        trainableVariables: () => net.trainableVariables(),
        getWeights: () => net.getWeights(),
        setWeights: (w) => net.setWeights(w),
        countParams: () => net.countParams(),
        dispose: () => net.dispose(),
        forward: (x) =>
          tf.tidy(() => {
            let y: tf.Tensor = flat(x);
            for (const [name] of hidden) y = tf.leakyRelu(net.apply(name, y), 0.2);
            return net.apply('out', y);
          }),
      };
    },
  });

const mlpAutoencoderConfig = z.object({
  ...mlpFields,
  /** Code width (8). */
  codeDim: z.number().int().positive().default(8),
});

/**
 * `mlp-autoencoder` discriminator (BEGAN): flatten -> dense(hidden) + lrelu -> dense(codeDim) ->
 * dense(hidden) + lrelu -> dense(H W C) (linear). For tests.
 */
export const mlpAutoencoderPlugin: PluginDefinition<'gan-discriminator', typeof mlpAutoencoderConfig> =
  definePlugin({
    kind: 'gan-discriminator',
    name: 'mlp-autoencoder',
    description: 'A small MLP autoencoder discriminator (BEGAN tests, 2-D toys).',
    configSchema: mlpAutoencoderConfig,
    create(c, context): GanDiscriminator {
      const shape = c.imageShape as ImageShape;
      const d = size(shape);
      const net = new DenseNet(
        [
          ['enc', d, c.hidden],
          ['code', c.hidden, c.codeDim],
          ['dec', c.codeDim, c.hidden],
          ['out', c.hidden, d],
        ],
        context.seed,
      );
      return {
        inputShape: shape,
        output: 'autoencoder',
        trainableVariables: () => net.trainableVariables(),
        getWeights: () => net.getWeights(),
        setWeights: (w) => net.setWeights(w),
        countParams: () => net.countParams(),
        dispose: () => net.dispose(),
        forward: (x) =>
          tf.tidy(() => {
            const h = tf.leakyRelu(net.apply('enc', flat(x)), 0.2);
            const y = tf.leakyRelu(net.apply('dec', net.apply('code', h)), 0.2);
            return tf.reshape(net.apply('out', y), x.shape);
          }),
      };
    },
  });

/** The toy plugins of this package. */
export const toyPlugins: readonly PluginDefinition[] = [
  ringDatasetPlugin,
  mlpGeneratorPlugin,
  mlpDiscriminatorPlugin,
  mlpAutoencoderPlugin,
] as unknown as readonly PluginDefinition[];

/**
 * Registers the package's plugins (as importing it does) and the toy plugins (`ring-of-gaussians`,
 * the `mlp` generator, the `mlp` and `mlp-autoencoder` discriminators); idempotent.
 */
export function registerToyPlugins(): void {
  registerBaselinesPlugins();
  const reg = getRegistry();
  for (const p of toyPlugins) if (!reg.has(p.kind, p.name)) reg.register(p);
}

/** The toy's data: a ring of 8 Gaussians (radius 1, std 0.1) centred at (2, 2), away from where an untrained generator puts its samples (near 0). */
export const TOY_RING: Readonly<{ center: [number, number]; radius: number; std: number; size: number }> = {
  center: [2, 2],
  radius: 1,
  std: 0.1,
  size: 1024,
};

/**
 * A GAN run config on the 2-D toy: {@link TOY_RING}, an `mlp` generator (z_dim 8, normal codes)
 * and discriminator of width 64 (`mlp-autoencoder` with a 1-d code for BEGAN: a code as wide as
 * the data would reconstruct everything), batch 64 (16 steps an epoch), Adam 1e-3 / 0.5, 20 epochs;
 * `loss` (with its own defaults) and overrides on top. Register the toy plugins first.
 */
export function toyGanRunConfig(
  loss: string,
  overrides: Readonly<Record<string, unknown>> = {},
): GanRunConfigInput {
  const autoencoder = loss === 'began';
  return mergeConfig<GanRunConfigInput>(
    {
      preset: 'test',
      model: loss,
      dataset: { name: 'ring-of-gaussians', config: { ...TOY_RING, center: [...TOY_RING.center] } },
      seed: 5,
      batchSize: 64,
      zDim: 8,
      prior: 'normal',
      epochs: 20,
      generator: { name: 'mlp', config: { hidden: 64 } },
      discriminator: autoencoder
        ? { name: 'mlp-autoencoder', config: { hidden: 64, codeDim: 1 } }
        : { name: 'mlp', config: { hidden: 64 } },
      loss: { name: loss, config: {} },
      optimizer: { lr: 1e-3, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 },
      checkpoint: { everyEpochs: 100, keep: 1 },
      samples: { count: 16, seed: 3 },
    },
    overrides,
  );
}

/** The production InfoGAN generator and discriminator at test size (8x8 images). */
export const SMALL_GAN_NETWORK: Readonly<Record<string, unknown>> = {
  convDims: [4, 8],
  fcDim: 16,
  bnMomentum: 0.9,
};

/**
 * A GAN run config of the production networks at test size: `infogan` generator and discriminator
 * (conv 4/8, fc 16) on 64 `tiny-manifold` images of 8x8 (from `@tsvae/stages/testing`; register its
 * tiny plugins), batch 32 (2 steps an epoch), 2 epochs, z_dim 4; `loss` and overrides on top.
 */
export function smallGanRunConfig(
  loss: string,
  overrides: Readonly<Record<string, unknown>> = {},
): GanRunConfigInput {
  const autoencoder = loss === 'began';
  const { fcDim: _f, ...aeNet } = SMALL_GAN_NETWORK;
  return mergeConfig<GanRunConfigInput>(
    {
      preset: 'test',
      model: loss,
      dataset: { name: 'tiny-manifold', config: { size: 64, intrinsicDim: 2, side: 8 } },
      seed: 3,
      batchSize: 32,
      zDim: 4,
      epochs: 2,
      generator: { name: 'infogan', config: { ...SMALL_GAN_NETWORK } },
      discriminator: autoencoder
        ? { name: 'infogan-autoencoder', config: { ...aeNet, codeDim: 4 } }
        : { name: 'infogan', config: { ...SMALL_GAN_NETWORK } },
      loss: { name: loss, config: {} },
      optimizer: { lr: 1e-3, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 },
      checkpoint: { everyEpochs: 1, keep: 3 },
      samples: { count: 16, seed: 5 },
    },
    overrides,
  );
}

/** The toy plugins under the name `tsvae --plugins @tsvae/baselines/testing` loads. */
export const plugins: readonly PluginDefinition[] = toyPlugins;

// The toy plugins' kinds exist as soon as this module is loaded (so `loadPlugins` can register them).
registerGanKinds();
