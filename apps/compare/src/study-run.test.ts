/**
 * A tiny study end to end, with real worker processes (the built `tsvae` CLI): every cell in
 * results.json with each model's mean ± std recomputed from the cells; then the same study
 * interrupted (kill -9 of a worker, SIGINT of the study) and run again: no cell trains twice from
 * scratch and the results equal the uninterrupted study's. Needs `npm run build` (CI builds first).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { meanStd } from '@tsvae/report';
import { RunDirectory } from '@tsvae/stages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './main';
import type { CellStatus } from './plan';
import type { StudyResults } from './results';
import { builtCli, captureIO, tinyStudy, writeStudy } from './testing';

const cli = builtCli();
if ('reason' in cli) console.warn(`SKIPPED the study end-to-end tests: ${cli.reason}`);

const root = mkdtempSync(join(tmpdir(), 'tsvae-compare-'));
/** Every worker pid a study reported, to clean up after a failed test (only processes we started). */
const pids = new Set<number>();

afterAll(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

const readResults = (dir: string): StudyResults =>
  JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as StudyResults;

/** The JSON lines of a cell's training log (every attempt). */
function logEvents(dir: string, cell: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'cells', `${cell}.log`), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Each cell's FID per trial, by cell. */
const trialFids = (r: StudyResults) =>
  Object.fromEntries(
    r.cells.map((c) => [c.id, c.metrics.map((m) => m.trials.map((t) => [t.fid, t.kid?.mean]))]),
  );

describe.runIf('path' in cli)('a tiny study, end to end', () => {
  let studyFile: string;
  let reference: string;
  let first: ReturnType<typeof captureIO>;
  let code: number;

  beforeAll(async () => {
    studyFile = writeStudy(join(root, 'files'), tinyStudy());
    reference = join(root, 'reference');
    first = captureIO();
    code = await main(['run', studyFile, '--dir', reference, '--jobs', '2', '--json'], first);
  }, 300_000);

  it('trains and evaluates every cell; results.json has each; the model means and stds are those of the cells', () => {
    expect(first.stderr.text).toBe('');
    expect(code).toBe(0);
    const r = readResults(reference);
    expect(r.complete).toBe(true);
    expect(r.cells.map((c) => c.id).sort()).toEqual(
      ['ns-gan-seed0', 'ns-gan-seed1', 'two-stage-vae-seed0', 'two-stage-vae-seed1'].sort(),
    );
    for (const c of r.cells) {
      expect(c.state, c.id).toBe('done');
      expect(c.metrics).toHaveLength(1);
      const m = c.metrics[0] as StudyResults['cells'][number]['metrics'][number];
      expect(m.extractor).toBe('test-flat');
      expect(m.trials).toHaveLength(2);
      // the cell's FID is the mean of its trials
      expect(m.fid.mean).toBeCloseTo((m.trials[0]!.fid + m.trials[1]!.fid) / 2, 10);
      expect(Number.isFinite(m.fid.mean) && m.fid.mean > 0).toBe(true);
      expect(c.trainSeconds).toBeGreaterThan(0);
      expect(new RunDirectory(c.runDir).holdsRun()).toBe(true);
    }
    // Table 1 order: the GAN row before the 2-Stage VAE
    expect(r.models.map((m) => m.id)).toEqual(['ns-gan', 'two-stage-vae']);
    for (const model of r.models) {
      const values = r.cells.filter((c) => c.model === model.id).map((c) => c.metrics[0]!.fid.mean);
      expect(values).toHaveLength(2);
      const mean = (values[0]! + values[1]!) / 2;
      const std = Math.sqrt(((values[0]! - mean) ** 2 + (values[1]! - mean) ** 2) / (2 - 1));
      const got = model.metrics[0]!;
      expect(got.fid.n).toBe(2);
      expect(got.fid.mean).toBeCloseTo(mean, 10);
      expect(got.fid.std).toBeCloseTo(std, 10);
      const kids = r.cells.filter((c) => c.model === model.id).map((c) => c.metrics[0]!.kid!.mean);
      expect(got.kid?.mean).toBeCloseTo(meanStd(kids).mean, 12);
      expect(model.seeds.done).toEqual([0, 1]);
    }
    // the seeds differ: two models with two seeds give four different numbers
    expect(new Set(r.cells.map((c) => c.metrics[0]!.fid.mean)).size).toBe(4);
    expect(existsSync(join(reference, 'report.html'))).toBe(true);
    const md = readFileSync(join(reference, 'summary.md'), 'utf8');
    expect(md).toContain('| ns-gan | NS GAN | - |'); // no published number for tiny-manifold
    // the reference features were computed once (by the first evaluation) and read by the others
    const cached = r.cells.map(
      (c) =>
        (JSON.parse(readFileSync(join(reference, 'cells', `${c.id}.json`), 'utf8')) as CellStatus).evaluation
          ?.extractors[0]?.reference?.cached,
    );
    expect(cached.filter((x) => x === false)).toHaveLength(1);
    expect(cached.filter((x) => x === true)).toHaveLength(3);
    const events = first.stdout.events();
    expect(events.at(-1)).toMatchObject({ event: 'done', code: 0, complete: true });
  });

  it('a second run reuses every done cell: nothing is trained or evaluated', async () => {
    const io = captureIO();
    expect(await main(['run', studyFile, '--dir', reference, '--json'], io)).toBe(0);
    const events = io.stdout.events();
    expect(events.filter((e) => e['event'] === 'cell-start' || e['event'] === 'eval-start')).toEqual([]);
    expect(trialFids(readResults(reference))).toEqual(trialFids(readResults(reference)));
  }, 120_000);

  it('report rewrites the results from the directory; a study whose models changed marks their cells stale and does not run', async () => {
    const before = trialFids(readResults(reference));
    const io = captureIO();
    expect(await main(['report', studyFile, '--dir', reference], io)).toBe(0);
    expect(trialFids(readResults(reference))).toEqual(before);
    expect(io.stdout.text).toContain('| two-stage-vae | 2-Stage VAE |');
    const changed = tinyStudy();
    (changed.models as { epochs?: number }[])[1]!.epochs = 5;
    const file = writeStudy(join(root, 'changed'), changed);
    const plan = captureIO();
    expect(await main(['plan', file, '--dir', reference, '--json'], plan)).toBe(1);
    const cells = (plan.stdout.events()[0]?.['cells'] ?? []) as { cell: string; state: string }[];
    expect(cells.map((c) => `${c.cell} ${c.state}`)).toEqual([
      'two-stage-vae-seed0 done',
      'two-stage-vae-seed1 done',
      'ns-gan-seed0 stale',
      'ns-gan-seed1 stale',
    ]);
    const run = captureIO();
    expect(await main(['run', file, '--dir', reference, '--json'], run)).toBe(1);
    expect(run.stderr.text).toContain('ns-gan-seed0: ');
    expect(run.stderr.text).toContain('holds a run with another config than the study asks for now');
    expect(run.stdout.events().filter((e) => e['event'] === 'cell-start')).toEqual([]);
  }, 120_000);

  it('kill -9 of a worker and SIGINT of the study, then a rerun: nothing trains twice from scratch, the results are the same', async () => {
    const dir = join(root, 'interrupted');
    const io = captureIO();
    let killed: string | null = null;
    let interrupted = false;
    const checkpoints = new Map<string, number>();
    const onLine = (e: Record<string, unknown>) => {
      if (e['event'] === 'cell-start' && typeof e['pid'] === 'number') pids.add(e['pid']);
      if (e['event'] !== 'cell-event' || (e['data'] as { event?: string }).event !== 'checkpoint') return;
      const cell = e['cell'] as string;
      checkpoints.set(cell, (checkpoints.get(cell) ?? 0) + 1);
      if (killed === null && (checkpoints.get(cell) ?? 0) === 1) {
        killed = cell;
        const start = io.stdout.events().find((x) => x['event'] === 'cell-start' && x['cell'] === cell);
        process.kill(start?.['pid'] as number, 'SIGKILL');
      } else if (killed !== null && cell !== killed && !interrupted) {
        interrupted = true;
        io.interrupt('SIGINT');
      }
    };
    // feed the JSON lines to onLine as they are written
    const write = io.stdout.write.bind(io.stdout);
    let pending = '';
    io.stdout.write = (s: string) => {
      write(s);
      pending += s;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const l = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (l.startsWith('{')) onLine(JSON.parse(l) as Record<string, unknown>);
      }
      return true;
    };
    const code1 = await main(['run', studyFile, '--dir', dir, '--jobs', '2', '--json'], io);
    expect(killed).not.toBeNull();
    expect(interrupted).toBe(true);
    expect(code1).toBe(130);
    const after = readResults(dir);
    expect(after.complete).toBe(false);
    const killedCell = after.cells.find((c) => c.id === killed);
    expect(killedCell?.state).toBe('failed');
    expect(killedCell?.error).toContain('SIGKILL');
    // the stopped cells hold a checkpoint and no lock (the killed one's lock is taken over on resume)
    for (const c of after.cells.filter((x) => x.state === 'interrupted' || x.state === 'failed')) {
      expect(c.position, c.id).not.toBeNull();
      if (c.state === 'interrupted')
        expect(existsSync(new RunDirectory(c.runDir).lockFile), c.id).toBe(false);
    }
    expect(after.cells.some((c) => c.state === 'interrupted')).toBe(true);
    expect(io.stdout.events().some((e) => e['event'] === 'interrupted' && e['signal'] === 'SIGINT')).toBe(
      true,
    );
    // SIGINT reached the running cells, which stopped with a checkpoint (exit 130)
    expect(
      io.stdout
        .events()
        .some((e) => e['event'] === 'cell-exit' && e['outcome'] === 'interrupted' && e['exitCode'] === 130),
    ).toBe(true);

    const io2 = captureIO();
    const code2 = await main(['run', studyFile, '--dir', dir, '--jobs', '2', '--json'], io2);
    expect(io2.stderr.text).toBe('');
    expect(code2).toBe(0);
    const final = readResults(dir);
    expect(final.complete).toBe(true);
    expect(trialFids(final)).toEqual(trialFids(readResults(reference)));
    for (const c of final.cells) {
      const log = logEvents(dir, c.id);
      // one fresh start at most; every other start of the cell was a resume
      expect(log.filter((e) => e['event'] === 'start' && e['resume'] === false).length, c.id).toBe(1);
      // the first epoch of the first stage trained once (nothing started over from scratch)
      const firstStage = c.model === 'ns-gan' ? 'gan' : 'stage1';
      expect(
        log.filter((e) => e['event'] === 'epoch' && e['stage'] === firstStage && e['epoch'] === 1).length,
        c.id,
      ).toBe(1);
      // every epoch of the budget is recorded once in the run
      const lines = readFileSync(new RunDirectory(c.runDir).metricsFile, 'utf8').trim().split('\n');
      expect(lines.length, c.id).toBe(c.model === 'ns-gan' ? 4 : 6);
    }
    const killedFinal = final.cells.find((c) => c.id === killed);
    expect(killedFinal?.attempts).toBe(2);
  }, 300_000);

  it('SIGTERM before a cell has trained: every cell stops, exit 143, and the plan shows them to resume', async () => {
    const dir = join(root, 'sigterm');
    const io = captureIO();
    const write = io.stdout.write.bind(io.stdout);
    let sent = false;
    io.stdout.write = (s: string) => {
      write(s);
      if (!sent && s.includes('"event":"cell-start"')) {
        sent = true;
        setTimeout(() => io.interrupt('SIGTERM'), 10);
      }
      return true;
    };
    expect(await main(['run', studyFile, '--dir', dir, '--jobs', '2', '--json'], io)).toBe(143);
    const exits = io.stdout.events().filter((e) => e['event'] === 'cell-exit');
    expect(exits.length).toBeGreaterThan(0);
    // stopped with a checkpoint (143), or by the signal itself before the handler was installed
    expect(exits.every((e) => e['outcome'] === 'interrupted')).toBe(true);
    expect(exits.every((e) => e['exitCode'] === 143 || e['signal'] === 'SIGTERM')).toBe(true);
    expect(io.stdout.events().filter((e) => e['event'] === 'cell-start')).toHaveLength(exits.length);
    const plan = captureIO();
    expect(await main(['plan', studyFile, '--dir', dir, '--json'], plan)).toBe(0);
    const cells = (plan.stdout.events()[0]?.['cells'] ?? []) as { cell: string; action: string }[];
    expect(cells).toHaveLength(4);
    expect(cells.every((c) => c.action === 'train' || c.action === 'resume')).toBe(true);
  }, 120_000);
});

const compareDist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
if (!existsSync(compareDist))
  console.warn(`SKIPPED the tsvae compare test: ${compareDist} is missing (npm run build)`);

describe.runIf('path' in cli && existsSync(compareDist))('tsvae compare', () => {
  it('runs the same app as tsvae-compare: the plan of a study, and its --help', () => {
    const dir = join(root, 'via-tsvae');
    const file = writeStudy(join(root, 'via-tsvae-files'), tinyStudy());
    const tsvae = (args: string[]) =>
      spawnSync(process.execPath, [(cli as { path: string }).path, ...args], { encoding: 'utf8' });
    const r = tsvae(['compare', 'plan', file, '--dir', dir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const plan = JSON.parse(r.stdout) as { event: string; cells: { cell: string; command: string[] }[] };
    expect(plan.event).toBe('plan');
    expect(plan.cells.map((c) => c.cell)).toEqual([
      'two-stage-vae-seed0',
      'two-stage-vae-seed1',
      'ns-gan-seed0',
      'ns-gan-seed1',
    ]);
    expect(plan.cells[0]?.command.slice(0, 3)).toEqual(['train', '--model', 'two-stage-vae']);
    const help = tsvae(['compare', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: tsvae-compare');
    const bad = tsvae(['compare', 'run', join(root, 'absent.json')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('absent.json:\n  no such file');
  });

  it('a real SIGTERM to tsvae-compare reaches every running cell once: each saves a checkpoint, exit 143; the plan shows them to resume', async () => {
    const dir = join(root, 'real-signal');
    const file = writeStudy(join(root, 'real-signal-files'), tinyStudy());
    const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'run', file, '--dir', dir, '--jobs', '2', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && out.includes('"event":"checkpoint"')) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    const events = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) if (e['event'] === 'cell-start') pids.add(e['pid'] as number);
    expect(code).toBe(143);
    expect(events.some((e) => e['event'] === 'interrupted' && e['signal'] === 'SIGTERM')).toBe(true);
    const exits = events.filter((e) => e['event'] === 'cell-exit');
    expect(exits.length).toBeGreaterThan(0);
    expect(exits.every((e) => e['outcome'] === 'interrupted')).toBe(true);
    expect(exits.some((e) => e['exitCode'] === 143)).toBe(true);
    // one signal each: a cell that exits 143 stopped gracefully (its "interrupted" line names the
    // checkpoint); a second signal would have made it quit without one
    for (const e of exits.filter((x) => x['exitCode'] === 143)) {
      const stop = events.find(
        (x) =>
          x['event'] === 'cell-event' &&
          x['cell'] === e['cell'] &&
          (x['data'] as { event?: string }).event === 'interrupted',
      );
      expect((stop?.['data'] as { checkpoint?: string } | undefined)?.checkpoint, String(e['cell'])).toMatch(
        /ckpt-\d+$/,
      );
    }
    const plan = captureIO();
    await main(['plan', file, '--dir', dir, '--json'], plan);
    const cells = (plan.stdout.events()[0]?.['cells'] ?? []) as { state: string }[];
    expect(cells.some((c) => c.state === 'interrupted')).toBe(true);
  }, 120_000);
});
