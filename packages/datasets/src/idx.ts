import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { DataSplit } from '@tsvae/core';
import { DatasetFormatError } from './errors';

/** A parsed IDX file (the MNIST / Fashion-MNIST format) of unsigned bytes. */
export interface IdxArray {
  /** Dimensions, e.g. `[60000, 28, 28]` for images or `[60000]` for labels. */
  readonly dims: readonly number[];
  /** The values, row-major (a view of the file's bytes, not a copy). */
  readonly data: Uint8Array;
}

/** Whether a buffer starts with the gzip magic bytes. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file, decompressing it when it is gzip (by content, whatever its name). */
export function readMaybeGzip(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (cause) {
    throw new DatasetFormatError(file, `cannot read file (${(cause as Error).message})`, { cause });
  }
  if (!isGzip(raw)) return raw;
  try {
    return gunzipSync(raw);
  } catch (cause) {
    throw new DatasetFormatError(file, `corrupt or truncated gzip data (${(cause as Error).message})`, {
      cause,
    });
  }
}

/**
 * Parses IDX bytes (magic `0x0000 08 NN`: unsigned byte data with `NN` big-endian int32 dims).
 * Throws {@link DatasetFormatError} naming `file` on a wrong magic number, a truncated file or
 * trailing bytes.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4)
    throw new DatasetFormatError(file, `truncated IDX file: ${bytes.length} bytes, no header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const type = (magic >>> 8) & 0xff;
  const ndim = magic & 0xff;
  if (magic >>> 16 !== 0 || ndim === 0 || ndim > 4) {
    throw new DatasetFormatError(
      file,
      `wrong magic number 0x${magic.toString(16).padStart(8, '0')} (expected 0x00000801 for labels or 0x00000803 for images: not an IDX file)`,
    );
  }
  if (type !== 0x08) {
    throw new DatasetFormatError(
      file,
      `IDX data type 0x${type.toString(16)} is not supported (only 0x08, unsigned byte)`,
    );
  }
  const headerSize = 4 + 4 * ndim;
  if (bytes.length < headerSize) {
    throw new DatasetFormatError(file, `truncated IDX header: ${bytes.length} bytes, need ${headerSize}`);
  }
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const have = bytes.length - headerSize;
  if (have < count) {
    throw new DatasetFormatError(
      file,
      `truncated IDX file: header says ${dims.join('x')} = ${count} bytes of data, file has ${have}`,
    );
  }
  if (have > count) {
    throw new DatasetFormatError(
      file,
      `IDX file has ${have - count} unexpected trailing bytes after ${dims.join('x')} values`,
    );
  }
  return { dims, data: bytes.subarray(headerSize, headerSize + count) };
}

/** Reads and parses an IDX file, raw or gzip. */
export function readIdx(file: string): IdxArray {
  return parseIdx(readMaybeGzip(file), file);
}

/**
 * Loads an IDX image file (`[n, h, w]` or `[n, h, w, c]`) and, optionally, its IDX label file
 * (`[n]`) into a {@link DataSplit}. Both may be raw or gzip. Throws naming the file on a count
 * mismatch, wrong dimensions or labels outside `[0, numClasses)`.
 */
export function loadIdxSplit(imagesFile: string, labelsFile?: string, numClasses?: number): DataSplit {
  const images = readIdx(imagesFile);
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new DatasetFormatError(
      imagesFile,
      `expected an IDX image file with 3 or 4 dimensions [n, h, w(, c)], got [${images.dims.join(', ')}]`,
    );
  }
  const [n, h, w, c = 1] = images.dims as [number, number, number, number?];
  const split: {
    size: number;
    shape: readonly [number, number, number];
    data: Uint8Array;
    labels?: Int32Array;
  } = { size: n, shape: [h, w, c], data: images.data };
  if (labelsFile !== undefined) {
    const labels = readIdx(labelsFile);
    if (labels.dims.length !== 1) {
      throw new DatasetFormatError(
        labelsFile,
        `expected an IDX label file with 1 dimension [n], got [${labels.dims.join(', ')}]`,
      );
    }
    if (labels.dims[0] !== n) {
      throw new DatasetFormatError(
        labelsFile,
        `count mismatch: ${labels.dims[0]} labels but ${n} images in ${imagesFile}`,
      );
    }
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = labels.data[i]!;
      if (numClasses !== undefined && v >= numClasses) {
        throw new DatasetFormatError(labelsFile, `label ${v} at index ${i} is outside [0, ${numClasses})`);
      }
      out[i] = v;
    }
    split.labels = out;
  }
  return split;
}
