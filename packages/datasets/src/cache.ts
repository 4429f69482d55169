import { closeSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';
import type { DataSplit, ImageShape } from '@tsvae/core';
import { writeFileAtomic } from '@tsvae/core/node';
import { DatasetFormatError } from './errors';

const MAGIC = 'TSVAEDS1';

/** Extra metadata stored with a cached split. */
export type SplitMeta = Readonly<Record<string, string | number | boolean | readonly string[]>>;

/**
 * Saves a uint8 split as one compact binary file (atomically): an 8-byte magic, a uint32 header
 * length, a JSON header (size, shape, labels?, meta), then the pixel bytes and the int32 labels.
 */
export function saveSplit(
  file: string,
  split: DataSplit & { readonly data: Uint8Array },
  meta: SplitMeta = {},
): void {
  const header = new TextEncoder().encode(
    JSON.stringify({ size: split.size, shape: split.shape, labels: split.labels !== undefined, meta }),
  );
  const pre = new Uint8Array(12);
  pre.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(pre.buffer).setUint32(8, header.length, true);
  // Pad the header so the labels (int32) start 4-byte aligned.
  const pad = new Uint8Array((4 - ((12 + header.length + split.data.length) % 4)) % 4);
  const chunks: Uint8Array[] = [pre, header, split.data, pad];
  if (split.labels)
    chunks.push(new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength));
  writeFileAtomic(file, chunks);
}

/** A split read back by {@link loadSplit}. */
export interface CachedSplit extends DataSplit {
  readonly data: Uint8Array;
  readonly meta: SplitMeta;
}

function readExact(fd: number, into: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new DatasetFormatError(file, `truncated cache file: ended at byte ${position + done}`);
    done += n;
  }
}

/**
 * Reads a split written by {@link saveSplit} straight into its arrays (no intermediate copy of the
 * file); throws naming the file when it is malformed or truncated.
 */
export function loadSplit(file: string): CachedSplit {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const pre = new Uint8Array(12);
    if (size < 12) throw new DatasetFormatError(file, 'not a tsvae dataset cache file (too short)');
    readExact(fd, pre, 0, file);
    if (new TextDecoder('latin1').decode(pre.subarray(0, 8)) !== MAGIC) {
      throw new DatasetFormatError(file, 'not a tsvae dataset cache file (wrong magic)');
    }
    const hlen = new DataView(pre.buffer).getUint32(8, true);
    const hbytes = new Uint8Array(hlen);
    readExact(fd, hbytes, 12, file);
    let header: { size: number; shape: ImageShape; labels: boolean; meta: SplitMeta };
    try {
      header = JSON.parse(new TextDecoder().decode(hbytes));
    } catch (cause) {
      throw new DatasetFormatError(file, 'corrupt cache header', { cause });
    }
    const [h, w, c] = header.shape;
    const nData = header.size * h * w * c;
    const dataStart = 12 + hlen;
    const labelsStart = dataStart + nData + ((4 - ((dataStart + nData) % 4)) % 4);
    const expected = labelsStart + (header.labels ? 4 * header.size : 0);
    if (size !== expected) {
      throw new DatasetFormatError(
        file,
        `truncated or corrupt cache file: ${size} bytes, expected ${expected}`,
      );
    }
    const data = new Uint8Array(nData);
    readExact(fd, data, dataStart, file);
    let labels: Int32Array | undefined;
    if (header.labels) {
      labels = new Int32Array(header.size);
      readExact(fd, new Uint8Array(labels.buffer), labelsStart, file);
    }
    return { size: header.size, shape: header.shape, data, meta: header.meta, ...(labels ? { labels } : {}) };
  } finally {
    closeSync(fd);
  }
}

/** Removes a file if present (ignores errors). */
export function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // ignore
  }
}
