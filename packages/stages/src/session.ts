/**
 * How every trainer opens a run directory: create a new run (checked, locked, recorded) or resume
 * one (locked, cleaned, restored from its newest good checkpoint), and load a finished one. One
 * owner for these rules, shared by `trainTwoStage`, `fitSecondStage`, `loadRun` and other
 * packages' trainers (`@tsvae/baselines`' `trainGan`, `loadGanRun`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Logger } from '@tsvae/core';
import { FsError } from '@tsvae/core/node';
import {
  type CheckpointContent,
  type ComponentRecord,
  type LoadedCheckpoint,
  loadLatestCheckpoint,
  saveCheckpoint,
} from './checkpoint';
import { RunDirectoryError } from './errors';
import type { RunDirectory, RunEnvironment, RunLock, RunRecord } from './run-dir';
import { writeImageGrid } from './sample';

function listProblems(damaged: readonly { problem: string }[]): string {
  return damaged.map((d) => `  - ${d.problem}`).join('\n');
}

/**
 * The newest checkpoint of `dir` that loads, for reading a run (sampling, evaluation, a further
 * second stage): damaged ones are skipped with a warning and left in place; none that loads is an
 * error naming each damaged one (or saying training has not written one). The caller disposes it.
 */
export function loadNewestCheckpoint(dir: RunDirectory, logger: Logger): LoadedCheckpoint {
  const { checkpoint, damaged } = loadLatestCheckpoint(dir.checkpointsDir);
  for (const d of damaged) logger.warn('ignoring a damaged checkpoint', { path: d.path, problem: d.problem });
  if (!checkpoint) {
    throw new RunDirectoryError(
      `${dir.path} holds no checkpoint that loads${
        damaged.length ? `:\n${listProblems(damaged)}` : ' (training has not written one yet)'
      }`,
      dir.checkpointsDir,
    );
  }
  return checkpoint;
}

/** A run locked for resuming: its lock and the checkpoint to continue from (`null`: from the start). */
export interface ResumePoint {
  readonly lock: RunLock;
  readonly checkpoint: LoadedCheckpoint | null;
}

/**
 * Locks a recorded run for resuming (throws `RunInUseError` while another process holds it),
 * removes what a killed writer left (stale temporary files, logged) and loads the newest good
 * checkpoint, warning about each damaged one (left in place). A run whose every checkpoint is
 * damaged is refused, each one named, with nothing changed; a run without checkpoints resumes from
 * the start. On error the lock is released; otherwise the caller owns the lock and the checkpoint.
 */
export function resumeRun(dir: RunDirectory, logger: Logger): ResumePoint {
  const lock = dir.lock();
  try {
    for (const p of dir.removeStaleTemps(true)) logger.info('removed a stale temporary file', { path: p });
    const { checkpoint, damaged } = loadLatestCheckpoint(dir.checkpointsDir);
    for (const d of damaged) {
      logger.warn('ignoring a damaged checkpoint (left in place)', { path: d.path, problem: d.problem });
    }
    if (!checkpoint && damaged.length > 0) {
      throw new RunDirectoryError(
        `cannot resume ${dir.path}: no checkpoint can be loaded, and nothing was changed:\n${listProblems(damaged)}`,
        dir.checkpointsDir,
      );
    }
    if (checkpoint) logger.info('resuming', { checkpoint: checkpoint.path, ...checkpoint.manifest.position });
    else logger.info('no checkpoint yet: starting the recorded run from the beginning', { runDir: dir.path });
    return { lock, checkpoint };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/**
 * Throws when `dir` already holds a run (its `config.json` exists). `what` names the run in the
 * message (`a run`, `a second stage`); `hint` says what to do instead.
 */
export function assertNoRun(
  dir: RunDirectory,
  what = 'a run',
  hint = 'resume it or choose another directory',
): void {
  if (dir.holdsRun()) {
    throw new RunDirectoryError(
      `${dir.path} already holds ${what} (${dir.configFile} exists): ${hint}`,
      dir.path,
    );
  }
}

/** What {@link newRunRecord} records besides the config and components. */
export interface NewRunRecordOptions {
  /** The environment the caller passed (package versions, backend). */
  readonly environment?: RunEnvironment | undefined;
  /** The writing packages' versions (e.g. `{ '@tsvae/stages': STAGES_VERSION }`). */
  readonly versions: Readonly<Record<string, string>>;
}

/**
 * The `config.json` envelope of a new run of `trainer`: the config, its components, the versions
 * (the writer's, tfjs-core's and the environment's), the backend and the run seed.
 */
export function newRunRecord<C extends { readonly seed: number }, K extends string>(
  trainer: string,
  config: C,
  components: Readonly<Record<K, ComponentRecord>>,
  options: NewRunRecordOptions,
): RunRecord<C> & { readonly components: Readonly<Record<K, ComponentRecord>> } {
  return {
    format: 'tsvae-run',
    version: 2,
    trainer,
    createdAt: new Date().toISOString(),
    config,
    components,
    versions: {
      ...options.versions,
      '@tensorflow/tfjs-core': tf.version_core,
      ...options.environment?.versions,
    },
    backend: options.environment?.backend ?? null,
    tfBackend: tf.getBackend(),
    seed: config.seed,
  };
}

/**
 * Creates a run: locks `dir`, checks again that no other process created a run there meanwhile,
 * removes stale temporary files and writes `config.json` atomically. Call it after everything
 * was validated, so that a refused run writes nothing. Returns the held lock (released on error).
 */
export function createRun(dir: RunDirectory, record: RunRecord, what = 'a run'): RunLock {
  const lock = dir.lock();
  try {
    if (dir.holdsRun()) {
      throw new RunDirectoryError(
        `${dir.path} already holds ${what} (another process created it meanwhile)`,
        dir.path,
      );
    }
    dir.removeStaleTemps(true);
    dir.writeRecord(record);
    return lock;
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** Settings of a {@link RunWriter}. */
export interface RunWriterOptions {
  /** How many good checkpoints to keep (`checkpoint.keep` of the run config). */
  readonly keep: number;
  /** The command that resumes the run, named when a write fails (e.g. `tsvae train --resume runs/a`). */
  readonly resumeCommand: string;
  /** The checkpoint the run resumed from, if any. */
  readonly lastCheckpoint: string | null;
  readonly logger: Logger;
}

/**
 * Writes a training run's files: `metrics.jsonl`, checkpoints and sample grids, each atomically.
 * A failed write (a full disk, a read-only directory) throws its `FsError` with what is still
 * good added: the last checkpoint written and the command that resumes from it. One writer per
 * training session (`trainTwoStage`, `fitSecondStage`, `@tsvae/baselines`' `trainGan`).
 */
export class RunWriter {
  /** The newest checkpoint written or resumed from (`null`: none yet). */
  lastCheckpoint: string | null;
  /** The sample grids written (PNG paths). */
  readonly samples: string[] = [];

  constructor(
    readonly dir: RunDirectory,
    private readonly options: RunWriterOptions,
  ) {
    this.lastCheckpoint = options.lastCheckpoint;
  }

  /** `e` with the last good checkpoint and how to resume added when it is an `FsError`. */
  explain(e: unknown): unknown {
    if (!(e instanceof FsError)) return e;
    const good = this.lastCheckpoint
      ? `the last good checkpoint is ${this.lastCheckpoint}; free the space and resume with \`${this.options.resumeCommand}\``
      : 'no checkpoint had been written yet';
    return new FsError(e.operation, e.path, e.code, e.cause, good);
  }

  /** Rewrites `metrics.jsonl` with `records` (one JSON line each). */
  writeMetrics(records: readonly object[]): void {
    try {
      this.dir.writeMetrics(records);
    } catch (e) {
      throw this.explain(e);
    }
  }

  /** Writes a checkpoint into `checkpoints/` (keeping the newest `keep` good ones); returns its path. */
  async checkpoint(content: CheckpointContent): Promise<string> {
    try {
      const path = await saveCheckpoint(this.dir.checkpointsDir, content, { keep: this.options.keep });
      this.lastCheckpoint = path;
      return path;
    } catch (e) {
      throw this.explain(e);
    }
  }

  /**
   * Writes `images` as a PNG grid into `samples/<name>` and disposes them. Data that are not
   * images (not 1 or 3 channels, e.g. vectors `[n, 1, 1, d]`) get no grid, only a debug record.
   */
  grid(name: string, images: tf.Tensor4D): void {
    const channels = images.shape[3];
    if (channels !== 1 && channels !== 3) {
      images.dispose();
      this.options.logger.debug('no sample grid for data that are not images', { name, shape: images.shape });
      return;
    }
    const path = this.dir.samplePath(name);
    try {
      writeImageGrid(path, images);
    } catch (e) {
      throw this.explain(e);
    } finally {
      images.dispose();
    }
    this.samples.push(path);
  }
}
