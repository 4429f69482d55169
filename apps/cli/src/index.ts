/**
 * @packageDocumentation
 * The `tsvae` command line: `train`, `sample`, `encode`, `eval`, `info`. {@link main} runs it
 * in-process.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getRegistry, PluginError } from '@tsvae/core';
import { FileFormatError, FsError } from '@tsvae/core/node';
import '@tsvae/datasets';
import '@tsvae/layers';
import '@tsvae/metrics';
import '@tsvae/priors';
import { NonFiniteLossError, RunConfigError, RunDirectoryError, vaeRunGenerator } from '@tsvae/stages';
import { Command, CommanderError } from 'commander';
import { CliError, type CliIO, packageVersions, processIO, usageError } from './common';
import { addCompareCommand } from './compare';
import { addEvalCommand } from './eval';
import { addExportCommand } from './export';
import { addFidCommand } from './fid';
import { addFitStage2Command } from './fit-stage2';
import { addInfoCommand } from './info';
import { addSampleCommands } from './sample';
import { addSetupCommand } from './setup';
import { addTrainCommand } from './train';

/** The commands, in the order `--help` lists them. */
export const COMMANDS = [
  'train',
  'sample',
  'encode',
  'eval',
  'fid',
  'fit-stage2',
  'export',
  'info',
  'setup',
  'compare',
] as const;

/** Commands that print JSON lines when piped (or with --json); their failures end with an error event. */
const JSON_COMMANDS = new Set(['train', 'eval', 'fid', 'fit-stage2']);

/** Builds the commander program; actions store their exit code in `result.code`. */
export function buildProgram(io: CliIO, result: { code: number; json: boolean }): Command {
  const program = new Command('tsvae')
    .description('Two-Stage VAE (Dai & Wipf, ICLR 2019) on TensorFlow.js: train, sample, encode, evaluate.')
    .version(packageVersions()['@tsvae/cli'] ?? '0.0.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  addTrainCommand(program, io, result);
  addSampleCommands(program, io, result);
  addEvalCommand(program, io, result);
  addFidCommand(program, io, result);
  addFitStage2Command(program, io, result);
  addExportCommand(program, io, result);
  addInfoCommand(program, io, result);
  addSetupCommand(program, io, result);
  addCompareCommand(program, io, result);
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
    e instanceof FsError ||
    e instanceof FileFormatError ||
    e instanceof CliError
  ) {
    return e.message;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

function exitCodeOf(e: unknown): number {
  return e instanceof CliError ? e.exitCode : 1;
}

/**
 * Runs the CLI on `argv` (without `node` and the script name) and resolves to the exit code:
 * 0 success, 1 an error (printed in plain words on stderr; in JSON mode also as a final
 * `{"event":"error"}` line on stdout), 2 a usage error, 130 / 143 / 129 stopped by SIGINT / SIGTERM
 * / SIGHUP (a checkpoint was saved).
 *
 * @example
 * ```ts
 * import { main } from '@tsvae/cli';
 * process.exitCode = await main(['train', '--dataset', 'mnist', '--preset', 'quick']);
 * ```
 */
export async function main(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  // Trained runs as generators (`vae-run`), for comparison tools that go through the registry.
  if (!getRegistry().has('generator', vaeRunGenerator.name)) getRegistry().register(vaeRunGenerator);
  const command = argv.find((a) => !a.startsWith('-'));
  const json =
    command !== undefined && JSON_COMMANDS.has(command) && (argv.includes('--json') || !io.stdout.isTTY);
  const result = { code: 0, json };
  const program = buildProgram(io, result);
  try {
    if (command !== undefined && argv[0] === command && !(COMMANDS as readonly string[]).includes(command)) {
      throw usageError(`unknown command '${command}' (commands: ${COMMANDS.join(', ')}; tsvae --help)`);
    }
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
    const code = exitCodeOf(e);
    io.stderr.write(`error: ${message}\n`);
    if (process.env['TSVAE_DEBUG'] && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    if (result.json) io.stdout.write(`${JSON.stringify({ event: 'error', message, exitCode: code })}\n`);
    return code;
  }
}

export { CliError, type CliIO, packageVersions, SIGNAL_EXIT, type StopSignal } from './common';
export { EVAL_FORMAT, type EvalOpts, runEval } from './eval';
export { defaultExportDir, type ExportOptions, type ExportResult, exportRun } from './export';
export { type FitStage2Opts, runFitStage2 } from './fit-stage2';
export { type LatentRecord, type LatentRecordOptions, latentLine, runLatentDiagnostics } from './latent';
export {
  loadSamplers,
  MODELS,
  type ModelFamily,
  modelConfig,
  modelFamily,
  type RunSamplers,
  TRAINERS,
  type Trainer,
  type TrainerOptions,
  type TrainerResult,
} from './models';
export { encodeNpy, writeNpy } from './npy';
export { jsonProgress, type OutputStream, ttyProgress } from './progress';
export { runTrain, type TrainOpts } from './train';
/** The tfjs-core version the CLI runs with. */
export const TFJS_VERSION: string = tf.version_core;
