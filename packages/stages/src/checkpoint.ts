import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Logger, NamedWeight, RngState } from '@tsvae/core';
import { silentLogger } from '@tsvae/core';
import { writeDirectoryAtomic } from '@tsvae/core/node';
import { RunDirectoryError } from './errors';

/** Where training stands: the next thing to do. */
export interface TrainingPosition {
  /** `stage1`, `stage2`, or `done`. */
  readonly stage: 'stage1' | 'stage2' | 'done';
  /** Zero-based epoch to run next (or in progress when `step > 0`). */
  readonly epoch: number;
  /** Zero-based step within `epoch` to run next (0 at an epoch boundary). */
  readonly step: number;
}

/** Running sums of a partly done epoch (saved when training is interrupted mid-epoch). */
export interface PartialEpoch {
  readonly sums: Readonly<Record<string, number>>;
  readonly seconds: number;
}

/** A component as the manifest names it: plugin name and resolved config. */
export interface ComponentRecord {
  readonly plugin: string;
  readonly config: Readonly<Record<string, unknown>>;
}

/** The JSON manifest of a checkpoint (`manifest.json`). */
export interface CheckpointManifest {
  readonly format: 'tsvae-checkpoint';
  readonly version: 1;
  readonly sequence: number;
  readonly createdAt: string;
  readonly position: TrainingPosition;
  /** Each component's plugin and config (stage-1 encoder, decoder, likelihood; second stage). */
  readonly components: Readonly<Record<string, ComponentRecord>>;
  /** Generator state after the last completed step. */
  readonly rng: RngState;
  /** The active stage's optimizer (its weights are the `optimizer/` entries), or null. */
  readonly optimizer: { readonly stage: string; readonly learningRate: number } | null;
  readonly partial: PartialEpoch | null;
  readonly weightsFile: 'weights.bin';
  readonly weightsBytes: number;
  readonly weightsSha256: string;
  readonly weightSpecs: tf.io.WeightsManifestEntry[];
}

/** A loaded checkpoint; call `dispose` when done with the tensors. */
export interface LoadedCheckpoint {
  readonly path: string;
  readonly manifest: CheckpointManifest;
  /** Weights by name (`stage1/...`, `stage2/...`, `optimizer/...`, `state/...`). */
  readonly weights: tf.NamedTensorMap;
  /** The weights under `prefix`, with the prefix removed, in stored order. */
  group(prefix: string): NamedWeight[];
  dispose(): void;
}

const CKPT_RE = /^ckpt-(\d{6,})$/;

/** The checkpoints directory of a run. */
export function checkpointsDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

/** Complete checkpoints of a run, oldest first (temporary directories of interrupted writes are ignored). */
export function listCheckpoints(runDir: string): { path: string; sequence: number }[] {
  const dir = checkpointsDir(runDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => ({ name, m: CKPT_RE.exec(name) }))
    .filter((e): e is { name: string; m: RegExpExecArray } => e.m !== null)
    .map((e) => ({ path: join(dir, e.name), sequence: Number(e.m[1]) }))
    .filter((e) => existsSync(join(e.path, 'manifest.json')))
    .sort((a, b) => a.sequence - b.sequence);
}

/**
 * Writes a checkpoint directory atomically (`checkpoints/ckpt-NNNNNN/{weights.bin,manifest.json}`):
 * both files are written and fsynced under a temporary name, then the directory is renamed into
 * place. Older checkpoints beyond `keep` are then removed. Returns the checkpoint path.
 */
export async function saveCheckpoint(
  runDir: string,
  content: Omit<
    CheckpointManifest,
    | 'format'
    | 'version'
    | 'sequence'
    | 'createdAt'
    | 'weightsFile'
    | 'weightsBytes'
    | 'weightsSha256'
    | 'weightSpecs'
  > & {
    readonly weights: readonly NamedWeight[];
  },
  options: { readonly keep?: number } = {},
): Promise<string> {
  const existing = listCheckpoints(runDir);
  const sequence = (existing.at(-1)?.sequence ?? 0) + 1;
  const { data, specs } = await tf.io.encodeWeights(
    content.weights.map((w) => ({ name: w.name, tensor: w.tensor })),
  );
  const bytes = new Uint8Array(data);
  const { weights: _w, ...rest } = content;
  const manifest: CheckpointManifest = {
    format: 'tsvae-checkpoint',
    version: 1,
    sequence,
    createdAt: new Date().toISOString(),
    ...rest,
    weightsFile: 'weights.bin',
    weightsBytes: bytes.byteLength,
    weightsSha256: createHash('sha256').update(bytes).digest('hex'),
    weightSpecs: specs,
  };
  const path = join(checkpointsDir(runDir), `ckpt-${String(sequence).padStart(6, '0')}`);
  writeDirectoryAtomic(path, {
    'weights.bin': bytes,
    'manifest.json': `${JSON.stringify(manifest, null, 2)}\n`,
  });
  const keep = options.keep ?? 2;
  const all = listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep)))
    rmSync(old.path, { recursive: true, force: true });
  return path;
}

/** Loads and verifies (size and SHA-256) one checkpoint directory. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const manifestPath = join(path, 'manifest.json');
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as CheckpointManifest;
  } catch (e) {
    throw new RunDirectoryError(
      `Cannot read checkpoint manifest ${manifestPath}: ${e instanceof Error ? e.message : String(e)}`,
      manifestPath,
    );
  }
  if (manifest.format !== 'tsvae-checkpoint') {
    throw new RunDirectoryError(`${manifestPath} is not a tsvae checkpoint manifest`, manifestPath);
  }
  const binPath = join(path, manifest.weightsFile);
  let bytes: Buffer;
  try {
    bytes = readFileSync(binPath);
  } catch (e) {
    throw new RunDirectoryError(
      `Cannot read checkpoint weights ${binPath}: ${e instanceof Error ? e.message : String(e)}`,
      binPath,
    );
  }
  if (bytes.byteLength !== manifest.weightsBytes) {
    throw new RunDirectoryError(
      `Checkpoint weights ${binPath} have ${bytes.byteLength} bytes, the manifest says ${manifest.weightsBytes}`,
      binPath,
    );
  }
  if (createHash('sha256').update(bytes).digest('hex') !== manifest.weightsSha256) {
    throw new RunDirectoryError(`Checkpoint weights ${binPath} fail their SHA-256 check`, binPath);
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const weights = tf.io.decodeWeights(buffer, manifest.weightSpecs);
  const order = manifest.weightSpecs.map((s) => s.name);
  return {
    path,
    manifest,
    weights,
    group(prefix: string): NamedWeight[] {
      return order
        .filter((n) => n.startsWith(prefix))
        .map((n) => ({ name: n.slice(prefix.length), tensor: weights[n] as tf.Tensor }));
    },
    dispose(): void {
      tf.dispose(Object.values(weights));
    },
  };
}

/**
 * The newest checkpoint of a run that loads and verifies; a damaged newer one is skipped with a
 * warning. Returns null when the run has none.
 */
export function loadLatestCheckpoint(runDir: string, logger: Logger = silentLogger): LoadedCheckpoint | null {
  const all = listCheckpoints(runDir);
  for (let i = all.length - 1; i >= 0; i--) {
    const c = all[i] as { path: string };
    try {
      return loadCheckpoint(c.path);
    } catch (e) {
      logger.warn('skipping a damaged checkpoint', {
        path: c.path,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
  return null;
}
