/**
 * Sampling a GAN generator: codes from its prior, images in inference mode. Browser-safe
 * (tfjs-core and `@tsvae/core` only): Node (`@tsvae/baselines`) and the browser
 * (`@tsvae/baselines/browser`, which `@tsvae/web` loads exports with) run this same code, so a seed
 * means the same draws in both.
 *
 * How a seed maps to draws (`n` images, batch size `B`, default 256): image `i` belongs to batch
 * `b = floor(i / B)`, whose codes are `drawCodes(m, zDim, prior, deriveSeed(seed, 'sample-batch', b))`
 * (`uniform`: `tf.randomUniform([m, zDim], -1, 1, 'float32', s_b)`; `normal`:
 * `tf.randomNormal([m, zDim], 0, 1, 'float32', s_b)`); the images are `G(z)` in inference mode.
 * tfjs draws seeded random numbers on the CPU in JavaScript, so the draws do not depend on the
 * backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, type Generator, type ImageShape } from '@tsvae/core';
import type { GanGenerator } from './kinds';

/** A GAN's code distribution: `uniform` on [-1, 1]^zDim (compare_gan) or standard `normal`. */
export type GanPrior = 'uniform' | 'normal';

/** The code distributions a GAN run may have. */
export const GAN_PRIORS: readonly GanPrior[] = ['uniform', 'normal'];

/** `n` codes `[n, zDim]` from `prior` (seeded when `seed` is given; never pass 0 to tfjs: use deriveSeed). */
export function drawCodes(n: number, zDim: number, prior: GanPrior, seed?: number): tf.Tensor2D {
  return (
    prior === 'uniform'
      ? tf.randomUniform([n, zDim], -1, 1, 'float32', seed)
      : tf.randomNormal([n, zDim], 0, 1, 'float32', seed)
  ) as tf.Tensor2D;
}

/** Options of {@link sampleGan} and {@link sampleGanCodes}. */
export interface GanSampleOptions {
  /**
   * Seed of the draws (deterministic when given; 0 is a seed like any other). Batch `i` draws its
   * codes with `deriveSeed(seed, 'sample-batch', i)`, so the same seed and batch size give the same
   * images.
   */
  readonly seed?: number;
  /** Images computed per batch (default 256). The draws depend on it. */
  readonly batchSize?: number;
  /** The code distribution (default `uniform`). */
  readonly prior?: GanPrior;
}

/** The batch size of GAN sampling calls without one. */
export const DEFAULT_GAN_BATCH_SIZE = 256;

/** `fn(codes of batch i)` for every batch of `n` draws, concatenated: the one place the codes are drawn. */
function inCodeBatches<T extends tf.Tensor>(
  what: string,
  zDim: number,
  n: number,
  options: GanSampleOptions,
  fn: (codes: tf.Tensor2D) => T,
): T {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${what}: n must be a positive integer, got ${n}`);
  const batchSize = options.batchSize ?? DEFAULT_GAN_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`${what}: batchSize must be a positive integer, got ${batchSize}`);
  }
  const prior = options.prior ?? 'uniform';
  const parts: T[] = [];
  for (let done = 0, i = 0; done < n; done += batchSize, i++) {
    const m = Math.min(batchSize, n - done);
    const seed = options.seed === undefined ? undefined : deriveSeed(options.seed, 'sample-batch', i);
    parts.push(tf.tidy(() => fn(drawCodes(m, zDim, prior, seed))));
  }
  if (parts.length === 1) return parts[0] as T;
  const out = tf.concat(parts, 0) as T;
  tf.dispose(parts);
  return out;
}

/**
 * The codes `z` `[n, zDim]` behind {@link sampleGan} with the same options: `G(z)` in inference
 * mode gives those images (e.g. to interpolate between two samples of a grid).
 */
export function sampleGanCodes(zDim: number, n: number, options: GanSampleOptions = {}): tf.Tensor2D {
  return inCodeBatches('sampleGanCodes', zDim, n, options, (z) => z);
}

/** `n` samples `G(z)` `[n, H, W, C]`, the generator in inference mode (BatchNorm moving statistics). */
export function sampleGan(generator: GanGenerator, n: number, options: GanSampleOptions = {}): tf.Tensor4D {
  return inCodeBatches('sampleGan', generator.zDim, n, options, (z) =>
    generator.forward(z, { training: false }),
  );
}

/**
 * A trained GAN generator as a core `Generator` (what `evaluateGenerators` / `evaluate` compare).
 * Does not own the generator: `dispose` is a no-op.
 */
export class GanSampler implements Generator {
  readonly outputShape: ImageShape;
  constructor(
    readonly generator: GanGenerator,
    readonly prior: GanPrior = 'uniform',
    readonly name: string = 'gan',
  ) {
    this.outputShape = generator.outputShape;
  }
  async generate(
    n: number,
    options: { readonly seed?: number; readonly batchSize?: number } = {},
  ): Promise<tf.Tensor4D> {
    return sampleGan(this.generator, n, { ...options, prior: this.prior });
  }
  dispose(): void {}
}
