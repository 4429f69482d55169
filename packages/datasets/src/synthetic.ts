import {
  createRng,
  type DataSplit,
  type Dataset,
  type ImageShape,
  type Rng,
  type SplitName,
} from '@tsvae/core';

/**
 * A synthetic dataset with known ground truth: points on an `intrinsicDim`-dimensional manifold
 * in `R^ambientDim` (`intrinsicDim < ambientDim`), an exact sampler, the exact map from latent
 * parameters to points, and the Euclidean distance of any point to the manifold, so tests can
 * measure how far a model's samples are from the truth.
 */
export interface Manifold {
  readonly name: string;
  /** `d`: values per example. */
  readonly ambientDim: number;
  /** `r`: the manifold's dimension. */
  readonly intrinsicDim: number;
  /** Values per latent parameter vector (equals `intrinsicDim` except for the sphere: `r + 1`). */
  readonly latentDim: number;
  /** Shape of one example: `[1, 1, d]` for vectors, `[s, s, 1]` for images. */
  readonly shape: ImageShape;
  /** Draws `n` points exactly on the manifold, with their latent parameters. */
  sample(n: number, rng: Rng | number): { readonly data: Float32Array; readonly latents: Float32Array };
  /** Maps latent parameters (`n * latentDim`) to points (`n * d`). */
  embed(latents: ArrayLike<number>): Float32Array;
  /** Distance of each point (`n * d` values) to the manifold. */
  distance(points: ArrayLike<number>): Float32Array;
}

function rngOf(r: Rng | number): Rng {
  return typeof r === 'number' ? createRng(r) : r;
}

/**
 * A random `d x k` matrix with orthonormal columns (Gram-Schmidt on Gaussian columns), row-major
 * `q[i * k + j]`.
 */
export function randomOrthonormal(d: number, k: number, rng: Rng): Float64Array {
  if (k > d) throw new RangeError(`randomOrthonormal: k (${k}) > d (${d})`);
  const cols: Float64Array[] = [];
  while (cols.length < k) {
    const v = new Float64Array(d);
    for (let i = 0; i < d; i++) v[i] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (const c of cols) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += v[i]! * c[i]!;
        for (let i = 0; i < d; i++) v[i]! -= dot * c[i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < d; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    if (norm < 1e-8) continue;
    for (let i = 0; i < d; i++) v[i]! /= norm;
    cols.push(v);
  }
  const q = new Float64Array(d * k);
  for (let j = 0; j < k; j++) for (let i = 0; i < d; i++) q[i * k + j] = cols[j]![i]!;
  return q;
}

/** An orthonormal embedding `R^k -> R^d`, with projection and residual. */
class Embedding {
  constructor(
    readonly d: number,
    readonly k: number,
    readonly q: Float64Array,
  ) {}
  /** `x = Q p` into `out` at `off`. */
  up(p: ArrayLike<number>, pOff: number, out: Float32Array, off: number): void {
    for (let i = 0; i < this.d; i++) {
      let s = 0;
      for (let j = 0; j < this.k; j++) s += this.q[i * this.k + j]! * p[pOff + j]!;
      out[off + i] = s;
    }
  }
  /** `p = Q^T x` and the squared norm of the residual `x - Q Q^T x`. */
  down(x: ArrayLike<number>, off: number): { p: Float64Array; residual2: number } {
    const p = new Float64Array(this.k);
    let norm2 = 0;
    for (let i = 0; i < this.d; i++) {
      const xi = x[off + i]!;
      norm2 += xi * xi;
      for (let j = 0; j < this.k; j++) p[j]! += this.q[i * this.k + j]! * xi;
    }
    let pn = 0;
    for (let j = 0; j < this.k; j++) pn += p[j]! * p[j]!;
    return { p, residual2: Math.max(0, norm2 - pn) };
  }
}

function checkDims(name: string, d: number, r: number): void {
  if (!Number.isInteger(d) || !Number.isInteger(r) || r < 1 || r >= d) {
    throw new RangeError(`${name}: need integers 1 <= intrinsicDim < dim, got intrinsicDim ${r}, dim ${d}`);
  }
}

function countOf(points: ArrayLike<number>, d: number, name: string): number {
  if (points.length % d !== 0)
    throw new RangeError(`${name}.distance: ${points.length} values is not a multiple of ${d}`);
  return points.length / d;
}

/** Options shared by the vector manifolds. */
export interface VectorManifoldOptions {
  /** Ambient dimension `d`. */
  readonly dim: number;
  /** Seed of the random orthonormal embedding. Default 0. */
  readonly seed?: number;
}

/**
 * An `r`-dimensional linear subspace of `R^d` through the origin, spanned by a random
 * orthonormal basis `Q`: `x = Q z` with `z ~ N(0, scale^2 I_r)`. Distance = `|x - Q Q^T x|`.
 */
export function linearSubspace(
  options: VectorManifoldOptions & { readonly intrinsicDim: number; readonly scale?: number },
): Manifold {
  const { dim: d, intrinsicDim: r } = options;
  checkDims('linearSubspace', d, r);
  const scale = options.scale ?? 1;
  const emb = new Embedding(d, r, randomOrthonormal(d, r, createRng(options.seed ?? 0)));
  const embed = (latents: ArrayLike<number>): Float32Array => {
    const n = latents.length / r;
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) emb.up(latents, i * r, out, i * d);
    return out;
  };
  return {
    name: 'linear',
    ambientDim: d,
    intrinsicDim: r,
    latentDim: r,
    shape: [1, 1, d],
    sample(n, rng) {
      const g = rngOf(rng);
      const latents = new Float32Array(n * r);
      for (let i = 0; i < latents.length; i++) latents[i] = scale * g.normal();
      return { data: embed(latents), latents };
    },
    embed,
    distance(points) {
      const n = countOf(points, d, 'linearSubspace');
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(emb.down(points, i * d).residual2);
      return out;
    },
  };
}

/**
 * The `r`-sphere of radius `radius` (default 1) in an `(r+1)`-dimensional random subspace of
 * `R^d`, sampled uniformly. Latents are the point on the unit sphere (`r + 1` values). Distance =
 * `sqrt(|residual|^2 + (|Q^T x| - radius)^2)`.
 */
export function sphere(
  options: VectorManifoldOptions & { readonly intrinsicDim: number; readonly radius?: number },
): Manifold {
  const { dim: d, intrinsicDim: r } = options;
  checkDims('sphere', d, r);
  const k = r + 1;
  const radius = options.radius ?? 1;
  const emb = new Embedding(d, k, randomOrthonormal(d, k, createRng(options.seed ?? 0)));
  const embed = (latents: ArrayLike<number>): Float32Array => {
    const n = latents.length / k;
    const out = new Float32Array(n * d);
    const p = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) p[j] = radius * latents[i * k + j]!;
      emb.up(p, 0, out, i * d);
    }
    return out;
  };
  return {
    name: 'sphere',
    ambientDim: d,
    intrinsicDim: r,
    latentDim: k,
    shape: [1, 1, d],
    sample(n, rng) {
      const g = rngOf(rng);
      const latents = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        let norm = 0;
        const v = new Float64Array(k);
        while (norm < 1e-12) {
          norm = 0;
          for (let j = 0; j < k; j++) {
            v[j] = g.normal();
            norm += v[j]! * v[j]!;
          }
        }
        norm = Math.sqrt(norm);
        for (let j = 0; j < k; j++) latents[i * k + j] = v[j]! / norm;
      }
      return { data: embed(latents), latents };
    },
    embed,
    distance(points) {
      const n = countOf(points, d, 'sphere');
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const { p, residual2 } = emb.down(points, i * d);
        let pn = 0;
        for (let j = 0; j < k; j++) pn += p[j]! * p[j]!;
        out[i] = Math.sqrt(residual2 + (Math.sqrt(pn) - radius) ** 2);
      }
      return out;
    },
  };
}

/**
 * The swiss roll (a 2-manifold) in a random 3-dimensional subspace of `R^d` (`d >= 3`): latents
 * `t ~ U(1.5 pi, 4.5 pi)`, `h ~ U(0, height)`; the point is `scale * (t cos t, h, t sin t)`.
 * Distance: exact residual plus a dense search over `t` refined by golden-section search
 * (accurate to ~1e-6 relative for points near the roll).
 */
export function swissRoll(
  options: VectorManifoldOptions & { readonly height?: number; readonly scale?: number },
): Manifold {
  const d = options.dim;
  if (!Number.isInteger(d) || d < 3) throw new RangeError(`swissRoll: dim must be an integer >= 3, got ${d}`);
  const height = options.height ?? 21;
  const scale = options.scale ?? 0.1;
  const t0 = 1.5 * Math.PI;
  const t1 = 4.5 * Math.PI;
  const emb = new Embedding(d, 3, randomOrthonormal(d, 3, createRng(options.seed ?? 0)));
  const embed = (latents: ArrayLike<number>): Float32Array => {
    const n = latents.length / 2;
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const t = latents[2 * i]!;
      const h = latents[2 * i + 1]!;
      emb.up([scale * t * Math.cos(t), scale * h, scale * t * Math.sin(t)], 0, out, i * d);
    }
    return out;
  };
  const planar2 = (a: number, b: number, t: number): number =>
    (a - scale * t * Math.cos(t)) ** 2 + (b - scale * t * Math.sin(t)) ** 2;
  const GRID = 4000;
  return {
    name: 'swiss-roll',
    ambientDim: d,
    intrinsicDim: 2,
    latentDim: 2,
    shape: [1, 1, d],
    sample(n, rng) {
      const g = rngOf(rng);
      const latents = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) {
        latents[2 * i] = t0 + (t1 - t0) * g.next();
        latents[2 * i + 1] = height * g.next();
      }
      return { data: embed(latents), latents };
    },
    embed,
    distance(points) {
      const n = countOf(points, d, 'swissRoll');
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const { p, residual2 } = emb.down(points, i * d);
        const a = p[0]!;
        const b = p[2]!;
        const y = p[1]!;
        const dy = y - Math.min(Math.max(y, 0), scale * height);
        let best = Number.POSITIVE_INFINITY;
        let bestK = 0;
        for (let s = 0; s <= GRID; s++) {
          const v = planar2(a, b, t0 + ((t1 - t0) * s) / GRID);
          if (v < best) {
            best = v;
            bestK = s;
          }
        }
        let lo = t0 + ((t1 - t0) * Math.max(0, bestK - 1)) / GRID;
        let hi = t0 + ((t1 - t0) * Math.min(GRID, bestK + 1)) / GRID;
        const phi = (Math.sqrt(5) - 1) / 2;
        for (let it = 0; it < 60; it++) {
          const m1 = hi - phi * (hi - lo);
          const m2 = lo + phi * (hi - lo);
          if (planar2(a, b, m1) < planar2(a, b, m2)) hi = m2;
          else lo = m1;
        }
        best = Math.min(best, planar2(a, b, (lo + hi) / 2));
        out[i] = Math.sqrt(residual2 + dy * dy + best);
      }
      return out;
    },
  };
}

/** Options for {@link gaussianBlob}. */
export interface GaussianBlobOptions {
  /** Image side in pixels. Default 16. */
  readonly size?: number;
  /** Number of parameters: 2 (centre x, y) or 3 (and the width sigma). Default 2. */
  readonly intrinsicDim?: 2 | 3;
  /** Blob width in pixels when `intrinsicDim` is 2. Default 2. */
  readonly sigma?: number;
  /** Range of sigma when `intrinsicDim` is 3. Default [1.5, 3]. */
  readonly sigmaRange?: readonly [number, number];
  /** Centres lie in `[margin, size - margin]`. Default 3. */
  readonly margin?: number;
}

/**
 * Small grey images of one Gaussian blob: pixel `(i, j)` (centre `(j + 0.5, i + 0.5)`) has value
 * `exp(-((x - cx)^2 + (y - cy)^2) / (2 sigma^2))` in (0, 1]. Latents are `(cx, cy)` or
 * `(cx, cy, sigma)`, uniform in their ranges. Images are `[size, size, 1]` float32. Distance to
 * the manifold (in pixel-value space) is found by a grid search over the parameters refined by
 * a pattern search.
 */
export function gaussianBlob(options: GaussianBlobOptions = {}): Manifold {
  const s = options.size ?? 16;
  const r = options.intrinsicDim ?? 2;
  const margin = options.margin ?? 3;
  const sigma0 = options.sigma ?? 2;
  const [sLo, sHi] = options.sigmaRange ?? [1.5, 3];
  if (s - 2 * margin <= 0) throw new RangeError(`gaussianBlob: margin ${margin} too large for size ${s}`);
  const d = s * s;
  const lo = [margin, margin, sLo];
  const hi = [s - margin, s - margin, sHi];
  const render = (
    cx: number,
    cy: number,
    sigma: number,
    out: Float32Array | Float64Array,
    off: number,
  ): void => {
    const k = -1 / (2 * sigma * sigma);
    for (let i = 0; i < s; i++) {
      const dy = i + 0.5 - cy;
      for (let j = 0; j < s; j++) {
        const dx = j + 0.5 - cx;
        out[off + i * s + j] = Math.exp(k * (dx * dx + dy * dy));
      }
    }
  };
  const embed = (latents: ArrayLike<number>): Float32Array => {
    const n = latents.length / r;
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      render(latents[i * r]!, latents[i * r + 1]!, r === 3 ? latents[i * r + 2]! : sigma0, out, i * d);
    }
    return out;
  };
  const img = new Float64Array(d);
  const dist2 = (x: ArrayLike<number>, off: number, p: readonly number[]): number => {
    render(p[0]!, p[1]!, r === 3 ? p[2]! : sigma0, img, 0);
    let acc = 0;
    for (let i = 0; i < d; i++) acc += (x[off + i]! - img[i]!) ** 2;
    return acc;
  };
  return {
    name: 'gaussian-blob',
    ambientDim: d,
    intrinsicDim: r,
    latentDim: r,
    shape: [s, s, 1],
    sample(n, rng) {
      const g = rngOf(rng);
      const latents = new Float32Array(n * r);
      for (let i = 0; i < n * r; i++) {
        const j = i % r;
        latents[i] = lo[j]! + (hi[j]! - lo[j]!) * g.next();
      }
      return { data: embed(latents), latents };
    },
    embed,
    distance(points) {
      const n = countOf(points, d, 'gaussianBlob');
      const out = new Float32Array(n);
      const steps = [0.5, 0.5, 0.25];
      for (let i = 0; i < n; i++) {
        const off = i * d;
        let best = Number.POSITIVE_INFINITY;
        let bp: number[] = [lo[0]!, lo[1]!, sigma0];
        const grid = (j: number): number[] => {
          const out2: number[] = [];
          for (let v = lo[j]!; v <= hi[j]! + 1e-9; v += steps[j]!) out2.push(v);
          return out2;
        };
        const sigmas = r === 3 ? grid(2) : [sigma0];
        for (const cx of grid(0))
          for (const cy of grid(1))
            for (const sg of sigmas) {
              const v = dist2(points, off, [cx, cy, sg]);
              if (v < best) {
                best = v;
                bp = [cx, cy, sg];
              }
            }
        // Pattern search with shrinking steps, kept inside the parameter box.
        let step = 0.5;
        while (step > 1e-5) {
          let improved = false;
          for (let j = 0; j < r; j++) {
            for (const sign of [1, -1]) {
              const cand = [...bp];
              cand[j] = Math.min(hi[j]!, Math.max(lo[j]!, cand[j]! + sign * step));
              const v = dist2(points, off, cand);
              if (v < best) {
                best = v;
                bp = cand;
                improved = true;
              }
            }
          }
          if (!improved) step /= 2;
        }
        out[i] = Math.sqrt(best);
      }
      return out;
    },
  };
}

/** A split of a synthetic dataset: float32 points with their latent parameters. */
export interface SyntheticSplit extends DataSplit {
  readonly data: Float32Array;
  /** Latent parameters, `size * latentDim` values. */
  readonly latents: Float32Array;
  readonly latentDim: number;
}

/** A {@link Dataset} over a {@link Manifold}, with the manifold for ground-truth checks. */
export interface ManifoldDataset extends Dataset {
  readonly manifold: Manifold;
  load(split: SplitName): Promise<SyntheticSplit>;
}

/** Options for {@link manifoldDataset}. */
export interface ManifoldDatasetOptions {
  /** Default 10000. */
  readonly trainSize?: number;
  /** Default 1000. */
  readonly testSize?: number;
  /** Sampling seed (train and test use different streams). Default 0. */
  readonly seed?: number;
  /** Dataset name. Default `synthetic-<manifold name>`. */
  readonly name?: string;
}

/** Wraps a manifold as a {@link Dataset}: fixed seeded train / test samples. */
export function manifoldDataset(manifold: Manifold, options: ManifoldDatasetOptions = {}): ManifoldDataset {
  const cache = new Map<SplitName, SyntheticSplit>();
  const seed = options.seed ?? 0;
  return {
    name: options.name ?? `synthetic-${manifold.name}`,
    shape: manifold.shape,
    manifold,
    async load(split) {
      let s = cache.get(split);
      if (!s) {
        const n = split === 'train' ? (options.trainSize ?? 10000) : (options.testSize ?? 1000);
        const { data, latents } = manifold.sample(n, createRng(seed * 2 + (split === 'train' ? 0 : 1)));
        s = { size: n, shape: manifold.shape, data, latents, latentDim: manifold.latentDim };
        cache.set(split, s);
      }
      return s;
    },
  };
}
