/** The `tsvae-compare` command line (also `tsvae compare`): `run`, `plan`, `report`. */
import { join, resolve } from 'node:path';
import { type CliIO, packageVersions, type StopSignal } from '@tsvae/cli';
import { type Logger, PluginError } from '@tsvae/core';
import { FileFormatError, FsError, writeFileAtomic, writeJsonAtomic } from '@tsvae/core/node';
import { RunConfigError, RunDirectoryError } from '@tsvae/stages';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { cancelStudy, collectStudy, runTask, studyStatus, submitStudy } from './batch';
import { SubmissionError } from './batch-types';
import { createExecutor, isBatchExecutor } from './executors';
import { describeBudget, type StudyPlan } from './plan';
import { jsonStudyProgress, ttyStudyProgress } from './progress';
import { renderReport } from './report';
import { collectResults, studyVersions } from './results';
import { CompareError, prepareStudy, runStudy } from './run';
import { loadStudy, resolvePluginSpecifier, type Study, StudyError } from './study';

/** The process's streams and signals: every SIGINT / SIGTERM / SIGHUP reaches the handler. */
export const processIO: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  onInterrupt(handler) {
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => {
      const h = () => handler(signal);
      process.on(signal, h);
      return [signal, h] as const;
    });
    return () => {
      for (const [signal, h] of handlers) process.off(signal, h);
    };
  },
};

interface CommonOpts {
  dir?: string;
  plugins?: string[];
  backend?: string;
  json?: boolean;
  verbose?: boolean;
}

interface RunOpts extends CommonOpts {
  jobs?: number;
  dryRun?: boolean;
  executor?: string;
  executorConfig?: string;
  partition?: string;
  gres?: string;
  time?: string;
  cpusPerTask?: number;
  mem?: string;
  maxParallel?: number;
  sbatchArg?: string[];
  wait?: boolean;
  poll?: number;
}

/** The executor config of `run`'s options: `--executor-config` JSON, then the Slurm options. */
function executorConfig(o: RunOpts): Record<string, unknown> {
  let base: Record<string, unknown> = {};
  if (o.executorConfig) {
    try {
      base = JSON.parse(o.executorConfig) as Record<string, unknown>;
    } catch (e) {
      throw new InvalidArgumentError(`--executor-config is not JSON: ${(e as Error).message}`);
    }
  }
  const slurm: Record<string, unknown> = {
    partition: o.partition,
    gres: o.gres,
    time: o.time,
    cpusPerTask: o.cpusPerTask,
    mem: o.mem,
    maxParallel: o.maxParallel,
    sbatchArgs: o.sbatchArg,
    pollSeconds: o.poll,
  };
  const given = Object.fromEntries(Object.entries(slurm).filter(([, v]) => v !== undefined));
  if (Object.keys(given).length && (o.executor ?? 'local') !== 'slurm') {
    throw new CompareError(
      `--${Object.keys(given)
        .map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))
        .join(
          ', --',
        )} ${Object.keys(given).length === 1 ? 'is an option' : 'are options'} of --executor slurm`,
    );
  }
  return { ...base, ...given };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}".`);
    }
    return n;
  };
}

function stderrLogger(io: CliIO, verbose: boolean): Logger {
  const w = (level: string) => (m: string, f?: Readonly<Record<string, unknown>>) =>
    io.stderr.write(`${level}: ${m}${f && Object.keys(f).length ? ` ${JSON.stringify(f)}` : ''}\n`);
  const noop = () => {};
  return {
    debug: verbose ? w('debug') : noop,
    info: verbose ? w('info') : noop,
    warn: w('warning'),
    error: w('error'),
  };
}

/** The study directory: `--dir`, else `runs/<study name>` under the working directory. */
export function studyDir(study: Study, dir: string | undefined, cwd: string): string {
  return resolve(cwd, dir ?? join('runs', study.name));
}

/** The dry run's text: every cell, where it stands, what a run would do, and the commands. */
export function describePlan(plan: StudyPlan): string {
  const head = ['cell', 'state', 'next', 'budget', 'detail'];
  const rows = plan.cells.map((c) => [c.id, c.state, c.action, describeBudget(c.model), c.detail]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const by = (a: string) => plan.cells.filter((c) => c.action === a).length;
  const ev = plan.study.evaluation;
  const commands = plan.cells.filter((c) => c.command.length);
  return [
    `study ${plan.study.name} (${plan.study.source}): ${plan.study.models.length} models x ${plan.study.seeds.length} seeds = ${plan.cells.length} cells on ${plan.study.dataset.name}, in ${plan.dir}`,
    `evaluation: extractors ${ev.extractors === 'auto' ? 'auto' : ev.extractors.join(', ')}; N ${ev.count} vs ${ev.referenceCount ?? 'min(10000, split)'} ${ev.split} images; ${ev.trials} trial(s); metrics ${ev.metrics.join(', ')}`,
    '',
    line(head),
    ...rows.map(line),
    '',
    `to do: ${by('train')} to train, ${by('resume')} to resume, ${by('evaluate')} to evaluate; ${plan.cells.filter((c) => c.state === 'done').length} done${plan.cells.some((c) => c.state === 'stale') ? '; stale cells stop the run (see detail)' : ''}`,
    ...(commands.length
      ? ['', 'training commands (tsvae ...):', ...commands.map((c) => `  tsvae ${c.command.join(' ')}`)]
      : []),
    '',
  ].join('\n');
}

function describeError(e: unknown): string {
  if (e instanceof RunConfigError) {
    return `invalid configuration: ${e.issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join('; ')}`;
  }
  if (
    e instanceof StudyError ||
    e instanceof CompareError ||
    e instanceof SubmissionError ||
    e instanceof RunDirectoryError ||
    e instanceof PluginError ||
    e instanceof FsError ||
    e instanceof FileFormatError
  ) {
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Builds the commander program; actions store their exit code in `result.code`. */
export function buildProgram(io: CliIO, result: { code: number; json: boolean }): Command {
  const cwd = io.cwd ?? process.cwd();
  const program = new Command('tsvae-compare')
    .description(
      'Comparison studies: train every model x seed of a study file (in parallel worker processes), evaluate each cell on one protocol, and write results.json, summary.md and report.html.',
    )
    .version(studyVersions()['@tsvae/compare'] ?? packageVersions()['@tsvae/cli'] ?? '0.0.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  const common = (c: Command) =>
    c
      .argument('<study>', 'study file (.json, .yaml)')
      .option('--dir <dir>', 'study directory (default runs/<study name>)')
      .addOption(
        new Option('--plugins <module>', 'load plugins from a module (repeatable)').argParser(collect),
      )
      .addOption(
        new Option('--backend <name>', 'tfjs backend of the workers and the evaluation').choices([
          'auto',
          'tensorflow',
          'wasm',
          'cpu',
          'webgpu',
        ]),
      )
      .option('--json', 'JSON lines on stdout even on a terminal')
      .option('-v, --verbose', 'log debug records to stderr');

  const dryRun = async (studyFile: string, o: CommonOpts) => {
    const study = loadStudy(resolve(cwd, studyFile));
    const plan = await prepareStudy(study, studyDir(study, o.dir, cwd), {
      ...(o.plugins ? { plugins: o.plugins.map((p) => resolvePluginSpecifier(cwd, p)) } : {}),
      ...(o.backend ? { backend: o.backend } : {}),
    });
    if (o.json || !io.stdout.isTTY) {
      io.stdout.write(
        `${JSON.stringify({
          event: 'plan',
          study: study.name,
          dir: plan.dir,
          cells: plan.cells.map((c) => ({
            cell: c.id,
            model: c.model.id,
            seed: c.seed,
            state: c.state,
            action: c.action,
            detail: c.detail,
            budget: describeBudget(c.model),
            command: c.command,
          })),
        })}\n`,
      );
    } else io.stdout.write(describePlan(plan));
    return plan.cells.some((c) => c.state === 'stale') ? 1 : 0;
  };

  common(
    program
      .command('run')
      .description(
        'run a study: train what is not trained (resuming interrupted cells), evaluate, write the report',
      ),
  )
    .option(
      '--jobs <n>',
      'cells at once (default: what fits the cores: cores - 1 over the threads of a cell)',
      positiveInt('--jobs'),
    )
    .option('--dry-run', 'print the plan (cells, budgets, what is done / interrupted / failed) and stop')
    .option(
      '--executor <name>',
      'where cells run: local (worker processes here), slurm, or a plugin',
      'local',
    )
    .option(
      '--executor-config <json>',
      "the executor plugin's config (JSON; strict: an unknown key is an error)",
    )
    .option('--partition <p>', 'slurm: sbatch --partition')
    .option('--gres <g>', 'slurm: sbatch --gres (e.g. gpu:1)')
    .option('--time <t>', 'slurm: sbatch --time of each cell (e.g. 2:00:00)')
    .option('--cpus-per-task <n>', 'slurm: sbatch --cpus-per-task', positiveInt('--cpus-per-task'))
    .option('--mem <m>', 'slurm: sbatch --mem (e.g. 8G)')
    .option(
      '--max-parallel <k>',
      'slurm: at most k cells at once (--array=...%k)',
      positiveInt('--max-parallel'),
    )
    .addOption(
      new Option('--sbatch-arg <arg>', 'slurm: one more sbatch argument (repeatable)').argParser(collect),
    )
    .option('--poll <seconds>', 'slurm: seconds between two polls of --wait', positiveInt('--poll'))
    .option('--wait', 'batch executors: follow the job until every cell ended, then collect')
    .action(async (studyFile: string, o: RunOpts) => {
      result.json = Boolean(o.json) || !io.stdout.isTTY;
      if (o.dryRun) {
        result.code = await dryRun(studyFile, o);
        return;
      }
      const study = loadStudy(resolve(cwd, studyFile));
      const json = result.json;
      const executorName = o.executor ?? 'local';
      const config = executorConfig(o);
      const plugins = o.plugins?.map((p) => resolvePluginSpecifier(cwd, p));
      if (executorName !== 'local') {
        const executor = await createExecutor(executorName, config);
        if (isBatchExecutor(executor)) {
          const say = (line: string) =>
            io.stdout.write(json ? `${JSON.stringify({ event: 'message', message: line })}\n` : `${line}\n`);
          const abort = new AbortController();
          const off = io.onInterrupt?.(() => abort.abort());
          try {
            const r = await submitStudy(study, {
              dir: studyDir(study, o.dir, cwd),
              executor: executorName,
              config,
              ...(o.backend ? { backend: o.backend } : {}),
              ...(plugins ? { plugins } : {}),
              ...(o.wait ? { wait: true } : {}),
              logger: stderrLogger(io, o.verbose ?? false),
              onMessage: say,
              signal: abort.signal,
            });
            if (json) {
              io.stdout.write(
                `${JSON.stringify({ event: 'submitted', job: r.jobId, cells: r.cells, complete: r.results?.complete ?? null })}\n`,
              );
            } else if (r.jobId) io.stdout.write(`${r.jobId}\n`);
            result.code = r.results ? (r.results.complete ? 0 : 1) : 0;
          } finally {
            off?.();
          }
          return;
        }
        const r = await runStudy(study, {
          dir: studyDir(study, o.dir, cwd),
          executor,
          ...(o.backend ? { backend: o.backend } : {}),
          ...(plugins ? { plugins } : {}),
          logger: stderrLogger(io, o.verbose ?? false),
          progress: json ? jsonStudyProgress(io.stdout) : ttyStudyProgress(io.stdout),
          ...(io.onInterrupt ? { onInterrupt: io.onInterrupt } : {}),
        });
        result.code = r.code;
        return;
      }
      const r = await runStudy(study, {
        dir: studyDir(study, o.dir, cwd),
        ...(Object.keys(config).length ? { executorConfig: config } : {}),
        ...(o.jobs !== undefined ? { jobs: o.jobs } : {}),
        ...(o.backend ? { backend: o.backend } : {}),
        ...(o.plugins ? { plugins: o.plugins.map((p) => resolvePluginSpecifier(cwd, p)) } : {}),
        logger: stderrLogger(io, o.verbose ?? false),
        progress: json ? jsonStudyProgress(io.stdout) : ttyStudyProgress(io.stdout),
        ...(io.onInterrupt ? { onInterrupt: io.onInterrupt } : {}),
      });
      result.code = r.code;
    });

  common(program.command('plan').description('print the plan of a study (the same as run --dry-run)')).action(
    async (studyFile: string, o: CommonOpts) => {
      result.code = await dryRun(studyFile, o);
    },
  );

  common(
    program
      .command('report')
      .description(
        'write results.json, summary.md and report.html from what the study directory holds (no training, no evaluation)',
      ),
  ).action(async (studyFile: string, o: CommonOpts) => {
    const study = loadStudy(resolve(cwd, studyFile));
    const plan = await prepareStudy(study, studyDir(study, o.dir, cwd), {
      ...(o.plugins ? { plugins: o.plugins.map((p) => resolvePluginSpecifier(cwd, p)) } : {}),
    });
    const results = collectResults(plan, { backend: null, executor: 'none', jobs: 0 });
    const report = await renderReport(results);
    writeJsonAtomic(join(plan.dir, 'results.json'), results);
    writeFileAtomic(join(plan.dir, 'summary.md'), report.markdown);
    writeFileAtomic(join(plan.dir, 'report.html'), report.html);
    io.stdout.write(`${report.markdown}\nwritten: ${join(plan.dir, 'report.html')}\n`);
    result.code = 0;
  });

  const planOf = async (studyFile: string, o: CommonOpts) => {
    const study = loadStudy(resolve(cwd, studyFile));
    return prepareStudy(study, studyDir(study, o.dir, cwd), {
      ...(o.plugins ? { plugins: o.plugins.map((p) => resolvePluginSpecifier(cwd, p)) } : {}),
    });
  };

  common(
    program
      .command('status')
      .description(
        "each cell: pending / running (job, node) / done / failed (the error and the scheduler's state)",
      ),
  ).action(async (studyFile: string, o: CommonOpts) => {
    const status = await studyStatus(await planOf(studyFile, o));
    if (o.json || !io.stdout.isTTY) {
      io.stdout.write(`${JSON.stringify({ event: 'status', cells: status })}\n`);
    } else {
      for (const s of status) {
        const where = s.job
          ? ` job ${s.job}_${s.index}${s.node ? ` on ${s.node}` : ''} (${s.schedulerState})`
          : '';
        io.stdout.write(
          `${s.cell.padEnd(28)} ${s.state.padEnd(8)}${where}${s.error ? `: ${s.error}` : ` ${s.detail}`}\n`,
        );
      }
    }
    result.code = status.some((s) => s.state === 'failed') ? 1 : 0;
  });

  common(
    program
      .command('collect')
      .description('aggregate the cells that are done into results.json, summary.md and report.html'),
  ).action(async (studyFile: string, o: CommonOpts) => {
    const plan = await planOf(studyFile, o);
    const { results, markdown, files } = await collectStudy(plan);
    if (o.json || !io.stdout.isTTY) {
      io.stdout.write(
        `${JSON.stringify({ event: 'collected', complete: results.complete, counts: results.counts, files })}\n`,
      );
    } else io.stdout.write(`${markdown}\nwritten: ${files.report}\n`);
    result.code = 0;
  });

  common(program.command('cancel').description("cancel the study's jobs (scancel)")).action(
    async (studyFile: string, o: CommonOpts) => {
      const study = loadStudy(resolve(cwd, studyFile));
      const jobs = await cancelStudy(studyDir(study, o.dir, cwd));
      io.stdout.write(
        o.json || !io.stdout.isTTY
          ? `${JSON.stringify({ event: 'cancelled', jobs })}\n`
          : jobs.length
            ? `cancelled ${jobs.join(', ')}\n`
            : 'no job of the study is queued or running\n',
      );
      result.code = 0;
    },
  );

  program
    .command('task', { hidden: true })
    .description('one array element of a batch job: train and evaluate the cell with this index')
    .argument('<study>', 'study file')
    .requiredOption('--dir <dir>', 'study directory')
    .requiredOption('--index <i>', 'the cell index', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--index must be a cell index, got "${v}".`);
      return Number(v);
    })
    .option('--cells <digest>', "the study's cells when the job was submitted (refuse others)")
    .addOption(new Option('--plugins <module>', 'plugin module (repeatable)').argParser(collect))
    .option('--backend <name>', 'tfjs backend')
    .action(
      async (
        studyFile: string,
        o: { dir: string; index: number; cells?: string; plugins?: string[]; backend?: string },
      ) => {
        result.code = await runTask(resolve(cwd, studyFile), {
          dir: resolve(cwd, o.dir),
          index: o.index,
          ...(o.cells ? { cells: o.cells } : {}),
          ...(o.plugins ? { plugins: o.plugins } : {}),
          ...(o.backend ? { backend: o.backend } : {}),
          logger: stderrLogger(io, false),
          onMessage: (line) => io.stdout.write(`${line}\n`),
          ...(io.onInterrupt ? { onInterrupt: io.onInterrupt } : {}),
        });
      },
    );
  return program;
}

/**
 * Runs `tsvae-compare` on `argv` (without `node` and the script) and resolves to the exit code: 0
 * every cell done, 1 a failed cell or an error, 2 a usage error or an invalid study file (the
 * message names the field), 130 / 143 / 129 stopped by SIGINT / SIGTERM / SIGHUP (every running
 * cell saved a checkpoint; run it again to continue).
 *
 * @example
 * ```ts
 * import { main } from '@tsvae/compare';
 * process.exitCode = await main(['run', 'studies/quick-mnist.json']);
 * ```
 */
export async function main(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const result = { code: 0, json: false };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      ) {
        return 0;
      }
      return e.exitCode === 0 ? 0 : 2;
    }
    const message = describeError(e);
    const code = e instanceof StudyError ? 2 : 1;
    io.stderr.write(`error: ${message}\n`);
    if (process.env['TSVAE_DEBUG'] && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    if (result.json) io.stdout.write(`${JSON.stringify({ event: 'error', message, exitCode: code })}\n`);
    return code;
  }
}

export type { StopSignal };
