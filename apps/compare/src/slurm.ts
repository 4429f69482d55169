/**
 * The `slurm` executor: one `sbatch --array=<cells>%K --signal=TERM@120 --requeue` job per
 * submission, through Slurm's own commands (`sbatch`, `scontrol`, `sacct`, `scancel` on PATH).
 * Each array task runs its cell under `srun` (a job step: `--signal` and `scancel --signal` reach
 * it); a task stopped by SIGTERM (time limit, preemption) saves a checkpoint, exits 143 and
 * requeues itself (`scontrol requeue`), unless the study's jobs were cancelled.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Logger, silentLogger } from '@tsvae/core';
import { ensureDir, writeFileAtomic } from '@tsvae/core/node';
import {
  type BatchExecutor,
  type BatchSubmission,
  type BatchSubmitRequest,
  type BatchTaskState,
  SubmissionError,
} from './batch-types';

/** Options of {@link slurmExecutor} (the `slurm` plugin's config). */
export interface SlurmExecutorOptions {
  readonly partition?: string | undefined;
  readonly gres?: string | undefined;
  readonly time?: string | undefined;
  readonly cpusPerTask?: number | undefined;
  readonly mem?: string | undefined;
  readonly maxParallel?: number | undefined;
  readonly sbatchArgs?: readonly string[];
  readonly pollSeconds?: number;
  readonly signalSeconds?: number;
}

/** Slurm states in which an array task may still run. */
const ACTIVE = new Set([
  'PENDING',
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'REQUEUED',
  'REQUEUE_FED',
  'REQUEUE_HOLD',
  'RESIZING',
  'SUSPENDED',
  'STOPPED',
  'SIGNALING',
  'STAGE_OUT',
  'RESV_DEL_HOLD',
]);

/** `0,2,5-7`: Slurm's array list of ascending indices. */
export function arrayList(indices: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && (indices[j + 1] as number) === (indices[j] as number) + 1) j++;
    out.push(i === j ? String(indices[i]) : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** The indices of an array list (`1-3%1`, `0,4`, `[2-5%2]`). */
export function parseArrayList(list: string): number[] {
  const body = list.replace(/^\[|\]$/g, '').replace(/%\d+$/, '');
  return body.split(',').flatMap((part) => {
    const [a, b] = part.split('-');
    const from = Number(a);
    const to = b === undefined ? from : Number(b);
    if (!Number.isInteger(from) || !Number.isInteger(to)) return [];
    return Array.from({ length: to - from + 1 }, (_, k) => from + k);
  });
}

function sh(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

interface Ran {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly missing: boolean;
}

function runSlurm(bin: string, args: readonly string[]): Ran {
  const r = spawnSync(bin, [...args], { encoding: 'utf8', timeout: 60_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', missing };
}

function slurmMessage(bin: string, r: Ran): string {
  if (r.missing) return `${bin} is not on PATH (is this a Slurm login node? module load slurm?)`;
  const text = r.stderr.trim() || r.stdout.trim();
  return `${bin} failed (exit ${r.status ?? 'signal'}): ${text || 'no message'}`;
}

/** The `#SBATCH`-free batch script of a submission (the options go on sbatch's command line). */
export function batchScript(request: BatchSubmitRequest, cancelledMarker: string): string {
  const cmd = [...request.command.map(sh), '--index', '"$SLURM_ARRAY_TASK_ID"'].join(' ');
  return [
    '#!/bin/bash',
    `# tsvae-compare: study ${request.name}, one array task per cell (its index in the study)`,
    `cd ${sh(request.dir)} || exit 1`,
    'echo "# $(date -Is) job $SLURM_ARRAY_JOB_ID"_"$SLURM_ARRAY_TASK_ID on $(hostname), restart $((SLURM_RESTART_COUNT + 0))"',
    // a job step: --signal=TERM@N and scancel --signal=TERM reach it
    `srun --ntasks=1 ${cmd}`,
    'rc=$?',
    // stopped by SIGTERM with a checkpoint (time limit, preemption, scancel --signal=TERM): requeue
    `if [ "$rc" -eq 143 ] && [ ! -e ${sh(cancelledMarker)}"$SLURM_ARRAY_JOB_ID" ]; then`,
    '  echo "# interrupted with a checkpoint: requeued"',
    // Slurm ends a running job it requeues: wait for that. Exiting first races with the requeue,
    // and when the exit is recorded after it the task ends FAILED instead of pending again.
    '  if scontrol requeue "$SLURM_ARRAY_JOB_ID"_"$SLURM_ARRAY_TASK_ID"; then sleep 300; fi',
    'fi',
    'exit "$rc"',
    '',
  ].join('\n');
}

function taskState(fields: {
  job: string;
  index: number;
  state: string;
  node?: string | null | undefined;
  reason?: string | null | undefined;
  exitCode?: string | null | undefined;
  restarts?: number;
}): BatchTaskState {
  const state = fields.state.split(/\s/)[0]?.toUpperCase() ?? 'UNKNOWN';
  const node =
    fields.node && fields.node !== '(null)' && fields.node !== 'None assigned' ? fields.node : null;
  return {
    job: fields.job,
    index: fields.index,
    state,
    active: ACTIVE.has(state),
    running: state === 'RUNNING' || state === 'COMPLETING',
    node,
    reason: fields.reason && fields.reason !== 'None' ? fields.reason : null,
    exitCode: fields.exitCode ?? null,
    restarts: fields.restarts ?? 0,
  };
}

/** `scontrol -o show job <id>` lines as task states (pending elements not yet split are expanded). */
export function parseScontrol(job: string, text: string): BatchTaskState[] {
  return text
    .split('\n')
    .filter((l) => l.includes('JobId='))
    .flatMap((line) => {
      const f: Record<string, string> = {};
      for (const m of line.matchAll(/(\w+(?:\/\w+)?)=(\S*)/g)) f[m[1] as string] = m[2] as string;
      const ids = f['ArrayTaskId'] ? parseArrayList(f['ArrayTaskId']) : [];
      return ids.map((index) =>
        taskState({
          job,
          index,
          state: f['JobState'] ?? 'UNKNOWN',
          node: f['NodeList'],
          reason: f['Reason'],
          exitCode: f['ExitCode'],
          restarts: Number(f['Restarts'] ?? 0),
        }),
      );
    });
}

/**
 * `sacct -n -P -X -o JobID,State,NodeList,ExitCode` lines as task states. An array job that never
 * started (cancelled while pending) is one record under the bare job id: a
 * {@link BatchTaskState.wholeJob} state.
 */
export function parseSacct(job: string, text: string): BatchTaskState[] {
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const [id = '', state = '', node, exitCode] = line.split('|');
      if (id === job) return [{ ...taskState({ job, index: -1, state, node, exitCode }), wholeJob: true }];
      const m = /^(\d+)_(.+)$/.exec(id);
      if (!m) return [];
      return parseArrayList(m[2] as string).map((index) => taskState({ job, index, state, node, exitCode }));
    });
}

/**
 * The `slurm` executor. Slurm's commands are found on PATH; every refusal is a
 * {@link SubmissionError} with Slurm's message, and a failed submission leaves nothing submitted
 * (its batch script is removed).
 *
 * @example
 * ```ts
 * const slurm = slurmExecutor({ partition: 'gpu', gres: 'gpu:1', time: '2:00:00', maxParallel: 8 });
 * ```
 */
export function slurmExecutor(
  options: SlurmExecutorOptions = {},
  logger: Logger = silentLogger,
): BatchExecutor {
  const marker = (dir: string) => join(dir, 'slurm', 'cancelled-');
  return {
    name: 'slurm',
    batch: true,
    pollSeconds: options.pollSeconds ?? 10,
    async submit(request): Promise<BatchSubmission> {
      if (request.indices.length === 0) throw new SubmissionError('nothing to submit');
      const slurmDir = join(request.dir, 'slurm');
      ensureDir(slurmDir);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const script = join(slurmDir, `submit-${stamp}.sh`);
      writeFileAtomic(script, batchScript(request, marker(request.dir)));
      const throttle = options.maxParallel ? `%${options.maxParallel}` : '';
      const args = [
        '--parsable',
        `--array=${arrayList(request.indices)}${throttle}`,
        `--signal=TERM@${options.signalSeconds ?? 120}`,
        '--requeue',
        '--open-mode=append',
        `--job-name=tsvae-${request.name}`,
        `--chdir=${request.dir}`,
        `--output=${join(slurmDir, '%A_%a.out')}`,
        ...(options.partition ? [`--partition=${options.partition}`] : []),
        ...(options.gres ? [`--gres=${options.gres}`] : []),
        ...(options.time ? [`--time=${options.time}`] : []),
        ...(options.cpusPerTask ? [`--cpus-per-task=${options.cpusPerTask}`] : []),
        ...(options.mem ? [`--mem=${options.mem}`] : []),
        ...(options.sbatchArgs ?? []),
        script,
      ];
      logger.debug('sbatch', { args });
      const r = runSlurm('sbatch', args);
      const jobId = r.status === 0 ? (r.stdout.trim().split(';')[0] ?? '') : '';
      if (!/^\d+$/.test(jobId)) {
        rmSync(script, { force: true });
        throw new SubmissionError(
          r.status === 0 ? `sbatch printed no job id: ${r.stdout.trim()}` : slurmMessage('sbatch', r),
        );
      }
      return { jobId, script };
    },
    async query(jobIds) {
      const out: BatchTaskState[] = [];
      for (const job of jobIds) {
        const sc = runSlurm('scontrol', ['-o', 'show', 'job', job]);
        if (sc.missing) throw new SubmissionError(slurmMessage('scontrol', sc));
        const tasks = sc.status === 0 ? parseScontrol(job, sc.stdout) : [];
        if (tasks.length) {
          out.push(...tasks);
          continue;
        }
        // gone from the controller's memory: the accounting database, where there is one
        const sa = runSlurm('sacct', ['-n', '-P', '-X', '-j', job, '-o', 'JobID,State,NodeList,ExitCode']);
        if (sa.status === 0) out.push(...parseSacct(job, sa.stdout));
      }
      return out;
    },
    async cancel(jobIds, dir) {
      if (!jobIds.length) return;
      // tasks stopped by the cancellation must not requeue themselves
      for (const job of jobIds) writeFileAtomic(`${marker(dir)}${job}`, `${new Date().toISOString()}\n`);
      const r = runSlurm('scancel', [...jobIds]);
      if (r.status !== 0) throw new SubmissionError(slurmMessage('scancel', r));
    },
  };
}
