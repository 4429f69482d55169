/** Sampling a GAN generator: codes from its prior, images in inference mode. */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, type Generator, type ImageShape } from '@tsvae/core';
import type { GanGenerator } from './kinds';

/** A GAN's code distribution: `uniform` on [-1, 1]^zDim (compare_gan) or standard `normal`. */
export type GanPrior = 'uniform' | 'normal';

/** `n` codes `[n, zDim]` from `prior` (seeded when `seed` is given; never pass 0 to tfjs: use deriveSeed). */
export function drawCodes(n: number, zDim: number, prior: GanPrior, seed?: number): tf.Tensor2D {
  return (
    prior === 'uniform'
      ? tf.randomUniform([n, zDim], -1, 1, 'float32', seed)
      : tf.randomNormal([n, zDim], 0, 1, 'float32', seed)
  ) as tf.Tensor2D;
}

/** Options of {@link sampleGan}. */
export interface GanSampleOptions {
  /**
   * Seed of the draws (deterministic when given; 0 is a seed like any other). Batch `i` draws its
   * codes with `deriveSeed(seed, 'sample-batch', i)`, so the same seed and batch size give the same
   * images.
   */
  readonly seed?: number;
  /** Images computed per batch (default 256). */
  readonly batchSize?: number;
  /** The code distribution (default `uniform`). */
  readonly prior?: GanPrior;
}

/** `n` samples `G(z)` `[n, H, W, C]`, the generator in inference mode (BatchNorm moving statistics). */
export function sampleGan(generator: GanGenerator, n: number, options: GanSampleOptions = {}): tf.Tensor4D {
  if (!Number.isInteger(n) || n <= 0)
    throw new RangeError(`sampleGan: n must be a positive integer, got ${n}`);
  const batchSize = options.batchSize ?? 256;
  const prior = options.prior ?? 'uniform';
  const parts: tf.Tensor4D[] = [];
  for (let done = 0, i = 0; done < n; done += batchSize, i++) {
    const m = Math.min(batchSize, n - done);
    const seed = options.seed === undefined ? undefined : deriveSeed(options.seed, 'sample-batch', i);
    parts.push(
      tf.tidy(() => generator.forward(drawCodes(m, generator.zDim, prior, seed), { training: false })),
    );
  }
  if (parts.length === 1) return parts[0] as tf.Tensor4D;
  const out = tf.concat(parts, 0);
  tf.dispose(parts);
  return out;
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
