import '@tensorflow/tfjs-backend-cpu';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { create, type Dataset, definePlugin, getRegistry, z } from '@tsvae/core';
import { setBeforeRenameHook } from '@tsvae/core/testing';
import { registerTinyPlugins } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRealData } from '../../../test/real-data';
import { formatDuration } from './eval';
import { EVAL_FORMAT, main } from './index';
import { captureIO, SMALL_NETWORKS } from './testing';

const io = (tty = false) => captureIO({ tty });

type Prdc<T> = { precision: T; recall: T; density: T; coverage: T };

interface EvalRow {
  generator: string;
  extractor: string;
  featureDim: number;
  count: number;
  referenceCount: number;
  fid: { mean: number; std: number };
  kid?: { mean: number; std: number; stdOver: string; subsets: number; subsetSize: number };
  prdc?: Prdc<{ mean: number; std: number }> & { k: number; closedBalls: boolean };
  trials: { seed: number; fid: number; kid?: { mean: number; std: number }; prdc?: Prdc<number> }[];
}

interface EvalReport {
  format: string;
  checkpoint: string;
  finished: boolean;
  dataset: { name: string; split: string; size: number };
  protocol: {
    count: number;
    referenceCount: number;
    trials: number;
    quantize: boolean;
    metrics: string[];
    prdc: { k: number; closedBalls: boolean; inside: string } | false;
  };
  extractors: {
    name: string;
    plugin: string;
    config: Record<string, unknown>;
    featureDim: number;
    reference: { path: string; cached: boolean } | null;
  }[];
  skipped: { plugin: string; reason: string }[];
  results: EvalRow[];
  environment: { backend: { backend: string } };
}

const readReport = (path: string): EvalReport => JSON.parse(readFileSync(path, 'utf8')) as EvalReport;

/** The `event` of each JSON line on stdout. */
const events = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as { event: string }).event);

/** `train` options of a small run (the 128 8x8 images make `test-pixels` below see 64 pixels). */
const TINY = SMALL_NETWORKS;

/** Features = the 64 pixels of an 8x8 image: FID is then a plain Gaussian fit of pixels. */
const pixels = definePlugin({
  kind: 'feature-extractor',
  name: 'test-pixels',
  configSchema: z.object({ scale: z.number().default(1) }),
  create: (c: { scale: number }) => ({
    name: 'test-pixels',
    featureDim: 64,
    async extract(images: tf.Tensor4D) {
      return tf.tidy(() => tf.mul(tf.reshape(images, [images.shape[0], 64]), c.scale) as tf.Tensor2D);
    },
    dispose() {},
  }),
});

/** tiny-manifold with labels (sign of the first pixel's deviation), so the classifier applies. */
const labelled = definePlugin({
  kind: 'dataset',
  name: 'test-labelled-manifold',
  configSchema: z.object({ size: z.number().int().default(128), side: z.number().int().default(8) }),
  create: async (c: { size: number; side: number }): Promise<Dataset> => {
    const base = await create('dataset', 'tiny-manifold', { size: c.size, side: c.side });
    return {
      name: 'test-labelled-manifold',
      shape: base.shape,
      numClasses: 2,
      async load(split) {
        const s = await base.load(split);
        const labels = Int32Array.from({ length: s.size }, (_, i) => ((s.data[i * 64] ?? 0) > 0.5 ? 1 : 0));
        return { ...s, labels };
      },
    };
  },
});

/** tiny-manifold without a test split, like an image folder without `testPath`. */
const trainOnly = definePlugin({
  kind: 'dataset',
  name: 'test-train-only',
  configSchema: z.object({ size: z.number().int().default(128), side: z.number().int().default(8) }),
  create: async (c: { size: number; side: number }): Promise<Dataset> => {
    const base = await create('dataset', 'tiny-manifold', { size: c.size, side: c.side });
    return {
      name: 'test-train-only',
      shape: base.shape,
      async load(split) {
        if (split === 'test') throw new Error('no test split configured (set testPath)');
        return base.load(split);
      },
    };
  },
});

const root = mkdtempSync(join(tmpdir(), 'tsvae-eval-'));
const runDir = join(root, 'run');
const emptyCache = join(root, 'cache');

beforeAll(async () => {
  // Cached classifiers and reference features go to a temporary directory, not ~/.cache.
  process.env['TSVAE_CACHE'] = join(root, 'default-cache');
  registerTinyPlugins();
  const reg = getRegistry();
  if (!reg.has('feature-extractor', 'test-pixels')) reg.register(pixels);
  if (!reg.has('dataset', 'test-labelled-manifold')) reg.register(labelled);
  if (!reg.has('dataset', 'test-train-only')) reg.register(trainOnly);
  const t = io();
  const code = await main(['train', '--dataset', 'tiny-manifold', ...TINY, '--run-dir', runDir], t);
  expect(t.stderr.text).toBe('');
  expect(code).toBe(0);
}, 60_000);

const SMALL = ['--extractor', 'test-pixels', '-n', '64', '--kid-subsets', '4', '--kid-subset-size', '32'];

describe('tsvae eval', () => {
  it('writes FID and KID of one-stage and two-stage samples vs the test set to <run>/eval.json', async () => {
    const t = io();
    expect(await main(['eval', runDir, ...SMALL, '--backend', 'cpu'], t)).toBe(0);
    expect(t.stderr.text).toBe('');
    const lines = t.stdout.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'start', count: 64, referenceCount: 64 });
    expect(lines.filter((l) => l['event'] === 'progress').length).toBeGreaterThanOrEqual(3);
    const done = lines.at(-1);
    expect(done).toMatchObject({ event: 'done', out: join(runDir, 'eval.json') });

    const report = readReport(join(runDir, 'eval.json'));
    expect(report.format).toBe(EVAL_FORMAT);
    expect(report.finished).toBe(true);
    expect(report.dataset).toMatchObject({ name: 'tiny-manifold', split: 'test', size: 64 });
    expect(report.protocol).toMatchObject({ count: 64, referenceCount: 64, trials: 1, quantize: true });
    expect(report.environment.backend.backend).toBe('cpu');
    expect(report.extractors).toEqual([
      {
        name: 'test-pixels',
        plugin: 'test-pixels',
        config: {},
        featureDim: 64,
        reference: {
          path: expect.stringMatching(
            /default-cache\/metrics\/reference\/tiny-manifold-test-n64-test-pixels-[0-9a-f]{16}\.npy$/,
          ),
          cached: false,
        },
      },
    ]);
    expect(report.results.map((r) => r.generator)).toEqual(['one-stage', 'two-stage']);
    for (const r of report.results) {
      expect(r).toMatchObject({ extractor: 'test-pixels', featureDim: 64, count: 64, referenceCount: 64 });
      expect(r.fid.mean).toBeGreaterThan(0);
      expect(Number.isFinite(r.kid?.mean)).toBe(true);
      expect(r.kid).toMatchObject({ stdOver: 'subsets', subsets: 4, subsetSize: 32 });
    }
    // No temporary file is left behind by the atomic write.
    expect(existsSync(join(runDir, 'eval.json.tmp'))).toBe(false);
  });

  it('formats durations for the estimate', () => {
    expect([5, 89, 600, 6000].map(formatDuration)).toEqual(['5 s', '89 s', '10 min', '1 h 40 min']);
  });

  it('states the expected time of each extractor once, from its measured rate (reference included unless cached)', async () => {
    const run = async (extra: string[]) => {
      const t = io();
      const args = ['eval', runDir, ...SMALL, '--batch-size', '16', '--trials', '2', '--backend', 'cpu'];
      expect(await main([...args, '--out', join(root, 'estimate.json'), ...extra], t)).toBe(0);
      const lines = t.stdout.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return lines.filter((l) => l['event'] === 'estimate');
    };
    // 64 reference images + 2 modes x 2 trials x 64 samples, 16 a batch: stated after the second batch
    const fresh = await run(['--no-reference-cache']);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ extractor: 'test-pixels', images: 64 + 2 * 2 * 64, done: 32 });
    const e = fresh[0] as { imagesPerSecond: number; seconds: number };
    expect(e.imagesPerSecond).toBeGreaterThan(0);
    expect(e.seconds).toBeCloseTo((64 + 256 - 32) / e.imagesPerSecond, 6);
    // cached reference features: only the samples are left to embed
    await run([]);
    const cached = await run([]);
    expect(cached[0]).toMatchObject({ images: 256, done: 32 });
  });

  it('is reproducible: one mode alone, or trial 0 of several, gives the same FID as before', async () => {
    const first = readReport(join(runDir, 'eval.json'));
    const two = first.results.find((r) => r.generator === 'two-stage');
    const out = join(root, 'two.json');
    expect(
      await main(
        [
          'eval',
          '--run',
          runDir,
          ...SMALL,
          '--modes',
          'two-stage',
          '--trials',
          '2',
          '--out',
          out,
          '--backend',
          'cpu',
        ],
        io(),
      ),
    ).toBe(0);
    const again = readReport(out);
    expect(again.results).toHaveLength(1);
    const row = again.results[0];
    expect(row?.trials.map((t) => t.seed)).toEqual([0, 1]);
    expect(row?.trials[0]?.fid).toBe(two?.fid.mean);
    expect(row?.trials[0]?.kid?.mean).toBe(two?.kid?.mean);
    expect(row?.trials[1]?.fid).not.toBe(row?.trials[0]?.fid);
    expect(row?.kid?.stdOver).toBe('trials');
    const m = ((row?.trials[0]?.fid ?? 0) + (row?.trials[1]?.fid ?? 0)) / 2;
    expect(row?.fid.mean).toBeCloseTo(m, 10);
  });

  it('reuses cached reference features, keyed by the images and the extractor config; recomputes bad ones', async () => {
    const cache = join(root, 'ref-cache');
    const out = join(root, 'ref.json');
    const args = ['eval', runDir, ...SMALL, '--cache-dir', cache, '--out', out, '--backend', 'cpu'];
    const fids = () => readReport(out).results.map((r) => r.fid.mean);
    const ref = () => readReport(out).extractors[0]?.reference;

    expect(await main(args, io())).toBe(0);
    const first = fids();
    const path = ref()?.path ?? '';
    expect(ref()?.cached).toBe(false);
    expect(existsSync(path)).toBe(true);

    expect(await main(args, io())).toBe(0);
    expect(ref()).toEqual({ path, cached: true });
    expect(fids()).toEqual(first);

    writeFileSync(path, 'not a .npy');
    const t = io();
    expect(await main(args, t)).toBe(0);
    expect(t.stderr.text).toContain(
      `warning: ignoring the cached reference features ${path}: not a .npy file`,
    );
    expect(ref()).toEqual({ path, cached: false });
    expect(fids()).toEqual(first);

    // Another extractor config or other reference images: another file.
    expect(await main([...args, '--extractor-config', 'test-pixels={"scale":2}'], io())).toBe(0);
    expect(ref()?.path).not.toBe(path);
    expect(await main([...args, '--reference-count', '50'], io())).toBe(0);
    expect(ref()?.path).not.toBe(path);

    expect(await main([...args, '--no-reference-cache'], io())).toBe(0);
    expect(ref()).toBeNull();
    expect(fids()).toEqual(first);
  });

  it('scales FID by s^2 when the features are scaled by s (extractor config reaches the plugin)', async () => {
    const base = readReport(join(runDir, 'eval.json')).results[0]?.fid.mean ?? Number.NaN;
    const out = join(root, 'scaled.json');
    const args = ['eval', runDir, ...SMALL, '--modes', 'one-stage', '--out', out, '--backend', 'cpu'];
    expect(await main([...args, '--extractor-config', 'test-pixels={"scale":3}'], io())).toBe(0);
    const scaled = readReport(out);
    expect(scaled.extractors[0]?.config).toEqual({ scale: 3 });
    expect(scaled.results[0]?.fid.mean).toBeCloseTo(9 * base, 6);
  });

  it('compares against the training images with --split train', async () => {
    const out = join(root, 'train-split.json');
    expect(
      await main(['eval', runDir, ...SMALL, '--split', 'train', '--out', out, '--backend', 'cpu'], io()),
    ).toBe(0);
    const report = readReport(out);
    expect(report.dataset).toMatchObject({ split: 'train', size: 128 });
    expect(report.results[0]).toMatchObject({ count: 64, referenceCount: 128 });
  });

  it('warns when the run has not finished training, and records it', async () => {
    const dir = join(root, 'unfinished');
    expect(
      await main(
        ['train', '--dataset', 'tiny-manifold', ...TINY, '--run-dir', dir],
        captureIO({ interrupt: true }),
      ),
    ).toBe(130);
    const t = io();
    expect(await main(['eval', dir, ...SMALL, '--backend', 'cpu'], t)).toBe(0);
    expect(t.stderr.text).toMatch(
      new RegExp(
        `^warning: ${dir} has not finished training \\(checkpoint at stage1 epoch \\d+\\); evaluating it anyway\n$`,
      ),
    );
    expect(readReport(join(dir, 'eval.json')).finished).toBe(false);
  });

  it('stops on SIGINT / SIGTERM with 128 + the signal number, writing nothing', async () => {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      const out = join(root, `stopped-${signal}.json`);
      const t = captureIO({ interrupt: signal });
      expect(await main(['eval', runDir, ...SMALL, '--out', out, '--backend', 'cpu'], t)).toBe(code);
      expect(t.stderr.text).toContain(`${signal}: stopping the evaluation (nothing is written)`);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('says how to go on when the dataset has no test split', async () => {
    const dir = join(root, 'train-only');
    expect(await main(['train', '--dataset', 'test-train-only', ...TINY, '--run-dir', dir], io())).toBe(0);
    const t = io();
    expect(await main(['eval', dir, ...SMALL, '--backend', 'cpu'], t)).toBe(1);
    expect(t.stderr.text).toContain(
      'error: cannot load the test split of test-train-only: no test split configured (set testPath) (--split train compares against the training images instead)',
    );
    expect(await main(['eval', dir, ...SMALL, '--split', 'train', '--backend', 'cpu'], io())).toBe(0);
    expect(readReport(join(dir, 'eval.json')).dataset).toMatchObject({
      name: 'test-train-only',
      split: 'train',
    });
  });

  it('adds precision, recall, density and coverage with --metrics fid,kid,prdc (same FID and KID; eval.json still tsvae-eval/1)', async () => {
    const base = readReport(join(runDir, 'eval.json'));
    expect(base.protocol.metrics).toEqual(['fid', 'kid']);
    expect(base.protocol.prdc).toBe(false);
    expect(base.results[0]?.prdc).toBeUndefined();
    const out = join(root, 'prdc.json');
    const t = io();
    expect(
      await main(
        [
          'eval',
          runDir,
          ...SMALL,
          '--metrics',
          'fid,kid,prdc',
          '--prdc-k',
          '4',
          '--out',
          out,
          '--backend',
          'cpu',
        ],
        t,
      ),
    ).toBe(0);
    const phases = t.stdout.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; phase?: string })
      .filter((l) => l.event === 'progress')
      .map((l) => l.phase);
    expect(phases).toContain('prdc');
    const report = readReport(out);
    expect(report.format).toBe(EVAL_FORMAT);
    expect(report.protocol.metrics).toEqual(['fid', 'kid', 'prdc']);
    expect(report.protocol.prdc).toEqual({ k: 4, closedBalls: false, inside: 'd < r' });
    for (const [i, r] of report.results.entries()) {
      expect(r.fid).toEqual(base.results[i]?.fid);
      expect(r.kid).toEqual(base.results[i]?.kid);
      expect(r.prdc).toMatchObject({ k: 4, closedBalls: false });
      for (const m of ['precision', 'recall', 'density', 'coverage'] as const) {
        expect(r.prdc?.[m]).toEqual({ mean: r.trials[0]?.prdc?.[m], std: 0 });
        expect(r.prdc?.[m].mean).toBeGreaterThanOrEqual(0);
      }
      expect(r.prdc?.precision.mean).toBeLessThanOrEqual(1);
    }

    // --metrics fid: no KID (like --no-kid); on a terminal the table has the PRDC columns only with prdc.
    const tty = io(true);
    expect(
      await main(
        [
          'eval',
          runDir,
          ...SMALL,
          '--metrics',
          'fid,prdc',
          '--out',
          out,
          '--backend',
          'cpu',
          '--modes',
          'two-stage',
        ],
        tty,
      ),
    ).toBe(0);
    expect(tty.stdout.text).toMatch(/k-NN distances, reference \[#+\] 100%/);
    expect(tty.stdout.text).toMatch(
      /extractor\s+samples\s+FID\s+KID x 1e3\s+precision\s+recall\s+density\s+coverage\s+N gen\s+N test\s+trials/,
    );
    expect(tty.stdout.text).toMatch(
      /test-pixels\s+two-stage\s+\d+\.\d\d\s+-\s+\d\.\d{3}\s+\d\.\d{3}\s+\d+\.\d{3}\s+\d\.\d{3}\s+64\s+64\s+1/,
    );
    const fidOnly = readReport(out);
    expect(fidOnly.protocol.metrics).toEqual(['fid', 'prdc']);
    expect(fidOnly.results[0]?.kid).toBeUndefined();
    expect(fidOnly.results[0]?.prdc?.k).toBe(3);
  });

  it('prints a table on a terminal', async () => {
    const t = io(true);
    const out = join(root, 'tty.json');
    expect(
      await main(
        ['eval', runDir, ...SMALL, '--no-kid', '--no-reference-cache', '--out', out, '--backend', 'cpu'],
        t,
      ),
    ).toBe(0);
    expect(t.stdout.text).toMatch(/test-pixels: reference images \[#+\] 64\/64/);
    expect(t.stdout.text).toMatch(/extractor\s+samples\s+FID\s+KID x 1e3\s+N gen\s+N test\s+trials/);
    expect(t.stdout.text).toMatch(/test-pixels\s+two-stage\s+\d+\.\d\d\s+-\s+64\s+64\s+1/);
    expect(readReport(out).results[0]?.kid).toBeUndefined();
  });

  it(
    'picks the classifier automatically for a labelled dataset, trained on that dataset and cached',
    {
      timeout: 180_000,
    },
    async () => {
      const dir = join(root, 'labelled');
      const t = io();
      // --no-eval: the evaluation under test is the explicit one below (train's own would train the
      // classifier first and leave nothing to check about caching)
      expect(
        await main(
          ['train', '--dataset', 'test-labelled-manifold', ...TINY, '--no-eval', '--run-dir', dir],
          t,
        ),
      ).toBe(0);
      const cache = join(root, 'cache-labelled');
      const e = io();
      const args = [
        'eval',
        dir,
        '-n',
        '40',
        '--kid-subsets',
        '2',
        '--cache-dir',
        cache,
        '--extractor-config',
        'classifier={"epochs":1}',
        '--backend',
        'cpu',
      ];
      const saved = process.env['TSVAE_FID_WEIGHTS'];
      delete process.env['TSVAE_FID_WEIGHTS'];
      try {
        expect(await main(args, e)).toBe(0);
      } finally {
        if (saved !== undefined) process.env['TSVAE_FID_WEIGHTS'] = saved;
      }
      expect(e.stderr.text).toContain('note: skipping inception-fid: FID Inception weights not found');
      expect(e.stderr.text).toContain('saved feature classifier');
      const report = readReport(join(dir, 'eval.json'));
      expect(report.extractors.map((x) => x.plugin)).toEqual(['classifier']);
      expect(report.extractors[0]?.config).toMatchObject({
        dataset: 'test-labelled-manifold',
        datasetConfig: { size: 128, side: 8 },
        epochs: 1,
        cacheDir: cache,
      });
      expect(report.extractors[0]?.featureDim).toBe(128);
      expect(report.skipped.map((s) => s.plugin)).toEqual(['inception-fid']);
      expect(
        report.results.map((r) => `${r.extractor}/${r.generator}/${r.count}/${r.referenceCount}`),
      ).toEqual([
        'classifier-test-labelled-manifold/one-stage/40/64',
        'classifier-test-labelled-manifold/two-stage/40/64',
      ]);
      expect(report.results[0]?.kid?.subsetSize).toBe(40);
      // The second evaluation reuses the saved classifier: same features, same numbers.
      const again = io();
      expect(await main([...args, '--out', join(root, 'labelled-again.json')], again)).toBe(0);
      expect(again.stderr.text).not.toContain('saved feature classifier');
      expect(readReport(join(root, 'labelled-again.json')).results).toEqual(
        report.results.map((r) => ({ ...r, seconds: expect.any(Number) })),
      );
    },
  );

  it('explains what is missing in plain words', async () => {
    const saved = process.env['TSVAE_FID_WEIGHTS'];
    delete process.env['TSVAE_FID_WEIGHTS'];
    try {
      const none = io();
      expect(await main(['eval', runDir, '--cache-dir', emptyCache, '--backend', 'cpu'], none)).toBe(1);
      expect(none.stderr.text).toContain('error: no feature extractor is available for tiny-manifold');
      expect(none.stderr.text).toContain("dataset 'tiny-manifold' has no labels");
      expect(none.stderr.text).toContain('FID Inception weights not found');
    } finally {
      if (saved !== undefined) process.env['TSVAE_FID_WEIGHTS'] = saved;
    }

    const cases: [string[], RegExp | string, number][] = [
      [['eval', '--backend', 'cpu'], 'eval needs a run directory', 1],
      [
        ['eval', runDir, '--extractor', 'nope', '--backend', 'cpu'],
        /--extractor nope: no such feature extractor \(known: .*test-pixels/,
        1,
      ],
      [
        [
          'eval',
          runDir,
          '--extractor',
          'inception-fid',
          '--inception-weights',
          join(root, 'no.pth'),
          '--backend',
          'cpu',
        ],
        `--inception-weights ${join(root, 'no.pth')}: no such file`,
        1,
      ],
      [
        ['eval', runDir, ...SMALL, '--extractor-config', 'test-pixels', '--backend', 'cpu'],
        '--extractor-config expects <name>=<JSON object>',
        1,
      ],
      [
        ['eval', runDir, ...SMALL, '--extractor-config', 'test-pixels=[1]', '--backend', 'cpu'],
        'expected a JSON object',
        1,
      ],
      [
        ['eval', runDir, ...SMALL, '--modes', 'three-stage', '--backend', 'cpu'],
        "--modes must list this run's modes (one-stage, two-stage)",
        2,
      ],
      [
        ['eval', runDir, ...SMALL, '--reference-count', '65', '--backend', 'cpu'],
        '--reference-count 65 exceeds the 64 test images',
        1,
      ],
      [['eval', runDir, '--count', '1'], '--count must be an integer >= 2, got "1"', 2],
      [
        ['eval', runDir, ...SMALL, '--metrics', 'kid', '--backend', 'cpu'],
        "--metrics kid: metrics must include 'fid' (every result row reports FID)",
        1,
      ],
      [
        ['eval', runDir, ...SMALL, '--metrics', 'fid,is', '--backend', 'cpu'],
        "--metrics fid,is: unknown metric 'is' (known: fid, kid, prdc)",
        1,
      ],
      [
        ['eval', runDir, ...SMALL, '-n', '3', '--metrics', 'fid,prdc', '--backend', 'cpu'],
        '--count 3 is too small for prdc with k = 3 (needs at least 4)',
        1,
      ],
      [['eval', runDir, '--prdc-k', '0'], '--prdc-k must be an integer >= 1, got "0"', 2],
      [
        ['eval', join(root, 'missing'), ...SMALL, '--backend', 'cpu'],
        join(root, 'missing', 'config.json'),
        1,
      ],
      [['eval', runDir, '--run', join(root, 'other')], 'two run directories given', 1],
      [['eval', runDir, '--split', 'valid'], /option '--split <name>' argument 'valid' is invalid/, 2],
    ];
    for (const [argv, message, code] of cases) {
      const t = io();
      expect(await main(argv, t), argv.join(' ')).toBe(code);
      expect(t.stderr.text).toMatch(message);
    }
  });

  it('fails before computing anything when the output cannot be written (a parent is a regular file)', async () => {
    const file = join(root, 'a-regular-file');
    writeFileSync(file, 'not a directory');
    const out = join(file, 'sub', 'eval.json');
    const cache = join(root, 'never-made-cache');
    const t = io();
    expect(
      await main(['eval', runDir, ...SMALL, '--out', out, '--cache-dir', cache, '--backend', 'cpu'], t),
    ).toBe(1);
    expect(t.stderr.text).toMatch(
      new RegExp(
        `^error: cannot write the evaluation to ${out}: .*a parent is not a directory \\(ENOTDIR\\)\n$`,
      ),
    );
    // Nothing started: no start / progress event, no reference features, no cache directory.
    expect(events(t.stdout.text).filter((e) => e !== 'error')).toEqual([]);
    expect(existsSync(cache)).toBe(false);
  });

  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    console.warn(
      'SKIPPED tsvae eval read-only run directory (chmod): running as root, where chmod does not stop writes; the ENOTDIR case above covers the early check',
    );
  }
  it.skipIf(isRoot)('fails before computing anything in a read-only run directory (EACCES)', async () => {
    const ro = join(root, 'read-only-run');
    cpSync(runDir, ro, { recursive: true });
    chmodSync(ro, 0o555);
    try {
      const t = io();
      expect(await main(['eval', ro, ...SMALL, '--backend', 'cpu'], t)).toBe(1);
      expect(t.stderr.text).toContain(`error: cannot write the evaluation to ${join(ro, 'eval.json')}`);
      expect(t.stderr.text).toMatch(/\((EACCES|EROFS)\)/);
      expect(events(t.stdout.text).filter((e) => e !== 'error')).toEqual([]);
    } finally {
      chmodSync(ro, 0o755);
    }
  });

  it('prints the numbers before writing: a failed write still shows the table (TTY) / done event (JSON), then the error', async () => {
    for (const tty of [true, false]) {
      const out = join(root, `write-fails-${tty}.json`);
      setBeforeRenameHook((_tmp, final) => {
        if (final === out) throw Object.assign(new Error('simulated full disk'), { code: 'ENOSPC' });
      });
      const t = io(tty);
      try {
        expect(await main(['eval', runDir, ...SMALL, '--out', out, '--backend', 'cpu'], t)).toBe(1);
      } finally {
        setBeforeRenameHook(undefined);
      }
      if (tty) {
        expect(t.stdout.text).toMatch(/extractor\s+samples\s+FID\s+KID x 1e3/);
        expect(t.stdout.text).toMatch(
          /test-pixels\s+two-stage\s+\d+\.\d\d\s+-?\d+\.\d\d ± \d+\.\d\d\s+64\s+64\s+1/,
        );
        expect(t.stdout.text).not.toContain('written:');
      } else {
        const lines = t.stdout.text
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { event: string; results?: EvalRow[] });
        const done = lines.findIndex((l) => l.event === 'done');
        expect(done).toBeGreaterThan(0);
        expect(lines[done]?.results?.map((r) => r.generator)).toEqual(['one-stage', 'two-stage']);
        // Nothing but the error (if the CLI reports it as an event too) comes after the numbers.
        expect(lines.slice(done + 1).map((l) => l.event)).toEqual(lines.length > done + 1 ? ['error'] : []);
      }
      expect(t.stderr.text).toBe(
        `error: cannot write ${out}: no space left on device (ENOSPC) (the results above were computed but not saved)\n`,
      );
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(root).filter((f) => f.includes('write-fails'))).toEqual([]);
    }
  });

  it('lists its options with defaults in --help', async () => {
    const t = io();
    expect(await main(['eval', '--help'], t)).toBe(0);
    expect(t.stdout.text).toContain('Usage: tsvae eval [options] [run]');
    expect(t.stdout.text).toContain('(default: 10000)');
    expect(t.stdout.text).toContain('--min-max-normalize');
    expect(t.stdout.text).toMatch(/default:\s+"tf1-legacy"/);
    expect(t.stdout.text).toMatch(/--metrics <list>[\s\S]*\(default:\s+"fid,kid"\)/);
  });
});

/** The seeded-weights FID network made by tools/make-fid-test-weights.sh (in .ci/run). */
const seeded = resolve(
  fileURLToPath(new URL('../../../.cache/metrics/pt_inception-seeded.pth', import.meta.url)),
);
const seededWeights = {
  available: existsSync(seeded),
  reason: `seeded FID weights missing: no ${seeded}; make them with \`npm run fid:weights\` (tools/make-fid-test-weights.sh: Debian python3-torch + pytorch-fid 0.3.0)`,
};
describeRealData('tsvae eval with the FID Inception network (seeded weights)', seededWeights, () => {
  it('runs inception-fid from a local .pth, pool3 2048-d', async () => {
    const out = join(root, 'inception.json');
    const t = io();
    const code = await main(
      [
        'eval',
        runDir,
        '--extractor',
        'inception-fid',
        '--inception-weights',
        seeded,
        '--cache-dir',
        join(root, 'inception-cache'),
        '--modes',
        'two-stage',
        '-n',
        '6',
        '--reference-count',
        '6',
        '--kid-subsets',
        '2',
        '--batch-size',
        '3',
        '--out',
        out,
        '--backend',
        'wasm',
      ],
      t,
    );
    expect(t.stderr.text).toBe('');
    expect(code).toBe(0);
    const report = readReport(out);
    expect(report.extractors[0]).toMatchObject({ name: 'inception-fid', featureDim: 2048 });
    expect(report.extractors[0]?.config).toMatchObject({ path: seeded, resize: 'tf1-legacy' });
    expect(report.results[0]).toMatchObject({ count: 6, referenceCount: 6, featureDim: 2048 });
    expect(Number.isFinite(report.results[0]?.fid.mean)).toBe(true);
  }, 120_000);
});
