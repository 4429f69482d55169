/**
 * `tsvae fit-stage2`: train or fit another second stage on a run's finished stage 1, into
 * `<run>/stage2-<name>/` (`@tsvae/stages`' `fitSecondStage`); sample and evaluate it with
 * `--stage2 <name>`.
 */
import { basename, dirname, resolve } from 'node:path';
import { describeBackend } from '@tsvae/backend';
import { fitSecondStage } from '@tsvae/stages';
import type { Command } from 'commander';
import {
  backendOption,
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
import { jsonProgress, ttyProgress } from './progress';

/** Options of `tsvae fit-stage2` as commander parses them. */
export interface FitStage2Opts {
  secondStage?: string;
  name?: string;
  out?: string;
  set?: string[];
  epochs?: number;
  lr?: number;
  lrEpochs?: number;
  batchSize?: number;
  seed?: number;
  resume?: boolean;
  plugins?: string[];
  backend?: string;
  json?: boolean;
  verbose?: boolean;
}

/** The options that define a new second stage (none may be combined with --resume). */
const DEFINING: readonly [keyof FitStage2Opts, string][] = [
  ['secondStage', '--second-stage'],
  ['set', '--set'],
  ['epochs', '--epochs'],
  ['lr', '--lr'],
  ['lrEpochs', '--lr-epochs'],
  ['batchSize', '--batch-size'],
  ['seed', '--seed'],
];

/**
 * The second-stage name that `--out` names: a run's second stages live inside it, as
 * `<run>/stage2-<name>/` (where `sample` and `eval --stage2 <name>` find them).
 */
function nameFromOut(runDir: string, out: string, given: string): string {
  const base = basename(out);
  if (dirname(out) !== runDir || !base.startsWith('stage2-') || base.length === 'stage2-'.length) {
    throw usageError(
      `--out must be <run>/stage2-<name> (${runDir}/stage2-<name>): a run's second stages live inside it, where sample and eval --stage2 <name> find them; got ${given}`,
    );
  }
  return base.slice('stage2-'.length);
}

/** Runs `tsvae fit-stage2`; resolves to the exit code (130 / 143 / 129 when stopped by a signal). */
export async function runFitStage2(
  runArg: string,
  o: FitStage2Opts,
  io: CliIO,
  result: { json: boolean },
): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const json = o.json || !io.stdout.isTTY;
  result.json = json;
  await loadPluginModules(o.plugins, cwd);
  const runDir = resolve(cwd, runArg);
  const outName = o.out === undefined ? undefined : nameFromOut(runDir, resolve(cwd, o.out), o.out);
  if (outName !== undefined && o.name !== undefined && o.name !== outName) {
    throw usageError(`--out ${o.out} is the second stage "${outName}", but --name says "${o.name}"`);
  }
  if (o.resume) {
    const conflicting = DEFINING.filter(([k]) => o[k] !== undefined).map(([, flag]) => flag);
    if (conflicting.length) {
      throw usageError(
        `--resume continues the second stage recorded in <run>/stage2-<name>/config.json; ${conflicting.join(', ')} cannot be combined with it`,
      );
    }
    if (!o.name && !outName) {
      throw usageError(
        '--resume needs --name <name> or --out <run>/stage2-<name> (the second stage to continue)',
      );
    }
  } else if (!o.secondStage) {
    throw usageError(
      'fit-stage2 needs --second-stage <plugin> (e.g. gmm, flow, mlp), or --resume --name <name>',
    );
  }
  const config: Record<string, unknown> = {};
  for (const a of o.set ?? []) {
    const [k, v] = parseSet(a);
    setPath(config, k, v);
  }
  const logger = stderrLogger(io, o.verbose ?? false);
  const backend = await setupBackend(o.backend, io, o.verbose ?? false);
  const name = o.name ?? outName ?? (o.secondStage as string);
  const say = (obj: Record<string, unknown>, text: string) =>
    io.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  say(
    {
      event: 'start',
      runDir,
      name,
      resume: Boolean(o.resume),
      secondStage: o.secondStage ?? null,
      config,
      backend: backend.backend,
    },
    `${o.resume ? 'resuming' : 'fitting'} second stage "${name}"${o.secondStage ? ` (${o.secondStage})` : ''} on the stage 1 of ${runDir}\nbackend: ${describeBackend(backend)}`,
  );
  const controller = new AbortController();
  let stoppedBy: StopSignal | null = null;
  const unsubscribe = io.onInterrupt?.((signal) => {
    stoppedBy = signal;
    io.stderr.write(`\n${signal}: stopping (send it again to quit at once)\n`);
    controller.abort();
  });
  try {
    const r = await fitSecondStage({
      runDir,
      name,
      ...(o.resume ? { resume: true } : { secondStage: { name: o.secondStage as string, config } }),
      ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
      ...(o.lr !== undefined ? { lr: o.lr } : {}),
      ...(o.lrEpochs !== undefined ? { lrEpochs: o.lrEpochs } : {}),
      ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
      logger,
      callbacks: [json ? jsonProgress(io.stdout) : ttyProgress(io.stdout)],
      signal: controller.signal,
      environment: { versions: packageVersions(), backend },
    });
    if (r.status === 'aborted') {
      const signal: StopSignal = stoppedBy ?? 'SIGINT';
      say(
        { event: 'interrupted', signal, runDir, name, dir: r.dir, checkpoint: r.lastCheckpoint },
        `stopped by ${signal}${r.lastCheckpoint ? `: checkpoint ${r.lastCheckpoint}` : ''}\nresume with: tsvae fit-stage2 ${runDir} --name ${name} --resume`,
      );
      return SIGNAL_EXIT[signal];
    }
    say(
      { event: 'done', runDir, name, dir: r.dir, checkpoint: r.lastCheckpoint },
      `done: ${r.dir}\nsample it: tsvae sample --run ${runDir} --stage2 ${name}\nevaluate it: tsvae eval ${runDir} --stage2 ${name}`,
    );
    return 0;
  } finally {
    unsubscribe?.();
  }
}

/** Adds `fit-stage2` to the program. */
export function addFitStage2Command(
  program: Command,
  io: CliIO,
  result: { code: number; json: boolean },
): void {
  program
    .command('fit-stage2')
    .description(
      "Train or fit another second stage on a run's finished stage 1, into <run>/stage2-<name>/ (sample / eval it with --stage2 <name>).",
    )
    .argument('<run>', 'run directory (stage 1 finished)')
    .option('--second-stage <plugin>', 'second-stage plugin: gmm, flow, mlp, ... (required unless --resume)')
    .option('--name <name>', 'name of the second stage: <run>/stage2-<name>/ (default: the plugin name)')
    .option('--out <dir>', 'the same as --name, spelled as the directory: <run>/stage2-<name>')
    .option(
      '--set <key=value>',
      "a key of the second stage's config, JSON values (repeatable), e.g. --set components=100",
      collect,
    )
    .option(
      '--epochs <int>',
      "epochs of gradient training (default: the run's stage2.epochs)",
      intOption('--epochs'),
    )
    .option('--lr <number>', "learning rate (default: the run's stage2.lr)", positiveNumber('--lr'))
    .option('--lr-epochs <int>', 'halve the learning rate every N epochs', intOption('--lr-epochs', 1))
    .option('--batch-size <int>', "batch size (default: the run's)", intOption('--batch-size', 1))
    .option('--seed <int>', "seed, 0..2147483647 (default: the run's)", seedOption())
    .option('--resume', 'continue <run>/stage2-<name>/ from its last good checkpoint')
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('--json', 'JSON lines on stdout even on a terminal')
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (runArg: string, o: FitStage2Opts) => {
      result.code = await runFitStage2(runArg, o, io, result);
    });
}
