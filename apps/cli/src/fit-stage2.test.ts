/**
 * `tsvae fit-stage2`, `sample --stage2`, `eval --stage2` and `train --second-stage gmm | flow`
 * end to end on a small run.
 */
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { definePlugin, getRegistry, z } from '@tsvae/core';
import { loadLatestCheckpoint } from '@tsvae/stages';
import { registerTinyPlugins } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from './index';
import { captureIO, SMALL_MODEL } from './testing';

/** Features = the 64 pixels of an 8x8 image. */
const pixels = definePlugin({
  kind: 'feature-extractor',
  name: 'test-pixels',
  configSchema: z.object({}),
  create: () => ({
    name: 'test-pixels',
    featureDim: 64,
    async extract(images: tf.Tensor4D) {
      return tf.reshape(images, [images.shape[0], 64]) as tf.Tensor2D;
    },
    dispose() {},
  }),
});

/** {@link SMALL_MODEL} without its `mlp` config (which another second stage would reject). */
function smallWithout(): string[] {
  const out: string[] = [];
  for (let i = 0; i < SMALL_MODEL.length; i++) {
    const a = SMALL_MODEL[i] as string;
    if (a === '--set' && (SMALL_MODEL[i + 1] as string).startsWith('stage2.model.config=')) {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function stage2Weights(checkpointsDir: string): string[] {
  const { checkpoint } = loadLatestCheckpoint(checkpointsDir);
  if (!checkpoint) throw new Error('no checkpoint');
  const out = checkpoint
    .group('stage2/')
    .map((w) => `${w.name}:${Buffer.from(w.tensor.dataSync().buffer).toString('base64')}`);
  checkpoint.dispose();
  return out;
}

const root = mkdtempSync(join(tmpdir(), 'tsvae-fit-stage2-'));
const runDir = join(root, 'run');

beforeAll(async () => {
  process.env['TSVAE_CACHE'] = join(root, 'cache');
  registerTinyPlugins();
  if (!getRegistry().has('feature-extractor', 'test-pixels')) getRegistry().register(pixels);
  const t = captureIO();
  expect(await main(['train', ...SMALL_MODEL, '--run-dir', runDir], t)).toBe(0);
}, 60_000);

describe('tsvae fit-stage2', () => {
  it('fits a gmm into <run>/stage2-gmm/, which sample and eval use with --stage2', async () => {
    const t = captureIO();
    const code = await main(
      [
        'fit-stage2',
        runDir,
        '--second-stage',
        'gmm',
        '--set',
        'components=2',
        '--set',
        'covariance="diag"',
        '--backend',
        'cpu',
      ],
      t,
    );
    expect(t.stderr.text).toBe('');
    expect(code).toBe(0);
    const lines = jsonLines(t.stdout.text);
    expect(lines[0]).toMatchObject({
      event: 'start',
      name: 'gmm',
      secondStage: 'gmm',
      config: { components: 2 },
    });
    expect(lines.filter((l) => l['event'] === 'epoch').length).toBeGreaterThan(1);
    const dir = join(runDir, 'stage2-gmm');
    expect(lines.at(-1)).toMatchObject({ event: 'done', dir });
    const record = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(record.trainer).toBe('second-stage');
    expect(record.components.secondStage).toMatchObject({
      plugin: 'gmm',
      config: { components: 2, covariance: 'diag', latentDim: 4 },
    });

    // sample: into the second stage's directory, seeded, and not the run's own samples
    const own = captureIO();
    expect(await main(['sample', '--run', runDir, '-n', '4', '--seed', '1', '--backend', 'cpu'], own)).toBe(
      0,
    );
    const s = captureIO();
    expect(
      await main(
        ['sample', '--run', runDir, '--stage2', 'gmm', '-n', '4', '--seed', '1', '--backend', 'cpu'],
        s,
      ),
    ).toBe(0);
    expect(s.stdout.text.trim()).toBe(join(dir, 'samples', 'two-stage-seed1.png'));
    expect(Buffer.compare(readFileSync(s.stdout.text.trim()), readFileSync(own.stdout.text.trim()))).not.toBe(
      0,
    );

    // eval: <run>/stage2-gmm/eval.json names the second stage
    const e = captureIO();
    const evalArgs = [
      '--extractor',
      'test-pixels',
      '-n',
      '64',
      '--modes',
      'two-stage',
      '--no-kid',
      '--backend',
      'cpu',
    ];
    expect(await main(['eval', runDir, '--stage2', 'gmm', ...evalArgs], e)).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
    expect(report.stage2).toMatchObject({ name: 'gmm', position: { stage: 'done' } });
    const base = captureIO();
    expect(await main(['eval', runDir, ...evalArgs], base)).toBe(0);
    const baseReport = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    expect(baseReport.stage2).toBeNull();
    expect(report.results[0].fid.mean).not.toBe(baseReport.results[0].fid.mean);

    // an unknown name is an error naming it
    const m = captureIO();
    expect(await main(['sample', '--run', runDir, '--stage2', 'nope', '--backend', 'cpu'], m)).toBe(1);
    expect(m.stderr.text).toContain('no second stage named "nope"');
  });

  it('stops on a signal with a checkpoint and resumes exactly (flow, gradient training)', async () => {
    const args = ['--second-stage', 'flow', '--set', 'couplings=2', '--set', 'width=8', '--backend', 'cpu'];
    expect(await main(['fit-stage2', runDir, ...args, '--name', 'flow-straight'], captureIO())).toBe(0);
    const cut = captureIO({ interrupt: 'SIGTERM' });
    expect(await main(['fit-stage2', runDir, ...args, '--name', 'flow'], cut)).toBe(143);
    expect(cut.stdout.text).toContain('"event":"interrupted","signal":"SIGTERM"');
    const again = captureIO();
    // --out <run>/stage2-<name> names the same second stage as --name <name>
    const out = join(runDir, 'stage2-flow');
    expect(await main(['fit-stage2', runDir, '--out', out, '--resume', '--backend', 'cpu'], again)).toBe(0);
    expect(jsonLines(again.stdout.text)[0]).toMatchObject({ event: 'start', name: 'flow', resume: true });
    expect(stage2Weights(join(runDir, 'stage2-flow', 'checkpoints'))).toEqual(
      stage2Weights(join(runDir, 'stage2-flow-straight', 'checkpoints')),
    );
  });

  it('usage errors exit 2; a bad plugin or config exits 1 before anything is written', async () => {
    const cases: [string[], number, RegExp][] = [
      [['fit-stage2', runDir], 2, /needs --second-stage/],
      [
        ['fit-stage2', runDir, '--resume', '--name', 'x', '--second-stage', 'gmm'],
        2,
        /--second-stage cannot be combined/,
      ],
      [['fit-stage2', runDir, '--resume'], 2, /--resume needs --name/],
      [
        ['fit-stage2', runDir, '--second-stage', 'gmm', '--out', join(runDir, 'elsewhere')],
        2,
        /--out must be <run>\/stage2-<name>.*got .*elsewhere/,
      ],
      [['fit-stage2', runDir, '--second-stage', 'gmm', '--out', `${runDir}-x/stage2-a`], 2, /--out must be/],
      [['fit-stage2', runDir, '--second-stage', 'gmm', '--out', join(runDir, 'stage2-')], 2, /--out must be/],
      [
        ['fit-stage2', runDir, '--second-stage', 'gmm', '--out', join(runDir, 'stage2-a'), '--name', 'b'],
        2,
        /--out .* is the second stage "a", but --name says "b"/,
      ],
      [['fit-stage2', runDir, '--second-stage', 'nope', '--backend', 'cpu'], 1, /nope/],
      [
        ['fit-stage2', runDir, '--second-stage', 'gmm', '--name', 'bad', '--set', 'k=3', '--backend', 'cpu'],
        1,
        /"gmm".*\bk\b.*unknown key/,
      ],
      [
        ['fit-stage2', runDir, '--second-stage', 'gmm', '--name', '../up', '--backend', 'cpu'],
        1,
        /invalid second-stage name/,
      ],
    ];
    for (const [argv, want, message] of cases) {
      const t = captureIO();
      expect(await main(argv, t), argv.join(' ')).toBe(want);
      expect(t.stderr.text).toMatch(message);
    }
    expect(existsSync(join(runDir, 'stage2-nope'))).toBe(false);
    expect(existsSync(join(runDir, 'stage2-bad'))).toBe(false);
  });
});

describe('tsvae train --second-stage gmm | flow', () => {
  it('the quick preset takes another second stage without the mlp config', async () => {
    for (const name of ['gmm', 'flow']) {
      const t = captureIO();
      expect(
        await main(['train', '--dataset', 'tiny-manifold', '--second-stage', name, '--print-config'], t),
      ).toBe(0);
      expect(JSON.parse(t.stdout.text).stage2.model).toEqual({ name, config: {} });
    }
  });

  it('trains small runs with gmm and flow, and samples from them', async () => {
    for (const [name, config] of [
      ['gmm', '{"components":2}'],
      ['flow', '{"couplings":2,"width":8}'],
    ] as const) {
      const dir = join(root, `train-${name}`);
      const t = captureIO();
      const code = await main(
        [
          'train',
          ...smallWithout(),
          '--second-stage',
          name,
          '--set',
          `stage2.model.config=${config}`,
          '--run-dir',
          dir,
        ],
        t,
      );
      expect(t.stderr.text).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).components.secondStage.plugin).toBe(
        name,
      );
      const s = captureIO();
      expect(await main(['sample', '--run', dir, '-n', '4', '--backend', 'cpu'], s)).toBe(0);
      expect(existsSync(s.stdout.text.trim())).toBe(true);
    }
  });
});
