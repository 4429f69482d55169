import { multiplyABt } from './linalg';
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
const noSkip = () => 0;
const upperBlocks = (i0: number, j0: number) => j0 >= i0;

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
  /** Upper triangle of the centred co-moment sum, row-major `#dp x #dp` (its padding is never read). */
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
    // Blocks of rows, centred and stored transposed (xt[i * nb + r]), so each pass over the
    // co-moment reads it once per block instead of once per row; M += X X^T takes the 4x4 blocks on
    // and above the diagonal. Padding rows of xt (stale values) reach only padding entries of M.
    const B = ROW_BLOCK;
    const xt = new Float64Array(dp * B);
    for (let r0 = 0; r0 < n; r0 += B) {
      const nb = Math.min(B, n - r0);
      for (let r = 0; r < nb; r++) {
        const ro = (r0 + r) * d;
        for (let j = 0; j < d; j++) xt[j * nb + r] = (rows[ro + j] as number) - (bm[j] as number);
      }
      multiplyABt(xt, xt, m2, dp, noSkip, upperBlocks, nb);
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
