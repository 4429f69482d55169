import '@tensorflow/tfjs-backend-cpu';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { create, createRng, definePlugin, type FeatureExtractor, getRegistry, z } from '@tsvae/core';
import { createTar, loadImageFolder } from '@tsvae/datasets';
import {
  computeStatistics,
  fidFromFeatures,
  frechetDistance,
  generatorFeatures,
  kernelInceptionDistance,
  precisionRecallDensityCoverage,
  readNpz,
  splitFeatures,
  statisticsFromNpz,
  statisticsToNpz,
  writeNpz,
} from '@tsvae/metrics';
import { imageGridPng, loadRun, VaeGenerator } from '@tsvae/stages';
import { registerTinyPlugins } from '@tsvae/stages/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRealData } from '../../../test/real-data';
import { main } from './index';
import { captureIO, SMALL_NETWORKS } from './testing';

const io = (tty = false) => captureIO({ tty });

/** Features: the image resized to 4x4 (bilinear), averaged over channels: 16-d, for any size and 1 or 3 channels. */
const means = definePlugin({
  kind: 'feature-extractor',
  name: 'test-fid-means',
  configSchema: z.object({ scale: z.number().default(1) }),
  create: (c: { scale: number }): FeatureExtractor => ({
    name: 'test-fid-means',
    featureDim: 16,
    async extract(images: tf.Tensor4D) {
      return tf.tidy(() => {
        const small = tf.image.resizeBilinear(images, [4, 4]);
        return tf.mul(tf.reshape(tf.mean(small, 3), [images.shape[0], 16]), c.scale) as tf.Tensor2D;
      });
    },
    dispose() {},
  }),
});

const root = mkdtempSync(join(tmpdir(), 'tsvae-fid-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * Writes `n` PNGs (`imageGridPng` of one image: `side + 2` pixels square with the grid's white
 * border) of seeded colour patterns: brightness `level` plus noise of `spread`.
 */
function writeImages(
  dir: string,
  n: number,
  seed: number,
  options: { side?: number; level?: number; spread?: number; grey?: boolean } = {},
): string {
  const side = options.side ?? 8;
  const c = options.grey ? 1 : 3;
  mkdirSync(dir, { recursive: true });
  const rng = createRng(seed);
  for (let i = 0; i < n; i++) {
    const values = Float32Array.from({ length: side * side * c }, (_, k) =>
      Math.min(
        1,
        Math.max(
          0,
          (options.level ?? 0.5) + (options.spread ?? 0.3) * (rng.next() - 0.5) + 0.1 * Math.sin(k + i),
        ),
      ),
    );
    const png = tf.tidy(() => imageGridPng(tf.tensor4d(values, [1, side, side, c]), { columns: 1 }));
    writeFileSync(join(dir, `img-${String(i).padStart(3, '0')}.png`), png);
  }
  return dir;
}

const fa = join(root, 'a');
const fb = join(root, 'b');
const runDir = join(root, 'run');
const TEST = ['--extractor', 'test-fid-means', '--backend', 'cpu'];

interface Done {
  event: 'done';
  fid?: number;
  n1?: number;
  n2?: number;
  dim?: number;
  kid?: { mean: number; std: number; subsets: number; subsetSize: number };
  prdc?: { precision: number; recall: number; density: number; coverage: number; k: number };
  savedStats?: { path: string; count: number; dim: number };
}

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const doneOf = (text: string): Done => lines(text).at(-1) as unknown as Done;

async function extractor(): Promise<FeatureExtractor> {
  return create('feature-extractor', 'test-fid-means', {});
}
const folderFeatures = async (dir: string, ex: FeatureExtractor) =>
  splitFeatures(ex, loadImageFolder(dir, { channels: 3, labels: 'none' }), { batchSize: 50 });

beforeAll(async () => {
  process.env['TSVAE_CACHE'] = join(root, 'cache');
  await tf.setBackend('cpu');
  registerTinyPlugins();
  if (!getRegistry().has('feature-extractor', means.name)) getRegistry().register(means);
  writeImages(fa, 30, 1, { level: 0.45 });
  writeImages(fb, 25, 2, { level: 0.55, spread: 0.5 });
  const t = io();
  expect(await main(['train', '--dataset', 'tiny-manifold', ...SMALL_NETWORKS, '--run-dir', runDir], t)).toBe(
    0,
  );
}, 120_000);

describe('tsvae fid', () => {
  it('two image folders: the FID of the library on the same images; JSON lines on a pipe', async () => {
    const t = io();
    expect(await main(['fid', fa, fb, ...TEST], t)).toBe(0);
    expect(t.stderr.text).toBe('');
    const out = lines(t.stdout.text);
    expect(out[0]).toMatchObject({
      event: 'start',
      a: { path: fa, kind: 'images', count: 30, shape: [10, 10, 3] },
      b: { path: fb, kind: 'images', count: 25 },
      extractor: 'test-fid-means',
      featureDim: 16,
      backend: 'cpu',
    });
    expect(out.filter((l) => l['event'] === 'progress').map((l) => l['side'])).toEqual(['a', 'b']);
    const ex = await extractor();
    const lib = fidFromFeatures(await folderFeatures(fa, ex), await folderFeatures(fb, ex), 16);
    expect(doneOf(t.stdout.text)).toEqual({ event: 'done', fid: lib.fid, n1: 30, n2: 25, dim: 16 });
    expect(lib.fid).toBeGreaterThan(0);
  });

  it('a .tar archive of the images is the folder', async () => {
    const names = readdirSync(fb).sort();
    const tar = join(root, 'b.tar');
    writeFileSync(
      tar,
      createTar(names.map((name) => ({ name: `b/${name}`, data: readFileSync(join(fb, name)) }))),
    );
    const folder = io();
    const archive = io();
    expect(await main(['fid', fa, fb, ...TEST], folder)).toBe(0);
    expect(await main(['fid', fa, tar, ...TEST], archive)).toBe(0);
    expect(lines(archive.stdout.text)[0]).toMatchObject({ b: { path: tar, kind: 'images', count: 25 } });
    expect(doneOf(archive.stdout.text)).toEqual(doneOf(folder.stdout.text));
  });

  it('prints progress and the numbers on a terminal', async () => {
    const t = io(true);
    expect(await main(['fid', fa, fb, ...TEST, '--kid', '--kid-subset-size', '20', '--prdc'], t)).toBe(0);
    expect(t.stdout.text).toContain(`a: ${fa} (30 images, 10x10x3)`);
    expect(t.stdout.text).toMatch(/a: features \[#+\] 30\/30/);
    expect(t.stdout.text).toMatch(/\nFID: \d+\.\d{4} {2}\(N = 30 vs 25, 16-d\)/);
    expect(t.stdout.text).toMatch(/\nKID: -?\d\.\d{4}e[-+]\d+ ± \d\.\d{2}e[-+]\d+ {2}\(100 subsets of 20\)/);
    expect(t.stdout.text).toMatch(
      /\nprecision \d\.\d{4} {2}recall \d\.\d{4} {2}density \d+\.\d{4} {2}coverage \d\.\d{4} {2}\(k = 3; b is the reference\)/,
    );
  });

  it('--kid and --prdc equal the library calls on the same features (b is the reference set)', async () => {
    // A reference close to a, so that the k-NN balls overlap.
    const fc = writeImages(join(root, 'c'), 25, 3, { level: 0.46 });
    const t = io();
    const args = [
      'fid',
      fa,
      fc,
      ...TEST,
      '--kid',
      '--kid-subsets',
      '7',
      '--kid-subset-size',
      '20',
      '--seed',
      '5',
      '--prdc',
      '--prdc-k',
      '2',
    ];
    expect(await main(args, t)).toBe(0);
    const ex = await extractor();
    const a = await folderFeatures(fa, ex);
    const b = await folderFeatures(fc, ex);
    const kid = kernelInceptionDistance(a, b, 16, { subsets: 7, subsetSize: 20, seed: 5 });
    const prdc = precisionRecallDensityCoverage(b, a, 16, { k: 2 });
    const done = doneOf(t.stdout.text);
    expect(done.kid).toEqual({ mean: kid.mean, std: kid.std, subsets: 7, subsetSize: 20 });
    expect(done.prdc).toEqual({
      precision: prdc.precision,
      recall: prdc.recall,
      density: prdc.density,
      coverage: prdc.coverage,
      k: 2,
      real: 'b',
      fake: 'a',
    });
    expect(prdc.precision).toBeGreaterThan(0);
    expect(prdc.recall).toBeGreaterThan(0);
    // Swapping the sides swaps the roles: precision of a vs b is not that of b vs a.
    const swapped = precisionRecallDensityCoverage(a, b, 16, { k: 2 });
    expect([swapped.precision, swapped.recall]).not.toEqual([prdc.precision, prdc.recall]);
  });

  it('--save-stats writes pytorch-fid statistics of a; an .npz side gives the FID of its images', async () => {
    const bStats = join(root, 'stats', 'b.npz');
    const t = io();
    expect(await main(['fid', fb, '--save-stats', bStats, ...TEST], t)).toBe(0);
    expect(doneOf(t.stdout.text)).toEqual({
      event: 'done',
      savedStats: { path: bStats, count: 25, dim: 16 },
    });
    const arrays = readNpz(new Uint8Array(readFileSync(bStats)));
    expect(arrays.get('mu')).toMatchObject({ dtype: 'float64', shape: [16] });
    expect(arrays.get('sigma')).toMatchObject({ dtype: 'float64', shape: [16, 16] });
    const ex = await extractor();
    const fbFeatures = await folderFeatures(fb, ex);
    const want = computeStatistics(fbFeatures, 16);
    expect(statisticsFromNpz(new Uint8Array(readFileSync(bStats)))).toEqual(want);

    // Folder vs .npz: the FID of the two folders (statistics route vs feature route: round-off apart).
    const folders = io();
    expect(await main(['fid', fa, fb, ...TEST], folders)).toBe(0);
    const direct = doneOf(folders.stdout.text).fid ?? Number.NaN;
    for (const argv of [
      ['fid', fa, bStats, ...TEST],
      ['fid', bStats, fa, ...TEST],
    ]) {
      const s = io();
      expect(await main(argv, s)).toBe(0);
      const done = doneOf(s.stdout.text);
      expect(Math.abs((done.fid ?? Number.NaN) - direct) / direct).toBeLessThan(1e-9);
      expect(done.dim).toBe(16);
    }

    // With b given too: the FID and the statistics of a.
    const aStats = join(root, 'stats', 'a.npz');
    const both = io();
    expect(await main(['fid', fa, fb, '--save-stats', aStats, ...TEST], both)).toBe(0);
    expect(doneOf(both.stdout.text)).toMatchObject({ fid: direct, savedStats: { path: aStats, count: 30 } });
    expect(statisticsFromNpz(new Uint8Array(readFileSync(aStats)))).toEqual(
      computeStatistics(await folderFeatures(fa, ex), 16),
    );

    // Two .npz sides: no extractor is made at all (even a missing one would do).
    const npz = io();
    expect(
      await main(['fid', aStats, bStats, '--extractor', 'no-such-extractor', '--backend', 'cpu'], npz),
    ).toBe(0);
    const fromStats = frechetDistance(
      statisticsFromNpz(new Uint8Array(readFileSync(aStats))),
      statisticsFromNpz(new Uint8Array(readFileSync(bStats))),
    );
    expect(doneOf(npz.stdout.text)).toEqual({ event: 'done', fid: fromStats.fid, n1: 30, n2: 25, dim: 16 });

    // Statistics are never overwritten (pytorch-fid's rule); nothing is computed.
    const again = io();
    expect(await main(['fid', fb, '--save-stats', bStats, ...TEST], again)).toBe(1);
    expect(again.stderr.text).toBe(
      `error: --save-stats ${bStats}: the file exists (statistics are never overwritten; remove it first)\n`,
    );
  });

  it('a run directory side: samples drawn as the library draws them (seed, batch size, --mode)', async () => {
    const t = io();
    const args = ['fid', runDir, fb, ...TEST, '-n', '40', '--seed', '3', '--batch-size', '16'];
    expect(await main(args, t)).toBe(0);
    expect(lines(t.stdout.text)[0]).toMatchObject({ a: { path: runDir, kind: 'run', shape: [8, 8, 1] } });
    const run = await loadRun(runDir);
    const ex = await extractor();
    try {
      const real = await splitFeatures(ex, loadImageFolder(fb, { channels: 3, labels: 'none' }), {
        batchSize: 16,
      });
      for (const mode of ['two-stage', 'one-stage'] as const) {
        const fake = await generatorFeatures(ex, new VaeGenerator(run.stage1, run.secondStage, mode), 40, {
          seed: 3,
          batchSize: 16,
        });
        const lib = fidFromFeatures(fake, real, 16).fid;
        if (mode === 'two-stage') {
          expect(doneOf(t.stdout.text)).toEqual({ event: 'done', fid: lib, n1: 40, n2: 25, dim: 16 });
        } else {
          const one = io();
          expect(await main([...args, '--mode', 'one-stage'], one)).toBe(0);
          expect(doneOf(one.stdout.text).fid).toBe(lib);
          expect(lib).not.toBe(doneOf(t.stdout.text).fid);
        }
      }
    } finally {
      run.dispose();
    }
  });

  it('a grey folder is one channel, as a run of grey images is (the extractor sees [.., 1])', async () => {
    const grey = writeImages(join(root, 'grey'), 6, 9, { grey: true });
    const shapes: number[][] = [];
    const spy = definePlugin({
      kind: 'feature-extractor',
      name: 'test-fid-shape-spy',
      configSchema: z.object({}),
      create: (): FeatureExtractor => ({
        name: 'test-fid-shape-spy',
        featureDim: 2,
        async extract(images: tf.Tensor4D) {
          shapes.push(images.shape);
          return tf.tidy(
            () => tf.tile(tf.reshape(tf.mean(images, [1, 2, 3]), [-1, 1]), [1, 2]) as tf.Tensor2D,
          );
        },
        dispose() {},
      }),
    });
    if (!getRegistry().has('feature-extractor', spy.name)) getRegistry().register(spy);
    expect(await main(['fid', grey, fa, '--extractor', 'test-fid-shape-spy', '--backend', 'cpu'], io())).toBe(
      0,
    );
    expect(shapes).toEqual([
      [6, 10, 10, 1],
      [30, 10, 10, 3],
    ]);
  });

  it('bad input: an error naming the file (or option), before any work', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty, { recursive: true });
    const mixed = writeImages(join(root, 'mixed'), 3, 4);
    writeImages(join(root, 'mixed-big'), 1, 5, { side: 12 });
    const odd = join(mixed, 'img-999.png');
    writeFileSync(odd, readFileSync(join(root, 'mixed-big', 'img-000.png')));
    const corrupt = writeImages(join(root, 'corrupt'), 3, 6);
    const broken = join(corrupt, 'img-001.png');
    writeFileSync(broken, readFileSync(broken).subarray(0, 60));
    const keys = join(root, 'wrong-keys.npz');
    // An .npz holding other arrays than mu / sigma.
    writeFileSync(
      keys,
      writeNpz({
        mean: { dtype: 'float64', shape: [2], data: Float64Array.of(1, 2) },
        cov: { dtype: 'float64', shape: [2, 2], data: Float64Array.of(1, 0, 0, 1) },
      }),
    );
    const garbage = join(root, 'garbage.npz');
    writeFileSync(garbage, 'not a zip');
    const stats4 = join(root, 'stats4.npz');
    writeFileSync(
      stats4,
      statisticsToNpz(
        computeStatistics(
          Float64Array.from({ length: 40 }, (_, i) => Math.cos(i)),
          4,
        ),
      ),
    );
    const text = join(root, 'notes.txt');
    writeFileSync(text, 'hello');
    const missing = join(root, 'nowhere');

    const cases: [string[], string, number][] = [
      [
        ['fid', empty, fb, ...TEST],
        `error: a: ${empty}: no JPEG or PNG images found (empty folder or archive)`,
        1,
      ],
      [
        ['fid', fa, mixed, ...TEST],
        `error: b: ${odd}: wrong image size 14x14 (height x width), expected 10x10 like ${join(mixed, 'img-000.png')}; pass --resize-to <height>x<width> to resize every image`,
        1,
      ],
      [['fid', fa, corrupt, ...TEST], `error: b: ${broken}: corrupt PNG`, 1],
      [
        ['fid', fa, keys, ...TEST],
        `error: b: ${keys}: not pytorch-fid statistics: statistics .npz needs 'mu' and 'sigma', found mean, cov (expected an .npz with 'mu' [d] and 'sigma' [d, d])`,
        1,
      ],
      [
        ['fid', garbage, fb, ...TEST],
        `error: a: ${garbage}: not pytorch-fid statistics: not a .npz (zip) file`,
        1,
      ],
      [
        ['fid', fa, stats4, ...TEST],
        `error: b: ${stats4}: statistics of 4-d features, but test-fid-means gives 16-d features (--dims, --extractor)`,
        1,
      ],
      [
        // Checked from the paths, before the (here corrupt) images are even decoded.
        ['fid', corrupt, stats4, ...TEST, '--kid'],
        `error: --kid needs the features of both sides, but ${stats4} holds only statistics (mu, sigma); give the images or the run instead`,
        1,
      ],
      [['fid', fa, stats4, ...TEST, '--prdc'], '--prdc needs the features of both sides', 1],
      [
        ['fid', fa, ...TEST],
        'error: fid needs two inputs, <a> and <b> (or one with --save-stats <out.npz>)',
        2,
      ],
      [['fid', missing, fb, ...TEST], `error: a: cannot read ${missing}`, 1],
      [
        ['fid', fa, text, ...TEST],
        `error: b: ${text} is neither a folder (or .tar) of images, an .npz of statistics nor a run directory`,
        1,
      ],
      [
        ['fid', fa, fb, ...TEST, '--dims', '8'],
        'error: --dims 8: extractor test-fid-means gives 16-d features',
        1,
      ],
      [
        ['fid', fa, fb, '--dims', '768', '--backend', 'cpu'],
        "error: --dims 768: the FID Inception port gives 2048 (pool3, the FID standard) or 1008 (logits) features; pytorch-fid's 64 / 192 / 768 block features are not available",
        1,
      ],
      [
        ['fid', fa, fb, '--extractor', 'nope', '--backend', 'cpu'],
        'error: --extractor nope: no such feature extractor (known: ',
        1,
      ],
      [
        ['fid', fa, fb, ...TEST, '--prdc', '--prdc-k', '27'],
        `error: --prdc: b (${fb}) has 25 samples; k = 27 needs at least 28`,
        1,
      ],
      [['fid', fa, fb, ...TEST, '--resize-to', '0x4'], '--resize-to expects <height>x<width>', 2],
      [
        ['fid', fa, fb, ...TEST, '--extractor-config', '[1]'],
        'error: --extractor-config: expected a JSON object, got [1]',
        1,
      ],
    ];
    for (const [argv, message, code] of cases) {
      const t = io();
      expect(await main(argv, t), argv.join(' ')).toBe(code);
      expect(t.stderr.text, argv.join(' ')).toContain(message);
      if (code === 1) expect(lines(t.stdout.text).at(-1)).toMatchObject({ event: 'error' });
      expect(lines(t.stdout.text).filter((l) => l['event'] === 'progress')).toEqual([]);
    }

    // Mixed sizes go through with --resize-to.
    const t = io();
    expect(await main(['fid', fa, mixed, ...TEST, '--resize-to', '10x10'], t)).toBe(0);
    expect(lines(t.stdout.text)[0]).toMatchObject({ b: { count: 4, shape: [10, 10, 3] } });
  });

  it('stops on SIGINT with 130, writing no statistics', async () => {
    const out = join(root, 'stopped.npz');
    const t = captureIO({ interrupt: 'SIGINT' });
    expect(await main(['fid', fa, fb, '--save-stats', out, ...TEST], t)).toBe(130);
    expect(t.stderr.text).toContain('SIGINT: stopping (nothing is written)');
    expect(existsSync(out)).toBe(false);
  });

  it('lists its options in --help', async () => {
    const t = io();
    expect(await main(['fid', '--help'], t)).toBe(0);
    expect(t.stdout.text).toContain('Usage: tsvae fid [options] <a> [b]');
    for (const o of [
      '--save-stats',
      '--extractor',
      '--resize',
      '--resize-to',
      '--dims',
      '--kid',
      '--prdc',
      '--batch-size',
      '--count',
      '--mode',
      '--seed',
    ]) {
      expect(t.stdout.text).toContain(o);
    }
    expect(t.stdout.text).toMatch(/default:\s+"inception-fid"/);
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
describeRealData('tsvae fid with the FID Inception network (seeded weights)', seededWeights, () => {
  it('gives the FID of the library call on the same images (pool3, 2048-d)', async () => {
    const ia = writeImages(join(root, 'inception-a'), 4, 11, { side: 12, level: 0.4 });
    const ib = writeImages(join(root, 'inception-b'), 4, 12, { side: 12, level: 0.6, spread: 0.6 });
    const t = io();
    const code = await main(
      ['fid', ia, ib, '--inception-weights', seeded, '--batch-size', '4', '--backend', 'wasm'],
      t,
    );
    expect(t.stderr.text).toBe('');
    expect(code).toBe(0);
    expect(lines(t.stdout.text)[0]).toMatchObject({ extractor: 'inception-fid', featureDim: 2048 });
    const ex = await create('feature-extractor', 'inception-fid', { path: seeded, resize: 'tf1-legacy' });
    try {
      const load = (dir: string) => loadImageFolder(dir, { channels: 3, labels: 'none' });
      const a = await splitFeatures(ex, load(ia), { batchSize: 4 });
      const b = await splitFeatures(ex, load(ib), { batchSize: 4 });
      const lib = fidFromFeatures(a, b, 2048);
      expect(doneOf(t.stdout.text)).toEqual({ event: 'done', fid: lib.fid, n1: 4, n2: 4, dim: 2048 });
      expect(lib.fid).toBeGreaterThan(0);
    } finally {
      ex.dispose();
    }
  }, 240_000);
});
