/** Helpers shared by the CLI's commands: I/O, errors, option parsers, logger, backend, plugins. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type BackendInfo,
  type BackendRequest,
  getBackendInfo,
  initBackend,
  selectBackend,
} from '@tsvae/backend';
import { type Logger, loadPlugins, MAX_SEED } from '@tsvae/core';
import { InvalidArgumentError, Option } from 'commander';
import type { OutputStream } from './progress';

/** The signals that stop a long command with a checkpoint (Ctrl-C, `kill`/`docker stop`/Slurm, a closed terminal). */
export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** The exit code of a command stopped by a signal: 128 + the signal's number (130, 143, 129). */
export const SIGNAL_EXIT: Readonly<Record<StopSignal, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/** What {@link main} reads and writes (the process's by default; tests pass their own). */
export interface CliIO {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Working directory for relative paths (default `process.cwd()`). */
  readonly cwd?: string;
  /** Subscribe to stop requests (SIGINT, SIGTERM, SIGHUP); returns an unsubscribe function. */
  readonly onInterrupt?: (handler: (signal: StopSignal) => void) => () => void;
}

export const processIO: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  onInterrupt(handler) {
    let count = 0;
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => {
      const h = () => {
        count++;
        // A second signal quits at once (the run's lock is removed at exit; a checkpoint being
        // written is left as a temporary directory that the next start removes).
        if (count > 1) process.exit(SIGNAL_EXIT[signal]);
        handler(signal);
      };
      process.on(signal, h);
      return [signal, h] as const;
    });
    return () => {
      for (const [signal, h] of handlers) process.off(signal, h);
    };
  },
};

/** A user error: printed as `error: <message>` with exit code 1 (2 for a usage error; no stack trace). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A usage error (a bad command line): exit code 2. */
export function usageError(message: string): CliError {
  return new CliError(message, 2);
}

export function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `${name} must be an integer >= ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}, got "${value}".`,
      );
    }
    return n;
  };
}

/** A `--seed` parser: an integer in [0, MAX_SEED], the same range in every command. */
export function seedOption(name = '--seed') {
  return intOption(name, 0, MAX_SEED);
}

export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive number, got "${value}".`);
    }
    return n;
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = target;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) cur[k] = value;
    else {
      const next = cur[k];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
      cur = cur[k] as Record<string, unknown>;
    }
  });
}

/**
 * `--set key=value`: the value is JSON, or a bare string when it does not look like JSON. A value
 * that looks like JSON (an object, array, quoted string, number) but does not parse is an error
 * naming the key, not a string passed on to fail later as a type error.
 */
export function parseSet(assignment: string): [string, unknown] {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw usageError(`--set expects key=value (e.g. --set stage1.epochs=10), got "${assignment}"`);
  const key = assignment.slice(0, eq).trim();
  const raw = assignment.slice(eq + 1);
  try {
    return [key, JSON.parse(raw)];
  } catch (e) {
    if (/^\s*([[{"]|-?\.?\d)/.test(raw)) {
      throw usageError(`--set ${key}: ${JSON.stringify(raw)} is not valid JSON (${(e as Error).message})`);
    }
    return [key, raw];
  }
}

/** Package versions, read from each package's package.json (best effort). */
export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  let req: NodeJS.Require;
  try {
    req = createRequire(import.meta.url);
  } catch {
    return out;
  }
  const names = [
    '@tsvae/cli',
    '@tsvae/core',
    '@tsvae/backend',
    '@tsvae/distributions',
    '@tsvae/layers',
    '@tsvae/datasets',
    '@tsvae/stages',
    '@tsvae/metrics',
    '@tsvae/priors',
    '@tsvae/baselines',
    '@tsvae/web',
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-layers',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
  ];
  for (const name of names) {
    try {
      const pkg = JSON.parse(readFileSync(req.resolve(`${name}/package.json`), 'utf8')) as {
        version?: string;
      };
      if (pkg.version) out[name] = pkg.version;
    } catch {
      // not installed
    }
  }
  return out;
}

export function stderrLogger(io: CliIO, verbose: boolean): Logger {
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

/**
 * Initialises the backend once per process; a later command in the same process (the in-process
 * `main`) that names a different backend switches to it instead of silently keeping the first.
 */
export async function setupBackend(
  backend: string | undefined,
  io: CliIO,
  verbose: boolean,
): Promise<BackendInfo> {
  const logger = stderrLogger(io, verbose);
  const options = {
    ...(backend ? { backend: backend as BackendRequest } : {}),
    logger: { debug: logger.debug, info: logger.info, warn: logger.warn },
  };
  const info = await initBackend(options);
  if (backend && backend !== 'auto' && getBackendInfo()?.requested !== backend) return selectBackend(options);
  return getBackendInfo() ?? info;
}

export async function loadPluginModules(specs: string[] | undefined, cwd: string): Promise<void> {
  if (!specs?.length) return;
  await loadPlugins(
    specs.map((s) => (s.startsWith('.') || s.startsWith('/') ? pathToFileURL(resolve(cwd, s)).href : s)),
  );
}

export const backendOption = () =>
  new Option('--backend <name>', 'tfjs backend (default: TSVAE_BACKEND or automatic)').choices([
    'auto',
    'tensorflow',
    'wasm',
    'cpu',
    'webgpu',
  ]);
export const pluginsOption = () =>
  new Option('--plugins <module>', 'load third-party plugins from a module (repeatable)').argParser(collect);

/** Warns on stderr when a run's last checkpoint is from before the end of training. */
export function warnIfUnfinished(
  io: CliIO,
  runDir: string,
  position: { readonly stage: string; readonly epoch: number },
  doing: string,
): void {
  if (position.stage === 'done') return;
  io.stderr.write(
    `warning: ${runDir} has not finished training (checkpoint at ${position.stage} epoch ${position.epoch}); ${doing} it anyway\n`,
  );
}
