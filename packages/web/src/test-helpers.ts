/** Test helpers of @tsvae/web (not part of the public API). */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { type GanGenerator, type GanPrior, registerGanGeneratorPlugins } from '@tsvae/baselines/browser';
import { create, type Decoder, type SecondStage } from '@tsvae/core';
import { registerLayersPlugins } from '@tsvae/layers';
import {
  buildExport,
  buildGanExport,
  type ExportFiles,
  type ExportInput,
  type GanExportInput,
} from './write';

/** The production `infogan` decoder and `mlp` second stage at test size (8x8x1 images, κ = 4). */
export const SMALL = {
  decoder: {
    plugin: 'infogan',
    config: { convDims: [4, 8], fcDim: 16, latentDim: 4, imageShape: [8, 8, 1] },
  },
  secondStage: { plugin: 'mlp', config: { latentDim: 4, width: 16, depth: 2 } },
} as const;

/** The small decoder and second stage, seeded, with BatchNorm statistics moved off their initial values. */
export async function smallModels(seed = 5): Promise<{ decoder: Decoder; secondStage: SecondStage }> {
  registerLayersPlugins();
  const decoder = await create(
    'decoder',
    SMALL.decoder.plugin,
    { ...SMALL.decoder.config },
    { context: { seed } },
  );
  const secondStage = await create(
    'second-stage',
    SMALL.secondStage.plugin,
    { ...SMALL.secondStage.config },
    { context: { seed: seed + 1 } },
  );
  // Training-mode passes move the BatchNorm moving averages, so an export that lost them would show.
  for (let i = 0; i < 3; i++) {
    tf.tidy(
      () =>
        decoder.decode(tf.randomNormal([8, 4], 0, 1, 'float32', 100 + i) as tf.Tensor2D, { training: true })
          .mean,
    );
  }
  return { decoder, secondStage };
}

/** A gray PNG stand-in: the tests check bytes, not pictures. */
export const fakePng = (images: tf.Tensor4D): Uint8Array =>
  new Uint8Array([137, 80, 78, 71, images.shape[0]]);

/** An {@link ExportInput} of the small models. */
export function smallInput(
  models: { decoder: Decoder; secondStage: SecondStage | null },
  overrides: Partial<ExportInput> = {},
): ExportInput {
  return {
    run: {
      id: 'test-run',
      trainer: 'two-stage-vae',
      seed: 3,
      createdAt: '2026-01-01T00:00:00.000Z',
      position: { stage: 'done', epoch: 0, step: 0 },
      checkpoint: 'ckpt-000004',
      epochs: { stage1: 2, stage2: 2 },
    },
    dataset: { plugin: 'tiny-manifold', config: { side: 8 } },
    imageShape: [8, 8, 1],
    gamma: 0.5,
    gammaZ: models.secondStage ? 0.25 : null,
    decoder: { plugin: SMALL.decoder.plugin, config: { ...SMALL.decoder.config }, module: models.decoder },
    secondStage: models.secondStage
      ? {
          plugin: SMALL.secondStage.plugin,
          config: { ...SMALL.secondStage.config },
          module: models.secondStage,
        }
      : null,
    references: { seed: 0, count: 6 },
    versions: { '@tsvae/test': '0.0.0' },
    encodePng: fakePng,
    ...overrides,
  };
}

/** An export of fresh small models. */
export async function smallExport(
  overrides: Partial<ExportInput> = {},
): Promise<ExportFiles & { dispose(): void }> {
  const models = await smallModels();
  const built = await buildExport(smallInput(models, overrides));
  return {
    ...built,
    dispose: () => {
      models.decoder.dispose();
      models.secondStage.dispose();
    },
  };
}

/** The production `infogan` GAN generator at test size (z_dim 3, 8x8x1 images). */
export const SMALL_GAN = {
  plugin: 'infogan',
  config: { zDim: 3, imageShape: [8, 8, 1], convDims: [4, 8], fcDim: 16 },
} as const;

/** The small generator, seeded, with BatchNorm statistics moved off their initial values. */
export async function smallGenerator(seed = 5): Promise<GanGenerator> {
  registerGanGeneratorPlugins();
  const generator = await create(
    'gan-generator',
    SMALL_GAN.plugin,
    { ...SMALL_GAN.config },
    { context: { seed } },
  );
  for (let i = 0; i < 3; i++) {
    tf.tidy(() =>
      generator.forward(tf.randomUniform([8, 3], -1, 1, 'float32', 200 + i) as tf.Tensor2D, {
        training: true,
      }),
    );
  }
  return generator;
}

/** A {@link GanExportInput} of a generator. */
export function smallGanInput(
  generator: GanGenerator,
  prior: GanPrior = 'uniform',
  overrides: Partial<GanExportInput> = {},
): GanExportInput {
  const {
    gamma: _g,
    gammaZ: _z,
    decoder: _d,
    secondStage: _s,
    ...common
  } = smallInput({
    decoder: null as unknown as Decoder,
    secondStage: null,
  });
  return {
    ...common,
    run: { ...common.run, id: 'test-gan', trainer: 'gan', epochs: { stage1: 3, stage2: 0 } },
    generator: { plugin: SMALL_GAN.plugin, config: { ...SMALL_GAN.config }, module: generator, prior },
    ...overrides,
  };
}

/** A GAN export of a fresh small generator. */
export async function smallGanExport(
  prior: GanPrior = 'uniform',
  overrides: Partial<GanExportInput> = {},
): Promise<ExportFiles & { generator: GanGenerator; dispose(): void }> {
  const generator = await smallGenerator();
  const built = await buildGanExport(smallGanInput(generator, prior, overrides));
  return { ...built, generator, dispose: () => generator.dispose() };
}
