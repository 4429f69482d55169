/**
 * `tsvae train --model`: every row of Table 1 trains from the CLI on a small config, `sample` and
 * `eval` work on each run, options that do not apply are usage errors, `info` lists the models.
 */
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { definePlugin, getRegistry, z } from '@tsvae/core';
import { RunDirectory } from '@tsvae/stages';
import { registerTinyPlugins } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from './index';
import { MODELS } from './models';
import { captureIO, SMALL_NETWORKS } from './testing';

const io = captureIO;
const root = mkdtempSync(join(tmpdir(), 'tsvae-models-'));
const net = '{"convDims":[4,8],"fcDim":16}';
/** GAN options at test size on 128 tiny-manifold 8x8 images. */
const SMALL_GAN = [
  '--dataset',
  'tiny-manifold',
  '--set',
  'dataset.config={"size":128,"side":8}',
  '--set',
  `generator.config=${net}`,
  '--set',
  `discriminator.config=${net}`,
  '--set',
  'zDim=4',
  '--set',
  'samples.count=16',
  '--batch-size',
  '32',
  '--epochs',
  '1',
  '--backend',
  'cpu',
  '--no-eval',
];
/** The VAE rows at test size (single stage: --epochs). */
const SMALL_VAE = [
  '--dataset',
  'tiny-manifold',
  '--set',
  'dataset.config={"size":128,"side":8}',
  '--set',
  `stage1.encoder.config=${net}`,
  '--set',
  `stage1.decoder.config=${net}`,
  '--latent-dim',
  '4',
  '--batch-size',
  '32',
  '--epochs',
  '1',
  '--set',
  'samples.count=16',
  '--backend',
  'cpu',
  '--no-eval',
];

/** Features = the 64 pixels: a test extractor that needs no training and no weights. */
beforeAll(() => {
  registerTinyPlugins();
  if (!getRegistry().has('feature-extractor', 'test-flat')) {
    getRegistry().register(
      definePlugin({
        kind: 'feature-extractor',
        name: 'test-flat',
        configSchema: z.object({}),
        create: () => ({
          name: 'test-flat',
          featureDim: 64,
          extract: async (x: tf.Tensor4D) => tf.reshape(x, [x.shape[0], 64]) as tf.Tensor2D,
          dispose: () => {},
        }),
      }),
    );
  }
});

describe('tsvae train --model', () => {
  it('the catalogue lists every Table 1 row once, the Two-Stage VAE first', () => {
    const names = MODELS.map((m) => m.name);
    expect(names[0]).toBe('two-stage-vae');
    expect(new Set(names).size).toBe(names.length);
    for (const m of [
      'vae-learned-gamma',
      'vae-fixed-gamma',
      'vae-cross-entropy',
      'wae-mmd',
      'vae-flow',
      'mm-gan',
      'ns-gan',
      'lsgan',
      'wgan',
      'wgan-gp',
      'dragan',
      'began',
    ]) {
      expect(names).toContain(m);
    }
  });

  const cases: [string, string[], string[]][] = [
    ['ns-gan', SMALL_GAN, ['gan']],
    ['wgan-gp', SMALL_GAN, ['gan']],
    ['vae-fixed-gamma', SMALL_VAE, ['one-stage']],
    ['wae-mmd', SMALL_VAE, ['one-stage']],
  ];
  it.each(cases)('%s trains, samples in its own mode and evaluates', async (model, options, modes) => {
    const runDir = join(root, model);
    const t = io();
    expect(await main(['train', '--model', model, ...options, '--run-dir', runDir], t), t.stderr.text).toBe(
      0,
    );
    expect(t.stdout.text).toContain('"event":"done"');
    const record = new RunDirectory(runDir).readRecord();
    expect((record.config as { model: string }).model).toBe(model);
    const s = io();
    expect(await main(['sample', '--run', runDir, '-n', '4', '--backend', 'cpu'], s), s.stderr.text).toBe(0);
    expect(s.stdout.text.trim()).toBe(join(runDir, 'samples', `${modes[0]}-seed0.png`));
    const e = io();
    expect(
      await main(
        [
          'eval',
          runDir,
          '--extractor',
          'test-flat',
          '-n',
          '32',
          '--reference-count',
          '32',
          '--no-kid',
          '--backend',
          'cpu',
          '--json',
        ],
        e,
      ),
      e.stderr.text,
    ).toBe(0);
    const report = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    expect(report.results.map((r: { generator: string }) => r.generator)).toEqual(modes);
    for (const r of report.results) expect(Number.isFinite(r.fid.mean)).toBe(true);
  });

  it('a GAN run resumes after an interrupt and finishes', async () => {
    const runDir = join(root, 'lsgan');
    const t = io({ interrupt: 'SIGTERM' });
    expect(await main(['train', '--model', 'lsgan', ...SMALL_GAN, '--run-dir', runDir], t)).toBe(143);
    const r = io();
    expect(await main(['train', '--resume', runDir, '--backend', 'cpu', '--no-eval'], r), r.stderr.text).toBe(
      0,
    );
    expect(existsSync(join(runDir, 'samples', 'gan.png'))).toBe(true);
  });

  it('options that do not apply to a model are usage errors naming the model and what to use', async () => {
    const cases: [string[], string][] = [
      [
        ['--model', 'ns-gan', '--stage2-epochs', '3'],
        '--stage2-epochs does not apply to --model ns-gan (a single-stage model: use --epochs)',
      ],
      [['--model', 'ns-gan', '--encoder', 'wae'], '--encoder does not apply to --model ns-gan (a GAN'],
      [
        ['--model', 'two-stage-vae', '--epochs', '3'],
        '--epochs does not apply to --model two-stage-vae (the Two-Stage VAE has two budgets',
      ],
      [['--model', 'vae-fixed-gamma', '--likelihood', 'bernoulli'], 'the likelihood is part of the model'],
      [['--model', 'wae-mmd', '--second-stage', 'gmm'], '--second-stage does not apply to --model wae-mmd'],
      [['--model', 'nope'], '--model must be one of two-stage-vae,'],
    ];
    for (const [argv, want] of cases) {
      const t = io();
      expect(await main(['train', ...argv, '--print-config'], t), argv.join(' ')).toBe(2);
      expect(t.stderr.text).toContain(want);
    }
  });

  it('--print-config validates each trainer and prints its config; info lists the models', async () => {
    const g = io();
    expect(await main(['train', '--model', 'wgan', ...SMALL_GAN, '--print-config'], g), g.stderr.text).toBe(
      0,
    );
    const gan = JSON.parse(g.stdout.text);
    expect(gan.loss.name).toBe('wgan');
    expect(gan.epochs).toBe(1);
    const v = io();
    expect(await main(['train', '--model', 'vae-cross-entropy', ...SMALL_VAE, '--print-config'], v)).toBe(0);
    const vae = JSON.parse(v.stdout.text);
    expect([vae.model, vae.stage1.likelihood, vae.stage2.epochs, vae.stage1.epochs]).toEqual([
      'vae-cross-entropy',
      'bernoulli',
      0,
      1,
    ]);
    const bad = io();
    expect(
      await main(
        ['train', '--model', 'wgan', ...SMALL_GAN, '--set', 'loss.config.clipp=1', '--print-config'],
        bad,
      ),
    ).toBe(1);
    expect(bad.stderr.text).toMatch(/gan-loss plugin "wgan".*field "clipp"/);
    const i = io();
    expect(await main(['info', '--backend', 'cpu', '--json'], i)).toBe(0);
    const info = JSON.parse(i.stdout.text);
    expect(info.models.map((m: { name: string }) => m.name)).toEqual(MODELS.map((m) => m.name));
  });

  it('the two-stage VAE evaluates both modes by default', async () => {
    const runDir = join(root, 'two');
    const t = io();
    expect(
      await main(
        [
          'train',
          '--dataset',
          'tiny-manifold',
          ...SMALL_NETWORKS,
          '--stage1-epochs',
          '1',
          '--stage2-epochs',
          '1',
          '--no-eval',
          '--run-dir',
          runDir,
        ],
        t,
      ),
      t.stderr.text,
    ).toBe(0);
    const e = io();
    expect(
      await main(
        [
          'eval',
          runDir,
          '--extractor',
          'test-flat',
          '-n',
          '32',
          '--reference-count',
          '32',
          '--no-kid',
          '--backend',
          'cpu',
        ],
        e,
      ),
    ).toBe(0);
    const report = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    expect(report.results.map((r: { generator: string }) => r.generator)).toEqual(['one-stage', 'two-stage']);
  });
});
