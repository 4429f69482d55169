/**
 * Checkpoints: `checkpoints/ckpt-NNNNNN/{weights.bin, manifest.json}`, written atomically, verified
 * (size and SHA-256) when read. A damaged checkpoint is never deleted and never counted toward
 * `keep`.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { NamedWeight } from '@tsvae/core';
import { hashBytes, readJsonFile, writeDirectoryAtomic } from '@tsvae/core/node';
import { z } from 'zod';
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

/**
 * A component as a run records it: the registry plugin and the config it was created with (what
 * rebuilds it), and the config as the plugin resolved it (defaults filled in; for reading).
 */
export interface ComponentRecord {
  readonly plugin: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly resolved?: Readonly<Record<string, unknown>>;
}

/** The active stage's optimizer in a checkpoint: its stage and the JSON part of its state. */
export interface OptimizerRecord {
  readonly stage: 'stage1' | 'stage2';
  /** `@tsvae/backend`'s `AdamStateMeta` (its tensors are the `optimizer/` weights). */
  readonly state: Readonly<Record<string, unknown>>;
}

/** The JSON manifest of a checkpoint (`manifest.json`). */
export interface CheckpointManifest {
  readonly format: 'tsvae-checkpoint';
  readonly version: 2;
  readonly sequence: number;
  readonly createdAt: string;
  readonly position: TrainingPosition;
  readonly partial: PartialEpoch | null;
  readonly optimizer: OptimizerRecord | null;
  readonly weightsFile: 'weights.bin';
  readonly weightsBytes: number;
  readonly weightsSha256: string;
  readonly weightSpecs: tf.io.WeightsManifestEntry[];
}

const count = z.number().int().min(0);
const manifestSchema = z.object({
  format: z.literal('tsvae-checkpoint'),
  version: z.literal(2),
  sequence: z.number().int().positive(),
  createdAt: z.string(),
  position: z.object({ stage: z.enum(['stage1', 'stage2', 'done']), epoch: count, step: count }),
  partial: z.object({ sums: z.record(z.string(), z.number()), seconds: z.number() }).nullable(),
  optimizer: z
    .object({ stage: z.enum(['stage1', 'stage2']), state: z.record(z.string(), z.unknown()) })
    .nullable(),
  weightsFile: z.literal('weights.bin'),
  weightsBytes: count,
  weightsSha256: z.string().regex(/^[0-9a-f]{64}$/),
  weightSpecs: z.array(z.object({ name: z.string(), shape: z.array(count), dtype: z.string() }).loose()),
});

/** A loaded checkpoint; call `dispose` when done with the tensors. */
export interface LoadedCheckpoint {
  readonly path: string;
  readonly manifest: CheckpointManifest;
  /** Weights by name (`stage1/...`, `stage2/...`, `optimizer/...`). */
  readonly weights: tf.NamedTensorMap;
  /** The weights under `prefix`, with the prefix removed, in stored order. */
  group(prefix: string): NamedWeight[];
  dispose(): void;
}

/** A checkpoint directory found on disk. */
export interface CheckpointEntry {
  readonly path: string;
  readonly sequence: number;
}

/** A checkpoint that cannot be loaded, and why. */
export interface DamagedCheckpoint extends CheckpointEntry {
  /** The file at fault and what is wrong with it. */
  readonly problem: string;
}

const CKPT_RE = /^ckpt-(\d{6,})$/;

/** The checkpoint directories in `dir` (complete or not), oldest first; temporary ones are ignored. */
export function listCheckpoints(dir: string): CheckpointEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => ({ name, m: CKPT_RE.exec(name) }))
    .filter((e): e is { name: string; m: RegExpExecArray } => e.m !== null)
    .map((e) => ({ path: join(dir, e.name), sequence: Number(e.m[1]) }))
    .sort((a, b) => a.sequence - b.sequence);
}

function readManifest(path: string): CheckpointManifest {
  const file = join(path, 'manifest.json');
  if (!existsSync(file)) throw new RunDirectoryError(`${file} is missing (an incomplete checkpoint)`, file);
  const json = readJsonFile(file);
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const what = parsed.error.issues
      .map((i) => `${i.path.length ? `field ${i.path.join('.')}` : 'manifest'}: ${i.message}`)
      .join('; ');
    throw new RunDirectoryError(`${file} is not a valid checkpoint manifest: ${what}`, file);
  }
  return parsed.data as CheckpointManifest;
}

/**
 * Checkpoints this process has written or verified, by path: their weights' SHA-256 with the file's
 * size and modification time, so a file changed on disk since is verified again.
 */
const verified = new Map<string, string>();

function stamp(path: string, manifest: CheckpointManifest): string | null {
  try {
    const st = statSync(join(path, manifest.weightsFile));
    return `${manifest.weightsSha256}|${st.size}|${st.mtimeMs}`;
  } catch {
    return null;
  }
}

function readVerifiedWeights(path: string, manifest: CheckpointManifest): Buffer {
  const bin = join(path, manifest.weightsFile);
  let bytes: Buffer;
  try {
    bytes = readFileSync(bin);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new RunDirectoryError(
      `${bin} cannot be read${code === 'ENOENT' ? ' (missing)' : `: ${(e as Error).message}`}`,
      bin,
    );
  }
  if (bytes.byteLength !== manifest.weightsBytes) {
    throw new RunDirectoryError(
      `${bin} has ${bytes.byteLength} bytes, its manifest says ${manifest.weightsBytes} (truncated or replaced)`,
      bin,
    );
  }
  if (hashBytes(bytes) !== manifest.weightsSha256) {
    throw new RunDirectoryError(`${bin} fails its SHA-256 check (damaged)`, bin);
  }
  const s = stamp(path, manifest);
  if (s) verified.set(path, s);
  return bytes;
}

/** Whether a checkpoint verifies (manifest valid, weights of the right size and SHA-256); the problem if not. */
export function checkCheckpoint(path: string): string | null {
  try {
    const manifest = readManifest(path);
    const s = stamp(path, manifest);
    if (s !== null && verified.get(path) === s) return null;
    readVerifiedWeights(path, manifest);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Every checkpoint directory, split into those that verify and the damaged ones (with the reason). */
export function scanCheckpoints(dir: string): { good: CheckpointEntry[]; damaged: DamagedCheckpoint[] } {
  const good: CheckpointEntry[] = [];
  const damaged: DamagedCheckpoint[] = [];
  for (const c of listCheckpoints(dir)) {
    const problem = checkCheckpoint(c.path);
    if (problem === null) good.push(c);
    else damaged.push({ ...c, problem });
  }
  return { good, damaged };
}

/** What {@link saveCheckpoint} stores besides the bookkeeping it adds. */
export interface CheckpointContent {
  readonly position: TrainingPosition;
  readonly partial: PartialEpoch | null;
  readonly optimizer: OptimizerRecord | null;
  readonly weights: readonly NamedWeight[];
}

/**
 * Writes a checkpoint directory atomically into `dir` (`ckpt-NNNNNN`, numbered after every
 * existing one, damaged ones included): both files are written and fsynced under a temporary name,
 * then the directory is renamed into place. Then the good checkpoints beyond the newest `keep` are
 * removed; damaged ones are left alone. Returns the new checkpoint's path.
 */
export async function saveCheckpoint(
  dir: string,
  content: CheckpointContent,
  options: { readonly keep?: number } = {},
): Promise<string> {
  const sequence = (listCheckpoints(dir).at(-1)?.sequence ?? 0) + 1;
  const { data, specs } = await tf.io.encodeWeights(
    content.weights.map((w) => ({ name: w.name, tensor: w.tensor })),
  );
  const bytes = new Uint8Array(data);
  const manifest: CheckpointManifest = {
    format: 'tsvae-checkpoint',
    version: 2,
    sequence,
    createdAt: new Date().toISOString(),
    position: content.position,
    partial: content.partial,
    optimizer: content.optimizer,
    weightsFile: 'weights.bin',
    weightsBytes: bytes.byteLength,
    weightsSha256: hashBytes(bytes),
    weightSpecs: specs,
  };
  const path = join(dir, `ckpt-${String(sequence).padStart(6, '0')}`);
  writeDirectoryAtomic(path, {
    'weights.bin': bytes,
    'manifest.json': `${JSON.stringify(manifest, null, 2)}\n`,
  });
  const s = stamp(path, manifest);
  if (s) verified.set(path, s);
  const keep = options.keep ?? 2;
  const { good } = scanCheckpoints(dir);
  for (const old of good.slice(0, Math.max(0, good.length - keep))) {
    rmSync(old.path, { recursive: true, force: true });
    verified.delete(old.path);
  }
  return path;
}

/** Loads and verifies (manifest, size and SHA-256) one checkpoint; errors name the file and the problem. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const manifest = readManifest(path);
  const bytes = readVerifiedWeights(path, manifest);
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
 * The newest checkpoint in `dir` that verifies, with the damaged ones found (newer or older).
 * `checkpoint` is null when there is none; the caller decides what a damaged-only directory means
 * (`trainTwoStage` refuses to resume it).
 */
export function loadLatestCheckpoint(dir: string): {
  checkpoint: LoadedCheckpoint | null;
  damaged: DamagedCheckpoint[];
} {
  const { good, damaged } = scanCheckpoints(dir);
  const newest = good.at(-1);
  return { checkpoint: newest ? loadCheckpoint(newest.path) : null, damaged };
}
