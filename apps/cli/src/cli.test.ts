import '@tensorflow/tfjs-backend-cpu';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listCheckpoints, readMetrics, registerTinyPlugins } from '@tsvae/stages';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeNpy, main } from './index';
import { captureIO, TINY_MODEL } from './testing';

const io = captureIO;

const TINY = ['--dataset', 'tiny-manifold', ...TINY_MODEL];

beforeAll(() => {
  registerTinyPlugins();
});

describe('tsvae CLI (in-process)', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsvae-cli-'));

  it('trains a tiny run (JSON lines when piped), samples from it, and encodes it', async () => {
    const runDir = join(root, 'run1');
    const t = io();
    const code = await main(['train', ...TINY, '--run-dir', runDir], t);
    expect(t.stderr.text).toBe('');
    expect(code).toBe(0);
    const lines = t.stdout.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'start', runDir });
    expect(lines.filter((l) => l['event'] === 'epoch')).toHaveLength(4);
    expect(lines.at(-1)).toMatchObject({ event: 'done', runDir });
    expect(existsSync(join(runDir, 'samples', 'one-stage.png'))).toBe(true);
    expect(existsSync(join(runDir, 'samples', 'two-stage.png'))).toBe(true);
    const record = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(record.versions['@tsvae/core']).toBeDefined();
    expect(record.backend.backend).toBe('cpu');

    const s = io();
    expect(await main(['sample', '--run', runDir, '-n', '9', '--seed', '3', '--backend', 'cpu'], s)).toBe(0);
    const out = s.stdout.text.trim();
    expect(out).toBe(join(runDir, 'samples', 'two-stage-seed3.png'));
    const png = PNG.sync.read(readFileSync(out));
    expect([png.width, png.height]).toEqual([3 * 5 + 1, 3 * 5 + 1]);

    const e = io();
    expect(await main(['encode', '--run', runDir, '--backend', 'cpu'], e)).toBe(0);
    const mu = readFileSync(join(runDir, 'codes-train', 'mu.npy'));
    expect(mu.subarray(1, 6).toString('latin1')).toBe('NUMPY');
    expect(mu.toString('latin1', 10, 80)).toContain("'shape': (128, 4)");
    expect(mu.byteLength).toBe(128 + 128 * 4 * 4);
  });

  it('an interrupt saves a checkpoint and exits 130; --resume finishes the run', async () => {
    const runDir = join(root, 'run2');
    const t = io({ interrupt: true });
    expect(await main(['train', ...TINY, '--run-dir', runDir], t)).toBe(130);
    expect(t.stdout.text).toContain('"event":"interrupted"');
    expect(listCheckpoints(runDir)).toHaveLength(1);
    const r = io();
    expect(await main(['train', '--resume', runDir, '--backend', 'cpu'], r)).toBe(0);
    expect(r.stdout.text).toContain('"event":"done"');
    expect(readMetrics(runDir).map((m) => `${m.stage}:${m.epoch}`)).toEqual([
      'stage1:1',
      'stage1:2',
      'stage2:1',
      'stage2:2',
    ]);
  });

  it('draws a progress bar with loss and gamma on a terminal', async () => {
    const t = io({ tty: true });
    expect(await main(['train', ...TINY, '--stage2-epochs', '1', '--run-dir', join(root, 'run3')], t)).toBe(
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

  it('explains bad input in plain words, naming the option or file, with a non-zero exit', async () => {
    const bad = io();
    expect(await main(['train', '--seed', 'abc'], bad)).toBe(2);
    expect(bad.stderr.text).toContain('--seed must be an integer >= 0, got "abc"');

    const unknownDataset = io();
    expect(
      await main(['train', ...TINY, '--dataset', 'nope', '--run-dir', join(root, 'x')], unknownDataset),
    ).toBe(1);
    expect(unknownDataset.stderr.text).toMatch(/error: Unknown dataset plugin "nope"/);

    const badField = io();
    expect(await main(['train', ...TINY, '--set', 'stage1.epochz=3', '--print-config'], badField)).toBe(1);
    expect(badField.stderr.text).toContain('invalid configuration: stage1.epochz: unknown field');

    const badValue = io();
    expect(await main(['train', ...TINY, '--set', 'stage1.lr=-1', '--print-config'], badValue)).toBe(1);
    expect(badValue.stderr.text).toMatch(/stage1\.lr: /);

    const noRun = io();
    expect(await main(['sample', '--run', join(root, 'missing'), '--backend', 'cpu'], noRun)).toBe(1);
    expect(noRun.stderr.text).toContain(join(root, 'missing', 'config.json'));

    const resumeWithEpochs = io();
    expect(
      await main(['train', '--resume', join(root, 'run1'), '--stage1-epochs', '9'], resumeWithEpochs),
    ).toBe(1);
    expect(resumeWithEpochs.stderr.text).toContain('--stage1-epochs cannot be combined with it');

    const noConfigFile = io();
    expect(await main(['train', '--config', join(root, 'none.json'), '--print-config'], noConfigFile)).toBe(
      1,
    );
    expect(noConfigFile.stderr.text).toContain('--config');
  });

  it('info reports the backend, threads, versions and plugins', async () => {
    const t = io();
    expect(await main(['info', '--backend', 'cpu', '--json'], t)).toBe(0);
    const report = JSON.parse(t.stdout.text);
    expect(report.backend.backend).toBe('cpu');
    expect(report.backend.threads).toBeGreaterThan(0);
    expect(report.versions['@tensorflow/tfjs-core']).toBe('4.22.0');
    expect(report.plugins['second-stage']).toContain('tiny-mlp');
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
    expect(r.stdout).toContain('train');
    expect(r.stdout).toContain('sample');
    expect(r.stdout).toContain('eval');
  });

  it('trains a tiny run end to end as a child process', () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'tsvae-dist-')), 'run');
    const r = spawnSync(process.execPath, [dist, 'train', ...TINY, '--run-dir', runDir], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toContain('"event":"done"');
    expect(existsSync(join(runDir, 'samples', 'two-stage.png'))).toBe(true);
    const bad = spawnSync(process.execPath, [dist, 'train', '--batch-size', '0'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--batch-size must be an integer >= 1, got "0"');
  });

  it('saves a checkpoint on SIGINT, exits 130, and resumes', async () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'tsvae-sigint-')), 'run');
    const child = spawn(
      process.execPath,
      [dist, 'train', ...TINY, '--stage1-epochs', '500', '--run-dir', runDir],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((done) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"event":"epoch"') && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => done(c));
    });
    expect(err).toContain('interrupt: saving a checkpoint');
    expect(code).toBe(130);
    expect(out).toContain('"event":"interrupted"');
    expect(listCheckpoints(runDir).length).toBeGreaterThan(0);
    const r = spawnSync(process.execPath, [dist, 'train', '--resume', runDir, '--print-config'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).stage1.epochs).toBe(500);
  }, 60_000);

  it('rejects bad values in the child process too', () => {
    const bad = spawnSync(process.execPath, [dist, 'train', '--batch-size', '0'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--batch-size must be an integer >= 1, got "0"');
  });
});
