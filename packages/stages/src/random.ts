import { createRng } from '@tsvae/core';

/**
 * Runs `fn` with `Math.random` replaced by a generator seeded with `seed`, then restores it.
 *
 * tfjs draws the seeds of unseeded random ops (weight initialisers, `randomNormal` without a seed)
 * from `Math.random`; running model creation and each training step under this makes plugins
 * that do not take a seed reproducible too, which exact resume relies on. `fn` must be synchronous
 * (or the patch would leak into other work).
 */
export function withSeededMathRandom<T>(seed: number, fn: () => T): T {
  const rng = createRng(seed);
  const original = Math.random;
  Math.random = () => rng.next();
  try {
    const out = fn();
    if (out instanceof Promise) throw new Error('withSeededMathRandom: fn must be synchronous');
    return out;
  } finally {
    Math.random = original;
  }
}

/**
 * Like {@link withSeededMathRandom} for an async factory: the patch stays while the promise is
 * pending, so do not run other random work concurrently.
 */
export async function withSeededMathRandomAsync<T>(seed: number, fn: () => Promise<T> | T): Promise<T> {
  const rng = createRng(seed);
  const original = Math.random;
  Math.random = () => rng.next();
  try {
    return await fn();
  } finally {
    Math.random = original;
  }
}
