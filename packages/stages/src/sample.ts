/**
 * Sampling from a trained run: the sampling functions (platform-neutral, in `@tsvae/core`, re-exported
 * here), {@link VaeGenerator}, and PNG grids (Node).
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  type Generator,
  type ImageGridOptions,
  type ImageShape,
  imageGrid,
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
 * `columns` defaults to ceil(sqrt(n)). The layout is `@tsvae/core`'s `imageGrid` (what the browser
 * demo draws).
 */
export function imageGridPng(images: tf.Tensor4D, options: ImageGridOptions = {}): Uint8Array {
  const grid = imageGrid(images.dataSync(), images.shape, options);
  const png = new PNG({ width: grid.width, height: grid.height });
  png.data.set(grid.data);
  return new Uint8Array(PNG.sync.write(png));
}

/** Writes {@link imageGridPng} of `images` to `path` atomically. */
export function writeImageGrid(path: string, images: tf.Tensor4D, options: ImageGridOptions = {}): void {
  writeFileAtomic(path, imageGridPng(images, options));
}
