/**
 * Studies on a batch scheduler (Slurm, or another {@link BatchExecutor}): submit the cells that
 * are not done as one array job, follow them, show each cell's state, collect what is done and
 * cancel. The submitted jobs are recorded in `<dir>/jobs.json` (one atomic write per change);
 * each array element runs {@link runTask} for its cell.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { StopSignal } from '@tsvae/cli';
import { type Logger, silentLogger } from '@tsvae/core';
import { ensureDir, readJsonFile, writeFileAtomic, writeJsonAtomic } from '@tsvae/core/node';
import { RunDirectory } from '@tsvae/stages';
import type { BatchExecutor, BatchTaskState } from './batch-types';
import { SubmissionError } from './batch-types';
import { createExecutor, isBatchExecutor } from './executors';
import type { Cell, StudyPlan } from './plan';
import { renderReport } from './report';
import { collectResults, type StudyResults } from './results';
import { CompareError, checkStudy, prepareStudy, runStudy } from './run';
import { shortHash } from './stable';
import { loadStudy, type Study } from './study';

/** The format tag of `<dir>/jobs.json`. */
export const JOBS_FORMAT = 'tsvae-compare-jobs/1';

/** One submitted job in `jobs.json`. */
export interface JobRecord {
  readonly executor: string;
  /** The executor's config (what `status` and `cancel` recreate it from). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly jobId: string;
  readonly submittedAt: string;
  /** The study file the tasks load. */
  readonly study: string;
  /** Array index -> cell id. */
  readonly tasks: Readonly<Record<string, string>>;
  readonly script: string | null;
  readonly cancelled: boolean;
}

/** `<dir>/jobs.json`. */
export interface JobsFile {
  readonly format: typeof JOBS_FORMAT;
  readonly jobs: readonly JobRecord[];
}

/** The jobs file of a study directory (empty when there is none). */
export function readJobs(dir: string): JobsFile {
  const file = join(dir, 'jobs.json');
  if (!existsSync(file)) return { format: JOBS_FORMAT, jobs: [] };
  const j = readJsonFile(file) as Partial<JobsFile> | null;
  if (!j || j.format !== JOBS_FORMAT || !Array.isArray(j.jobs)) {
    throw new CompareError(`${file} is not a ${JOBS_FORMAT} file`);
  }
  return j as JobsFile;
}

function writeJobs(dir: string, jobs: JobsFile): void {
  writeJsonAtomic(join(dir, 'jobs.json'), jobs);
}

/** The `tsvae-compare` script of this package (what each array element runs with `node`). */
export function resolveCompareCli(): string {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve('@tsvae/compare/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { bin?: Record<string, string> };
  const bin = pkg.bin?.['tsvae-compare'];
  if (!bin) throw new Error(`${pkgFile} declares no "tsvae-compare" bin`);
  return join(dirname(pkgFile), bin);
}

/** A cell as a batch study sees it. */
export interface CellJobStatus {
  readonly cell: string;
  readonly index: number;
  /** `pending` (not started, queued or not), `running`, `done`, `failed`. */
  readonly state: 'pending' | 'running' | 'done' | 'failed';
  /** The cell's state on disk (plan.ts) and its detail. */
  readonly disk: Cell['state'];
  readonly detail: string;
  /** The latest job that holds the cell, its scheduler state and node. */
  readonly job: string | null;
  readonly schedulerState: string | null;
  readonly node: string | null;
  readonly restarts: number;
  /** The error (the cell's, else the scheduler's reason). */
  readonly error: string | null;
}

/** Scheduler states that end a task without finishing its cell. */
const FAILED_STATES = new Set([
  'FAILED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'OUT_OF_MEMORY',
  'CANCELLED',
  'BOOT_FAIL',
  'DEADLINE',
]);

async function recordedExecutor(record: JobRecord): Promise<BatchExecutor> {
  const e = await createExecutor(record.executor, record.config);
  if (!isBatchExecutor(e)) throw new CompareError(`executor ${record.executor} is not a batch executor`);
  return e;
}

/** The latest known state of each array element of the study's jobs, by cell id. */
async function latestTasks(dir: string): Promise<Map<string, BatchTaskState>> {
  const { jobs } = readJobs(dir);
  const out = new Map<string, BatchTaskState>();
  const byExecutor = new Map<string, JobRecord[]>();
  for (const j of jobs) byExecutor.set(j.executor, [...(byExecutor.get(j.executor) ?? []), j]);
  for (const records of byExecutor.values()) {
    const executor = await recordedExecutor(records[0] as JobRecord);
    const states = await executor.query(records.map((r) => r.jobId));
    // jobs in submission order: a later job's element wins
    for (const r of records) {
      const own = states.filter((s) => s.job === r.jobId && !s.wholeJob);
      const whole = states.find((s) => s.job === r.jobId && s.wholeJob);
      const listed = new Set(own.map((t) => String(t.index)));
      const unlisted = whole
        ? Object.keys(r.tasks)
            .filter((i) => !listed.has(i))
            .map((i) => ({ ...whole, index: Number(i), wholeJob: false }))
        : [];
      for (const t of [...own, ...unlisted]) {
        const cell = r.tasks[String(t.index)];
        const seen = cell ? out.get(cell) : undefined;
        // an element may be listed twice around a requeue: its live record wins
        if (cell && !(seen && seen.job === t.job && seen.active && !t.active)) out.set(cell, t);
      }
    }
  }
  return out;
}

/** Each cell of a study: where it stands on disk and in the scheduler. */
export async function studyStatus(plan: StudyPlan): Promise<CellJobStatus[]> {
  const tasks = await latestTasks(plan.dir);
  return plan.cells.map((c, index) => {
    const t = tasks.get(c.id) ?? null;
    let state: CellJobStatus['state'];
    let error: string | null = null;
    if (c.state === 'done') state = 'done';
    else if (t?.running) state = 'running';
    else if (t?.active) state = 'pending';
    else if (c.state === 'failed' || (t && FAILED_STATES.has(t.state))) {
      state = 'failed';
      error = c.state === 'failed' ? c.detail : (t?.reason ?? `the task ended ${t?.state}`);
    } else if (t && t.state === 'COMPLETED') {
      state = 'failed';
      error = `the task completed but the cell is ${c.state}: ${c.detail}`;
    } else state = 'pending';
    return {
      cell: c.id,
      index,
      state,
      disk: c.state,
      detail: c.detail,
      job: t?.job ?? null,
      schedulerState: t?.state ?? null,
      node: t?.node ?? null,
      restarts: t?.restarts ?? 0,
      error,
    };
  });
}

/** Writes results.json, summary.md and report.html from what the study directory holds. */
export async function collectStudy(
  plan: StudyPlan,
  meta: { readonly executor: string; readonly jobs: number } = { executor: 'none', jobs: 0 },
): Promise<{
  results: StudyResults;
  markdown: string;
  files: Record<'results' | 'summary' | 'report', string>;
}> {
  const results = collectResults(plan, { backend: null, executor: meta.executor, jobs: meta.jobs });
  const report = await renderReport(results);
  const files = {
    results: join(plan.dir, 'results.json'),
    summary: join(plan.dir, 'summary.md'),
    report: join(plan.dir, 'report.html'),
  };
  writeJsonAtomic(files.results, results);
  writeFileAtomic(files.summary, report.markdown);
  writeFileAtomic(files.report, report.html);
  return { results, markdown: report.markdown, files };
}

/** Options of {@link submitStudy}. */
export interface SubmitStudyOptions {
  readonly dir: string;
  /** The batch executor plugin and its config (e.g. `slurm`, `{ partition: 'gpu' }`). */
  readonly executor: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly plugins?: readonly string[];
  readonly backend?: string;
  /** Follow the job until every task ended, then collect. */
  readonly wait?: boolean;
  /** The `tsvae-compare` script the tasks run (default: this package's bin). */
  readonly compareCli?: string;
  readonly logger?: Logger;
  /** Lines for the user (submission, changes of state while waiting). */
  readonly onMessage?: (line: string) => void;
  /** Stops waiting (the job keeps running). */
  readonly signal?: AbortSignal;
}

/** What {@link submitStudy} did. */
export interface SubmitStudyResult {
  /** The job submitted (null: every cell was done or already queued). */
  readonly jobId: string | null;
  readonly cells: readonly string[];
  /** After `wait`: the cells' states and the collected results. */
  readonly status: readonly CellJobStatus[] | null;
  readonly results: StudyResults | null;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((done) => {
    const stop = () => {
      clearTimeout(t);
      done();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      done();
    }, ms);
    signal?.addEventListener('abort', stop, { once: true });
  });

/**
 * Submits the cells of a study that are not done (and not queued or running in an earlier job)
 * as one array job of a batch executor, records it in `<dir>/jobs.json`, and returns; with `wait`
 * it polls until every task ended, then collects the results. Everything that can be checked is
 * checked first (the study, stale cells); a refused submission throws with the scheduler's message
 * and records nothing.
 */
export async function submitStudy(study: Study, options: SubmitStudyOptions): Promise<SubmitStudyResult> {
  const logger = options.logger ?? silentLogger;
  const say = options.onMessage ?? (() => {});
  const dir = resolve(options.dir);
  const executor = await createExecutor(options.executor, options.config);
  if (!isBatchExecutor(executor)) {
    throw new CompareError(`executor ${options.executor} runs cells here: use runStudy`);
  }
  const plan = await prepareStudy(study, dir, options);
  const stale = plan.cells.filter((c) => c.state === 'stale');
  if (stale.length) {
    throw new CompareError(
      `cells of ${dir} hold runs the study no longer describes:\n${stale.map((c) => `  ${c.id}: ${c.detail}`).join('\n')}`,
    );
  }
  await checkStudy(study, logger);
  ensureDir(dir);
  const lock = new RunDirectory(dir).lock();
  let jobId: string | null = null;
  let cells: string[] = [];
  try {
    const live = await latestTasks(dir);
    const todo = plan.cells
      .map((c, index) => ({ c, index }))
      .filter(({ c }) => c.state !== 'done' && !live.get(c.id)?.active);
    const queued = plan.cells.filter((c) => c.state !== 'done' && live.get(c.id)?.active);
    for (const c of queued) say(`${c.id}: already in job ${live.get(c.id)?.job} (${live.get(c.id)?.state})`);
    if (todo.length) {
      writeJsonAtomic(join(dir, 'study.json'), { ...study, plannedAt: new Date().toISOString() });
      const command = [
        process.execPath,
        options.compareCli ?? resolveCompareCli(),
        'task',
        study.source,
        '--dir',
        dir,
        // the element's index names a cell only in this list: a task refuses another one
        '--cells',
        cellsDigest(plan.cells.map((c) => c.id)),
        ...(options.backend ? ['--backend', options.backend] : []),
        ...(options.plugins ?? []).flatMap((p) => ['--plugins', p]),
      ];
      const submission = await executor.submit({
        name: study.name,
        dir,
        indices: todo.map((t) => t.index),
        command,
      });
      jobId = submission.jobId;
      cells = todo.map((t) => t.c.id);
      const record: JobRecord = {
        executor: options.executor,
        config: options.config,
        jobId,
        submittedAt: new Date().toISOString(),
        study: study.source,
        tasks: Object.fromEntries(todo.map((t) => [String(t.index), t.c.id])),
        script: submission.script,
        cancelled: false,
      };
      try {
        const jobs = readJobs(dir);
        writeJobs(dir, { format: JOBS_FORMAT, jobs: [...jobs.jobs, record] });
      } catch (e) {
        // not recorded: not submitted either
        await executor.cancel([jobId], dir).catch(() => {});
        throw new CompareError(
          `job ${jobId} was cancelled: cannot record it in ${join(dir, 'jobs.json')}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      say(`submitted job ${jobId}: ${todo.length} cell${todo.length === 1 ? '' : 's'} (${cells.join(', ')})`);
    } else if (!queued.length) say('every cell is done: nothing to submit');
  } finally {
    lock.release();
  }
  if (!options.wait) return { jobId, cells, status: null, results: null };

  let last = '';
  let status: CellJobStatus[];
  for (;;) {
    const fresh = await prepareStudy(study, dir, options);
    status = await studyStatus(fresh);
    const line = status.map((s) => `${s.cell} ${s.state}`).join(', ');
    if (line !== last) say(line);
    last = line;
    if (!status.some((s) => s.state === 'pending' || s.state === 'running')) break;
    // a pending cell outside any live job will not start by itself
    const live = await latestTasks(dir);
    if (!status.some((s) => live.get(s.cell)?.active)) break;
    if (options.signal?.aborted) break;
    await sleep(executor.pollSeconds * 1000, options.signal);
  }
  const { results } = await collectStudy(await prepareStudy(study, dir, options), {
    executor: options.executor,
    jobs: 0,
  });
  return { jobId, cells, status, results };
}

/** Cancels every job of the study that may still run; returns their ids. */
export async function cancelStudy(dir: string): Promise<string[]> {
  const abs = resolve(dir);
  const jobs = readJobs(abs);
  const live = await latestTasks(abs);
  const active = new Set([...live.values()].filter((t) => t.active).map((t) => t.job));
  const cancelled: string[] = [];
  for (const r of jobs.jobs.filter((j) => active.has(j.jobId))) {
    await (await recordedExecutor(r)).cancel([r.jobId], abs);
    cancelled.push(r.jobId);
  }
  if (cancelled.length) {
    writeJobs(abs, {
      format: JOBS_FORMAT,
      jobs: jobs.jobs.map((j) => (cancelled.includes(j.jobId) ? { ...j, cancelled: true } : j)),
    });
  }
  return cancelled;
}

/** A digest of a study's cell ids in index order (what the array indices of a job refer to). */
export function cellsDigest(ids: readonly string[]): string {
  return shortHash(ids.join('\n'));
}

/** Options of {@link runTask}. */
export interface RunTaskOptions {
  readonly dir: string;
  /** The cell's index in the study (models, then seeds). */
  readonly index: number;
  /**
   * {@link cellsDigest} of the study's cells when the job was submitted: when the study now lists
   * other cells (a model added, removed or reordered, other seeds), the index no longer names the
   * cell it was submitted for, and the task refuses to run.
   */
  readonly cells?: string;
  readonly plugins?: readonly string[];
  readonly backend?: string;
  readonly logger?: Logger;
  readonly onInterrupt?: (handler: (signal: StopSignal) => void) => () => void;
  readonly onMessage?: (line: string) => void;
}

/**
 * One array element: trains (or resumes) the cell with this index in a child `tsvae train`
 * (its run directory locked by it), then evaluates it, writing only the cell's files. A cell
 * that is done returns 0 at once. Resolves to 0 (done), 1 (failed) or 130 / 143 / 129 (stopped by
 * that signal, with a checkpoint).
 */
export async function runTask(studyFile: string, options: RunTaskOptions): Promise<number> {
  const study = loadStudy(studyFile);
  const dir = resolve(options.dir);
  const plan = await prepareStudy(study, dir, options);
  const cell = plan.cells[options.index];
  if (options.cells !== undefined && options.cells !== cellsDigest(plan.cells.map((c) => c.id))) {
    throw new SubmissionError(
      `${studyFile} lists other cells than when this job was submitted, so index ${options.index} ` +
        `(now ${cell ? cell.id : 'no cell'}) may not be the cell it was submitted for; nothing was run. ` +
        `Cancel the job (tsvae-compare cancel) and run the study again.`,
    );
  }
  if (!cell) {
    throw new SubmissionError(`no cell ${options.index}: the study has ${plan.cells.length} cells`);
  }
  const say = options.onMessage ?? (() => {});
  if (cell.state === 'done') {
    say(`${cell.id}: done, nothing to do`);
    return 0;
  }
  say(`${cell.id}: ${cell.action} (${cell.detail})`);
  const r = await runStudy(study, {
    dir,
    only: [cell.id],
    task: true,
    jobs: 1,
    ...(options.plugins ? { plugins: options.plugins } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.onInterrupt ? { onInterrupt: options.onInterrupt } : {}),
  });
  say(`${cell.id}: exit ${r.code}`);
  return r.code;
}

export { SubmissionError };
