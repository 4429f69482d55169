import { dot, symmetricEigen, traceSqrtProduct } from './linalg';
import { computeStatistics, type FeatureRows, type FeatureStatistics } from './stats';

/** A Fréchet distance together with the sample counts it was computed from. */
export interface FidResult {
  readonly fid: number;
  /** Samples behind the first / second statistics (0 = unknown). FID is biased by N. */
  readonly n1: number;
  readonly n2: number;
  /** Feature dimension. */
  readonly dim: number;
}

/**
 * Fréchet distance between two Gaussians:
 * `|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(A S2 A)`, `A = sqrt(S1)`, in float64 through
 * symmetric eigendecompositions (no complex square roots; exact for singular covariances).
 */
export function frechetDistance(a: FeatureStatistics, b: FeatureStatistics): FidResult {
  if (a.dim !== b.dim) throw new RangeError(`statistics dimensions differ: ${a.dim} vs ${b.dim}`);
  const d = a.dim;
  let diff2 = 0;
  for (let i = 0; i < d; i++) diff2 += ((a.mu[i] as number) - (b.mu[i] as number)) ** 2;
  let tr1 = 0;
  let tr2 = 0;
  for (let i = 0; i < d; i++) {
    tr1 += a.sigma[i * d + i] as number;
    tr2 += b.sigma[i * d + i] as number;
  }
  const trSqrt = traceSqrtProduct(a.sigma, b.sigma, d);
  return { fid: diff2 + tr1 + tr2 - 2 * trSqrt, n1: a.count, n2: b.count, dim: d };
}

/** Rows minus their mean, scaled by 1 / sqrt(n - 1): `B` with `B^T B` = the covariance (ddof 1). */
function centredFactor(x: FeatureRows, n: number, d: number): { b: Float64Array; mu: Float64Array } {
  const mu = new Float64Array(d);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < d; j++) mu[j] = (mu[j] as number) + (x[r * d + j] as number);
  for (let j = 0; j < d; j++) mu[j] = (mu[j] as number) / n;
  const s = 1 / Math.sqrt(n - 1);
  const b = new Float64Array(n * d);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < d; j++) b[r * d + j] = ((x[r * d + j] as number) - (mu[j] as number)) * s;
  return { b, mu };
}

/** `a b^T` for row-major `a` `[m, d]`, `b` `[n, d]`. */
function abt(a: Float64Array, m: number, b: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = dot(a, i * d, b, j * d, d);
  return out;
}

/**
 * FID straight from features when there are fewer samples than dimensions: with the centred
 * factors `S1 = B1^T B1`, `S2 = B2^T B2`, `tr sqrt(S1 S2)` is the nuclear norm of `C = B1 B2^T`,
 * i.e. the sum of the square roots of the eigenvalues of the small `C C^T` (or `C^T C`).
 */
function lowRankFid(x: FeatureRows, y: FeatureRows, n1: number, n2: number, d: number): number {
  const a = centredFactor(x, n1, d);
  const b = centredFactor(y, n2, d);
  let diff2 = 0;
  for (let j = 0; j < d; j++) diff2 += ((a.mu[j] as number) - (b.mu[j] as number)) ** 2;
  let tr1 = 0;
  for (const v of a.b) tr1 += v * v;
  let tr2 = 0;
  for (const v of b.b) tr2 += v * v;
  const c = abt(a.b, n1, b.b, n2, d); // n1 x n2
  // Gram of C along its shorter side.
  const m = Math.min(n1, n2);
  const ct = n1 <= n2 ? c : transpose(c, n1, n2);
  const gram = n1 <= n2 ? abt(c, n1, c, n1, n2) : abt(ct, n2, ct, n2, n1);
  let trSqrt = 0;
  for (const v of symmetricEigen(gram, m).values) if (v > 0) trSqrt += Math.sqrt(v);
  return diff2 + tr1 + tr2 - 2 * trSqrt;
}

function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j] as number;
  return out;
}

/**
 * FID between two feature sets, row-major `[n, dim]`. When the sample counts are small next to
 * the dimension (e.g. a few hundred 2048-d Inception features) it works on the centred features
 * directly (exact, the same value, far faster than the `dim x dim` eigendecompositions);
 * otherwise through {@link computeStatistics} and {@link frechetDistance}.
 */
export function fidFromFeatures(x: FeatureRows, y: FeatureRows, dim: number): FidResult {
  const n1 = x.length / dim;
  const n2 = y.length / dim;
  if (Number.isInteger(n1) && Number.isInteger(n2) && n1 >= 2 && n2 >= 2 && preferLowRank(n1, n2, dim)) {
    return { fid: lowRankFid(x, y, n1, n2, dim), n1, n2, dim };
  }
  return frechetDistance(computeStatistics(x, dim), computeStatistics(y, dim));
}

/** Rough operation counts of both routes (multiply-adds). */
export function preferLowRank(n1: number, n2: number, d: number): boolean {
  const lo = Math.min(n1, n2);
  const hi = Math.max(n1, n2);
  const lowRank = n1 * n2 * d + lo * lo * hi + 4 * lo ** 3;
  const full = ((n1 + n2) * d * d) / 2 + 12 * d ** 3;
  return lowRank < full;
}
