/**
 * Custom tfjs-layers layers of the Two-Stage VAE: spectrally normalised dense / conv layers (one
 * power iteration per training step, the left singular vector `u` kept as a non-trainable weight),
 * a BatchNorm matching the reference code (decay 0.999, eps 1e-5, zero-debiased moving averages)
 * and {@link LearnedGamma}, the scalar `log gamma` of the Gaussian decoder.
 *
 * Every class has a static `className` and is registered with `tf.serialization.registerClass`, so
 * models containing them round-trip through `model.toJSON()` / `tf.loadLayersModel`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers } from '@tensorflow/tfjs-layers';
import { deriveSeed } from '@tsvae/core';
import type { GammaConvention } from './types';

/** Kwargs passed to a layer's `call`. */
type CallKwargs = { [key: string]: unknown };
/** A tfjs-layers shape (`null` for unknown dimensions). */
type LayerShape = (number | null)[];

/**
 * A kernel initialiser by name:
 * - `truncated-normal-0.02`: truncated normal, std 0.02 (the reference code's conv kernels);
 * - `normal-0.02`: normal, std 0.02 (its dense and transposed-conv kernels);
 * - `glorot-uniform`: TF's `tf.layers.*` default (the reference code's WAE, ResNet and stage-2 layers).
 */
export type KernelInit = 'truncated-normal-0.02' | 'normal-0.02' | 'glorot-uniform';

/**
 * The tfjs-layers initialiser for a {@link KernelInit} name, drawing with `seed` (unseeded without
 * one). A seeded initialiser gives the same values at every call: give each weight its own seed.
 */
export function kernelInitializer(name: KernelInit, seed?: number): ReturnType<typeof initializers.zeros> {
  const s = seed === undefined ? {} : { seed };
  switch (name) {
    case 'truncated-normal-0.02':
      return initializers.truncatedNormal({ mean: 0, stddev: 0.02, ...s });
    case 'normal-0.02':
      return initializers.randomNormal({ mean: 0, stddev: 0.02, ...s });
    case 'glorot-uniform':
      return initializers.glorotUniform(s);
    default:
      throw new Error(`unknown kernel initializer '${String(name)}'`);
  }
}

/**
 * Seeded kernel initialisers for a network: `init(kind, layerName)` draws with
 * `deriveSeed(seed, layerName)`, so every layer of a network built from one seed gets its own
 * seed (and the network is unseeded when `seed` is undefined).
 */
export function layerInitializers(
  seed: number | undefined,
): (kind: KernelInit, layerName: string) => ReturnType<typeof initializers.zeros> {
  return (kind, layerName) =>
    kernelInitializer(kind, seed === undefined ? undefined : deriveSeed(seed, layerName));
}

/** `stop_gradient`: the identity whose gradient is zero. */
const stopGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as (x: tf.Tensor) => tf.Tensor;

/** `x / sqrt(max(sum(x^2), 1e-12))` over the whole tensor (TF's `l2_normalize(dim=None)`). */
function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x)), 1e-12)));
}

function subSeed(seed: number | undefined, purpose: string): number | undefined {
  return seed === undefined ? undefined : deriveSeed(seed, purpose);
}

function seedArg(seed: number | undefined): { seed?: number } {
  return seed === undefined ? {} : { seed };
}

function training(kwargs: CallKwargs | undefined): boolean {
  return kwargs?.['training'] === true;
}

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  if (!x) throw new Error('expected one input tensor');
  return x;
}

/**
 * Spectral normalisation of a kernel whose last axis is the output axis (`[in, out]` or
 * `[kh, kw, cin, cout]`), as the reference code (compare_gan's `spectral_norm`) does: `w` is
 * reshaped to `[n, out]`, one power iteration `v = normalize(w^T u)`, `u' = normalize(w v)` with
 * `u`, `v` treated as constants, `sigma = u'^T w v`, and the kernel is `w / sigma`. `u'` is written
 * back to `uVar` when `persist` is true (training mode).
 */
function spectralNormalize(kernel: tf.Tensor, uVar: LayerVariable, persist: boolean): tf.Tensor {
  const out = kernel.shape[kernel.shape.length - 1] as number;
  const w = tf.reshape(kernel, [-1, out]);
  const u0 = tf.reshape(uVar.read(), [-1, 1]);
  const v = stopGradient(l2Normalize(tf.matMul(w, u0, true, false)));
  const u = stopGradient(l2Normalize(tf.matMul(w, v)));
  if (persist) uVar.write(tf.reshape(u, uVar.shape as number[]));
  const sigma = tf.sum(tf.mul(u, tf.matMul(w, v)));
  return tf.div(kernel, sigma);
}

/** Config of {@link SpectralNormDense}. */
export interface SpectralNormDenseArgs {
  readonly units: number;
  readonly kernelInit?: KernelInit;
  /** Seed of the initial `kernel` and `u` (unseeded without one). */
  readonly seed?: number;
  readonly name?: string;
  readonly inputShape?: number[];
}

/**
 * A dense layer `x w_sn + b` with a spectrally normalised kernel (see the module docs). Weights:
 * `kernel` `[in, units]`, `bias` `[units]` (zeros), and the non-trainable `u` `[in]` (standard normal).
 */
export class SpectralNormDense extends layers.Layer {
  /** tfjs serialisation name. */
  static readonly className = 'TsvaeSpectralNormDense';
  readonly units: number;
  readonly kernelInit: KernelInit;
  readonly seed: number | undefined;
  private kernel: LayerVariable | null = null;
  private bias: LayerVariable | null = null;
  private u: LayerVariable | null = null;

  constructor(args: SpectralNormDenseArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    this.units = args.units;
    this.kernelInit = args.kernelInit ?? 'normal-0.02';
    this.seed = args.seed;
  }

  override build(inputShape: LayerShape | LayerShape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    const inDim = shape[shape.length - 1] as number;
    this.kernel = this.addWeight(
      'kernel',
      [inDim, this.units],
      'float32',
      kernelInitializer(this.kernelInit, subSeed(this.seed, 'kernel')),
    );
    this.bias = this.addWeight('bias', [this.units], 'float32', initializers.zeros());
    this.u = this.addWeight(
      'u',
      [inDim],
      'float32',
      initializers.randomNormal({ mean: 0, stddev: 1, ...seedArg(subSeed(this.seed, 'u')) }),
      undefined,
      false,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    return [...shape.slice(0, -1), this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const w = spectralNormalize(
        (this.kernel as LayerVariable).read(),
        this.u as LayerVariable,
        training(kwargs),
      );
      return tf.add(tf.matMul(x, w), (this.bias as LayerVariable).read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, kernelInit: this.kernelInit };
  }
}

/** Config of {@link SpectralNormConv2D}. */
export interface SpectralNormConv2DArgs {
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly kernelInit?: KernelInit;
  /** Seed of the initial `kernel` and `u` (unseeded without one). */
  readonly seed?: number;
  readonly name?: string;
}

/**
 * A 2-D convolution (`'same'` padding, NHWC) with a spectrally normalised kernel. Weights: `kernel`
 * `[k, k, cin, filters]`, `bias` `[filters]` (zeros), non-trainable `u` `[k * k * cin]`.
 */
export class SpectralNormConv2D extends layers.Layer {
  /** tfjs serialisation name. */
  static readonly className = 'TsvaeSpectralNormConv2D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly kernelInit: KernelInit;
  readonly seed: number | undefined;
  private kernel: LayerVariable | null = null;
  private bias: LayerVariable | null = null;
  private u: LayerVariable | null = null;

  constructor(args: SpectralNormConv2DArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    this.filters = args.filters;
    this.kernelSize = args.kernelSize;
    this.strides = args.strides;
    this.kernelInit = args.kernelInit ?? 'truncated-normal-0.02';
    this.seed = args.seed;
  }

  override build(inputShape: LayerShape | LayerShape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    const cin = shape[3] as number;
    const k = this.kernelSize;
    this.kernel = this.addWeight(
      'kernel',
      [k, k, cin, this.filters],
      'float32',
      kernelInitializer(this.kernelInit, subSeed(this.seed, 'kernel')),
    );
    this.bias = this.addWeight('bias', [this.filters], 'float32', initializers.zeros());
    this.u = this.addWeight(
      'u',
      [k * k * cin],
      'float32',
      initializers.randomNormal({ mean: 0, stddev: 1, ...seedArg(subSeed(this.seed, 'u')) }),
      undefined,
      false,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    const s = this.strides;
    const h = shape[1] == null ? null : Math.ceil((shape[1] as number) / s);
    const w = shape[2] == null ? null : Math.ceil((shape[2] as number) / s);
    return [shape[0] ?? null, h, w, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs) as tf.Tensor4D;
      const w = spectralNormalize(
        (this.kernel as LayerVariable).read(),
        this.u as LayerVariable,
        training(kwargs),
      );
      const y = tf.conv2d(x, w as tf.Tensor4D, this.strides, 'same');
      return tf.add(y, (this.bias as LayerVariable).read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      kernelInit: this.kernelInit,
    };
  }
}

/** Config of {@link BatchNorm}. */
export interface BatchNormArgs {
  /** Moving-average decay (TF's `decay`, Keras' `momentum`); default 0.999. */
  readonly momentum?: number;
  /** Variance epsilon; default 1e-5. */
  readonly epsilon?: number;
  /**
   * Zero-debiased moving averages (TF's `assign_moving_average(zero_debias=True)`, which the
   * reference code uses): after `t` updates the moving statistics are the decay-weighted average of
   * the batch statistics only, `m_t = m_{t-1} + (v - m_{t-1}) (1 - d) / (1 - d^t)`. Default true;
   * false gives the plain Keras update `m_t = d m_{t-1} + (1 - d) v`.
   */
  readonly zeroDebias?: boolean;
  readonly name?: string;
}

/**
 * Batch normalisation over every axis but the last, as the reference code's `batch_norm`: in
 * training mode it normalises with the batch mean and (biased) variance and updates the moving
 * statistics; in inference mode it uses the moving statistics. Weights: trainable `gamma` (ones),
 * `beta` (zeros); non-trainable `moving_mean` (zeros), `moving_variance` (ones) and `step` (the
 * number of updates, for the zero-debiasing).
 */
export class BatchNorm extends layers.Layer {
  /** tfjs serialisation name. */
  static readonly className = 'TsvaeBatchNorm';
  readonly momentum: number;
  readonly epsilon: number;
  readonly zeroDebias: boolean;
  private gamma: LayerVariable | null = null;
  private beta: LayerVariable | null = null;
  private movingMean: LayerVariable | null = null;
  private movingVariance: LayerVariable | null = null;
  private step: LayerVariable | null = null;

  constructor(args: BatchNormArgs = {}) {
    super(args.name === undefined ? {} : { name: args.name });
    this.momentum = args.momentum ?? 0.999;
    this.epsilon = args.epsilon ?? 1e-5;
    this.zeroDebias = args.zeroDebias ?? true;
  }

  override build(inputShape: LayerShape | LayerShape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    const c = shape[shape.length - 1] as number;
    this.gamma = this.addWeight('gamma', [c], 'float32', initializers.ones());
    this.beta = this.addWeight('beta', [c], 'float32', initializers.zeros());
    this.movingMean = this.addWeight('moving_mean', [c], 'float32', initializers.zeros(), undefined, false);
    this.movingVariance = this.addWeight(
      'moving_variance',
      [c],
      'float32',
      initializers.ones(),
      undefined,
      false,
    );
    this.step = this.addWeight('step', [], 'float32', initializers.zeros(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const gamma = (this.gamma as LayerVariable).read();
      const beta = (this.beta as LayerVariable).read();
      const mm = this.movingMean as LayerVariable;
      const mv = this.movingVariance as LayerVariable;
      let mean: tf.Tensor;
      let variance: tf.Tensor;
      if (training(kwargs)) {
        const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
        ({ mean, variance } = tf.moments(x, axes));
        const st = this.step as LayerVariable;
        const t = tf.add(st.read(), 1);
        const d = tf.scalar(this.momentum);
        const oneMinusD = tf.sub(1, d);
        const rate = this.zeroDebias ? tf.div(oneMinusD, tf.sub(1, tf.pow(d, t))) : oneMinusD;
        const m0 = mm.read();
        const v0 = mv.read();
        mm.write(tf.add(m0, tf.mul(tf.sub(stopGradient(mean), m0), rate)));
        mv.write(tf.add(v0, tf.mul(tf.sub(stopGradient(variance), v0), rate)));
        st.write(t);
      } else {
        mean = mm.read();
        variance = mv.read();
      }
      const xHat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.epsilon)));
      return tf.add(tf.mul(xHat, gamma), beta);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      momentum: this.momentum,
      epsilon: this.epsilon,
      zeroDebias: this.zeroDebias,
    };
  }
}

/** Config of {@link LearnedGamma}. */
export interface LearnedGammaArgs {
  /** What `gamma = exp(logGamma)` means; default `'std'` (the reference code's). */
  readonly convention?: GammaConvention;
  /** Initial `logGamma`; default 0 (gamma = 1). */
  readonly initialLogGamma?: number;
  /**
   * Whether the optimiser learns it (default true). False for the optimal-gamma likelihoods, where
   * the loss writes the closed-form optimum into it at every training step (a state, like
   * BatchNorm's moving averages).
   */
  readonly trainable?: boolean;
  readonly name?: string;
}

/**
 * The learned scalar `logGamma` of the Gaussian decoder `p(x|z) = N(x_hat, gamma I)` (trainable,
 * initialised to 0, unbounded). As a layer it maps any input `[B, ...]` to `logGamma` repeated,
 * `[B, 1]`, so it can sit in a functional model (which then serialises it); the likelihood reads the
 * scalar through {@link LearnedGamma.logGamma}.
 */
export class LearnedGamma extends layers.Layer {
  /** tfjs serialisation name. */
  static readonly className = 'LearnedGamma';
  readonly convention: GammaConvention;
  readonly initialLogGamma: number;
  readonly learned: boolean;
  private variable: LayerVariable | null = null;

  constructor(args: LearnedGammaArgs = {}) {
    super(args.name === undefined ? {} : { name: args.name });
    this.convention = args.convention ?? 'std';
    this.initialLogGamma = args.initialLogGamma ?? 0;
    this.learned = args.trainable ?? true;
  }

  override build(): void {
    this.variable = this.addWeight(
      'logGamma',
      [],
      'float32',
      initializers.constant({ value: this.initialLogGamma }),
      undefined,
      this.learned,
    );
    this.built = true;
  }

  /** Writes `logGamma` (the optimal-gamma likelihoods' per-step update; no gradient flows through it). */
  setLogGamma(value: tf.Tensor): void {
    if (!this.variable) this.ensureBuilt();
    const scalar = tf.tidy(() => tf.reshape(stopGradient(value), []));
    (this.variable as LayerVariable).write(scalar);
    scalar.dispose();
  }

  /** Builds the weight if needed (a standalone layer that never saw an input). */
  ensureBuilt(): void {
    if (!this.built) {
      // A concrete call builds the weight and marks the layer as used (so `dispose` works).
      tf.tidy(() => {
        this.apply(tf.zeros([1, 1]));
      });
    }
  }

  /** The scalar `logGamma` variable (the optimiser's). */
  logGamma(): tf.Variable {
    if (!this.variable) this.ensureBuilt();
    return (this.variable as LayerVariable).read() as tf.Variable;
  }

  /** `gamma = exp(logGamma)` in this layer's convention, as a number. */
  gamma(): number {
    return Math.exp(this.logGamma().dataSync()[0] as number);
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as LayerShape;
    return [shape[0] ?? null, 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      return tf.mul(tf.ones([x.shape[0] as number, 1]), this.logGamma());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      convention: this.convention,
      initialLogGamma: this.initialLogGamma,
      trainable: this.learned,
    };
  }
}

let customRegistered = false;

/** Registers the custom layers with `tf.serialization` (idempotent). */
export function registerCustomLayers(): void {
  if (customRegistered) return;
  customRegistered = true;
  for (const cls of [SpectralNormDense, SpectralNormConv2D, BatchNorm, LearnedGamma]) {
    tf.serialization.registerClass(
      cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>,
    );
  }
}

registerCustomLayers();
