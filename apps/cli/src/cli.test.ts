import '@tensorflow/tfjs-backend-cpu';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listCheckpoints, RunDirectory } from '@tsvae/stages';
import { registerTinyPlugins } from '@tsvae/stages/testing';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy, main } from './index';
import { captureIO, SMALL_MODEL } from './testing';

const io = captureIO;
const SMALL = SMALL_MODEL;

beforeAll(() => {
  registerTinyPlugins();
});

describe('tsvae CLI (in-process)', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsvae-cli-'));

  it('trains a small run (JSON lines when piped), samples from it (seed 0 reproduces), and encodes it', async () => {
    const runDir = join(root, 'run1');
    const t = io();
    const code = await main(['train', ...SMALL, '--run-dir', runDir], t);
    expect(t.stderr.text).toBe('');
    expect(code).toBe(0);
    const lines = t.stdout.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'start', runDir });
    expect(lines.filter((l) => l['event'] === 'epoch')).toHaveLength(4);
    expect(lines.at(-1)).toMatchObject({ event: 'done', runDir });
    // the short evaluation after training: tiny-manifold has no labels and no Inception weights are
    // in the cache, so it is skipped with the reason (not an error)
    expect(lines.at(-2)).toMatchObject({ event: 'eval-skipped' });
    expect(String(lines.at(-2)?.['reason'])).toMatch(/no feature extractor is available for tiny-manifold/);
    expect(existsSync(join(runDir, 'samples', 'two-stage.png'))).toBe(true);
    const record = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(record.versions['@tsvae/core']).toBeDefined();
    expect(record.versions['@tsvae/metrics']).toBeDefined();
    expect(record.backend.backend).toBe('cpu');
    expect(record.components.stage1.plugin).toBe('vae');

    // the default seed (0) reproduces: two runs of the same command write the same PNG
    const pngs: Buffer[] = [];
    for (let i = 0; i < 2; i++) {
      const s = io();
      expect(await main(['sample', '--run', runDir, '-n', '9', '--backend', 'cpu'], s)).toBe(0);
      const out = s.stdout.text.trim();
      expect(out).toBe(join(runDir, 'samples', 'two-stage-seed0.png'));
      pngs.push(readFileSync(out));
    }
    expect(Buffer.compare(pngs[0] as Buffer, pngs[1] as Buffer)).toBe(0);
    const png = PNG.sync.read(pngs[0] as Buffer);
    expect([png.width, png.height]).toEqual([3 * 9 + 1, 3 * 9 + 1]);
    const other = io();
    expect(await main(['sample', '--run', runDir, '-n', '9', '--seed', '1', '--backend', 'cpu'], other)).toBe(
      0,
    );
    expect(Buffer.compare(readFileSync(other.stdout.text.trim()), pngs[0] as Buffer)).not.toBe(0);

    const e = io();
    expect(await main(['encode', '--run', runDir, '--backend', 'cpu'], e)).toBe(0);
    const mu = readFileSync(join(runDir, 'codes-train', 'mu.npy'));
    expect(mu.subarray(1, 6).toString('latin1')).toBe('NUMPY');
    expect(mu.toString('latin1', 10, 80)).toContain("'shape': (128, 4)");
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s saves a checkpoint and exits %i; --resume finishes the run', async (signal, exit) => {
    const runDir = join(root, `run-${signal}`);
    const t = io({ interrupt: signal });
    expect(await main(['train', ...SMALL, '--run-dir', runDir], t)).toBe(exit);
    expect(t.stdout.text).toContain(`"event":"interrupted","signal":"${signal}"`);
    expect(t.stderr.text).toContain(`${signal}: saving a checkpoint`);
    expect(listCheckpoints(new RunDirectory(runDir).checkpointsDir)).toHaveLength(1);
    const r = io();
    expect(await main(['train', '--resume', runDir, '--backend', 'cpu'], r)).toBe(0);
    expect(r.stdout.text).toContain('"event":"done"');
    expect(new RunDirectory(runDir).readMetrics().map((m) => `${m.stage}:${m.epoch}`)).toEqual([
      'stage1:1',
      'stage1:2',
      'stage2:1',
      'stage2:2',
    ]);
  });

  it('draws a progress bar with loss and gamma on a terminal', async () => {
    const t = io({ tty: true });
    expect(await main(['train', ...SMALL, '--stage2-epochs', '1', '--run-dir', join(root, 'run3')], t)).toBe(
      0,
    );
    expect(t.stdout.text).toMatch(/stage1 epoch 1\/2 \[#+-*\] \d+\/4 loss -?\d+\.\d+ gamma \d/);
    expect(t.stdout.text).toMatch(/active \d+/);
  });

  it('prints --help with defaults', async () => {
    const t = io();
    expect(await main(['train', '--help'], t)).toBe(0);
    expect(t.stdout.text).toContain('--dataset <name>');
    expect(t.stdout.text).toContain('(default: "mnist")');
    expect(t.stdout.text).toContain('(default: "quick")');
  });

  it('usage errors exit 2: bad values, unknown commands (also with --help), malformed --set JSON, --resume with overrides', async () => {
    const cases: [string[], RegExp | string][] = [
      [['train', '--seed', 'abc'], '--seed must be an integer >= 0 and <= 2147483647, got "abc"'],
      [['train', '--seed', '2147483648'], '--seed must be an integer >= 0 and <= 2147483647'],
      [['sample', '--run', 'x', '--seed', '-1'], '--seed must be an integer >= 0'],
      [['nope'], "unknown command 'nope'"],
      [['nope', '--help'], "unknown command 'nope'"],
      [
        ['train', ...SMALL, '--set', 'stage1.epochs=1O', '--print-config'],
        '--set stage1.epochs: "1O" is not valid JSON',
      ],
      [
        ['train', ...SMALL, '--set', 'stage1.encoder.config={"fcDim":16', '--print-config'],
        /--set stage1\.encoder\.config: .* is not valid JSON/,
      ],
      [
        ['train', '--resume', join(root, 'run1'), '--stage1-epochs', '9'],
        '--stage1-epochs cannot be combined with it',
      ],
      [['train', '--resume', join(root, 'run1'), '--set', 'seed=1'], '--set cannot be combined with it'],
    ];
    for (const [argv, want] of cases) {
      const t = io();
      expect(await main(argv, t), argv.join(' ')).toBe(2);
      if (typeof want === 'string') expect(t.stderr.text).toContain(want);
      else expect(t.stderr.text).toMatch(want);
    }
  });

  it('--print-config validates what a run would: plugin names and every component config', async () => {
    const ok = io();
    expect(await main(['train', ...SMALL, '--print-config'], ok)).toBe(0);
    expect(JSON.parse(ok.stdout.text).stage1.encoder.config).toMatchObject({ fcDim: 16 });
    const cases: [string[], RegExp | string][] = [
      [['--set', 'stage1.epochz=3'], 'invalid configuration: stage1.epochz: unknown field'],
      [
        ['--set', 'stage1.encoder.config.fcdim=16'],
        /encoder plugin "infogan".*field "fcdim": unknown key \(did you mean "fcDim"\?\)/,
      ],
      [['--set', 'stage2.model.config.widht=8'], /second-stage plugin "mlp".*field "widht"/],
      [['--encoder', 'nope'], /Unknown encoder plugin "nope"/],
      [['--dataset', 'nope'], /Unknown dataset plugin "nope"/],
      [['--set', 'stage1.lr=-1'], /stage1\.lr: /],
      [['--set', 'dataset.config.sizee=3'], /dataset plugin "tiny-manifold".*field "sizee"/],
    ];
    for (const [extra, want] of cases) {
      const t = io();
      expect(await main(['train', ...SMALL, ...extra, '--print-config'], t), extra.join(' ')).toBe(1);
      if (typeof want === 'string') expect(t.stderr.text).toContain(want);
      else expect(t.stderr.text).toMatch(want);
    }
  });

  it('other errors name the file or the plugin, exit 1, and end the JSON output with an error event', async () => {
    const noRun = io();
    expect(await main(['sample', '--run', join(root, 'missing'), '--backend', 'cpu'], noRun)).toBe(1);
    expect(noRun.stderr.text).toContain(join(root, 'missing', 'config.json'));

    const noConfigFile = io();
    expect(await main(['train', '--config', join(root, 'none.json'), '--print-config'], noConfigFile)).toBe(
      1,
    );
    expect(noConfigFile.stderr.text).toContain(
      `cannot read ${join(root, 'none.json')}: no such file or directory (ENOENT)`,
    );

    const failing = io();
    expect(
      await main(['train', ...SMALL, '--batch-size', '1000', '--run-dir', join(root, 'big')], failing),
    ).toBe(1);
    expect(failing.stderr.text).toContain('batchSize 1000 is larger than the 128 training examples');
    const last = JSON.parse(failing.stdout.text.trim().split('\n').at(-1) as string);
    expect(last).toMatchObject({ event: 'error', exitCode: 1 });
    expect(last.message).toContain('batchSize 1000');
    expect(existsSync(join(root, 'big'))).toBe(false);
  });

  it('info reports the backend, threads, versions (all tsvae packages) and plugin kinds', async () => {
    const t = io();
    expect(await main(['info', '--backend', 'cpu', '--json'], t)).toBe(0);
    const report = JSON.parse(t.stdout.text);
    expect(report.backend.backend).toBe('cpu');
    expect(report.backend.threads).toBeGreaterThan(0);
    expect(report.versions['@tensorflow/tfjs-core']).toBe('4.22.0');
    expect(report.versions['@tsvae/metrics']).toMatch(/\d+\.\d+\.\d+/);
    expect(report.plugins['stage1']).toEqual(['vae', 'vae-flow', 'wae-mmd']);
    expect(report.plugins['second-stage']).toContain('mlp');
  });
});

describe('encodeNpy', () => {
  it('writes a 64-byte-aligned header', () => {
    const b = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const headerLen = b[8]! + 256 * b[9]!;
    expect((10 + headerLen) % 64).toBe(0);
    expect(new Float32Array(b.slice(10 + headerLen).buffer)).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
  });
});

const dist = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(dist))
  console.warn(`SKIPPED the built tsvae executable tests: ${dist} is missing (npm run build)`);
describe.runIf(existsSync(dist))('the built tsvae executable', () => {
  it('is linked as node_modules/.bin/tsvae after `npm run build` (so `npx tsvae` works)', () => {
    const bin = fileURLToPath(new URL('../../../node_modules/.bin/tsvae', import.meta.url));
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    expect(r.error, `${bin}: run npm run build (its postbuild links the bin)`).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('runs --help via its shebang entry', () => {
    expect(readFileSync(dist, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    const r = spawnSync(process.execPath, [dist, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const c of ['train', 'sample', 'encode', 'eval', 'info']) expect(r.stdout).toContain(c);
  });

  it('trains a small run end to end as a child process, with the test plugins loaded by --plugins', () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'tsvae-dist-')), 'run');
    const r = spawnSync(
      process.execPath,
      [dist, 'train', ...SMALL, '--plugins', '@tsvae/stages/testing', '--run-dir', runDir],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toContain('"event":"done"');
    expect(existsSync(join(runDir, 'samples', 'two-stage.png'))).toBe(true);
    const bad = spawnSync(process.execPath, [dist, 'train', '--batch-size', '0'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--batch-size must be an integer >= 1, got "0"');
  });

  it('info lists no test plugins and every tsvae package version', () => {
    const r = spawnSync(process.execPath, [dist, 'info', '--backend', 'cpu', '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    const all = Object.values(report.plugins as Record<string, string[]>).flat();
    for (const p of ['tiny-dense', 'tiny-mlp', 'tiny-manifold']) expect(all).not.toContain(p);
    for (const p of ['core', 'backend', 'distributions', 'layers', 'datasets', 'stages', 'metrics', 'cli']) {
      expect(report.versions[`@tsvae/${p}`], p).toMatch(/\d+\.\d+\.\d+/);
    }
  });
});
