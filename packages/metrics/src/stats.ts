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

/**
 * Streaming, numerically stable accumulation of mean and covariance in float64 (Chan et al.'s
 * pairwise merge of centred batches), so features never need to be held all at once.
 */
export class StatisticsAccumulator {
  readonly dim: number;
  #count = 0;
  readonly #mean: Float64Array;
  /** Upper triangle of the centred co-moment sum. */
  readonly #m2: Float64Array;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim <= 0)
      throw new RangeError(`dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.#mean = new Float64Array(dim);
    this.#m2 = new Float64Array(dim * dim);
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
    const m2 = this.#m2;
    // Blocks of rows, stored transposed (xt[i * B + r]), so that each pass over the d x d
    // co-moment reads it once per block instead of once per row (memory bound otherwise).
    const B = 64;
    const xt = new Float64Array(d * B);
    for (let r0 = 0; r0 < n; r0 += B) {
      const nb = Math.min(B, n - r0);
      for (let r = 0; r < nb; r++) {
        const ro = (r0 + r) * d;
        for (let j = 0; j < d; j++) xt[j * B + r] = (rows[ro + j] as number) - (bm[j] as number);
      }
      for (let i = 0; i < d; i++) {
        const io = i * B;
        const o = i * d;
        for (let j = i; j < d; j++) {
          const jo = j * B;
          let s0 = 0;
          let s1 = 0;
          let r = 0;
          for (; r + 1 < nb; r += 2) {
            s0 += (xt[io + r] as number) * (xt[jo + r] as number);
            s1 += (xt[io + r + 1] as number) * (xt[jo + r + 1] as number);
          }
          if (r < nb) s0 += (xt[io + r] as number) * (xt[jo + r] as number);
          m2[o + j] = (m2[o + j] as number) + s0 + s1;
        }
      }
    }
    const na = this.#count;
    const nt = na + n;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = (bm[j] as number) - (this.#mean[j] as number);
    if (na > 0) {
      const w = (na * n) / nt;
      for (let i = 0; i < d; i++) {
        const di = (delta[i] as number) * w;
        const o = i * d;
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
    if (n < 2) throw new RangeError(`covariance needs at least 2 feature vectors, got ${n}`);
    const sigma = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = (this.#m2[i * d + j] as number) / (n - 1);
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
