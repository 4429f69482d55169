/**
 * `tsvae eval`'s latent diagnostics (the `latent` field of eval.json) on a run of the production
 * networks at test size: the run's `mlp`, a `gmm` fitted with `tsvae fit-stage2`, reproducible
 * with a seed, equal to `latentDiagnostics` called directly, skipped with `--no-latent`.
 */
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { create, type Dataset, definePlugin, getRegistry, z } from '@tsvae/core';
import { latentDiagnostics, loadRun } from '@tsvae/stages';
import { registerTinyPlugins, tempDir } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from './index';
import type { LatentRecord } from './latent';
import { captureIO, SMALL_MODEL, SMALL_NETWORKS } from './testing';

/** Features = the 64 pixels of an 8x8 image (FID needs an extractor; this one is instant). */
const pixels = definePlugin({
  kind: 'feature-extractor',
  name: 'test-pixels',
  configSchema: z.object({}),
  create: () => ({
    name: 'test-pixels',
    featureDim: 64,
    async extract(images: tf.Tensor4D) {
      return tf.tidy(() => tf.reshape(images, [images.shape[0], 64]) as tf.Tensor2D);
    },
    dispose() {},
  }),
});

/** tiny-manifold whose test split loads once per process, then fails (the latent diagnostics' load). */
let testLoads = 0;
const flaky = definePlugin({
  kind: 'dataset',
  name: 'test-flaky-manifold',
  configSchema: z.object({ size: z.number().int().default(128), side: z.number().int().default(8) }),
  create: async (c: { size: number; side: number }): Promise<Dataset> => {
    const base = await create('dataset', 'tiny-manifold', c);
    return {
      name: 'test-flaky-manifold',
      shape: base.shape,
      async load(split) {
        if (split === 'test' && testLoads++ > 0) throw new Error('simulated read error');
        return base.load(split);
      },
    };
  },
});

const root = tempDir('tsvae-cli-latent-');
const runDir = join(root, 'run');
const EVAL = ['--extractor', 'test-pixels', '-n', '64', '--no-kid', '--backend', 'cpu'];

interface Report {
  latent?: LatentRecord;
  results: unknown[];
}
const read = (path: string): Report => JSON.parse(readFileSync(path, 'utf8')) as Report;
const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; latent?: LatentRecord });

beforeAll(async () => {
  process.env['TSVAE_CACHE'] = join(root, 'cache');
  registerTinyPlugins();
  if (!getRegistry().has('feature-extractor', 'test-pixels')) getRegistry().register(pixels);
  if (!getRegistry().has('dataset', 'test-flaky-manifold')) getRegistry().register(flaky);
  const t = captureIO();
  // a threshold of its own, so eval.json shows it is the run's
  const threshold = ['--set', 'diagnostics.activeThreshold=0.75'];
  expect(await main(['train', ...SMALL_MODEL, ...threshold, '--run-dir', runDir], t)).toBe(0);
  const f = captureIO();
  expect(
    await main(
      ['fit-stage2', runDir, '--second-stage', 'gmm', '--set', 'components=2', '--backend', 'cpu'],
      f,
    ),
  ).toBe(0);
}, 120_000);

describe('tsvae eval: latent diagnostics', () => {
  it("writes the run's mlp diagnostics to eval.json and the done event, equal to latentDiagnostics called directly", async () => {
    const t = captureIO();
    expect(await main(['eval', runDir, ...EVAL], t)).toBe(0);
    const latent = read(join(runDir, 'eval.json')).latent as LatentRecord;
    expect(latent).toMatchObject({
      plugin: 'mlp',
      split: 'test',
      latentDim: 4,
      heldOut: 64,
      count: 64,
      seed: 0,
      logLikelihood: { secondStage: { kind: 'elbo' } },
      dimensions: { threshold: 0.75 },
    });
    expect(latent.dimensions.variances).toHaveLength(4);
    expect(latent.dimensions.active + latent.dimensions.inactive).toBe(4);
    expect(Number.isFinite(latent.frechetDistance.secondStage)).toBe(true);
    expect(latent.frechetDistance.prior).toBeGreaterThan(0);
    expect(lines(t.stdout.text).find((l) => l.event === 'done')?.latent).toEqual(latent);

    // the options reach the library: the eval's count, seed, batch size, split, the run's threshold
    const small = join(root, 'batch-16.json');
    expect(await main(['eval', runDir, ...EVAL, '--batch-size', '16', '--out', small], captureIO())).toBe(0);
    const run = await loadRun(runDir);
    try {
      const ds = run.record.components.dataset;
      const heldOut = await (await create('dataset', ds.plugin, ds.config)).load('test');
      const direct = (batchSize: number) =>
        latentDiagnostics({
          stage1: run.stage1,
          secondStage: run.secondStage,
          heldOut,
          count: 64,
          seed: 0,
          batchSize,
          threshold: run.config.diagnostics.activeThreshold,
        });
      expect(latent).toEqual({ plugin: 'mlp', split: 'test', ...(await direct(250)) });
      const batched = read(small).latent;
      expect(batched).toEqual({ plugin: 'mlp', split: 'test', ...(await direct(16)) });
      // (the draws depend on the batch size, so this checks that --batch-size reaches it)
      expect(batched?.frechetDistance.secondStage).not.toBe(latent.frechetDistance.secondStage);
    } finally {
      run.dispose();
    }
  });

  it('seed 0 reproduces; another seed or split changes what it should', async () => {
    const first = read(join(runDir, 'eval.json')).latent;
    const out = join(root, 'again.json');
    expect(await main(['eval', runDir, ...EVAL, '--out', out], captureIO())).toBe(0);
    expect(read(out).latent).toEqual(first);

    expect(await main(['eval', runDir, ...EVAL, '--out', out, '--seed', '1'], captureIO())).toBe(0);
    const seeded = read(out).latent as LatentRecord;
    expect(seeded.seed).toBe(1);
    expect(seeded.frechetDistance.secondStage).not.toBe(first?.frechetDistance.secondStage);
    // the encoder variances do not depend on the seed
    expect(seeded.dimensions).toEqual(first?.dimensions);

    expect(await main(['eval', runDir, ...EVAL, '--out', out, '--split', 'train'], captureIO())).toBe(0);
    expect(read(out).latent).toMatchObject({ split: 'train', heldOut: 128 });
  });

  it('evaluates a gmm fitted with tsvae fit-stage2 with --stage2 gmm: an exact held-out log-likelihood', async () => {
    const t = captureIO();
    expect(await main(['eval', runDir, '--stage2', 'gmm', ...EVAL], t)).toBe(0);
    const latent = read(join(runDir, 'stage2-gmm', 'eval.json')).latent as LatentRecord;
    const own = read(join(runDir, 'eval.json')).latent as LatentRecord;
    expect(latent).toMatchObject({ plugin: 'gmm', split: 'test', heldOut: 64, count: 64, seed: 0 });
    expect(latent.logLikelihood.secondStage?.kind).toBe('exact');
    expect(Number.isFinite(latent.logLikelihood.secondStage?.value)).toBe(true);
    // the same stage 1, codes and N(0, I) draws as the run's own evaluation; another second stage
    expect(latent.dimensions).toEqual(own.dimensions);
    expect(latent.frechetDistance.prior).toBe(own.frechetDistance.prior);
    expect(latent.logLikelihood.prior).toBe(own.logLikelihood.prior);
    expect(latent.frechetDistance.secondStage).not.toBe(own.frechetDistance.secondStage);
  });

  it('prints one line on a terminal; --no-latent leaves the field out', async () => {
    const tty = captureIO({ tty: true });
    const out = join(root, 'tty.json');
    expect(await main(['eval', runDir, ...EVAL, '--out', out], tty)).toBe(0);
    expect(tty.stdout.text).toMatch(
      /latent \(4-d, 64 test codes, N = 64\): mlp: Fréchet distance to q\(z\) \d+\.\d{4}, held-out ELBO -?\d+\.\d{3} nats; N\(0, I\): \d+\.\d{4}, -?\d+\.\d{3} nats; active dimensions \d of 4 \(encoder variance < 0\.75\)/,
    );

    const none = join(root, 'none.json');
    const t = captureIO();
    expect(await main(['eval', runDir, ...EVAL, '--out', none, '--no-latent'], t)).toBe(0);
    const report = read(none);
    expect(report.results).toHaveLength(2);
    expect('latent' in report).toBe(false);
    const done = lines(t.stdout.text).find((l) => l.event === 'done');
    expect(done && 'latent' in done).toBe(false);
    const quiet = captureIO({ tty: true });
    expect(await main(['eval', runDir, ...EVAL, '--out', none, '--no-latent'], quiet)).toBe(0);
    expect(quiet.stdout.text).not.toContain('latent (');
  });

  it('keeps the FID results when the latent diagnostics fail: done event and eval.json without them, then the error', async () => {
    const dir = join(root, 'flaky');
    const args = ['train', '--dataset', 'test-flaky-manifold', ...SMALL_NETWORKS, '--run-dir', dir];
    expect(await main(args, captureIO())).toBe(0);
    testLoads = 0;
    const t = captureIO();
    expect(await main(['eval', dir, ...EVAL], t)).toBe(1);
    const out = join(dir, 'eval.json');
    expect(t.stderr.text).toBe(
      `error: latent diagnostics failed: simulated read error (${out} was written without them; --no-latent skips them)\n`,
    );
    const events = lines(t.stdout.text);
    const done = events.find((l) => l.event === 'done');
    expect(done && 'latent' in done).toBe(false);
    const report = read(out);
    expect(report.results).toHaveLength(2);
    expect('latent' in report).toBe(false);
  });

  it('a run without a second stage (stage2.epochs 0, one-stage sampling) reports N(0, I) and stage 1 only', async () => {
    const dir = join(root, 'one-stage');
    const args = ['train', ...SMALL_MODEL, '--set', 'stage2.epochs=0', '--run-dir', dir];
    expect(await main(args, captureIO())).toBe(0);
    expect(await main(['eval', dir, ...EVAL], captureIO())).toBe(0);
    const latent = read(join(dir, 'eval.json')).latent as LatentRecord;
    expect(latent).toMatchObject({
      plugin: null,
      frechetDistance: { secondStage: null },
      logLikelihood: { secondStage: null },
      heldOut: 64,
    });
    expect(latent.frechetDistance.prior).toBeGreaterThan(0);
    const tty = captureIO({ tty: true });
    expect(await main(['eval', dir, ...EVAL, '--out', join(root, 'one.json')], tty)).toBe(0);
    expect(tty.stdout.text).toMatch(
      /latent \(4-d, 64 test codes, N = 64\): N\(0, I\): \d+\.\d{4}, -?\d+\.\d{3} nats;/,
    );
  });
});
