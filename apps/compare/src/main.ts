/** The `tsvae-compare` command line (also `tsvae compare`): `run`, `plan`, `report`. */
import { join, resolve } from 'node:path';
import { type CliIO, packageVersions, type StopSignal } from '@tsvae/cli';
import { type Logger, PluginError } from '@tsvae/core';
import { FileFormatError, FsError, writeFileAtomic, writeJsonAtomic } from '@tsvae/core/node';
import { RunConfigError, RunDirectoryError } from '@tsvae/stages';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
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
    .action(async (studyFile: string, o: RunOpts) => {
      result.json = Boolean(o.json) || !io.stdout.isTTY;
      if (o.dryRun) {
        result.code = await dryRun(studyFile, o);
        return;
      }
      const study = loadStudy(resolve(cwd, studyFile));
      const json = result.json;
      const r = await runStudy(study, {
        dir: studyDir(study, o.dir, cwd),
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
