/** Test utilities (not exported): cpu backend, a seeded PRNG, seeded tensors. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@tsvae/core';

/** Selects the deterministic cpu backend (call in `beforeAll`). */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A seeded PRNG returning numbers in [0, 1) (core's `createRng`). */
export function prng(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
}

/** A batch of images in [0, 1] from a seeded PRNG. */
export function randomImages(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  const r = prng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor4d(
    Float32Array.from({ length: n }, () => r()),
    shape,
  );
}

/** Runs `fn` with `Math.random` replaced by a seeded PRNG (tfjs initialisers draw their seeds from it). */
export function withSeed<T>(seed: number, fn: () => T): T {
  const orig = Math.random;
  Math.random = prng(seed);
  try {
    return fn();
  } finally {
    Math.random = orig;
  }
}

/** Values of a tensor as a float64 array. */
export function f64(t: tf.Tensor): Float64Array {
  return Float64Array.from(t.dataSync());
}
