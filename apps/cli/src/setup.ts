/**
 * `tsvae setup tensorflow`: native TensorFlow for the `tensorflow` backend in one command
 * (`@tsvae/backend`'s `setupTensorflow`: tfjs-node into a tsvae-owned directory under the cache
 * directory, libtensorflow from PyPI, the addon built and checked); `--remove` undoes it.
 */
import {
  type BackendInfo,
  DEFAULT_TENSORFLOW_VERSION,
  describeBackend,
  removeTensorflow,
  selectBackend,
  setupTensorflow,
  TensorflowSetupError,
  tensorflowHome,
} from '@tsvae/backend';
import type { Logger } from '@tsvae/core';
import type { Command } from 'commander';
import { CliError, type CliIO, stderrLogger, usageError } from './common';

interface SetupOpts {
  tensorflowVersion?: string;
  force?: boolean;
  remove?: boolean;
  indexUrl?: string;
  keepDownloads?: boolean;
  json?: boolean;
  verbose?: boolean;
}

/** What `tsvae setup` can set up. */
export const SETUP_TARGETS = ['tensorflow'] as const;

const gb = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(2)} GB`;

/**
 * The one-line hint `tsvae info` and `tsvae train` print when the automatic choice fell to wasm on
 * a machine where `tsvae setup tensorflow` works; null otherwise (an explicit request, another
 * backend, another platform).
 */
export function backendSuggestion(info: BackendInfo): string | null {
  if (info.backend !== 'wasm' || info.requested !== 'auto') return null;
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return null;
  return 'hint: `tsvae setup tensorflow` installs native TensorFlow for the faster tensorflow backend (about 1.2 GB under the cache directory; your package.json is not touched)';
}

/** What `tsvae info` would pick now, in this process (after the setup loaded nothing yet). */
async function nowPicked(logger: Logger): Promise<BackendInfo | string> {
  try {
    return await selectBackend({ logger: { debug: logger.debug, info: logger.info, warn: logger.warn } });
  } catch (e) {
    return (e as Error).message;
  }
}

async function runSetup(target: string, o: SetupOpts, io: CliIO): Promise<number> {
  if (!(SETUP_TARGETS as readonly string[]).includes(target))
    throw usageError(`tsvae setup ${target}: unknown target (targets: ${SETUP_TARGETS.join(', ')})`);
  // the long work's progress goes to stderr even without --verbose
  const logger: Logger = { ...stderrLogger(io, o.verbose ?? false), info: stderrLogger(io, true).info };
  const say = (obj: Record<string, unknown>, text: string) =>
    io.stdout.write(o.json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  if (o.remove) {
    if (o.tensorflowVersion !== undefined || o.force)
      throw usageError('--remove takes no --tensorflow-version or --force: it removes every version');
    const r = removeTensorflow();
    const picked = await nowPicked(logger);
    const summary = typeof picked === 'string' ? picked : describeBackend(picked);
    say(
      {
        event: 'removed',
        removed: r.removed,
        bytes: r.bytes,
        backend: typeof picked === 'string' ? null : picked,
      },
      r.removed === null
        ? `nothing to remove: tsvae setup tensorflow has not installed anything in ${tensorflowHome()}`
        : `removed ${r.removed} (${gb(r.bytes)})\ntsvae info will now pick: ${summary}`,
    );
    return 0;
  }
  let result: Awaited<ReturnType<typeof setupTensorflow>>;
  try {
    result = await setupTensorflow({
      ...(o.tensorflowVersion !== undefined ? { tensorflowVersion: o.tensorflowVersion } : {}),
      ...(o.indexUrl !== undefined ? { indexUrl: o.indexUrl } : {}),
      force: o.force ?? false,
      keepDownloads: o.keepDownloads ?? false,
      logger,
    });
  } catch (e) {
    if (e instanceof TensorflowSetupError)
      throw new CliError(`tsvae setup tensorflow: ${e.message}`, 1, { cause: e });
    throw e;
  }
  const picked = await nowPicked(logger);
  const { install, check } = result;
  const head =
    result.status === 'installed'
      ? `installed TensorFlow ${install.tensorflowVersion} for the tensorflow backend in ${install.root} (${gb(result.bytes)}, ${Math.round(result.seconds)} s):`
      : result.status === 'switched'
        ? `TensorFlow ${install.tensorflowVersion} was set up in ${install.root}; it is the current one now:`
        : `already set up: TensorFlow ${install.tensorflowVersion} in ${install.root} (${gb(result.bytes)}):`;
  const summary = typeof picked === 'string' ? `no backend starts: ${picked}` : describeBackend(picked);
  const notTensorflow =
    typeof picked !== 'string' && picked.backend !== 'tensorflow'
      ? `\nnote: TSVAE_BACKEND=${process.env['TSVAE_BACKEND'] ?? ''} keeps it from being picked; unset it`
      : '';
  say(
    {
      event: 'done',
      status: result.status,
      install,
      check,
      steps: result.steps,
      bytes: result.bytes,
      seconds: result.seconds,
      backend: typeof picked === 'string' ? null : picked,
    },
    `${head}\n${result.steps.map((s) => `  - ${s}`).join('\n')}\ntsvae info will now pick: ${summary}${notTensorflow}\n` +
      `(undo with: tsvae setup tensorflow --remove)`,
  );
  return 0;
}

/** Adds `setup` to the program. */
export function addSetupCommand(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('setup')
    .description(
      "Install what a faster backend needs: `tsvae setup tensorflow` puts tfjs-node and TensorFlow's C library (from PyPI) under the cache directory, builds and checks it; the project's package.json is not touched.",
    )
    .argument('<target>', `what to set up (${SETUP_TARGETS.join(', ')})`)
    .option(
      '--tensorflow-version <version>',
      `the tensorflow-cpu release on PyPI to take the C library from (default ${DEFAULT_TENSORFLOW_VERSION})`,
    )
    .option('--force', 'build again even if this version is set up and passes its check')
    .option('--remove', 'remove everything tsvae setup tensorflow installed (every version)')
    .option('--index-url <url>', 'a PyPI mirror (default TSVAE_PYPI_URL or https://pypi.org)')
    .option('--keep-downloads', 'keep the downloaded wheels in the cache directory')
    .option('--json', 'one JSON object')
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (target: string, o: SetupOpts) => {
      result.code = await runSetup(target, o, io);
    });
}
