/**
 * A small, fast, seedable pseudo-random generator (SplitMix32 seeding a xoshiro128**), with
 * serialisable state so resumable runs continue the exact same stream.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
  /** A uint32. */
  nextUint32(): number;
  /** Standard normal (Box-Muller; caches the second value). */
  normal(): number;
  /** Shuffles `array` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T;
  /** The full generator state, to restore with {@link Rng.setState}. */
  getState(): RngState;
  setState(state: RngState): void;
}

/** Serialisable generator state. */
export interface RngState {
  readonly s: readonly [number, number, number, number];
  readonly spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/**
 * Creates a seeded generator.
 *
 * @example
 * ```ts
 * import { createRng } from '@tsvae/core';
 * const rng = createRng(42);
 * const order = rng.shuffle(Array.from({ length: 10 }, (_, i) => i));
 * ```
 */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new RangeError(`createRng: seed must be a finite number, got ${seed}`);
  const sm = splitmix32(Math.floor(seed));
  let s0 = sm();
  let s1 = sm();
  let s2 = sm();
  let s3 = sm();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  let spare: number | null = null;

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    s0 >>>= 0;
    s1 >>>= 0;
    s2 >>>= 0;
    return result;
  };
  // 53-bit uniform from two draws.
  const next = (): number => (nextUint32() * 2 ** 21 + (nextUint32() >>> 11)) / 2 ** 53;

  const rng: Rng = {
    next,
    nextUint32,
    nextInt(n: number): number {
      if (!Number.isInteger(n) || n <= 0)
        throw new RangeError(`nextInt: n must be a positive integer, got ${n}`);
      return Math.floor(next() * n);
    },
    normal(): number {
      if (spare !== null) {
        const v = spare;
        spare = null;
        return v;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    shuffle(array) {
      for (let i = array.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const tmp = array[i];
        array[i] = array[j];
        array[j] = tmp;
      }
      return array;
    },
    getState(): RngState {
      return { s: [s0, s1, s2, s3], spare };
    },
    setState(state: RngState): void {
      [s0, s1, s2, s3] = state.s.map((x) => x >>> 0) as [number, number, number, number];
      spare = state.spare;
    },
  };
  return rng;
}

/** The largest seed tsvae accepts anywhere (every command and config uses the range 0..MAX_SEED). */
export const MAX_SEED = 2 ** 31 - 1;

/** Mixes a uint32 (the finaliser of SplitMix32 / MurmurHash3). */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * The one place tsvae makes seeds: a seed for one purpose (`'stage1-init'`, `'stage2-step', 17`,
 * `'sample-batch', 3`, ...) derived from a user seed. Different purposes give unrelated seeds; the
 * same arguments always give the same seed. The result is an integer in `[1, MAX_SEED - 1]`:
 * never 0, because tfjs treats a seed of 0 as "no seed" and draws from `Math.random`.
 *
 * @example
 * ```ts
 * import { deriveSeed } from '@tsvae/core';
 * const eps = tf.randomNormal([64, 8], 0, 1, 'float32', deriveSeed(runSeed, 'stage1-step', step));
 * ```
 */
export function deriveSeed(seed: number, ...purpose: readonly (string | number)[]): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`deriveSeed: seed must be an integer in [0, ${MAX_SEED}], got ${seed}`);
  }
  let h = mix32(seed ^ 0x9e3779b9);
  for (const part of purpose) {
    const text = typeof part === 'number' ? `#${part}` : `$${part}`;
    for (let i = 0; i < text.length; i++) h = mix32((h ^ text.charCodeAt(i)) + 0x9e3779b9);
    h = mix32(h + 0x7f4a7c15);
  }
  return 1 + (h % (MAX_SEED - 1));
}
