/**
 * Running a study: check everything that can be checked before any training, train the cells
 * that need it through an {@link Executor}, evaluate each finished cell in this process, and
 * write results.json, summary.md and report.html. Re-running continues where the last run
 * stopped: done cells are reused, interrupted ones resumed, failed ones tried again.
 */
import { join, resolve } from 'node:path';
import { type BackendInfo, type BackendRequest, initBackend } from '@tsvae/backend';
import { SIGNAL_EXIT, type StopSignal, TRAINERS } from '@tsvae/cli';
import { type Logger, loadPlugins, silentLogger } from '@tsvae/core';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '@tsvae/core/node';
import { EvaluationError } from '@tsvae/metrics';
import { RunDirectory, type RunLock } from '@tsvae/stages';
import { checkEvaluation, evaluateCell } from './evaluate-cell';
import { type CellExit, type CellTask, defaultJobs, type Executor, type JobsChoice } from './executor';
import { createExecutor } from './executors';
import {
  type Cell,
  type CellStatus,
  emptyStatus,
  type PlanOptions,
  planCell,
  planStudy,
  type StudyPlan,
  writeStatus,
} from './plan';
import { epochsDone, type StudyProgress } from './progress';
import { renderReport } from './report';
import { collectResults, type StudyResults } from './results';
import { cellRunConfig, type Study, StudyError, type StudyIssue } from './study';

/** Something about the study directory or the environment that stops a study before it trains. */
export class CompareError extends Error {
  override readonly name = 'CompareError';
}

/** Options of {@link runStudy}. */
export interface RunStudyOptions {
  /** The study directory (cells under `runs/` and `cells/`, results, report). */
  readonly dir: string;
  /** Cells at once (default: the study's `jobs`, else {@link defaultJobs}). */
  readonly jobs?: number;
  /** Where cells train (default: the registry's `local` executor with `jobs`). */
  readonly executor?: Executor;
  /** More config of the `local` executor plugin (strict: an unknown key is an error). */
  readonly executorConfig?: Readonly<Record<string, unknown>>;
  /** The tfjs backend of the workers and the evaluation (default: the study's, else automatic). */
  readonly backend?: string;
  /** Plugin modules besides the study's (e.g. from `--plugins`). */
  readonly plugins?: readonly string[];
  /** The `tsvae` script of the local executor (default: `@tsvae/cli`'s bin). */
  readonly cli?: string;
  readonly logger?: Logger;
  readonly progress?: StudyProgress;
  /** Subscribe to stop requests (SIGINT, SIGTERM, SIGHUP); returns an unsubscribe function. */
  readonly onInterrupt?: (handler: (signal: StopSignal) => void) => () => void;
  /**
   * Work on these cells only (ids); the others are left as they are. With `task` (one element of
   * a batch job: several run at once in one study directory) the study directory is not locked
   * (each cell's run directory is, by its training process) and only the cells' own files are
   * written (no study.json, results or report: `collect` writes those).
   */
  readonly only?: readonly string[];
  readonly task?: boolean;
}

/** What {@link runStudy} resolves to. */
export interface RunStudyResult {
  /** 0: every cell done; 1: some cell failed; 130 / 143 / 129: stopped by that signal. */
  readonly code: number;
  readonly interruptedBy: StopSignal | null;
  readonly results: StudyResults;
  /** `results`, `summary`, `report`: the files written. */
  readonly files: Readonly<Record<'results' | 'summary' | 'report', string>>;
}

/** The plugins a study's processes load: the study's, then the extra ones. */
function pluginSpecs(study: Study, extra: readonly string[] | undefined): string[] {
  return [...new Set([...study.plugins, ...(extra ?? [])])];
}

/**
 * Loads the study's plugins here and plans it (nothing written). A `stale` cell (its run holds
 * another config) is a {@link CompareError}.
 */
export async function prepareStudy(
  study: Study,
  dir: string,
  options: Pick<RunStudyOptions, 'plugins' | 'backend'> = {},
): Promise<StudyPlan> {
  const plugins = pluginSpecs(study, options.plugins);
  await loadPlugins(plugins);
  const backend = options.backend ?? study.backend;
  const planOptions: PlanOptions = { plugins, ...(backend ? { backend } : {}) };
  return planStudy(study, resolve(dir), planOptions);
}

/**
 * Checks before any training what a run would check only later: every model's run config with its
 * trainer (plugin names, component configs, the dataset plugin) and the evaluation (dataset
 * split, reference count, extractors). Throws {@link StudyError} naming the field.
 */
export async function checkStudy(study: Study, logger: Logger = silentLogger): Promise<string[]> {
  const issues: StudyIssue[] = [];
  for (const [i, model] of study.models.entries()) {
    const { trainer, config } = cellRunConfig(study, model, study.seeds[0] as number);
    try {
      await (TRAINERS[trainer] ?? TRAINERS[model.trainer])?.validate(config, logger);
    } catch (e) {
      issues.push({ field: `models[${i}]`, message: e instanceof Error ? e.message : String(e) });
    }
  }
  if (issues.length) throw new StudyError(study.source, issues);
  try {
    return await checkEvaluation(study, logger);
  } catch (e) {
    if (e instanceof EvaluationError) {
      const what = e.extractor !== undefined ? `${e.extractor}: ${e.problem}` : e.problem;
      throw new StudyError(study.source, [
        { field: `evaluation.${e.field}`, message: `${what}${e.hint ? ` (${e.hint})` : ''}` },
      ]);
    }
    const message = e instanceof Error ? e.message : String(e);
    if (message.startsWith('evaluation.')) {
      const colon = message.indexOf(': ');
      throw new StudyError(study.source, [
        { field: message.slice(0, colon), message: message.slice(colon + 2) },
      ]);
    }
    throw new StudyError(study.source, [{ field: 'dataset', message }]);
  }
}

function planCellOf(plan: StudyPlan, id: string): Cell {
  return plan.cells.find((c) => c.id === id) as Cell;
}

function stopped(cells: readonly Cell[]): string[] {
  return cells.filter((c) => c.state === 'stale').map((c) => `  ${c.id}: ${c.detail}`);
}

/**
 * Runs a study in `options.dir`: plans it, checks it ({@link checkStudy}), locks the directory,
 * trains every cell that is not trained (resuming interrupted ones), evaluates every trained cell
 * that is not evaluated under the study's protocol, and writes `results.json`, `summary.md` and
 * `report.html`. A failed cell is recorded in its status file and the others go on. A stop signal
 * (through `onInterrupt`) is forwarded to every running cell, which saves a checkpoint; the
 * results so far are written and the code is 130 / 143 / 129.
 *
 * @example
 * ```ts
 * import { jsonStudyProgress, loadStudy, runStudy } from '@tsvae/compare';
 * const study = loadStudy('studies/quick-mnist.json');
 * const { code, files } = await runStudy(study, { dir: 'runs/quick-mnist', progress: jsonStudyProgress(process.stdout) });
 * ```
 */
export async function runStudy(study: Study, options: RunStudyOptions): Promise<RunStudyResult> {
  const logger = options.logger ?? silentLogger;
  const dir = resolve(options.dir);
  const plan = await prepareStudy(study, dir, options);
  const stale = stopped(plan.cells);
  if (stale.length) {
    throw new CompareError(`cells of ${dir} hold runs the study no longer describes:\n${stale.join('\n')}`);
  }
  await checkStudy(study, logger);

  const requested = options.backend ?? study.backend;
  const backend: BackendInfo = await initBackend({
    ...(requested ? { backend: requested as BackendRequest } : {}),
    logger: { debug: logger.debug, info: logger.info, warn: logger.warn },
  });
  const mine = (c: Cell) => !options.only || options.only.includes(c.id);
  const toTrain = plan.cells.filter((c) => mine(c) && (c.action === 'train' || c.action === 'resume'));
  const jobs: JobsChoice =
    options.jobs !== undefined || study.jobs !== undefined
      ? {
          jobs: (options.jobs ?? study.jobs) as number,
          reason: options.jobs !== undefined ? '--jobs' : 'the study file',
        }
      : defaultJobs({ cells: Math.max(1, toTrain.length), threadsPerCell: backend.threads });
  const executor =
    options.executor ??
    ((await createExecutor('local', {
      jobs: jobs.jobs,
      ...(options.cli ? { cli: options.cli } : {}),
      ...options.executorConfig,
    })) as Executor);

  ensureDir(dir);
  let lock: Pick<RunLock, 'release'>;
  try {
    lock = options.task ? { release() {} } : new RunDirectory(dir).lock();
  } catch (e) {
    throw new CompareError(
      `${dir} is in use: ${e instanceof Error ? e.message : String(e)} (another tsvae-compare on this study?)`,
    );
  }
  const progress = options.progress;
  let interruptedBy: StopSignal | null = null;
  const evalAbort = new AbortController();
  const unsubscribe = options.onInterrupt?.((signal) => {
    if (interruptedBy === null) {
      interruptedBy = signal;
      progress?.interrupted(signal);
    }
    executor.stop(signal); // again on a second signal: the cells quit at once
    evalAbort.abort(new CompareError(`stopped by ${signal}`));
  });
  try {
    if (!options.task)
      writeJsonAtomic(join(dir, 'study.json'), { ...study, plannedAt: new Date().toISOString() });
    progress?.plan(plan, { jobs, backend: backend.backend });
    const byId = new Map(plan.cells.map((c) => [c.id, c]));
    const statuses = new Map<string, CellStatus>(plan.cells.map((c) => [c.id, c.status ?? emptyStatus(c)]));
    const save = (cell: Cell, update: Partial<CellStatus>) => {
      const next = {
        ...(statuses.get(cell.id) as CellStatus),
        ...update,
        updatedAt: new Date().toISOString(),
      };
      statuses.set(cell.id, next);
      writeStatus(cell, next);
    };

    // Evaluations run here, one at a time, while other cells train.
    let evaluations: Promise<void> = Promise.resolve();
    const evaluateLater = (cell: Cell) => {
      evaluations = evaluations.then(async () => {
        if (interruptedBy) return;
        progress?.evalStart(cell);
        try {
          const record = await evaluateCell(study, cell, {
            logger,
            signal: evalAbort.signal,
            ...(progress ? { onProgress: (p) => progress.evalProgress(cell, p) } : {}),
          });
          save(cell, { evaluation: record, error: null });
          progress?.evalDone(cell, record);
        } catch (e) {
          if (interruptedBy) return; // stopped: the cell stays trained, evaluated next time
          const message = e instanceof Error ? e.message : String(e);
          save(cell, { error: { phase: 'evaluation', message, at: new Date().toISOString() } });
          progress?.evalFailed(cell, message);
        }
      });
    };
    for (const cell of plan.cells) if (mine(cell) && cell.action === 'evaluate') evaluateLater(cell);

    const epochs = new Map<string, number>();
    const backends = new Map<string, string>();
    const tasks: CellTask[] = toTrain.map((c) => ({
      id: c.id,
      args: c.command,
      runDir: c.runDir,
      logFile: c.logFile,
    }));
    await executor.run(tasks, {
      beforeStart(task) {
        const cell = byId.get(task.id) as Cell;
        ensureDir(join(dir, 'cells'));
        if (cell.overridesFile) writeJsonAtomic(cell.overridesFile, cell.overrides);
        writeStatus(cell, statuses.get(cell.id) as CellStatus);
      },
      onStart(task, info) {
        const cell = byId.get(task.id) as Cell;
        progress?.cellStart(cell, {
          pid: info.pid,
          resume: cell.action === 'resume',
          attempt: (statuses.get(cell.id)?.attempts.length ?? 0) + 1,
        });
      },
      onEvent(task, event) {
        const cell = byId.get(task.id) as Cell;
        if (event.event === 'start' && typeof event['backend'] === 'string')
          backends.set(cell.id, event['backend']);
        if (
          event.event === 'epoch' &&
          typeof event['stage'] === 'string' &&
          typeof event['epoch'] === 'number'
        ) {
          epochs.set(cell.id, epochsDone(cell, event['stage'], event['epoch']));
        }
        progress?.cellEvent(cell, event, { done: epochs.get(cell.id) ?? 0, total: cell.model.totalEpochs });
      },
      onExit(task, exit: CellExit) {
        const cell = byId.get(task.id) as Cell;
        const status = statuses.get(cell.id) as CellStatus;
        try {
          save(cell, {
            attempts: [
              ...status.attempts,
              {
                startedAt: exit.startedAt,
                resume: cell.action === 'resume',
                pid: exit.pid,
                backend: backends.get(cell.id) ?? null,
                seconds: exit.seconds,
                outcome: exit.outcome,
                exitCode: exit.exitCode,
                signal: exit.signal,
                error: exit.error,
              },
            ],
            error:
              exit.outcome === 'failed'
                ? { phase: 'training', message: exit.error ?? 'failed', at: new Date().toISOString() }
                : null,
          });
        } catch (e) {
          progress?.note(`cannot write ${cell.statusFile}: ${e instanceof Error ? e.message : String(e)}`);
        }
        progress?.cellExit(cell, exit);
        if (exit.outcome === 'completed' && !interruptedBy) {
          // the cell as it now stands on disk (trained): evaluate it
          const fresh = planCell(study, dir, cell.model, cell.seed);
          if (fresh.action === 'evaluate') evaluateLater(fresh);
        }
      },
    });
    await evaluations; // every exit has queued its evaluation by now

    // results as they stand on disk (every cell re-read)
    const final = planStudy(study, dir, {});
    const results = collectResults(final, { backend, executor: executor.name, jobs: executor.parallelism });
    const files = {
      results: join(dir, 'results.json'),
      summary: join(dir, 'summary.md'),
      report: join(dir, 'report.html'),
    };
    const report = await renderReport(results);
    if (!options.task) {
      writeJsonAtomic(files.results, results);
      writeFileAtomic(files.summary, report.markdown);
      writeFileAtomic(files.report, report.html);
    }
    const signal = interruptedBy as StopSignal | null;
    const complete = results.cells.every((c) => !mine(planCellOf(final, c.id)) || c.state === 'done');
    const code = signal ? SIGNAL_EXIT[signal] : complete ? 0 : 1;
    progress?.finish({
      code,
      complete: results.complete,
      counts: results.counts,
      files,
      table: report.markdown
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .join('\n'),
    });
    return { code, interruptedBy: signal, results, files };
  } finally {
    unsubscribe?.();
    lock.release();
  }
}
