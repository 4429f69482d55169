import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, type Generator, type ImageShape, type SecondStage, type Stage1Model } from '@tsvae/core';
import { writeFileAtomic } from '@tsvae/core/node';
import { PNG } from 'pngjs';

/** Options of a sampling call. */
export interface SampleOptions {
  /**
   * Seed of the draws (deterministic when given; 0 is a seed like any other). Batch `i` draws with
   * `deriveSeed(seed, 'sample-batch', i)`, so the same seed and batch size give the same images.
   */
  readonly seed?: number;
  /** Images computed per batch (default 256). */
  readonly batchSize?: number;
}

function inBatches(
  n: number,
  batchSize: number,
  seed: number | undefined,
  fn: (m: number, seed?: number) => tf.Tensor4D,
): tf.Tensor4D {
  const parts: tf.Tensor4D[] = [];
  for (let done = 0, i = 0; done < n; done += batchSize, i++) {
    const m = Math.min(batchSize, n - done);
    parts.push(seed === undefined ? fn(m) : fn(m, deriveSeed(seed, 'sample-batch', i)));
  }
  if (parts.length === 1) return parts[0] as tf.Tensor4D;
  const out = tf.concat(parts, 0);
  tf.dispose(parts);
  return out;
}

/** One-stage sampling: `z ~ N(0, I)`, `x = decoder mean(z)`. Returns `[n, H, W, C]` in [0, 1]. */
export function sampleOneStage(vae: Stage1Model, n: number, options: SampleOptions = {}): tf.Tensor4D {
  return inBatches(n, options.batchSize ?? 256, options.seed, (m, seed) =>
    tf.tidy(() =>
      vae.decode(tf.randomNormal([m, vae.latentDim], 0, 1, 'float32', seed) as tf.Tensor2D, {
        training: false,
      }),
    ),
  );
}

/**
 * Two-stage sampling: `u ~ N(0, I)`, `z = decoder2(u) + gamma_z * eps` (the second stage's
 * `sample`), `x = decoder mean(z)` (no pixel noise). Returns `[n, H, W, C]` in [0, 1].
 */
export function sampleTwoStage(
  vae: Stage1Model,
  secondStage: SecondStage,
  n: number,
  options: SampleOptions = {},
): tf.Tensor4D {
  return inBatches(n, options.batchSize ?? 256, options.seed, (m, seed) =>
    tf.tidy(() => {
      const z = seed === undefined ? secondStage.sample(m) : secondStage.sample(m, { seed });
      return vae.decode(z, { training: false });
    }),
  );
}

/** Sampling mode of a {@link VaeGenerator}. */
export type SamplingMode = 'one-stage' | 'two-stage';

/**
 * A trained VAE as a {@link Generator}: `two-stage` (the Two-Stage VAE) or `one-stage` (the stage-1
 * VAE with `z ~ N(0, I)`). Does not own the models: `dispose` is a no-op; dispose the models.
 */
export class VaeGenerator implements Generator {
  readonly name: string;
  readonly outputShape: ImageShape;
  constructor(
    readonly vae: Stage1Model,
    readonly secondStage: SecondStage | null,
    readonly mode: SamplingMode,
  ) {
    if (mode === 'two-stage' && !secondStage)
      throw new Error('VaeGenerator: two-stage sampling needs a second stage');
    this.name = mode === 'two-stage' ? 'two-stage-vae' : 'one-stage-vae';
    this.outputShape = vae.decoder.outputShape;
  }
  async generate(n: number, options: SampleOptions = {}): Promise<tf.Tensor4D> {
    return this.mode === 'two-stage'
      ? sampleTwoStage(this.vae, this.secondStage as SecondStage, n, options)
      : sampleOneStage(this.vae, n, options);
  }
  dispose(): void {}
}

/**
 * Tiles images `[n, H, W, C]` in [0, 1] (C = 1 or 3) into an RGB PNG grid with a 1-pixel gap;
 * `columns` defaults to ceil(sqrt(n)).
 */
export function imageGridPng(images: tf.Tensor4D, options: { readonly columns?: number } = {}): Uint8Array {
  const [n, h, w, c] = images.shape;
  const cols = options.columns ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const pad = 1;
  const width = cols * (w + pad) + pad;
  const height = rows * (h + pad) + pad;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const px = images.dataSync();
  for (let i = 0; i < n; i++) {
    const gx = pad + (i % cols) * (w + pad);
    const gy = pad + Math.floor(i / cols) * (h + pad);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c;
        const dst = ((gy + y) * width + gx + x) * 4;
        for (let ch = 0; ch < 3; ch++) {
          const v = px[src + (c === 1 ? 0 : ch)] as number;
          png.data[dst + ch] = Math.max(0, Math.min(255, Math.round(v * 255)));
        }
        png.data[dst + 3] = 255;
      }
    }
  }
  return new Uint8Array(PNG.sync.write(png));
}

/** Writes {@link imageGridPng} of `images` to `path` atomically. */
export function writeImageGrid(
  path: string,
  images: tf.Tensor4D,
  options: { readonly columns?: number } = {},
): void {
  writeFileAtomic(path, imageGridPng(images, options));
}
