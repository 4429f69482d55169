/**
 * @packageDocumentation
 * The `tsvae` command line: `train`, `sample`, `encode`, `eval`, `info`. {@link main} runs it
 * in-process.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend } from '@tsvae/backend';
import { create, getRegistry, PLUGIN_KINDS, PluginError } from '@tsvae/core';
import { writeJsonAtomic } from '@tsvae/core/node';
import '@tsvae/datasets';
import '@tsvae/layers';
import '@tsvae/metrics';
import {
  encodeDataset,
  loadRun,
  NonFiniteLossError,
  PRESETS,
  type PresetName,
  RunConfigError,
  RunDirectoryError,
  readRunRecord,
  registerTinyPlugins,
  resolveRunConfig,
  sampleOneStage,
  sampleTwoStage,
  trainTwoStage,
  vaeRunGenerator,
  writeImageGrid,
} from '@tsvae/stages';
import { Command, CommanderError, Option } from 'commander';
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
  processIO,
  setPath,
  setupBackend,
  stderrLogger,
  warnIfUnfinished,
} from './common';
import { addEvalCommand } from './eval';
import { writeNpy } from './npy';
import { jsonProgress, ttyProgress } from './progress';

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

interface TrainOpts {
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
  verbose?: boolean;
}

function trainOverrides(o: TrainOpts, cwd: string): Record<string, unknown> {
  let over: Record<string, unknown> = {};
  if (o.config) {
    const path = resolve(cwd, o.config);
    try {
      over = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new CliError(
        `--config ${o.config}: cannot read JSON from ${path}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  const set = (k: string, v: unknown) => {
    if (v !== undefined) setPath(over, k, v);
  };
  set('seed', o.seed);
  set('stage1.epochs', o.stage1Epochs);
  set('stage2.epochs', o.stage2Epochs);
  set('stage1.lr', o.stage1Lr);
  set('stage2.lr', o.stage2Lr);
  set('batchSize', o.batchSize);
  set('latentDim', o.latentDim);
  set('dataset.subset', o.subset);
  set('stage1.encoder.name', o.encoder);
  set('stage1.decoder.name', o.decoder);
  set('stage2.model.name', o.secondStage);
  set('stage1.likelihood', o.likelihood);
  set('stage1.gammaConvention', o.gammaConvention);
  for (const a of o.set ?? []) {
    const [k, v] = parseSet(a);
    setPath(over, k, v);
  }
  return over;
}

async function runTrain(o: TrainOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const json = o.json || !io.stdout.isTTY;
  await loadPluginModules(o.plugins, cwd);
  if (o.resume && o.runDir)
    throw new CliError('--resume takes the run directory; do not also pass --run-dir');
  if (o.resume) {
    const conflicting = (
      [
        ['seed', '--seed'],
        ['stage1Epochs', '--stage1-epochs'],
        ['stage2Epochs', '--stage2-epochs'],
        ['stage1Lr', '--stage1-lr'],
        ['stage2Lr', '--stage2-lr'],
        ['batchSize', '--batch-size'],
        ['latentDim', '--latent-dim'],
        ['subset', '--subset'],
        ['encoder', '--encoder'],
        ['decoder', '--decoder'],
        ['secondStage', '--second-stage'],
        ['likelihood', '--likelihood'],
        ['gammaConvention', '--gamma-convention'],
        ['set', '--set'],
        ['config', '--config'],
      ] as const
    ).filter(([k]) => o[k] !== undefined);
    if (conflicting.length) {
      throw new CliError(
        `--resume continues the run with the config recorded in its config.json; ${conflicting
          .map(([, flag]) => flag)
          .join(', ')} cannot be combined with it`,
      );
    }
  }
  let config: ReturnType<typeof resolveRunConfig> | undefined;
  let runDir: string;
  if (o.resume) {
    runDir = resolve(cwd, o.resume);
    config = readRunRecord(runDir).config;
  } else {
    if (!PRESETS.includes(o.preset as PresetName)) {
      throw new CliError(`--preset must be one of ${PRESETS.join(', ')}, got "${o.preset}"`);
    }
    config = resolveRunConfig(o.preset as PresetName, o.dataset, trainOverrides(o, cwd));
    runDir = resolve(cwd, o.runDir ?? join('runs', `${o.dataset}-${o.preset}-${timestamp()}`));
  }
  if (o.printConfig) {
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
  const unsubscribe = io.onInterrupt?.(() => {
    io.stderr.write('\ninterrupt: saving a checkpoint (press Ctrl-C again to quit at once)\n');
    controller.abort();
  });
  try {
    const result = await trainTwoStage({
      runDir,
      ...(o.resume ? { resume: true } : { config }),
      logger: stderrLogger(io, o.verbose ?? false),
      callbacks: [json ? jsonProgress(io.stdout) : ttyProgress(io.stdout)],
      signal: controller.signal,
      environment: { versions: packageVersions(), backend },
    });
    if (result.status === 'aborted') {
      say(
        { event: 'interrupted', runDir, checkpoint: result.lastCheckpoint },
        `interrupted: checkpoint ${result.lastCheckpoint}\nresume with: tsvae train --resume ${runDir}`,
      );
      return 130;
    }
    say(
      { event: 'done', runDir, samples: result.samples, checkpoint: result.lastCheckpoint },
      `done: ${runDir}\nsamples:\n${result.samples.map((s) => `  ${s}`).join('\n')}`,
    );
    return 0;
  } finally {
    unsubscribe?.();
  }
}

interface SampleOpts {
  run: string;
  count: number;
  mode: string;
  seed: number;
  out?: string;
  batchSize: number;
  plugins?: string[];
  backend?: string;
  verbose?: boolean;
}

async function runSample(o: SampleOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  await loadPluginModules(o.plugins, cwd);
  if (o.mode !== 'two-stage' && o.mode !== 'one-stage') {
    throw new CliError(`--mode must be two-stage or one-stage, got "${o.mode}"`);
  }
  await setupBackend(o.backend, io, o.verbose ?? false);
  const runDir = resolve(cwd, o.run);
  const run = await loadRun(runDir, { logger: stderrLogger(io, o.verbose ?? false) });
  try {
    if (o.mode === 'two-stage') warnIfUnfinished(io, runDir, run.position, 'sampling from');
    const images =
      o.mode === 'two-stage'
        ? sampleTwoStage(run.stage1, run.secondStage, o.count, { seed: o.seed, batchSize: o.batchSize })
        : sampleOneStage(run.stage1, o.count, { seed: o.seed, batchSize: o.batchSize });
    const out = resolve(cwd, o.out ?? join(runDir, 'samples', `${o.mode}-seed${o.seed}.png`));
    writeImageGrid(out, images);
    images.dispose();
    io.stdout.write(`${out}\n`);
    return 0;
  } finally {
    run.dispose();
  }
}

interface EncodeOpts {
  run: string;
  split: string;
  out?: string;
  batchSize: number;
  plugins?: string[];
  backend?: string;
  verbose?: boolean;
}

async function runEncode(o: EncodeOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  await loadPluginModules(o.plugins, cwd);
  if (o.split !== 'train' && o.split !== 'test')
    throw new CliError(`--split must be train or test, got "${o.split}"`);
  await setupBackend(o.backend, io, o.verbose ?? false);
  const runDir = resolve(cwd, o.run);
  const run = await loadRun(runDir);
  try {
    const dataset = await create('dataset', run.config.dataset.name, run.config.dataset.config);
    const split = await dataset.load(o.split);
    const codes = encodeDataset(run.stage1, split, { batchSize: o.batchSize });
    const outDir = resolve(cwd, o.out ?? join(runDir, `codes-${o.split}`));
    mkdirSync(outDir, { recursive: true });
    writeNpy(join(outDir, 'mu.npy'), codes.mu, [codes.size, codes.latentDim]);
    writeNpy(join(outDir, 'sigma.npy'), codes.sigma, [codes.size, codes.latentDim]);
    if (split.labels) writeNpy(join(outDir, 'labels.npy'), split.labels, [split.size]);
    writeJsonAtomic(join(outDir, 'codes.json'), {
      run: runDir,
      checkpoint: run.checkpoint,
      dataset: run.config.dataset.name,
      split: o.split,
      size: codes.size,
      latentDim: codes.latentDim,
      files: ['mu.npy', 'sigma.npy', ...(split.labels ? ['labels.npy'] : [])],
    });
    io.stdout.write(`${outDir}\n`);
    return 0;
  } finally {
    run.dispose();
  }
}

async function runInfo(
  o: { backend?: string; json?: boolean; plugins?: string[]; verbose?: boolean },
  io: CliIO,
): Promise<number> {
  await loadPluginModules(o.plugins, io.cwd ?? process.cwd());
  const info = await setupBackend(o.backend, io, o.verbose ?? false);
  const reg = getRegistry();
  const plugins = Object.fromEntries(PLUGIN_KINDS.map((k) => [k, reg.list(k)]));
  const versions = packageVersions();
  const report = {
    backend: info,
    summary: describeBackend(info),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: availableParallelism(),
    versions,
    plugins,
  };
  if (o.json || !io.stdout.isTTY) {
    io.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  const lines = [
    `backend:  ${describeBackend(info)}`,
    `          requested ${info.requested} (from ${info.requestSource})`,
    ...info.rejected.map((r) => `          not ${r.backend} (${r.module}): ${r.reason}`),
    ...info.notes.map((n) => `          note: ${n}`),
    `threads:  ${info.threads} (of ${availableParallelism()} CPUs)`,
    `node:     ${process.version} ${process.platform}-${process.arch}`,
    'versions:',
    ...Object.entries(versions).map(([k, v]) => `  ${k} ${v}`),
    'plugins:',
    ...Object.entries(plugins).map(([k, v]) => `  ${k}: ${v.length ? v.join(', ') : '(none)'}`),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** Builds the commander program; actions store their exit code in `result.code`. */
export function buildProgram(io: CliIO, result: { code: number }): Command {
  const program = new Command('tsvae')
    .description('Two-Stage VAE (Dai & Wipf, ICLR 2019) on TensorFlow.js: train, sample, encode, evaluate.')
    .version(packageVersions()['@tsvae/cli'] ?? '0.0.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  program
    .command('train')
    .description('Train stage 1, encode the data, train stage 2, write sample grids (or resume a run).')
    .option('--dataset <name>', 'dataset plugin', 'mnist')
    .option('--preset <name>', `preset: ${PRESETS.join(' | ')}`, 'quick')
    .option('--run-dir <dir>', 'run directory (default runs/<dataset>-<preset>-<time>)')
    .option('--resume <run-dir>', 'continue a run from its last checkpoint')
    .option('--seed <int>', 'seed of every random choice (preset: 0)', intOption('--seed'))
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
      'override any config field, JSON values (repeatable), e.g. --set stage1.encoder.config.width=32',
      collect,
    )
    .option('--config <file>', 'JSON file of config overrides')
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('--json', 'JSON lines on stdout even on a terminal')
    .option('--print-config', 'print the resolved config and exit')
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: TrainOpts) => {
      result.code = await runTrain(o, io);
    });

  program
    .command('sample')
    .description('Draw a grid of samples from a trained run.')
    .requiredOption('--run <dir>', 'run directory')
    .option('-n, --count <int>', 'number of images', intOption('--count', 1), 64)
    .addOption(
      new Option('--mode <mode>', 'sampling').choices(['two-stage', 'one-stage']).default('two-stage'),
    )
    .option('--seed <int>', 'seed', intOption('--seed'), 0)
    .option('--out <file.png>', 'output PNG (default <run>/samples/<mode>-seed<seed>.png)')
    .option('--batch-size <int>', 'images per batch', intOption('--batch-size', 1), 256)
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: SampleOpts) => {
      result.code = await runSample(o, io);
    });

  program
    .command('encode')
    .description('Write the stage-1 posterior (mu, sigma) of a dataset split as .npy files.')
    .requiredOption('--run <dir>', 'run directory')
    .addOption(new Option('--split <name>', 'dataset split').choices(['train', 'test']).default('train'))
    .option('--out <dir>', 'output directory (default <run>/codes-<split>)')
    .option('--batch-size <int>', 'images per batch', intOption('--batch-size', 1), 256)
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: EncodeOpts) => {
      result.code = await runEncode(o, io);
    });

  addEvalCommand(program, io, result);

  program
    .command('info')
    .description('Show the backend and why it was chosen, threads, versions and registered plugins.')
    .addOption(backendOption())
    .addOption(pluginsOption())
    .option('--json', 'one JSON object')
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: { backend?: string; json?: boolean; plugins?: string[]; verbose?: boolean }) => {
      result.code = await runInfo(o, io);
    });
  return program;
}

function describeError(e: unknown): string {
  if (e instanceof RunConfigError) {
    return `invalid configuration: ${e.issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join('; ')}`;
  }
  if (
    e instanceof RunDirectoryError ||
    e instanceof NonFiniteLossError ||
    e instanceof PluginError ||
    e instanceof CliError
  ) {
    return e.message;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Runs the CLI on `argv` (without `node` and the script name) and resolves to the exit code:
 * 0 success, 1 an error (printed in plain words on stderr), 2 a usage error, 130 interrupted
 * (a checkpoint was saved).
 *
 * @example
 * ```ts
 * import { main } from '@tsvae/cli';
 * process.exitCode = await main(['train', '--dataset', 'mnist', '--preset', 'quick']);
 * ```
 */
export async function main(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  // The small test plugins of @tsvae/stages (tiny-dense, tiny-mlp, tiny-manifold): a run in seconds.
  registerTinyPlugins();
  // Trained runs as generators (`vae-run`), for comparison tools that go through the registry.
  if (!getRegistry().has('generator', vaeRunGenerator.name)) getRegistry().register(vaeRunGenerator);
  const result = { code: 0 };
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
      )
        return 0;
      return e.exitCode === 0 ? 0 : 2;
    }
    io.stderr.write(`error: ${describeError(e)}\n`);
    if (process.env['TSVAE_DEBUG'] && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}

export { CliError, type CliIO, packageVersions } from './common';
export { EVAL_FORMAT, type EvalOpts, runEval } from './eval';
export { encodeNpy, writeNpy } from './npy';
export { jsonProgress, type OutputStream, ttyProgress } from './progress';
/** The tfjs-core version the CLI runs with. */
export const TFJS_VERSION: string = tf.version_core;
