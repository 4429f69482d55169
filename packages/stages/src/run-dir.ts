/**
 * The run directory: the one module that knows its layout and reads and writes its files.
 *
 * ```
 * <run>/config.json          the run record (config, components, versions, backend)
 * <run>/metrics.jsonl        one line per finished epoch
 * <run>/checkpoints/ckpt-NNNNNN/{weights.bin, manifest.json}
 * <run>/samples/*.png        sample grids
 * <run>/codes-<split>/       encoded datasets (mu.npy, sigma.npy, labels.npy, codes.json)
 * <run>/eval.json            the last evaluation
 * <run>/stage2-<name>/       another second stage fitted on the run's stage 1 (`fitSecondStage`):
 *                            a run directory of its own (config.json, metrics.jsonl, checkpoints/)
 * <run>/run.lock             held while a process writes the run
 * ```
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import {
  ensureDir,
  FileFormatError,
  fsError,
  readJsonFile,
  readJsonLines,
  removeStaleTemps,
  writeFileAtomic,
  writeJsonAtomic,
} from '@tsvae/core/node';
import { z } from 'zod';
import type { ComponentRecord } from './checkpoint';
import { RunDirectoryError, RunInUseError } from './errors';

/** A valid name of a further second stage (`stage2-<name>/`). */
export const SECOND_STAGE_NAME: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What is recorded about the environment in `config.json`. */
export interface RunEnvironment {
  /** Package versions (the run adds `@tsvae/stages` and `@tensorflow/tfjs-core`). */
  readonly versions?: Readonly<Record<string, string>>;
  /** The backend and why it was chosen (e.g. `@tsvae/backend`'s `BackendInfo`). */
  readonly backend?: unknown;
}

/**
 * Contents of `config.json`: an envelope every trainer shares (`trainer` names the one that wrote
 * the run: `two-stage-vae` here, others in other packages) around the trainer's own config and its
 * components, each recorded as `{ plugin, config }` so the registry rebuilds it.
 */
export interface RunRecord<C = unknown> {
  readonly format: 'tsvae-run';
  readonly version: 2;
  /** The trainer that wrote the run (and can resume it). */
  readonly trainer: string;
  readonly createdAt: string;
  readonly config: C;
  /** Each component's plugin and config, as the registry rebuilds it. */
  readonly components: Readonly<Record<string, ComponentRecord>>;
  readonly versions: Readonly<Record<string, string>>;
  readonly backend: unknown;
  readonly tfBackend: string;
  readonly seed: number;
}

const componentSchema = z.object({
  plugin: z.string().min(1),
  config: z.record(z.string(), z.unknown()),
  resolved: z.record(z.string(), z.unknown()).optional(),
});

const recordSchema = z.object({
  format: z.literal('tsvae-run'),
  version: z.literal(2),
  trainer: z.string().min(1),
  createdAt: z.string(),
  config: z.unknown(),
  components: z.record(z.string(), componentSchema),
  versions: z.record(z.string(), z.string()),
  backend: z.unknown(),
  tfBackend: z.string(),
  seed: z.number().int(),
});

/** One line of `metrics.jsonl`: a finished epoch of one stage. */
export interface EpochMetrics {
  readonly stage: 'stage1' | 'stage2';
  /** 1-based: the number of epochs of this stage done. */
  readonly epoch: number;
  /** Mean over the epoch's steps of the minimised loss (reconstruction + kl). */
  readonly loss: number;
  readonly reconstruction: number;
  readonly kl: number;
  /** gamma at the end of the epoch (stage 1: the decoder's; stage 2: gamma_z when reported). */
  readonly gamma: number | null;
  /** Stage 1: latent dimensions whose mean encoder variance is below the threshold. */
  readonly activeDims: number | null;
  /** Stage 1: mean squared error of `decode(mu(x))` against `x` on the diagnostics subset. */
  readonly reconMse: number | null;
  readonly lr: number;
  readonly steps: number;
  readonly seconds: number;
  /** Extra scalars (e.g. a second stage's `diagnostics()`). */
  readonly extra?: Readonly<Record<string, number>>;
}

const metricsSchema = z.object({
  stage: z.enum(['stage1', 'stage2']),
  epoch: z.number().int().positive(),
  loss: z.number(),
  reconstruction: z.number(),
  kl: z.number(),
  gamma: z.number().nullable(),
  activeDims: z.number().nullable(),
  reconMse: z.number().nullable(),
  lr: z.number(),
  steps: z.number(),
  seconds: z.number(),
  extra: z.record(z.string(), z.number()).optional(),
});

/** Describes a zod error as `field a.b: message; ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? `field ${i.path.join('.')}` : 'value'}: ${i.message}`)
    .join('; ');
}

/** The lock file's content. */
interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** A held lock on a run directory; `release` removes it (also at process exit). */
export interface RunLock {
  readonly path: string;
  release(): void;
}

const heldLocks = new Set<string>();
let exitHookInstalled = false;

function releaseAllAtExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of heldLocks) rmSync(p, { force: true });
  });
}

/**
 * A run directory: its paths, and every read and write of its files. Reads validate what they
 * read and name the file (and the line, or the field) that is wrong.
 */
export class RunDirectory {
  /** The absolute path of the run. */
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /** `config.json`. */
  get configFile(): string {
    return join(this.path, 'config.json');
  }
  /** `metrics.jsonl`. */
  get metricsFile(): string {
    return join(this.path, 'metrics.jsonl');
  }
  /** `checkpoints/`. */
  get checkpointsDir(): string {
    return join(this.path, 'checkpoints');
  }
  /** `samples/`. */
  get samplesDir(): string {
    return join(this.path, 'samples');
  }
  /** `samples/<name>`. */
  samplePath(name: string): string {
    return join(this.samplesDir, name);
  }
  /** `codes-<split>/`, where `tsvae encode` writes a split's codes. */
  codesDir(split: string): string {
    return join(this.path, `codes-${split}`);
  }
  /**
   * `stage2-<name>/`: where `fitSecondStage` keeps a further second stage of this run (its own run
   * directory). `name`: letters, digits, `.`, `_`, `-`, starting with a letter or digit.
   */
  secondStageDir(name: string): string {
    if (!SECOND_STAGE_NAME.test(name)) {
      throw new RangeError(
        `invalid second-stage name "${name}": use letters, digits, ".", "_" and "-", starting with a letter or digit`,
      );
    }
    return join(this.path, `stage2-${name}`);
  }
  /** `eval.json`. */
  get evalFile(): string {
    return join(this.path, 'eval.json');
  }
  /** `run.lock`. */
  get lockFile(): string {
    return join(this.path, 'run.lock');
  }

  /** Whether the directory holds a run (its `config.json` exists). */
  holdsRun(): boolean {
    return existsSync(this.configFile);
  }

  /** Reads and validates `config.json` (the envelope; the trainer's config is left unparsed). */
  readRecord(): RunRecord {
    const path = this.configFile;
    if (!existsSync(path)) {
      throw new RunDirectoryError(`${path} does not exist: ${this.path} is not a tsvae run directory`, path);
    }
    const json = readJsonFile(path);
    const parsed = recordSchema.safeParse(json);
    if (!parsed.success) {
      const v = (json as { version?: unknown } | null)?.version;
      const hint = v === 1 ? ' (a run from an older tsvae, format version 1: retrain it)' : '';
      throw new FileFormatError(path, `not a tsvae run record${hint}: ${describeIssues(parsed.error)}`);
    }
    return parsed.data as RunRecord;
  }

  /**
   * Reads `config.json` of a run written by `trainer`: checks the trainer and that the named
   * components are recorded, and parses the config with `parse` (errors name the file).
   */
  readRecordOf<C>(
    trainer: string,
    parse: (config: unknown) => C,
    components: readonly string[] = [],
  ): RunRecord<C> {
    const record = this.readRecord();
    const path = this.configFile;
    if (record.trainer !== trainer) {
      throw new RunDirectoryError(
        `${path}: this run was trained by "${record.trainer}", not "${trainer}"; use the command for that kind of run`,
        path,
      );
    }
    const missing = components.filter((c) => !(c in record.components));
    if (missing.length) {
      throw new FileFormatError(path, `field components: ${missing.map((m) => `"${m}"`).join(', ')} missing`);
    }
    let config: C;
    try {
      config = parse(record.config);
    } catch (e) {
      throw new FileFormatError(path, `field config: ${(e as Error).message}`, { cause: e });
    }
    return { ...record, config };
  }

  /** Writes `config.json` atomically. */
  writeRecord(record: RunRecord): void {
    writeJsonAtomic(this.configFile, record);
  }

  /** Reads `metrics.jsonl` (absent: no records); a bad line is an error naming the file and the line. */
  readMetrics(): EpochMetrics[] {
    return this.readMetricsWith(metricsSchema) as EpochMetrics[];
  }

  /**
   * Reads `metrics.jsonl` with a trainer's own record schema (each trainer writes its own records;
   * {@link RunDirectory.readMetrics} reads the two-stage VAE's). Absent: no records; a bad line is
   * an error naming the file and the line.
   */
  readMetricsWith<T>(schema: z.ZodType<T>): T[] {
    const path = this.metricsFile;
    if (!existsSync(path)) return [];
    return readJsonLines(path).map((row, i) => {
      const parsed = schema.safeParse(row);
      if (!parsed.success) {
        throw new FileFormatError(path, `record ${i + 1}: ${describeIssues(parsed.error)}`);
      }
      return parsed.data;
    });
  }

  /** Rewrites `metrics.jsonl` atomically with `records` (one JSON line each). */
  writeMetrics(records: readonly object[]): void {
    writeFileAtomic(this.metricsFile, records.map((m) => `${JSON.stringify(m)}\n`).join(''));
  }

  /**
   * Removes what writers killed mid-write left behind (temporary files and checkpoint directories
   * of dead processes; all of them when `all`, for a caller holding the lock). Returns the paths.
   */
  removeStaleTemps(all = false): string[] {
    return [this.path, this.checkpointsDir, this.samplesDir].flatMap((d) => removeStaleTemps(d, { all }));
  }

  /**
   * Locks the run for writing: creates `run.lock` (pid, host, start time) exclusively. A lock held
   * by a live process is a {@link RunInUseError} ("run in use by pid N"); one left by a dead
   * process on this host is taken over. The directory is created if needed.
   */
  lock(): RunLock {
    ensureDir(this.path);
    const path = this.lockFile;
    const me: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx');
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST') throw fsError('create', path, e);
        const other = readLock(path);
        if (other === null && ageSeconds(path) < 10) {
          // another process has just created it and is writing its pid
          throw new RunInUseError(this.path, 0, '', path);
        }
        const ours = other !== null && other.host === me.host && other.pid === me.pid;
        const live = other !== null && (other.host !== me.host || pidAlive(other.pid));
        if ((ours && heldLocks.has(path)) || (!ours && live)) {
          throw new RunInUseError(this.path, (other as LockInfo).pid, (other as LockInfo).host, path);
        }
        // left by a dead process (or by this pid in an earlier life, or unreadable): take it over
        rmSync(path, { force: true });
        continue;
      }
      try {
        const text = `${JSON.stringify(me)}\n`;
        writeSync(fd, text);
      } catch (e) {
        closeSync(fd);
        rmSync(path, { force: true });
        throw fsError('write', path, e);
      }
      closeSync(fd);
      heldLocks.add(path);
      releaseAllAtExit();
      return {
        path,
        release: () => {
          if (!heldLocks.delete(path)) return;
          const now = readLock(path);
          if (now && now.pid === me.pid && now.host === me.host) rmSync(path, { force: true });
        },
      };
    }
    throw new RunDirectoryError(`cannot take the lock ${path}: it keeps reappearing`, path);
  }
}

function ageSeconds(path: string): number {
  try {
    return (Date.now() - statSync(path).mtimeMs) / 1000;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    return typeof v.pid === 'number' && typeof v.host === 'string'
      ? { pid: v.pid, host: v.host, startedAt: String(v.startedAt ?? '') }
      : null;
  } catch {
    return null;
  }
}
