import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';

/** Selects the CPU backend for tests. */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A fresh temporary directory and its cleanup. */
export function tempDir(prefix = 'tsvae-datasets-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The repository root (…/main), from this file. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** `../shared` beside the checkout. */
export const SHARED = resolve(REPO_ROOT, '..', 'shared');

/** IDX bytes of unsigned-byte data with the given dims. */
export function idxBytes(dims: readonly number[], data: Uint8Array, magicOverride?: number): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(header.buffer);
  v.setUint32(0, magicOverride ?? 0x0800 | dims.length, false);
  dims.forEach((d, i) => {
    v.setUint32(4 + 4 * i, d, false);
  });
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}

/** gzip of bytes. */
export function gz(bytes: Uint8Array): Uint8Array {
  return gzipSync(bytes);
}

/** Mean and (population) standard deviation of uint8 values. */
export function meanStd(data: Uint8Array): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    s += v;
    s2 += v * v;
  }
  const mean = s / data.length;
  return { mean, std: Math.sqrt(s2 / data.length - mean * mean) };
}
