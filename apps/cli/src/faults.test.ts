/**
 * Fault injection with real processes and signals, on the built `tsvae` CLI: kill -9 at many
 * points (inside checkpoint writes too), a full disk (a small tmpfs), a read-only file system, two
 * writers of one run. Nothing may be lost and every error must name the path and the real cause.
 * Needs `npm run build` (CI builds first); the mount tests need root (CI runs as root) and skip
 * with the reason printed elsewhere.
 */
import '@tensorflow/tfjs-backend-cpu';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { listCheckpoints, loadLatestCheckpoint, RunDirectory, readVaeRecord } from '@tsvae/stages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMALL_MODEL } from './testing';

const dist = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const killAtCheckpoint = fileURLToPath(new URL('../test/fixtures/kill-at-checkpoint.mjs', import.meta.url));
const built = existsSync(dist);
if (!built) console.warn(`SKIPPED the fault-injection suite: ${dist} is missing (npm run build)`);

/** The small production model with the test plugins loaded from `@tsvae/stages/testing`. */
const SMALL = [...SMALL_MODEL, '--plugins', '@tsvae/stages/testing'];

function tsvae(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [dist, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `tsvae train --resume <dir>` with the test plugins. */
function resume(dir: string): ReturnType<typeof tsvae> {
  return tsvae(['train', '--resume', dir, '--plugins', '@tsvae/stages/testing', '--backend', 'cpu']);
}

/** Spawns the CLI; `onLine` sees each JSON line of stdout. */
function start(
  script: string,
  args: readonly string[],
  onLine: (event: Record<string, unknown>, child: ChildProcess) => void = () => {},
  env: Record<string, string> = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    pending += d.toString();
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        onLine(JSON.parse(line) as Record<string, unknown>, child);
      } catch {
        // not JSON
      }
      nl = pending.indexOf('\n');
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((done) => child.on('exit', (code, signal) => done({ code, signal, stdout, stderr })));
}

function finalWeights(runDir: string): Map<string, Buffer> {
  const { checkpoint } = loadLatestCheckpoint(new RunDirectory(runDir).checkpointsDir);
  if (!checkpoint) throw new Error(`${runDir}: no checkpoint`);
  expect(checkpoint.manifest.position.stage).toBe('done');
  const out = new Map<string, Buffer>();
  for (const [name, t] of Object.entries(checkpoint.weights)) {
    if (!name.startsWith('optimizer/')) {
      const d = t.dataSync();
      out.set(name, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    }
  }
  checkpoint.dispose();
  return out;
}

function expectSame(dir: string, reference: string): void {
  const want = finalWeights(reference);
  const got = finalWeights(dir);
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [k, v] of want) expect(Buffer.compare(got.get(k) as Buffer, v), k).toBe(0);
}

function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? [e.name, ...walk(join(d, e.name))] : [e.name],
  );
}

const root = mkdtempSync(join(tmpdir(), 'tsvae-faults-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.runIf(built)('faults, real processes', () => {
  let reference: string;
  beforeAll(() => {
    reference = join(root, 'reference');
    const r = tsvae(['train', ...SMALL, '--run-dir', reference]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it('kill -9 inside each of the 6 checkpoint writes, then --resume: byte-identical weights, leftovers removed', async () => {
    for (let k = 1; k <= 6; k++) {
      const dir = join(root, `kill-ckpt-${k}`);
      const r = await start(killAtCheckpoint, ['train', ...SMALL, '--run-dir', dir], () => {}, {
        KILL_AT: String(k),
      });
      expect(r.signal, `write ${k}`).toBe('SIGKILL');
      const run = new RunDirectory(dir);
      expect(listCheckpoints(run.checkpointsDir)).toHaveLength(Math.min(k - 1, 2)); // keep 2
      expect(readdirSync(run.checkpointsDir).some((n) => n.endsWith('.tmp'))).toBe(true);
      expect(existsSync(run.lockFile)).toBe(true);
      const resumed = resume(dir);
      expect(resumed.stderr, `write ${k}`).toBe('');
      expect(resumed.status).toBe(0);
      expectSame(dir, reference);
      expect(walk(dir).filter((n) => n.endsWith('.tmp') || n === 'run.lock')).toEqual([]);
    }
  }, 240_000);

  it('kill -9 at unannounced moments (after the n-th epoch line), then --resume: byte-identical', async () => {
    for (const n of [1, 2, 3]) {
      const dir = join(root, `kill-epoch-${n}`);
      let seen = 0;
      const r = await start(dist, ['train', ...SMALL, '--run-dir', dir], (e, child) => {
        if (e['event'] === 'epoch' && ++seen === n) child.kill('SIGKILL');
      });
      expect(r.signal).toBe('SIGKILL');
      const resumed = resume(dir);
      expect(resumed.status, resumed.stderr).toBe(0);
      expectSame(dir, reference);
    }
  }, 240_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)(
    'a real %s mid-training saves a checkpoint, exits %i, and the resumed run is byte-identical',
    async (signal, code) => {
      const dir = join(root, `signal-${signal}`);
      let sent = false;
      const r = await start(dist, ['train', ...SMALL, '--run-dir', dir], (e, child) => {
        if (e['event'] === 'epoch' && !sent) {
          sent = true;
          child.kill(signal);
        }
      });
      expect(r.stderr).toContain(`${signal}: saving a checkpoint`);
      expect(r.code).toBe(code);
      expect(r.stdout).toContain(`"event":"interrupted","signal":"${signal}"`);
      expect(existsSync(new RunDirectory(dir).lockFile)).toBe(false);
      const resumed = resume(dir);
      expect(resumed.status, resumed.stderr).toBe(0);
      expectSame(dir, reference);
    },
    60_000,
  );

  it('two writers of one run: one gets "run in use by pid N", the other finishes', async () => {
    const dir = join(root, 'two-writers');
    const first = tsvae([
      'train',
      ...SMALL,
      '--stage1-epochs',
      '0',
      '--stage2-epochs',
      '0',
      '--run-dir',
      dir,
    ]);
    expect(first.status).toBe(0);
    // make the recorded run longer, so both resumes have work to do
    const cfg = new RunDirectory(dir);
    const record = readVaeRecord(cfg);
    const { writeJsonAtomic } = await import('@tsvae/core/node');
    writeJsonAtomic(cfg.configFile, {
      ...record,
      config: { ...record.config, stage1: { ...record.config.stage1, epochs: 6 } },
    });
    rmSync(cfg.checkpointsDir, { recursive: true, force: true });
    const args = ['train', '--resume', dir, '--plugins', '@tsvae/stages/testing', '--backend', 'cpu'];
    const [a, b] = await Promise.all([start(dist, args), start(dist, args)]);
    const codes = [a.code, b.code].sort();
    expect(codes).toEqual([0, 1]);
    const loser = a.code === 1 ? a : b;
    expect(loser.stderr).toMatch(/run in use by pid \d+ on .*run\.lock/);
  }, 120_000);
});

/** Mounts a tmpfs of `size` at a fresh directory (root only); null with the reason when it cannot. */
function mountTmpfs(size: string): { dir: string; remountReadOnly(): void; unmount(): void } | string {
  const dir = mkdtempSync(join(tmpdir(), 'tsvae-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()})`;
  return {
    dir,
    remountReadOnly: () => {
      const m = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
      if (m.status !== 0) throw new Error(`remount ro: ${m.stderr}`);
    },
    unmount: () => {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const probe = built ? mountTmpfs('1m') : 'the CLI is not built';
const canMount = typeof probe !== 'string';
if (typeof probe === 'string') console.warn(`SKIPPED the full-disk and read-only tests: ${probe}`);
else probe.unmount();

describe.runIf(built && canMount)('faults, full disk and read-only file system (tmpfs)', () => {
  it('ENOSPC while training: the error names the file, the cause and the last good checkpoint; after freeing space the run resumes', async () => {
    const fs = mountTmpfs('4m') as Exclude<ReturnType<typeof mountTmpfs>, string>;
    try {
      const dir = join(fs.dir, 'run');
      const filler = join(fs.dir, 'filler');
      let epochs = 0;
      const r = await start(dist, ['train', ...SMALL, '--stage1-epochs', '12', '--run-dir', dir], (e) => {
        // after the second epoch line the first epoch's checkpoint is on disk
        if (e['event'] === 'epoch' && ++epochs === 2) {
          const fd = openSync(filler, 'w');
          const chunk = Buffer.alloc(16 * 1024);
          try {
            for (;;) writeSync(fd, chunk);
          } catch {
            // the disk is full
          } finally {
            closeSync(fd);
          }
        }
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/error: cannot write .*: no space left on device \(ENOSPC\)/);
      expect(r.stderr).toMatch(
        /the last good checkpoint is .*ckpt-\d{6}; free the space and resume with `tsvae train --resume/,
      );
      expect(r.stdout.trim().split('\n').at(-1)).toContain('"event":"error"');
      rmSync(filler);
      const resumed = resume(dir);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(new RunDirectory(dir).readMetrics().filter((m) => m.stage === 'stage1')).toHaveLength(12);
    } finally {
      fs.unmount();
    }
  }, 180_000);

  it('a read-only file system: train names the directory and EROFS; sample and eval on a read-only run name their output, eval before any work', () => {
    const fs = mountTmpfs('8m') as Exclude<ReturnType<typeof mountTmpfs>, string>;
    try {
      const run = join(fs.dir, 'run');
      expect(tsvae(['train', ...SMALL, '--stage2-epochs', '1', '--run-dir', run]).status).toBe(0);
      fs.remountReadOnly();
      const t = tsvae(['train', ...SMALL, '--run-dir', join(fs.dir, 'new', 'run')]);
      expect(t.status).toBe(1);
      expect(t.stderr).toMatch(/cannot create directory .*new[/\\]run.*: read-only file system \(EROFS\)/);
      const s = tsvae(['sample', '--run', run, '--plugins', '@tsvae/stages/testing', '--backend', 'cpu']);
      expect(s.status).toBe(1);
      expect(s.stderr).toContain(
        `cannot write ${join(run, 'samples', 'two-stage-seed0.png')}: read-only file system (EROFS)`,
      );
      const ev = tsvae(['eval', run, '--plugins', '@tsvae/stages/testing', '--backend', 'cpu', '--json']);
      expect(ev.status).toBe(1);
      expect(ev.stderr).toContain(`cannot write ${join(run, 'eval.json')}: read-only file system (EROFS)`);
      expect(ev.stdout).not.toContain('"event":"progress"');
      const resumed = resume(run);
      expect(resumed.status).toBe(1);
      expect(resumed.stderr).toMatch(/run\.lock: read-only file system \(EROFS\)/);
    } finally {
      fs.unmount();
    }
  }, 120_000);
});

describe('the mount probe', () => {
  it('either mounted or said why not', () => {
    expect(canMount || typeof probe === 'string').toBe(true);
    if (!existsSync(root)) mkdirSync(root);
  });
});
