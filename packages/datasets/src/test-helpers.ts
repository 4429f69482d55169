import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tf from '@tensorflow/tfjs-core';
import type { RealDataRequirement } from '../../../test/real-data';

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

/** Debian's `dataset-fashion-mnist` (the offline Fashion-MNIST source). */
export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

/** Real Fashion-MNIST from Debian, for `describeRealData` (test/real-data.ts). */
export const FASHION_MNIST_DEBIAN: RealDataRequirement = {
  available: existsSync(FASHION_MNIST_DEBIAN_DIR),
  reason: `Fashion-MNIST missing: no ${FASHION_MNIST_DEBIAN_DIR}; get it with \`apt-get install dataset-fashion-mnist\` (Debian)`,
};

/** The CIFAR-10 JPEG copy (train.tar / test.tar) named by `TSVAE_CIFAR10_JPEG_DIR`, if any. */
export const CIFAR10_JPEG_DIR = process.env['TSVAE_CIFAR10_JPEG_DIR'] || undefined;

/** The real CIFAR-10 JPEG copy, for `describeRealData` (test/real-data.ts). */
export const CIFAR10_JPEG: RealDataRequirement = {
  available:
    CIFAR10_JPEG_DIR !== undefined &&
    existsSync(join(CIFAR10_JPEG_DIR, 'train.tar')) &&
    existsSync(join(CIFAR10_JPEG_DIR, 'test.tar')),
  reason:
    CIFAR10_JPEG_DIR === undefined
      ? 'CIFAR-10 JPEG copy missing: TSVAE_CIFAR10_JPEG_DIR is not set; point it at a folder with train.tar and test.tar (<class>/NNNN.jpg; CI uses ../shared/data/cifar10-jpeg)'
      : `CIFAR-10 JPEG copy missing: no train.tar and test.tar in TSVAE_CIFAR10_JPEG_DIR=${CIFAR10_JPEG_DIR}; point it at a folder with both (<class>/NNNN.jpg; CI uses ../shared/data/cifar10-jpeg)`,
};

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

/** An RGB test image whose pixel (y, x) is (x * 8 + k, y * 8, (x + y) * 4) mod 256. */
export function patternRgb(height: number, width: number, k = 0): Uint8Array {
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      out[o] = (x * 8 + k) % 256;
      out[o + 1] = (y * 8) % 256;
      out[o + 2] = ((x + y) * 4) % 256;
    }
  return out;
}

function rgba(rgb: Uint8Array, n: number): Buffer {
  const out = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = rgb[3 * i]!;
    out[4 * i + 1] = rgb[3 * i + 1]!;
    out[4 * i + 2] = rgb[3 * i + 2]!;
    out[4 * i + 3] = 255;
  }
  return out;
}

/** PNG bytes of an RGB image (lossless). */
export function encodePng(rgb: Uint8Array, height: number, width: number): Uint8Array {
  const png = new PNG({ width, height });
  rgba(rgb, width * height).copy(png.data);
  return PNG.sync.write(png);
}

/** JPEG bytes of an RGB image. */
export function encodeJpeg(rgb: Uint8Array, height: number, width: number, quality = 95): Uint8Array {
  return jpeg.encode({ data: rgba(rgb, width * height), width, height }, quality).data;
}
