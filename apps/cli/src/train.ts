/** `tsvae train`: train a Two-Stage VAE in a run directory, or resume one. */
import { join, resolve } from 'node:path';
import { describeBackend } from '@tsvae/backend';
import { create } from '@tsvae/core';
import { readJsonFile } from '@tsvae/core/node';
import { EvaluationError } from '@tsvae/metrics';
import {
  PRESETS,
  type PresetName,
  type RunConfig,
  RunDirectory,
  readVaeRecord,
  resolveRunConfig,
  trainTwoStage,
  validateRun,
} from '@tsvae/stages';
import { Command, Option } from 'commander';
import {
  backendOption,
  CliError,
  type CliIO,
  collect,
  intOption,
  loadPluginModules,
  packageVersions,
  parseSet,
  pluginsOption,
  positiveNumber,
  SIGNAL_EXIT,
  type StopSignal,
  seedOption,
  setPath,
  setupBackend,
  stderrLogger,
  usageError,
} from './common';
import { addEvalCommand } from './eval';
import { jsonProgress, ttyProgress } from './progress';

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Options of `tsvae train` as commander parses them. */
export interface TrainOpts {
  dataset: string;
  preset: string;
  runDir?: string;
  resume?: string;
  seed?: number;
  stage1Epochs?: number;
  stage2Epochs?: number;
  stage1Lr?: number;
  stage2Lr?: number;
  batchSize?: number;
  latentDim?: number;
  subset?: number;
  encoder?: string;
  decoder?: string;
  secondStage?: string;
  likelihood?: string;
  gammaConvention?: string;
  set?: string[];
  config?: string;
  plugins?: string[];
  backend?: string;
  json?: boolean;
  printConfig?: boolean;
  /** `--no-eval` sets it false: no FID after training. */
  eval: boolean;
  evalCount: number;
  verbose?: boolean;
}

/** The config-changing options, with their flags (none of them may be combined with --resume). */
const OVERRIDES: readonly [keyof TrainOpts, string, string | null][] = [
  ['seed', '--seed', 'seed'],
  ['stage1Epochs', '--stage1-epochs', 'stage1.epochs'],
  ['stage2Epochs', '--stage2-epochs', 'stage2.epochs'],
  ['stage1Lr', '--stage1-lr', 'stage1.lr'],
  ['stage2Lr', '--stage2-lr', 'stage2.lr'],
  ['batchSize', '--batch-size', 'batchSize'],
  ['latentDim', '--latent-dim', 'latentDim'],
  ['subset', '--subset', 'dataset.subset'],
  ['encoder', '--encoder', 'stage1.encoder.name'],
  ['decoder', '--decoder', 'stage1.decoder.name'],
  ['secondStage', '--second-stage', 'stage2.model.name'],
  ['likelihood', '--likelihood', 'stage1.likelihood'],
  ['gammaConvention', '--gamma-convention', 'stage1.gammaConvention'],
  ['set', '--set', null],
  ['config', '--config', null],
];

function trainOverrides(o: TrainOpts, cwd: string): Record<string, unknown> {
  let over: Record<string, unknown> = {};
  if (o.config) {
    const path = resolve(cwd, o.config);
    const json = readJsonFile(path);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw usageError(`--config ${o.config}: ${path} must hold a JSON object of config overrides`);
    }
    over = json as Record<string, unknown>;
  }
  for (const [key, , path] of OVERRIDES) {
    const v = o[key];
    if (path && v !== undefined) setPath(over, path, v);
  }
  for (const a of o.set ?? []) {
    const [k, v] = parseSet(a);
    setPath(over, k, v);
  }
  return over;
}

/** The config of the run to train: a preset with the overrides, or the resumed run's own. */
function runConfig(o: TrainOpts, cwd: string): { config: RunConfig; runDir: string } {
  if (o.resume) {
    if (o.runDir) throw usageError('--resume takes the run directory; do not also pass --run-dir');
    const conflicting = OVERRIDES.filter(([k]) => o[k] !== undefined).map(([, flag]) => flag);
    if (conflicting.length) {
      throw usageError(
        `--resume continues the run with the config recorded in its config.json; ${conflicting.join(', ')} cannot be combined with it`,
      );
    }
    const runDir = resolve(cwd, o.resume);
    return { config: readVaeRecord(new RunDirectory(runDir)).config, runDir };
  }
  if (!PRESETS.includes(o.preset as PresetName)) {
    throw usageError(`--preset must be one of ${PRESETS.join(', ')}, got "${o.preset}"`);
  }
  return {
    config: resolveRunConfig(o.preset as PresetName, o.dataset, trainOverrides(o, cwd)),
    runDir: resolve(cwd, o.runDir ?? join('runs', `${o.dataset}-${o.preset}-${timestamp()}`)),
  };
}

/** `n`, or fewer when the run's test split holds fewer images. */
async function referenceCount(runDir: string, n: number): Promise<number> {
  try {
    const ds = readVaeRecord(new RunDirectory(runDir)).components.dataset;
    const test = await (await create('dataset', ds.plugin, ds.config)).load('test');
    return Math.min(n, test.size);
  } catch {
    return n; // the evaluation reports what is wrong with the split
  }
}

/**
 * The short evaluation after training (`--eval-count`, default 2,000 samples per mode against as
 * many test images (at most the test split), FID only): one-stage and two-stage side by side, written to `<run>/eval.json`
 * through `tsvae eval` itself. A dataset without any usable feature extractor (no labels for the
 * classifier, no Inception weights on disk) is a note, not an error; any other failure of the
 * evaluation is a warning: the training itself succeeded.
 */
async function evaluateAfterTraining(runDir: string, o: TrainOpts, io: CliIO, json: boolean): Promise<void> {
  const program = new Command('tsvae')
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) });
  const result = { code: 0 };
  addEvalCommand(program, io, result);
  const n = String(o.evalCount);
  const argv = [
    'eval',
    runDir,
    '-n',
    n,
    '--reference-count',
    String(await referenceCount(runDir, o.evalCount)),
    '--no-kid',
  ];
  if (json) argv.push('--json');
  if (o.backend) argv.push('--backend', o.backend);
  for (const p of o.plugins ?? []) argv.push('--plugins', p);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const cause = e instanceof CliError ? e.cause : e;
    if (cause instanceof EvaluationError && cause.field === 'extractors') {
      io.stdout.write(
        json
          ? `${JSON.stringify({ event: 'eval-skipped', reason: message })}\n`
          : `no FID after training: ${message}\n`,
      );
    } else {
      io.stderr.write(
        `warning: the evaluation after training failed (${message}); the run is complete: tsvae eval ${runDir}\n`,
      );
    }
  }
}

/** Runs `tsvae train`; resolves to the exit code (130 / 143 / 129 when stopped by a signal). */
export async function runTrain(o: TrainOpts, io: CliIO, result: { json: boolean }): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const json = o.json || !io.stdout.isTTY;
  result.json = json;
  await loadPluginModules(o.plugins, cwd);
  const { config, runDir } = runConfig(o, cwd);
  const logger = stderrLogger(io, o.verbose ?? false);
  if (o.printConfig) {
    // everything a run would check: plugin names and every component config
    await validateRun(config, logger);
    io.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return 0;
  }
  const backend = await setupBackend(o.backend, io, o.verbose ?? false);
  const say = (obj: Record<string, unknown>, text: string) =>
    io.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  say(
    {
      event: 'start',
      runDir,
      resume: Boolean(o.resume),
      backend: backend.backend,
      threads: backend.threads,
      config,
    },
    `${o.resume ? 'resuming' : 'training'} ${config.dataset.name} (${config.preset}) in ${runDir}\nbackend: ${describeBackend(backend)}`,
  );
  const controller = new AbortController();
  let stoppedBy: StopSignal | null = null;
  const unsubscribe = io.onInterrupt?.((signal) => {
    stoppedBy = signal;
    io.stderr.write(`\n${signal}: saving a checkpoint (send it again to quit at once)\n`);
    controller.abort();
  });
  try {
    const r = await trainTwoStage({
      runDir,
      ...(o.resume ? { resume: true } : { config }),
      logger,
      callbacks: [json ? jsonProgress(io.stdout) : ttyProgress(io.stdout)],
      signal: controller.signal,
      environment: { versions: packageVersions(), backend },
    });
    if (r.status === 'aborted') {
      const signal: StopSignal = stoppedBy ?? 'SIGINT';
      say(
        { event: 'interrupted', signal, runDir, checkpoint: r.lastCheckpoint },
        `stopped by ${signal}: checkpoint ${r.lastCheckpoint}\nresume with: tsvae train --resume ${runDir}`,
      );
      return SIGNAL_EXIT[signal];
    }
    if (o.eval) await evaluateAfterTraining(runDir, o, io, json);
    say(
      { event: 'done', runDir, samples: r.samples, checkpoint: r.lastCheckpoint },
      `done: ${runDir}\nsamples:\n${r.samples.map((s) => `  ${s}`).join('\n')}`,
    );
    return 0;
  } finally {
    unsubscribe?.();
  }
}

/** Adds `train` to the program. */
export function addTrainCommand(program: Command, io: CliIO, result: { code: number; json: boolean }): void {
  program
    .command('train')
    .description('Train stage 1, encode the data, train stage 2, write sample grids (or resume a run).')
    .option('--dataset <name>', 'dataset plugin', 'mnist')
    .option('--preset <name>', `preset: ${PRESETS.join(' | ')}`, 'quick')
    .option('--run-dir <dir>', 'run directory (default runs/<dataset>-<preset>-<time>)')
    .option('--resume <run-dir>', 'continue a run from its last good checkpoint')
    .option('--seed <int>', 'seed of every random choice, 0..2147483647 (preset: 0)', seedOption())
    .option('--stage1-epochs <int>', 'stage-1 epochs (quick 5, paper 400)', intOption('--stage1-epochs'))
    .option('--stage2-epochs <int>', 'stage-2 epochs (quick 20, paper 800)', intOption('--stage2-epochs'))
    .option(
      '--stage1-lr <number>',
      'stage-1 learning rate (quick 2e-3, paper 1e-4)',
      positiveNumber('--stage1-lr'),
    )
    .option(
      '--stage2-lr <number>',
      'stage-2 learning rate (quick 1e-3, paper 1e-4)',
      positiveNumber('--stage2-lr'),
    )
    .option('--batch-size <int>', 'batch size (64)', intOption('--batch-size', 1))
    .option('--latent-dim <int>', 'stage-1 latent dimension κ (64)', intOption('--latent-dim', 1))
    .option('--subset <int>', 'use only the first N training images (quick 6400)', intOption('--subset', 1))
    .option('--encoder <name>', 'encoder plugin (infogan)')
    .option('--decoder <name>', 'decoder plugin (infogan)')
    .option('--second-stage <name>', 'second-stage plugin (mlp)')
    .addOption(
      new Option('--likelihood <name>', 'decoder likelihood (learned-gamma)').choices([
        'learned-gamma',
        'optimal-gamma',
        'fixed-gamma',
        'bernoulli',
      ]),
    )
    .addOption(
      new Option('--gamma-convention <name>', 'gamma is a std (code) or a variance (paper) (std)').choices([
        'std',
        'variance',
      ]),
    )
    .option(
      '--set <key=value>',
      'override any config field, JSON values (repeatable), e.g. --set stage1.encoder.config.fcDim=512',
      collect,
    )
    .option('--config <file>', 'JSON file of config overrides')
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('--json', 'JSON lines on stdout even on a terminal')
    .option('--print-config', 'validate the config (plugins and their configs) and print it')
    .option('--no-eval', 'skip the short FID evaluation after training')
    .option(
      '--eval-count <int>',
      'samples per sampling mode (and test images) of the evaluation after training',
      intOption('--eval-count', 2),
      2000,
    )
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: TrainOpts) => {
      result.code = await runTrain(o, io, result);
    });
}
