/**
 * The `slurm` executor on a real single-node Slurm cluster (munged, slurmctld, slurmd started
 * here as root, stopped by pid at the end): a tiny study submitted as one array job, every cell
 * done with results equal to the `local` executor's; a task stopped with `scancel --signal=TERM`
 * checkpoints, requeues itself and resumes; a training process killed with -9 fails its task
 * (FAILED) and the next `run` resumes it; `status`, `collect` and `cancel`; submission errors with
 * Slurm's own message and nothing submitted; after the controller forgets the jobs, `status` reads
 * the same states from the accounting database (`sacct`). Needs root, slurm-wlm and munge (and
 * slurmdbd and mariadb-server for accounting; CI installs them), and the built CLIs (`npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDirectory } from '@tsvae/stages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CellJobStatus, cellsDigest, readJobs } from './batch';
import { main } from './main';
import type { CellStatus } from './plan';
import type { StudyResults } from './results';
import { arrayList, parseArrayList, parseSacct, parseScontrol, slurmExecutor } from './slurm';
import { accountingUnavailable, slurmUnavailable, startTestCluster, type TestCluster } from './slurm-testing';
import { builtCli, captureIO, tinyStudy, writeStudy } from './testing';

describe('slurm helpers', () => {
  it('array lists and scontrol lines', () => {
    expect(arrayList([0, 1, 2, 4, 6, 7])).toBe('0-2,4,6-7');
    expect(parseArrayList('[1-3%1]')).toEqual([1, 2, 3]);
    expect(parseArrayList('0,4')).toEqual([0, 4]);
    const t = parseScontrol(
      '7',
      'JobId=8 ArrayJobId=7 ArrayTaskId=1 JobName=x JobState=FAILED Reason=NonZeroExitCode Restarts=1 ExitCode=1:0 NodeList=vm\n' +
        'JobId=7 ArrayJobId=7 ArrayTaskId=2-3%1 JobState=PENDING Reason=JobArrayTaskLimit NodeList=(null)\n',
    );
    expect(t.map((x) => `${x.index} ${x.state} ${x.active} ${x.node}`)).toEqual([
      '1 FAILED false vm',
      '2 PENDING true null',
      '3 PENDING true null',
    ]);
    expect(t[0]?.restarts).toBe(1);
    // sacct: elements that ran, and an array that never started (one record, the bare job id)
    const a = parseSacct('7', '7_0|COMPLETED|vm|0:0\n7_[1-2%1]|PENDING|None assigned|0:0\n');
    expect(a.map((x) => `${x.index} ${x.state} ${x.active} ${x.node}`)).toEqual([
      '0 COMPLETED false vm',
      '1 PENDING true null',
      '2 PENDING true null',
    ]);
    const w = parseSacct('9', '9|CANCELLED by 0|None assigned|0:0\n');
    expect(w.map((x) => `${x.index} ${x.state} ${x.active} ${x.wholeJob}`)).toEqual([
      '-1 CANCELLED false true',
    ]);
  });

  it('executor configs are strict; a missing sbatch is reported and nothing is recorded', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsvae-slurm-unit-'));
    const file = writeStudy(join(root, 'files'), tinyStudy({ seeds: [0] }));
    const dir = join(root, 'study');
    const bad = captureIO();
    expect(await main(['run', file, '--dir', dir, '--executor-config', '{"jobz":1}'], bad)).toBe(1);
    expect(bad.stderr.text).toContain('jobz');
    const path = process.env['PATH'];
    process.env['PATH'] = join(root, 'no-bin');
    try {
      const io = captureIO();
      expect(await main(['run', file, '--dir', dir, '--executor', 'slurm'], io)).toBe(1);
      expect(io.stderr.text).toContain('sbatch is not on PATH');
    } finally {
      process.env['PATH'] = path;
    }
    expect(existsSync(join(dir, 'jobs.json'))).toBe(false);
    expect(readdirSync(join(dir, 'slurm'))).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('a task whose study lists other cells than at submission refuses to run (its index may name another cell)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tsvae-slurm-unit-'));
    const study = tinyStudy({ seeds: [0] });
    const file = writeStudy(join(root, 'files'), study);
    const dir = join(root, 'study');
    const ids = ['two-stage-vae-seed0', 'ns-gan-seed0'];
    // submitted when the study had a model in front: index 1 was two-stage-vae-seed0 then
    const io = captureIO();
    const code = await main(
      ['task', file, '--dir', dir, '--index', '1', '--cells', cellsDigest(['wae-mmd-seed0', ...ids])],
      io,
    );
    expect(code).toBe(1);
    expect(io.stderr.text).toContain('lists other cells than when this job was submitted');
    expect(io.stderr.text).toContain('index 1 (now ns-gan-seed0)');
    expect(existsSync(join(dir, 'runs'))).toBe(false);
    expect(cellsDigest(ids)).not.toBe(cellsDigest([...ids].reverse()));
    rmSync(root, { recursive: true, force: true });
  }, 60_000);
});

const cli = builtCli();
const unavailable = slurmUnavailable() ?? ('reason' in cli ? cli.reason : null);
const mustRun = Boolean(process.env['CI']) && process.env['TSVAE_REAL_DATA'] === '1';
if (unavailable && !mustRun) console.warn(`SKIPPED the real Slurm tests: ${unavailable}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, f: () => T | null | undefined | false, seconds: number): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(250);
  }
}

/** The JSON lines of a cell's training log (every attempt). */
function logEvents(dir: string, cell: string): Record<string, unknown>[] {
  const file = join(dir, 'cells', `${cell}.log`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return []; // a line being written
      }
    });
}

/** slurmctld's log lines about one job (its array elements included), for failure messages. */
function slurmctldLines(job: string): string {
  const log = '/var/log/slurm/slurmctld.log';
  if (!existsSync(log)) return '(no log)';
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`JobId=${job}_`) || l.includes(`JobId=${job} `) || l.includes(`JobId=${job}:`))
    .join('\n');
}

const trialFids = (r: StudyResults) =>
  Object.fromEntries(r.cells.map((c) => [c.id, c.metrics.map((m) => m.trials.map((t) => t.fid))]));
const readResults = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as StudyResults;

async function status(file: string, dir: string): Promise<CellJobStatus[]> {
  const io = captureIO();
  await main(['status', file, '--dir', dir, '--json'], io);
  return (io.stdout.events()[0]?.['cells'] ?? []) as CellJobStatus[];
}

/** The job id a `run --executor slurm` printed (its JSON line: stdout is not a terminal). */
function jobOf(io: ReturnType<typeof captureIO>): string {
  const job = io.stdout.events().find((e) => e['event'] === 'submitted')?.['job'];
  expect(job).toMatch(/^\d+$/);
  return job as string;
}

/** A requeued task waits for its begin time (about 2 minutes): make it eligible now (test only). */
async function expedite(job: string, index: number): Promise<void> {
  const id = `${job}_${index}`;
  let taskJobId = '';
  await waitFor(
    `${id} requeued`,
    () => {
      const r = spawnSync('scontrol', ['-o', 'show', 'job', job], { encoding: 'utf8' });
      const t = parseScontrol(job, r.stdout).find((x) => x.index === index);
      // the element's own job id (its slurmstepd processes are named by it)
      const line = r.stdout.split('\n').find((l) => l.includes(` ArrayTaskId=${index} `));
      taskJobId = /JobId=(\d+)/.exec(line ?? '')?.[1] ?? job;
      return t && t.restarts >= 1 && t.state === 'PENDING';
    },
    60,
  );
  // first the stopped run must have ended (its slurmstepd gone): slurmd revoked its credential
  // when it killed it
  await waitFor(
    `the stopped run of ${id} to end`,
    () => {
      const r = spawnSync('pgrep', ['-f', `slurmstepd: \\[${taskJobId}\\.`]);
      return r.error !== undefined || r.status === 1; // no pgrep: do not wait
    },
    60,
  );
  // Slurm holds a requeued task for the credential lifetime (about 2 minutes) because slurmd
  // refuses a relaunch whose credential is not newer than that revocation, and compares them in
  // whole seconds: a start in the same second as the kill ends the task FAILED ("Job N already
  // killed, do not launch batch job", seen in CI). Let two seconds pass first.
  await sleep(2500);
  spawnSync('scontrol', ['update', `JobId=${id}`, 'StartTime=now']);
}

const t0 = Date.now();
const timeline: string[] = [];
const mark = (what: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)} s  ${what}`);

describe.runIf(!unavailable || mustRun)('a tiny study on a real single-node Slurm', () => {
  let cluster: TestCluster | null = null;
  const root = mkdtempSync(join(tmpdir(), 'tsvae-slurm-'));
  // ns-gan long enough (30 epochs) to be stopped between two checkpoints
  const study = tinyStudy({ seeds: [0] });
  (study.models as { epochs?: number }[])[1]!.epochs = 30;
  const file = writeStudy(join(root, 'files'), study);
  const reference = join(root, 'local');
  const gan = 'ns-gan-seed0';

  beforeAll(async () => {
    if (unavailable) throw new Error(`Slurm tests must run in CI (TSVAE_REAL_DATA=1): ${unavailable}`);
    cluster = await startTestCluster();
    mark('cluster up');
    const io = captureIO();
    expect(
      await main(['run', file, '--dir', reference, '--jobs', '2', '--json'], io),
      io.stderr.text + io.stdout.text.slice(-3000),
    ).toBe(0);
    mark('local executor reference done');
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
    console.info(`slurm test timeline:\n${timeline.join('\n')}`);
    if (!process.env['TSVAE_KEEP_TEST_DIRS']) rmSync(root, { recursive: true, force: true });
  });

  it('submission errors carry Slurm message; nothing is submitted', async () => {
    const dir = join(root, 'bad');
    const io = captureIO();
    expect(await main(['run', file, '--dir', dir, '--executor', 'slurm', '--partition', 'nope'], io)).toBe(1);
    expect(io.stderr.text).toMatch(
      /sbatch failed \(exit 1\): sbatch: error: invalid partition specified: nope/,
    );
    expect(existsSync(join(dir, 'jobs.json'))).toBe(false);
    expect(readdirSync(join(dir, 'slurm'))).toEqual([]);
  }, 60_000);

  it('scancel --signal=TERM: the task checkpoints, requeues itself and resumes; status and collect; results equal the local executor', async () => {
    const dir = join(root, 'requeue');
    const io = captureIO();
    expect(await main(['run', file, '--dir', dir, '--executor', 'slurm'], io)).toBe(0);
    const job = jobOf(io);
    expect(job).toMatch(/^\d+$/);
    mark(`submitted job ${job} (2 cells)`);
    const jobs = readJobs(dir);
    expect(jobs.jobs.map((j) => j.jobId)).toEqual([job]);
    // the elements carry the digest of the study's cells (checked by each task)
    expect(readFileSync(jobs.jobs[0]?.script ?? '', 'utf8')).toContain(
      `--cells ${cellsDigest(['two-stage-vae-seed0', gan])}`,
    );
    const st = await status(file, dir);
    expect(st.every((s) => s.job === job && (s.state === 'pending' || s.state === 'running'))).toBe(true);

    await waitFor(
      'a checkpoint of the GAN cell',
      () => logEvents(dir, gan).some((e) => e['event'] === 'checkpoint'),
      120,
    );
    expect(spawnSync('scancel', ['--signal=TERM', `${job}_1`]).status).toBe(0);
    mark(`scancel --signal=TERM ${job}_1 after its first checkpoint`);
    await expedite(job, 1);
    mark(`${job}_1 requeued`);
    let done: CellJobStatus[] = [];
    const end = Date.now() + 180_000;
    while (Date.now() < end) {
      done = await status(file, dir);
      if (done.every((x) => x.state === 'done' || x.state === 'failed')) break;
      await sleep(1000);
    }
    mark(`job ${job} ended`);
    // on failure: what the scheduler and the cell recorded
    const evidence = () =>
      [`${job}_1.out`, `../cells/${gan}.json`]
        .map((f) => join(dir, 'slurm', f))
        .map((f) => `${f}:\n${existsSync(f) ? readFileSync(f, 'utf8').slice(-3000) : '(missing)'}`)
        .concat(`slurmctld.log:\n${slurmctldLines(job)}`)
        .join('\n');
    expect(
      done.map((s) => `${s.cell} ${s.state}`),
      evidence(),
    ).toEqual(['two-stage-vae-seed0 done', `${gan} done`]);
    expect(done.find((s) => s.cell === gan)?.restarts).toBe(1);
    const log = logEvents(dir, gan);
    // the first attempt stopped with a checkpoint (exit 143), the requeued one finished
    const attempts = (
      JSON.parse(readFileSync(join(dir, 'cells', `${gan}.json`), 'utf8')) as CellStatus
    ).attempts.map((a) => `${a.outcome} ${a.exitCode} ${a.resume}`);
    expect(attempts).toEqual(['interrupted 143 false', 'completed 0 true']);
    expect(log.filter((e) => e['event'] === 'start' && e['resume'] === false)).toHaveLength(1);
    expect(log.filter((e) => e['event'] === 'start' && e['resume'] === true)).toHaveLength(1);
    expect(log.filter((e) => e['event'] === 'epoch' && e['epoch'] === 1)).toHaveLength(1);
    const out = readFileSync(join(dir, 'slurm', `${job}_1.out`), 'utf8');
    expect(out).toContain('requeued');

    const c = captureIO();
    expect(await main(['collect', file, '--dir', dir, '--json'], c)).toBe(0);
    mark('collected');
    const r = readResults(dir);
    expect(r.complete).toBe(true);
    expect(trialFids(r)).toEqual(trialFids(readResults(reference)));
  }, 400_000);

  it('kill -9 of a training process: the task fails (FAILED), the next run resumes only that cell (--wait), results equal', async () => {
    const dir = join(root, 'killed');
    const io = captureIO();
    expect(await main(['run', file, '--dir', dir, '--executor', 'slurm', '--max-parallel', '1'], io)).toBe(0);
    const job = jobOf(io);
    mark(`submitted job ${job} (--max-parallel 1)`);
    await waitFor(
      'a checkpoint of the GAN cell',
      () => logEvents(dir, gan).some((e) => e['event'] === 'checkpoint'),
      180,
    );
    const lock = JSON.parse(readFileSync(new RunDirectory(join(dir, 'runs', gan)).lockFile, 'utf8')) as {
      pid: number;
    };
    process.kill(lock.pid, 'SIGKILL');
    mark(`kill -9 of ${gan}'s tsvae train (pid ${lock.pid})`);
    await waitFor(
      'the job to end',
      () => {
        const r = spawnSync('scontrol', ['-o', 'show', 'job', job], { encoding: 'utf8' });
        const tasks = parseScontrol(job, r.stdout);
        return tasks.length > 0 && tasks.every((t) => !t.active);
      },
      120,
    );
    const st = await status(file, dir);
    const failed = st.find((s) => s.cell === gan);
    expect(failed?.state).toBe('failed');
    expect(failed?.schedulerState).toBe('FAILED');
    expect(failed?.error).toContain('SIGKILL');
    expect(st.find((s) => s.cell !== gan)?.state).toBe('done');
    mark('status: failed (FAILED, SIGKILL)');

    const again = captureIO();
    expect(
      await main(
        ['run', file, '--dir', dir, '--executor', 'slurm', '--wait', '--poll', '1', '--json'],
        again,
      ),
    ).toBe(0);
    mark('second run --wait: done and collected');
    const submitted = again.stdout.events().find((e) => e['event'] === 'submitted');
    expect(submitted?.['cells']).toEqual([gan]);
    const log = logEvents(dir, gan);
    expect(log.filter((e) => e['event'] === 'start' && e['resume'] === false)).toHaveLength(1);
    expect(log.filter((e) => e['event'] === 'epoch' && e['epoch'] === 1)).toHaveLength(1);
    const r = readResults(dir);
    expect(r.complete).toBe(true);
    expect(trialFids(r)).toEqual(trialFids(readResults(reference)));
    expect(r.cells.find((c) => c.id === gan)?.attempts).toBe(2);
    // a third run: every cell done, nothing submitted
    const third = captureIO();
    expect(await main(['run', file, '--dir', dir, '--executor', 'slurm', '--json'], third)).toBe(0);
    expect(third.stdout.events().find((e) => e['event'] === 'submitted')?.['job']).toBeNull();
  }, 400_000);

  it('cancel: scancels the queued job; status shows the cells failed (CANCELLED)', async () => {
    const dir = join(root, 'cancel');
    const io = captureIO();
    expect(
      await main(['run', file, '--dir', dir, '--executor', 'slurm', '--sbatch-arg=--begin=now+1hour'], io),
    ).toBe(0);
    const job = jobOf(io);
    expect((await status(file, dir)).map((s) => s.state)).toEqual(['pending', 'pending']);
    const c = captureIO();
    expect(await main(['cancel', file, '--dir', dir, '--json'], c)).toBe(0);
    expect(c.stdout.events()[0]).toMatchObject({ event: 'cancelled', jobs: [job] });
    const st = await waitFor(
      'the cancellation',
      () => {
        const r = spawnSync('scontrol', ['-o', 'show', 'job', job], { encoding: 'utf8' });
        return parseScontrol(job, r.stdout).every((t) => t.state === 'CANCELLED');
      },
      30,
    );
    expect(st).toBe(true);
    const after = await status(file, dir);
    expect(after.map((s) => `${s.state} ${s.schedulerState}`)).toEqual([
      'failed CANCELLED',
      'failed CANCELLED',
    ]);
  }, 60_000);

  it.runIf(!accountingUnavailable() || mustRun)(
    'jobs the controller no longer holds are read from the accounting database (sacct): the same status',
    async () => {
      if (!cluster?.accounting) {
        throw new Error(
          `the test cluster keeps no accounts: ${accountingUnavailable() ?? 'sacct does not answer'}`,
        );
      }
      const dirs = ['requeue', 'killed', 'cancel'].map((d) => join(root, d));
      const seen = (st: CellJobStatus[]) =>
        st.map((x) => `${x.cell} ${x.state} ${x.schedulerState} ${x.job} ${x.node}`);
      const before = await Promise.all(dirs.map(async (d) => seen(await status(file, d))));
      const jobIds = dirs.flatMap((d) => readJobs(d).jobs.map((j) => j.jobId));
      expect(jobIds).toHaveLength(4);
      await cluster.restartController();
      mark('slurmctld restarted without its state');
      for (const id of jobIds)
        expect(spawnSync('scontrol', ['-o', 'show', 'job', id]).status, id).not.toBe(0);
      const after = await Promise.all(dirs.map(async (d) => seen(await status(file, d))));
      expect(after).toEqual(before);
      expect(after[0]).toEqual([
        `two-stage-vae-seed0 done COMPLETED ${jobIds[0]} ${cluster.node}`,
        `${gan} done COMPLETED ${jobIds[0]} ${cluster.node}`,
      ]);
      expect(after[2]?.map((x) => x.split(' ').slice(1, 3).join(' '))).toEqual([
        'failed CANCELLED',
        'failed CANCELLED',
      ]);
      // the killed task's first job, element by element, as the executor reads it from sacct
      const first = await slurmExecutor().query([jobIds[1] as string]);
      expect(first.map((t) => `${t.index} ${t.state} ${t.active}`).sort()).toEqual([
        '0 COMPLETED false',
        '1 FAILED false',
      ]);
    },
    120_000,
  );
});
