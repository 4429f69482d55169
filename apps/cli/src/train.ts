/** `tsvae train`: train any Table 1 model (the Two-Stage VAE by default) in a run directory, or resume one. */
import { join, resolve } from 'node:path';
import { describeBackend } from '@tsvae/backend';
import { create } from '@tsvae/core';
import { readJsonFile } from '@tsvae/core/node';
import { EvaluationError } from '@tsvae/metrics';
import { PRESETS, type PresetName, RunDirectory } from '@tsvae/stages';
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
import {
  MODELS,
  type ModelFamily,
  modelConfig,
  modelFamily,
  modelInfo,
  TRAINERS,
  trainerOfRun,
} from './models';
import { jsonProgress, ttyProgress } from './progress';
import { backendSuggestion } from './setup';

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Options of `tsvae train` as commander parses them. */
export interface TrainOpts {
  model: string;
  dataset: string;
  preset: string;
  epochs?: number;
  lr?: number;
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

type Paths = Partial<Readonly<Record<ModelFamily, string>>>;

const ALL_VAE = (path: string): Paths => ({
  'two-stage': path,
  'one-stage': path,
  'wae-mmd': path,
  'vae-flow': path,
});
const SINGLE_VAE = (path: string): Paths => ({ 'one-stage': path, 'wae-mmd': path, 'vae-flow': path });

/**
 * The config-changing options: their flags and, per model family, the config field each sets. A
 * family without an entry does not take the option (an error naming the model). None of them may
 * be combined with --resume.
 */
const OVERRIDES: readonly [keyof TrainOpts, string, Paths][] = [
  ['seed', '--seed', { ...ALL_VAE('seed'), gan: 'seed' }],
  ['epochs', '--epochs', { ...SINGLE_VAE('stage1.epochs'), gan: 'epochs' }],
  ['lr', '--lr', { ...SINGLE_VAE('stage1.lr'), gan: 'optimizer.lr' }],
  ['stage1Epochs', '--stage1-epochs', { 'two-stage': 'stage1.epochs' }],
  ['stage2Epochs', '--stage2-epochs', { 'two-stage': 'stage2.epochs' }],
  ['stage1Lr', '--stage1-lr', { 'two-stage': 'stage1.lr' }],
  ['stage2Lr', '--stage2-lr', { 'two-stage': 'stage2.lr' }],
  ['batchSize', '--batch-size', { ...ALL_VAE('batchSize'), gan: 'batchSize' }],
  ['latentDim', '--latent-dim', ALL_VAE('latentDim')],
  ['subset', '--subset', { ...ALL_VAE('dataset.subset'), gan: 'dataset.subset' }],
  ['encoder', '--encoder', ALL_VAE('stage1.encoder.name')],
  ['decoder', '--decoder', ALL_VAE('stage1.decoder.name')],
  ['secondStage', '--second-stage', { 'two-stage': 'stage2.model.name' }],
  ['likelihood', '--likelihood', { 'two-stage': 'stage1.likelihood', 'vae-flow': 'stage1.likelihood' }],
  [
    'gammaConvention',
    '--gamma-convention',
    {
      'two-stage': 'stage1.gammaConvention',
      'one-stage': 'stage1.gammaConvention',
      'vae-flow': 'stage1.gammaConvention',
    },
  ],
];

/** What to use instead of an option a model does not take. */
function instead(flag: string, family: ModelFamily): string {
  if (family === 'two-stage' && (flag === '--epochs' || flag === '--lr')) {
    return `the Two-Stage VAE has two budgets: ${flag === '--epochs' ? '--stage1-epochs and --stage2-epochs' : '--stage1-lr and --stage2-lr'}`;
  }
  if (family !== 'two-stage' && flag.startsWith('--stage')) {
    return `a single-stage model: use ${flag.includes('lr') ? '--lr' : '--epochs'}`;
  }
  if (flag === '--likelihood') return 'the likelihood is part of the model';
  if (family === 'gan') return 'a GAN: set its fields with --set (tsvae train --help lists them)';
  return 'see tsvae train --help';
}

/** Checks that every given option applies to the model; a usage error names the first that does not. */
function checkApplies(o: TrainOpts, model: string, family: ModelFamily): void {
  for (const [key, flag, paths] of OVERRIDES) {
    if (o[key] !== undefined && paths[family] === undefined) {
      throw usageError(`${flag} does not apply to --model ${model} (${instead(flag, family)})`);
    }
  }
}

function trainOverrides(o: TrainOpts, cwd: string, family: ModelFamily): Record<string, unknown> {
  let over: Record<string, unknown> = {};
  if (o.config) {
    const path = resolve(cwd, o.config);
    const json = readJsonFile(path);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw usageError(`--config ${o.config}: ${path} must hold a JSON object of config overrides`);
    }
    over = json as Record<string, unknown>;
  }
  for (const [key, , paths] of OVERRIDES) {
    const v = o[key];
    const path = paths[family];
    if (path && v !== undefined) setPath(over, path, v);
  }
  for (const a of o.set ?? []) {
    const [k, v] = parseSet(a);
    setPath(over, k, v);
  }
  return over;
}

/** The run to train: the model's config for the preset with the overrides, or the resumed run's own. */
function runToTrain(o: TrainOpts, cwd: string): { trainer: string; config: unknown; runDir: string } {
  if (o.resume) {
    if (o.runDir) throw usageError('--resume takes the run directory; do not also pass --run-dir');
    const conflicting = [
      ...OVERRIDES.filter(([k]) => o[k] !== undefined).map(([, flag]) => flag),
      ...(o.set ? ['--set'] : []),
      ...(o.config ? ['--config'] : []),
    ];
    if (conflicting.length) {
      throw usageError(
        `--resume continues the run with the config recorded in its config.json; ${conflicting.join(', ')} cannot be combined with it`,
      );
    }
    const runDir = resolve(cwd, o.resume);
    const { name } = trainerOfRun(runDir);
    return { trainer: name, config: new RunDirectory(runDir).readRecord().config, runDir };
  }
  if (!PRESETS.includes(o.preset as PresetName)) {
    throw usageError(`--preset must be one of ${PRESETS.join(', ')}, got "${o.preset}"`);
  }
  const model = modelInfo(o.model);
  const family = modelFamily(model);
  checkApplies(o, model.name, family);
  const { trainer, config } = modelConfig(
    model,
    o.preset as PresetName,
    o.dataset,
    trainOverrides(o, cwd, family),
  );
  const name = model.name === 'two-stage-vae' ? '' : `-${model.name}`;
  return {
    trainer,
    config,
    runDir: resolve(cwd, o.runDir ?? join('runs', `${o.dataset}${name}-${o.preset}-${timestamp()}`)),
  };
}

/** `n`, or fewer when the run's test split holds fewer images. */
async function referenceCount(runDir: string, n: number): Promise<number> {
  try {
    const ds = new RunDirectory(runDir).readRecord().components['dataset'];
    if (!ds) return n;
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

/** `<model> on <dataset> (<preset>)` from a run config of either trainer. */
function describeRun(config: unknown): string {
  const c = config as { model?: string; preset?: string; dataset?: { name?: string } };
  return `${c.model ?? 'a model'} on ${c.dataset?.name ?? 'a dataset'} (${c.preset ?? 'custom'})`;
}

/** Runs `tsvae train`; resolves to the exit code (130 / 143 / 129 when stopped by a signal). */
export async function runTrain(o: TrainOpts, io: CliIO, result: { json: boolean }): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const json = o.json || !io.stdout.isTTY;
  result.json = json;
  await loadPluginModules(o.plugins, cwd);
  const { trainer: trainerName, config, runDir } = runToTrain(o, cwd);
  const trainer = TRAINERS[trainerName] as (typeof TRAINERS)[string];
  const logger = stderrLogger(io, o.verbose ?? false);
  if (o.printConfig) {
    // everything a run would check: plugin names and every component config
    await trainer.validate(config, logger);
    io.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return 0;
  }
  const backend = await setupBackend(o.backend, io, o.verbose ?? false);
  const say = (obj: Record<string, unknown>, text: string) =>
    io.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  const suggestion = backendSuggestion(backend);
  say(
    {
      event: 'start',
      runDir,
      resume: Boolean(o.resume),
      backend: backend.backend,
      threads: backend.threads,
      ...(suggestion ? { suggestion } : {}),
      config,
    },
    `${o.resume ? 'resuming' : 'training'} ${describeRun(config)} in ${runDir}\nbackend: ${describeBackend(backend)}${suggestion ? `\n${suggestion}` : ''}`,
  );
  const controller = new AbortController();
  let stoppedBy: StopSignal | null = null;
  const unsubscribe = io.onInterrupt?.((signal) => {
    stoppedBy = signal;
    io.stderr.write(`\n${signal}: saving a checkpoint (send it again to quit at once)\n`);
    controller.abort();
  });
  try {
    const r = await trainer.train({
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
    .description(
      'Train a model of Table 1 (the Two-Stage VAE by default: stage 1, encode the data, stage 2, sample grids), or resume a run.',
    )
    .addOption(
      new Option('--model <name>', `what to train: ${MODELS.map((m) => m.name).join(', ')}`).default(
        'two-stage-vae',
      ),
    )
    .option('--dataset <name>', 'dataset plugin', 'mnist')
    .option('--preset <name>', `preset: ${PRESETS.join(' | ')}`, 'quick')
    .option('--run-dir <dir>', 'run directory (default runs/<dataset>-<preset>-<time>)')
    .option('--resume <run-dir>', 'continue a run from its last good checkpoint')
    .option('--seed <int>', 'seed of every random choice, 0..2147483647 (preset: 0)', seedOption())
    .option(
      '--epochs <int>',
      'epochs of a single-stage model (GANs, wae-mmd, vae-flow, one-stage VAEs)',
      intOption('--epochs'),
    )
    .option('--lr <number>', 'learning rate of a single-stage model', positiveNumber('--lr'))
    .option(
      '--stage1-epochs <int>',
      'two-stage-vae: stage-1 epochs (quick 5, paper 400)',
      intOption('--stage1-epochs'),
    )
    .option(
      '--stage2-epochs <int>',
      'two-stage-vae: stage-2 epochs (quick 20, paper 800)',
      intOption('--stage2-epochs'),
    )
    .option(
      '--stage1-lr <number>',
      'two-stage-vae: stage-1 learning rate (quick 2e-3, paper 1e-4)',
      positiveNumber('--stage1-lr'),
    )
    .option(
      '--stage2-lr <number>',
      'two-stage-vae: stage-2 learning rate (quick 1e-3, paper 1e-4)',
      positiveNumber('--stage2-lr'),
    )
    .option('--batch-size <int>', 'batch size (64)', intOption('--batch-size', 1))
    .option('--latent-dim <int>', 'VAEs: latent dimension κ (64)', intOption('--latent-dim', 1))
    .option('--subset <int>', 'use only the first N training images (quick 6400)', intOption('--subset', 1))
    .option('--encoder <name>', 'VAEs: encoder plugin (infogan)')
    .option('--decoder <name>', 'VAEs: decoder plugin (infogan)')
    .option(
      '--second-stage <name>',
      'two-stage-vae: second-stage plugin (mlp; gmm and flow from @tsvae/priors)',
    )
    .addOption(
      new Option(
        '--likelihood <name>',
        'two-stage-vae, vae-flow: decoder likelihood (learned-gamma)',
      ).choices(['learned-gamma', 'optimal-gamma', 'fixed-gamma', 'bernoulli']),
    )
    .addOption(
      new Option(
        '--gamma-convention <name>',
        'VAEs with a Gaussian decoder: gamma is a std (code) or a variance (paper) (std)',
      ).choices(['std', 'variance']),
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
    .addHelpText(
      'after',
      `\nModels (--model) and the trainer that runs each:\n${MODELS.map((m) => `  ${m.name.padEnd(18)} ${m.table1.padEnd(20)} ${m.description}`).join('\n')}\n\nOptions marked "two-stage-vae:" apply to it only; --epochs and --lr to the single-stage models. Model-specific fields go through --set (e.g. --set loss.config.lambda=5 for wgan-gp); an option a model does not take is an error.`,
    )
    .action(async (o: TrainOpts) => {
      result.code = await runTrain(o, io, result);
    });
}
