import { readNpz, writeNpz } from './npy';

/** Float64 Gaussian statistics of a feature set: what FID compares. */
export interface FeatureStatistics {
  /** Feature dimension `d`. */
  readonly dim: number;
  /** Number of feature vectors the statistics come from (0 when unknown, e.g. loaded .npz). */
  readonly count: number;
  /** Mean, length `d`. */
  readonly mu: Float64Array;
  /** Covariance (ddof = 1), row-major `d x d`. */
  readonly sigma: Float64Array;
}

/** Any row-major batch of feature vectors: `[n, d]` flattened. */
export type FeatureRows = Float32Array | Float64Array;

/** Rows of a batch centred and transposed at a time (see {@link StatisticsAccumulator.add}). */
const ROW_BLOCK = 128;

/**
 * Streaming, numerically stable accumulation of mean and covariance in float64 (Chan et al.'s
 * pairwise merge of centred batches), so features never need to be held all at once.
 */
export class StatisticsAccumulator {
  readonly dim: number;
  #count = 0;
  readonly #mean: Float64Array;
  /** `dim` rounded up to a multiple of 4 (the register blocks of the co-moment update). */
  readonly #dp: number;
  /** Upper triangle of the centred co-moment sum, row-major `#dp x #dp` (padding stays 0). */
  readonly #m2: Float64Array;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim <= 0)
      throw new RangeError(`dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.#dp = Math.ceil(dim / 4) * 4;
    this.#mean = new Float64Array(dim);
    this.#m2 = new Float64Array(this.#dp * this.#dp);
  }

  /** Number of rows added so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds `rows` (row-major `[n, dim]`). */
  add(rows: FeatureRows): this {
    const d = this.dim;
    if (rows.length % d !== 0)
      throw new RangeError(`features length ${rows.length} is not a multiple of ${d}`);
    const n = rows.length / d;
    if (n === 0) return this;
    const bm = new Float64Array(d);
    for (let r = 0; r < n; r++)
      for (let j = 0; j < d; j++) bm[j] = (bm[j] as number) + (rows[r * d + j] as number);
    for (let j = 0; j < d; j++) bm[j] = (bm[j] as number) / n;
    const dp = this.#dp;
    const m2 = this.#m2;
    // Blocks of rows, centred and stored transposed (xt[i * B + r]; padding features stay 0), so
    // each pass over the co-moment reads it once per block instead of once per row.
    const B = ROW_BLOCK;
    const xt = new Float64Array(dp * B);
    for (let r0 = 0; r0 < n; r0 += B) {
      const nb = Math.min(B, n - r0);
      for (let r = 0; r < nb; r++) {
        const ro = (r0 + r) * d;
        for (let j = 0; j < d; j++) xt[j * B + r] = (rows[ro + j] as number) - (bm[j] as number);
      }
      symmetricRankUpdate(xt, B, nb, m2, dp);
    }
    const na = this.#count;
    const nt = na + n;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = (bm[j] as number) - (this.#mean[j] as number);
    if (na > 0) {
      const w = (na * n) / nt;
      for (let i = 0; i < d; i++) {
        const di = (delta[i] as number) * w;
        const o = i * dp;
        for (let j = i; j < d; j++) m2[o + j] = (m2[o + j] as number) + di * (delta[j] as number);
      }
    }
    for (let j = 0; j < d; j++) this.#mean[j] = (this.#mean[j] as number) + ((delta[j] as number) * n) / nt;
    this.#count = nt;
    return this;
  }

  /** The statistics so far; needs at least two rows. */
  finalize(): FeatureStatistics {
    const n = this.#count;
    const d = this.dim;
    const dp = this.#dp;
    if (n < 2) throw new RangeError(`covariance needs at least 2 feature vectors, got ${n}`);
    const sigma = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = (this.#m2[i * dp + j] as number) / (n - 1);
        sigma[i * d + j] = v;
        sigma[j * d + i] = v;
      }
    }
    return { dim: d, count: n, mu: Float64Array.from(this.#mean), sigma };
  }
}

/**
 * `M[i][j] += sum_r X[i][r] X[j][r]` over `r < nb` for the 4x4 blocks on and above the diagonal of
 * `M` (`dp x dp`, `dp` a multiple of 4), `X` being `dp` rows of stride `stride`: 16 running sums
 * per block, so 8 loads feed 16 multiply-adds (a plain dot product needs 2 loads for each).
 * Entries below the diagonal inside diagonal blocks are written too and never read.
 */
function symmetricRankUpdate(x: Float64Array, stride: number, nb: number, m: Float64Array, dp: number): void {
  for (let i0 = 0; i0 < dp; i0 += 4) {
    const a0 = i0 * stride;
    const a1 = a0 + stride;
    const a2 = a1 + stride;
    const a3 = a2 + stride;
    for (let j0 = i0; j0 < dp; j0 += 4) {
      const b0 = j0 * stride;
      const b1 = b0 + stride;
      const b2 = b1 + stride;
      const b3 = b2 + stride;
      let c00 = 0;
      let c01 = 0;
      let c02 = 0;
      let c03 = 0;
      let c10 = 0;
      let c11 = 0;
      let c12 = 0;
      let c13 = 0;
      let c20 = 0;
      let c21 = 0;
      let c22 = 0;
      let c23 = 0;
      let c30 = 0;
      let c31 = 0;
      let c32 = 0;
      let c33 = 0;
      for (let r = 0; r < nb; r++) {
        const x0 = x[a0 + r] as number;
        const x1 = x[a1 + r] as number;
        const x2 = x[a2 + r] as number;
        const x3 = x[a3 + r] as number;
        const y0 = x[b0 + r] as number;
        const y1 = x[b1 + r] as number;
        const y2 = x[b2 + r] as number;
        const y3 = x[b3 + r] as number;
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      const o0 = i0 * dp + j0;
      const o1 = o0 + dp;
      const o2 = o1 + dp;
      const o3 = o2 + dp;
      m[o0] = (m[o0] as number) + c00;
      m[o0 + 1] = (m[o0 + 1] as number) + c01;
      m[o0 + 2] = (m[o0 + 2] as number) + c02;
      m[o0 + 3] = (m[o0 + 3] as number) + c03;
      m[o1] = (m[o1] as number) + c10;
      m[o1 + 1] = (m[o1 + 1] as number) + c11;
      m[o1 + 2] = (m[o1 + 2] as number) + c12;
      m[o1 + 3] = (m[o1 + 3] as number) + c13;
      m[o2] = (m[o2] as number) + c20;
      m[o2 + 1] = (m[o2 + 1] as number) + c21;
      m[o2 + 2] = (m[o2 + 2] as number) + c22;
      m[o2 + 3] = (m[o2 + 3] as number) + c23;
      m[o3] = (m[o3] as number) + c30;
      m[o3 + 1] = (m[o3 + 1] as number) + c31;
      m[o3 + 2] = (m[o3 + 2] as number) + c32;
      m[o3 + 3] = (m[o3 + 3] as number) + c33;
    }
  }
}

/** Mean and covariance (ddof = 1, float64) of row-major features `[n, dim]`. */
export function computeStatistics(features: FeatureRows, dim: number): FeatureStatistics {
  return new StatisticsAccumulator(dim).add(features).finalize();
}

/**
 * Serialises statistics in pytorch-fid's `.npz` layout (`mu`: `[d]`, `sigma`: `[d, d]`, both
 * float64), plus an `n` entry (int64 scalar array) that pytorch-fid ignores.
 */
export function statisticsToNpz(stats: FeatureStatistics): Uint8Array {
  return writeNpz({
    mu: { dtype: 'float64', shape: [stats.dim], data: stats.mu },
    sigma: { dtype: 'float64', shape: [stats.dim, stats.dim], data: stats.sigma },
    n: { dtype: 'int64', shape: [1], data: Float64Array.of(stats.count) },
  });
}

/**
 * Reads statistics from a pytorch-fid / TTUR style `.npz` (`mu`, `sigma`; float32 is widened to
 * float64). `count` is taken from an `n` entry when present, else 0 (unknown).
 */
export function statisticsFromNpz(bytes: Uint8Array): FeatureStatistics {
  const arrays = readNpz(bytes);
  const mu = arrays.get('mu');
  const sigma = arrays.get('sigma');
  if (!mu || !sigma)
    throw new Error(`statistics .npz needs 'mu' and 'sigma', found ${[...arrays.keys()].join(', ')}`);
  const d = mu.data.length;
  if (sigma.data.length !== d * d) {
    throw new Error(`'sigma' has shape [${sigma.shape.join(', ')}], expected [${d}, ${d}] to match 'mu'`);
  }
  const n = arrays.get('n');
  return {
    dim: d,
    count: n ? Number(n.data[0] ?? 0) : 0,
    mu: Float64Array.from(mu.data),
    sigma: Float64Array.from(sigma.data),
  };
}
