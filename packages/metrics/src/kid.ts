import * as tf from '@tensorflow/tfjs-core';
import { createRng, deriveSeed } from '@tsvae/core';
import { dot } from './linalg';
import type { FeatureRows } from './stats';

/** Options of {@link kernelInceptionDistance}. */
export interface KidOptions {
  /** Number of subsets (default 100). */
  readonly subsets?: number;
  /** Subset size m, drawn without replacement from each set (default 1000). */
  readonly subsetSize?: number;
  /** Seed of the subset sampling (default 0): the stream is `createRng(deriveSeed(seed, 'kid-subsets'))`. */
  readonly seed?: number;
  /**
   * Where the Gram matrices are computed: `float64` (exact, JS) or `tfjs` (float32 `matMul` on
   * the active tfjs backend, then float64 kernel sums; much faster for 2048-d, relative error
   * about 1e-5 on typical KIDs). Default `auto`: `float64` when `m * m * d <= 2^26`, else `tfjs`.
   */
  readonly gram?: 'float64' | 'tfjs' | 'auto';
  /** If a set has fewer than `subsetSize` rows, use all rows instead of throwing (default false). */
  readonly clampSubsetSize?: boolean;
}

/** Kernel Inception Distance: mean and standard deviation over subsets, with counts. */
export interface KidResult {
  readonly mean: number;
  readonly std: number;
  /** Per-subset unbiased MMD^2 values. */
  readonly values: Float64Array;
  readonly n1: number;
  readonly n2: number;
  readonly subsetSize: number;
  readonly dim: number;
}

function gramF64(
  x: Float64Array,
  y: Float64Array,
  m1: number,
  m2: number,
  d: number,
  sym: boolean,
): Float64Array {
  const g = new Float64Array(m1 * m2);
  for (let i = 0; i < m1; i++) {
    const xo = i * d;
    for (let j = sym ? i : 0; j < m2; j++) {
      const v = dot(x, xo, y, j * d, d);
      g[i * m2 + j] = v;
      if (sym) g[j * m2 + i] = v;
    }
  }
  return g;
}

function gramTf(x: Float64Array, y: Float64Array, m1: number, m2: number, d: number): Float64Array {
  const out = tf.tidy(() =>
    tf.matMul(
      tf.tensor2d(Float32Array.from(x), [m1, d]),
      tf.tensor2d(Float32Array.from(y), [m2, d]),
      false,
      true,
    ),
  );
  const data = out.dataSync();
  out.dispose();
  return Float64Array.from(data);
}

/** Sum of the polynomial kernel `(g / d + 1)^3` over a Gram matrix, optionally without diagonal. */
function kernelSum(g: Float64Array, m1: number, m2: number, d: number, skipDiag: boolean): number {
  let s = 0;
  for (let i = 0; i < m1; i++) {
    for (let j = 0; j < m2; j++) {
      if (skipDiag && i === j) continue;
      const k = (g[i * m2 + j] as number) / d + 1;
      s += k * k * k;
    }
  }
  return s;
}

function gather(rows: FeatureRows, idx: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(idx.length * d);
  for (let r = 0; r < idx.length; r++) {
    const src = (idx[r] as number) * d;
    for (let k = 0; k < d; k++) out[r * d + k] = rows[src + k] as number;
  }
  return out;
}

/**
 * Unbiased MMD^2 with the kernel `k(x, y) = (x.y / d + 1)^3` between the rows `idxX` of `x` and
 * the rows `idxY` of `y` (row-major `[n, d]` features).
 */
export function polynomialMmd2(
  x: FeatureRows,
  y: FeatureRows,
  dim: number,
  idxX: ArrayLike<number>,
  idxY: ArrayLike<number>,
  gram: 'float64' | 'tfjs' = 'float64',
): number {
  const m = idxX.length;
  const n = idxY.length;
  if (m < 2 || n < 2) throw new RangeError('unbiased MMD needs at least 2 rows per set');
  const a = gather(x, idxX, dim);
  const b = gather(y, idxY, dim);
  const gxx = gram === 'tfjs' ? gramTf(a, a, m, m, dim) : gramF64(a, a, m, m, dim, true);
  const gyy = gram === 'tfjs' ? gramTf(b, b, n, n, dim) : gramF64(b, b, n, n, dim, true);
  const gxy = gram === 'tfjs' ? gramTf(a, b, m, n, dim) : gramF64(a, b, m, n, dim, false);
  return (
    kernelSum(gxx, m, m, dim, true) / (m * (m - 1)) +
    kernelSum(gyy, n, n, dim, true) / (n * (n - 1)) -
    (2 * kernelSum(gxy, m, n, dim, false)) / (m * n)
  );
}

/** `k` distinct indices from `[0, n)` (partial Fisher-Yates on a seeded stream). */
function sampleWithoutReplacement(n: number, k: number, next: (bound: number) => number): Int32Array {
  const pool = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + next(n - i);
    const t = pool[i] as number;
    pool[i] = pool[j] as number;
    pool[j] = t;
  }
  return pool.slice(0, k);
}

/**
 * Kernel Inception Distance (Bińkowski et al. 2018) as in torch-fidelity: unbiased MMD^2 with
 * the cubic polynomial kernel over `subsets` random subsets of size `subsetSize` drawn without
 * replacement (seeded), reported as mean and (population) standard deviation.
 */
export function kernelInceptionDistance(
  x: FeatureRows,
  y: FeatureRows,
  dim: number,
  options: KidOptions = {},
): KidResult {
  const n1 = x.length / dim;
  const n2 = y.length / dim;
  if (!Number.isInteger(n1) || !Number.isInteger(n2))
    throw new RangeError(`features are not multiples of ${dim}`);
  const subsets = options.subsets ?? 100;
  let m = options.subsetSize ?? 1000;
  if (m > n1 || m > n2) {
    if (!options.clampSubsetSize) {
      throw new RangeError(`KID subset size ${m} exceeds the sample counts (${n1}, ${n2}); lower subsetSize`);
    }
    m = Math.min(n1, n2);
  }
  const gramOpt = options.gram ?? 'auto';
  const gram = gramOpt === 'auto' ? (m * m * dim <= 2 ** 26 ? 'float64' : 'tfjs') : gramOpt;
  const rng = createRng(deriveSeed(options.seed ?? 0, 'kid-subsets'));
  const next = (bound: number): number => rng.nextInt(bound);
  const values = new Float64Array(subsets);
  for (let s = 0; s < subsets; s++) {
    const ia = sampleWithoutReplacement(n1, m, next);
    const ib = sampleWithoutReplacement(n2, m, next);
    values[s] = polynomialMmd2(x, y, dim, ia, ib, gram);
  }
  let mean = 0;
  for (const v of values) mean += v;
  mean /= subsets;
  let v2 = 0;
  for (const v of values) v2 += (v - mean) ** 2;
  return { mean, std: Math.sqrt(v2 / subsets), values, n1, n2, subsetSize: m, dim };
}
