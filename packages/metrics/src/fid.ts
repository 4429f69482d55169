import { traceSqrtProduct } from './linalg';
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

/** FID between two feature sets, row-major `[n, dim]`. */
export function fidFromFeatures(x: FeatureRows, y: FeatureRows, dim: number): FidResult {
  return frechetDistance(computeStatistics(x, dim), computeStatistics(y, dim));
}
