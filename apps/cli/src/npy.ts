import { writeFileAtomic } from '@tsvae/core/node';
import { writeNpy as encode } from '@tsvae/metrics';

/** Encodes a float32 or int32 array as a NumPy `.npy` file (version 1.0, little-endian, C order). */
export function encodeNpy(data: Float32Array | Int32Array, shape: readonly number[]): Uint8Array {
  return encode({ dtype: data instanceof Float32Array ? 'float32' : 'int32', shape, data });
}

/** Writes a `.npy` file atomically. */
export function writeNpy(path: string, data: Float32Array | Int32Array, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}
