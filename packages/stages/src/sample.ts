/**
 * Sampling from a trained run: the sampling functions (platform-neutral, in `@tsvae/core`, re-exported
 * here), {@link VaeGenerator}, and PNG grids (Node).
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  type Generator,
  type ImageShape,
  type SampleOptions,
  type SamplingMode,
  type SecondStage,
  type Stage1Model,
  sampleOneStage,
  sampleTwoStage,
} from '@tsvae/core';
import { writeFileAtomic } from '@tsvae/core/node';
import { PNG } from 'pngjs';

export { type SampleOptions, type SamplingMode, sampleOneStage, sampleTwoStage } from '@tsvae/core';

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
