/**
 * Sampling from a trained two-stage VAE: one-stage (`z ~ N(0, I)`) and two-stage (`z` from the
 * second stage), the latent codes behind a grid, and interpolation between codes. Platform-neutral
 * (tfjs-core only): Node (`@tsvae/stages` re-exports it) and the browser (`@tsvae/web`) run this
 * same code, so a seed means the same draws in both.
 *
 * How a seed maps to draws (`n` images, batch size `B`, default 256): image `i` belongs to batch
 * `b = floor(i / B)`, whose seed is `s_b = deriveSeed(seed, 'sample-batch', b)`. One-stage: the
 * batch's codes are `tf.randomNormal([m, latentDim], 0, 1, 'float32', s_b)`. Two-stage: the batch's
 * codes are `secondStage.sample(m, { seed: s_b })` (the `mlp` second stage draws
 * `u ~ N(0, I)` with `deriveSeed(s_b, 'u')` and `eps` with `deriveSeed(s_b, 'eps')`). The images are
 * the stage-1 decoder means of the codes. tfjs draws seeded normals on the CPU in JavaScript, so the
 * draws do not depend on the backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed } from './rng';
import type { Decoder, SecondStage, Stage1Model } from './types';

/** Options of a sampling call. */
export interface SampleOptions {
  /**
   * Seed of the draws (deterministic when given; 0 is a seed like any other). Batch `i` draws with
   * `deriveSeed(seed, 'sample-batch', i)`, so the same seed and batch size give the same images.
   */
  readonly seed?: number;
  /** Images computed per batch (default 256). The draws depend on it. */
  readonly batchSize?: number;
}

/** The batch size of sampling calls without one. */
export const DEFAULT_SAMPLE_BATCH_SIZE = 256;

/**
 * What sampling needs of a stage-1 model: its latent dimension and the decoder mean. A
 * `Stage1Model` is one; {@link decoderMean} makes one of a bare `Decoder` (what a browser export
 * holds).
 */
export type SampleDecoder = Pick<Stage1Model, 'latentDim' | 'decode'>;

/** A `Decoder` as a {@link SampleDecoder}: `decode` returns the decoder mean, as `Stage1Model.decode` does. */
export function decoderMean(decoder: Decoder): SampleDecoder {
  return {
    latentDim: decoder.latentDim,
    decode: (z, options) => tf.tidy(() => decoder.decode(z, options).mean),
  };
}

/** Sampling mode: the Two-Stage VAE, or the stage-1 VAE with `z ~ N(0, I)`. */
export type SamplingMode = 'one-stage' | 'two-stage';

function inBatches<T extends tf.Tensor>(
  n: number,
  batchSize: number,
  seed: number | undefined,
  fn: (m: number, seed?: number) => T,
): T {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`sampling: batchSize must be a positive integer, got ${batchSize}`);
  }
  const parts: T[] = [];
  for (let done = 0, i = 0; done < n; done += batchSize, i++) {
    const m = Math.min(batchSize, n - done);
    parts.push(seed === undefined ? fn(m) : fn(m, deriveSeed(seed, 'sample-batch', i)));
  }
  if (parts.length === 1) return parts[0] as T;
  const out = tf.concat(parts, 0) as T;
  tf.dispose(parts);
  return out;
}

/** One batch of one-stage codes: `N(0, I)` draws `[m, latentDim]`. */
function oneStageBatch(latentDim: number, m: number, seed?: number): tf.Tensor2D {
  return tf.randomNormal([m, latentDim], 0, 1, 'float32', seed) as tf.Tensor2D;
}

/** One batch of two-stage codes: the second stage's `sample`. */
function twoStageBatch(secondStage: SecondStage, m: number, seed?: number): tf.Tensor2D {
  return seed === undefined ? secondStage.sample(m) : secondStage.sample(m, { seed });
}

/**
 * The latent codes `z` `[n, latentDim]` behind {@link sampleOneStage} (`secondStage` null) or
 * {@link sampleTwoStage} with the same options: decoding them gives those images.
 */
export function sampleLatents(
  latentDim: number,
  secondStage: SecondStage | null,
  n: number,
  options: SampleOptions = {},
): tf.Tensor2D {
  return inBatches(n, options.batchSize ?? DEFAULT_SAMPLE_BATCH_SIZE, options.seed, (m, seed) =>
    secondStage ? twoStageBatch(secondStage, m, seed) : oneStageBatch(latentDim, m, seed),
  );
}

/** One-stage sampling: `z ~ N(0, I)`, `x = decoder mean(z)`. Returns `[n, H, W, C]` in [0, 1]. */
export function sampleOneStage(vae: SampleDecoder, n: number, options: SampleOptions = {}): tf.Tensor4D {
  return inBatches(n, options.batchSize ?? DEFAULT_SAMPLE_BATCH_SIZE, options.seed, (m, seed) =>
    tf.tidy(() => vae.decode(oneStageBatch(vae.latentDim, m, seed), { training: false })),
  );
}

/**
 * Two-stage sampling: `u ~ N(0, I)`, `z = decoder2(u) + gamma_z * eps` (the second stage's
 * `sample`), `x = decoder mean(z)` (no pixel noise). Returns `[n, H, W, C]` in [0, 1].
 */
export function sampleTwoStage(
  vae: SampleDecoder,
  secondStage: SecondStage,
  n: number,
  options: SampleOptions = {},
): tf.Tensor4D {
  return inBatches(n, options.batchSize ?? DEFAULT_SAMPLE_BATCH_SIZE, options.seed, (m, seed) =>
    tf.tidy(() => vae.decode(twoStageBatch(secondStage, m, seed), { training: false })),
  );
}

/** How {@link interpolateLatents} walks from one code to the other. */
export type InterpolationMethod = 'linear' | 'slerp';

/**
 * `steps` codes `[steps, d]` from `a` to `b` (both `[d]` or `[1, d]`), endpoints included:
 * `linear` is `(1 - t) a + t b`; `slerp` walks the great circle between the directions of `a` and
 * `b` with the norm interpolated linearly (linear when they are parallel), which keeps codes of a
 * standard normal prior at a typical norm. `t = k / (steps - 1)`.
 */
export function interpolateLatents(
  a: tf.Tensor,
  b: tf.Tensor,
  steps: number,
  method: InterpolationMethod = 'linear',
): tf.Tensor2D {
  if (!Number.isInteger(steps) || steps < 2) {
    throw new Error(`interpolateLatents: steps must be an integer >= 2, got ${steps}`);
  }
  if (a.size !== b.size) {
    throw new Error(`interpolateLatents: codes of different sizes (${a.size} and ${b.size})`);
  }
  return tf.tidy(() => {
    const d = a.size;
    const va = tf.reshape(a, [1, d]);
    const vb = tf.reshape(b, [1, d]);
    const ts = Array.from({ length: steps }, (_, k) => k / (steps - 1));
    const t = tf.tensor2d(ts, [steps, 1]);
    const linear = (): tf.Tensor2D => tf.add(tf.mul(tf.sub(1, t), va), tf.mul(t, vb)) as tf.Tensor2D;
    if (method === 'linear') return linear();
    const na = tf.norm(va).dataSync()[0] as number;
    const nb = tf.norm(vb).dataSync()[0] as number;
    if (na === 0 || nb === 0) return linear();
    const cos = (tf.sum(tf.mul(va, vb)).dataSync()[0] as number) / (na * nb);
    const omega = Math.acos(Math.min(1, Math.max(-1, cos)));
    if (Math.sin(omega) < 1e-6) return linear();
    // unit directions on the great circle, scaled by the linearly interpolated norm
    const wa = ts.map((x) => Math.sin((1 - x) * omega) / Math.sin(omega));
    const wb = ts.map((x) => Math.sin(x * omega) / Math.sin(omega));
    const norms = ts.map((x) => (1 - x) * na + x * nb);
    const dir = tf.add(
      tf.mul(tf.tensor2d(wa, [steps, 1]), tf.div(va, na)),
      tf.mul(tf.tensor2d(wb, [steps, 1]), tf.div(vb, nb)),
    );
    return tf.mul(dir, tf.tensor2d(norms, [steps, 1])) as tf.Tensor2D;
  });
}
