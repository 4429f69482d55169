import type { ExportManifest } from '@tsvae/web';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_EXPORT, facts, modeTitle, parseParams, parseSeed } from './view';

describe('page parameters', () => {
  it('reads the export, backend, seed and count, ignoring values that are not valid', () => {
    expect(parseParams('')).toEqual({ exportUrl: EXAMPLE_EXPORT, backend: 'auto', seed: null, count: null });
    expect(parseParams('?export=exports/run-1/&backend=wasm&seed=0&count=36')).toEqual({
      exportUrl: 'exports/run-1/',
      backend: 'wasm',
      seed: 0,
      count: 36,
    });
    expect(parseParams('?backend=cuda&seed=-1&count=0')).toMatchObject({
      backend: 'auto',
      seed: null,
      count: null,
    });
    expect(parseParams('?seed=2147483648&count=401')).toMatchObject({ seed: null, count: null });
  });

  it('the seed box takes 0..2147483647 only', () => {
    expect([parseSeed('0'), parseSeed(' 42 '), parseSeed('2147483647')]).toEqual([0, 42, 2147483647]);
    expect([parseSeed('2147483648'), parseSeed('-3'), parseSeed('1.5'), parseSeed('')]).toEqual([
      null,
      null,
      null,
      null,
    ]);
  });
});

describe('facts', () => {
  const manifest = {
    run: {
      id: 'mnist-quick',
      position: { stage: 'done', epoch: 0, step: 0 },
      checkpoint: 'ckpt-000025',
      epochs: { stage1: 5, stage2: 20 },
    },
    dataset: { plugin: 'mnist', config: {} },
    imageShape: [28, 28, 1],
    latentDim: 64,
    gamma: 0.0421,
    gammaZ: 0.00123,
    modes: ['two-stage', 'one-stage'],
    stage1: { decoder: { plugin: 'infogan' } },
    secondStage: { plugin: 'mlp' },
    createdAt: '2026-12-01T10:00:00.000Z',
    backend: 'wasm',
    eval: {
      sameCheckpoint: false,
      results: [
        {
          generator: 'two-stage-vae',
          extractor: 'classifier',
          fid: 12.345,
          fidStd: 0,
          kid: 0.0123,
          count: 1000,
        },
      ],
    },
  } as unknown as ExportManifest;

  it('lists the run, dataset, gammas and FID (marked when of an earlier checkpoint)', () => {
    const rows = Object.fromEntries(facts(manifest));
    expect(rows['dataset']).toBe('mnist');
    expect(rows['images']).toBe('28 × 28 × 1');
    expect(rows['γ (stage 1)']).toBe('0.042');
    expect(rows['γ_z (stage 2)']).toBe('1.23e-3');
    expect(rows['checkpoint']).toBe('ckpt-000025 (finished)');
    expect(rows['FID two-stage-vae']).toBe('12.35 (classifier, N = 1000); KID 0.012 (an earlier checkpoint)');
    expect(rows['exported']).toBe('2026-12-01 10:00:00 (references on wasm)');
  });
});

describe('facts of a GAN export', () => {
  const manifest = {
    run: {
      id: 'mnist-ns-gan',
      trainer: 'gan',
      position: { stage: 'stage1', epoch: 7, step: 0 },
      checkpoint: 'ckpt-000007',
      epochs: { stage1: 7, stage2: 0 },
    },
    dataset: { plugin: 'mnist', config: {} },
    imageShape: [28, 28, 1],
    latentDim: 64,
    gamma: null,
    gammaZ: null,
    modes: ['gan'],
    stage1: null,
    secondStage: null,
    generator: { plugin: 'infogan', prior: 'uniform' },
    createdAt: '2026-12-01T10:00:00.000Z',
    backend: 'wasm',
    eval: {
      sameCheckpoint: true,
      results: [
        { generator: 'gan-ns-gan', extractor: 'classifier', fid: 30.5, fidStd: 0.25, kid: null, count: 1000 },
      ],
    },
  } as unknown as ExportManifest;

  it('lists the generator, its code prior and z_dim, one training stage, and the FID; no γ or stage-1 rows', () => {
    const rows = Object.fromEntries(facts(manifest));
    expect(rows['model']).toBe('GAN');
    expect(rows['code dims (z)']).toBe('64');
    expect(rows['code prior']).toBe('uniform on [−1, 1]');
    expect(rows['generator']).toBe('infogan');
    expect(rows['epochs']).toBe('7');
    expect(rows['checkpoint']).toBe('ckpt-000007 (epoch 7)');
    expect(rows['sampling']).toBe('gan');
    expect(rows['FID gan-ns-gan']).toBe('30.50 ± 0.25 (classifier, N = 1000)');
    for (const k of ['γ (stage 1)', 'γ_z (stage 2)', 'latent dims (κ)', 'decoder', 'second stage'])
      expect(rows[k]).toBeUndefined();
  });

  it('titles the GAN grid with its prior', () => {
    expect(modeTitle('gan', 'uniform')).toBe('GAN samples (z ~ U(−1, 1) → G(z))');
    expect(modeTitle('gan', 'normal')).toBe('GAN samples (z ~ N(0, I) → G(z))');
    expect(modeTitle('two-stage')).toBe('Two-stage samples (u → z → x)');
  });
});
