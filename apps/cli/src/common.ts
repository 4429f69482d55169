/** Helpers shared by the CLI's commands: I/O, errors, option parsers, logger, backend, plugins. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import {
  type BackendInfo,
  type BackendRequest,
  getBackendInfo,
  initBackend,
  selectBackend,
} from '@tsvae/backend';
import { type Logger, loadPlugins } from '@tsvae/core';
import { InvalidArgumentError, Option } from 'commander';
import type { OutputStream } from './progress';

/** What {@link main} reads and writes (the process's by default; tests pass their own). */
export interface CliIO {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Working directory for relative paths (default `process.cwd()`). */
  readonly cwd?: string;
  /** Subscribe to interrupt requests (SIGINT); returns an unsubscribe function. */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

export const processIO: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  onInterrupt(handler) {
    let count = 0;
    const h = () => {
      count++;
      if (count > 1) process.exit(130);
      handler();
    };
    process.on('SIGINT', h);
    return () => process.off('SIGINT', h);
  },
};

/** A user error: printed as `error: <message>` with exit code 1 (no stack trace). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function intOption(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${value}".`);
    }
    return n;
  };
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

export function parseSet(assignment: string): [string, unknown] {
  const eq = assignment.indexOf('=');
  if (eq <= 0)
    throw new CliError(`--set expects key=value (e.g. --set stage1.epochs=10), got "${assignment}"`);
  const key = assignment.slice(0, eq).trim();
  const raw = assignment.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a bare string
  }
  return [key, value];
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
  await loadPlugins(specs.map((s) => (s.startsWith('.') || s.startsWith('/') ? resolve(cwd, s) : s)));
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
