/**
 * A manifold with a known, non-uniform density: a mixture of von Mises bumps on the r-torus,
 * embedded in R^d by a fixed random nonlinear map. The theory of the Two-Stage VAE says stage 1
 * recovers the r-dimensional manifold (gamma -> 0, r active latent dimensions) and stage 2 learns
 * the density on it; with an exact sampler, an exact density and a distance to the manifold, both
 * claims can be measured.
 */
import { createRng, type Rng } from '@tsvae/core';
import type { Manifold } from './synthetic';

/** Options for {@link bumpyTorus}. */
export interface BumpyTorusOptions {
  /** Ambient dimension `d` (at least `2 r`). */
  readonly dim: number;
  /** `r`: the torus dimension (angles). */
  readonly intrinsicDim: number;
  /** Mixture components. Default 3. */
  readonly components?: number;
  /** Von Mises concentration of every bump, per angle. Default 4. */
  readonly concentration?: number;
  /** Seed of the bump centres and weights and of the embedding. Default 0. */
  readonly seed?: number;
}

/** A manifold with an exact density on it and a projection onto it. */
export interface DensityManifold extends Manifold {
  /** Log density (w.r.t. the uniform measure `dθ` on the torus) of latent parameters, `n * latentDim`. */
  logDensity(latents: ArrayLike<number>): Float64Array;
  /** The latent parameters of the nearest manifold point of each point (what `distance` measures to). */
  project(points: ArrayLike<number>): Float32Array;
  /** The mixture: weights, centres (`components * r` angles) and concentration. */
  readonly mixture: {
    readonly weights: Float64Array;
    readonly centres: Float64Array;
    readonly concentration: number;
  };
}

/** Modified Bessel function I0 (series; converges for every x used here). */
export function besselI0(x: number): number {
  let term = 1;
  let sum = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** One draw from the von Mises distribution VM(mu, kappa) (Best & Fisher, 1979), in [-π, π) + mu. */
export function vonMises(mu: number, kappa: number, rng: Rng): number {
  if (kappa < 1e-8) return mu + (2 * rng.next() - 1) * Math.PI;
  const a = 1 + Math.sqrt(1 + 4 * kappa * kappa);
  const b = (a - Math.sqrt(2 * a)) / (2 * kappa);
  const r = (1 + b * b) / (2 * b);
  for (;;) {
    const u1 = rng.next();
    const u2 = rng.next() || Number.MIN_VALUE;
    const u3 = rng.next();
    const z = Math.cos(Math.PI * u1);
    const f = (1 + r * z) / (r + z);
    const c = kappa * (r - f);
    if (c * (2 - c) - u2 > 0 || Math.log(c / u2) + 1 - c >= 0) {
      return mu + (u3 > 0.5 ? 1 : -1) * Math.acos(Math.min(1, Math.max(-1, f)));
    }
  }
}

const TWO_PI = 2 * Math.PI;

function wrap(a: number): number {
  const t = a % TWO_PI;
  return t < 0 ? t + TWO_PI : t;
}

/**
 * The r-torus `[0, 2π)^r` with a mixture of `components` von Mises bumps (unequal weights
 * `w_k ∝ k + 1`, random centres, concentration κ on every angle), embedded in `R^d` by
 * `x = tanh(A φ(θ) + b)` where `φ(θ) = (cos θ_1, sin θ_1, ..., cos θ_r, sin θ_r)` and `A` (d x 2r,
 * full column rank) and `b` are fixed random draws: a smooth embedding (tanh is strictly monotone
 * and `A φ` is injective on the torus). Latents are the angles. `distance` and `project` find the
 * nearest manifold point by inverting the map (atanh, least squares, angle of each (cos, sin)
 * pair) and refining with Gauss-Newton on the angles.
 */
export function bumpyTorus(options: BumpyTorusOptions): DensityManifold {
  const d = options.dim;
  const r = options.intrinsicDim;
  if (!Number.isInteger(d) || !Number.isInteger(r) || r < 1 || d < 2 * r) {
    throw new RangeError(`bumpyTorus: need integers r >= 1 and dim >= 2 r, got intrinsicDim ${r}, dim ${d}`);
  }
  const K = options.components ?? 3;
  const kappa = options.concentration ?? 4;
  const rng = createRng(options.seed ?? 0);
  const m = 2 * r;
  const A = new Float64Array(d * m);
  for (let i = 0; i < A.length; i++) A[i] = (rng.normal() * 1.2) / Math.sqrt(m);
  const bias = Float64Array.from({ length: d }, () => rng.normal() * 0.3);
  const weights = Float64Array.from({ length: K }, (_, k) => k + 1);
  const total = weights.reduce((s, v) => s + v, 0);
  for (let k = 0; k < K; k++) weights[k] = (weights[k] as number) / total;
  const centres = Float64Array.from({ length: K * r }, () => rng.next() * TWO_PI);
  // pinv(A) = (AᵀA)⁻¹Aᵀ for the inverse map
  const ata = new Float64Array(m * m);
  for (let p = 0; p < m; p++)
    for (let q = 0; q < m; q++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += (A[i * m + p] as number) * (A[i * m + q] as number);
      ata[p * m + q] = s;
    }
  const ataInv = invert(ata, m);

  const forward = (theta: ArrayLike<number>, off: number, out: Float64Array, jac?: Float64Array): void => {
    // out = tanh(A φ + b); jac (d x r) = diag(1 - out²) A dφ/dθ
    for (let i = 0; i < d; i++) {
      let s = bias[i] as number;
      for (let j = 0; j < r; j++) {
        const t = theta[off + j] as number;
        s += (A[i * m + 2 * j] as number) * Math.cos(t) + (A[i * m + 2 * j + 1] as number) * Math.sin(t);
      }
      const y = Math.tanh(s);
      out[i] = y;
      if (jac) {
        const g = 1 - y * y;
        for (let j = 0; j < r; j++) {
          const t = theta[off + j] as number;
          jac[i * r + j] =
            g *
            (-(A[i * m + 2 * j] as number) * Math.sin(t) + (A[i * m + 2 * j + 1] as number) * Math.cos(t));
        }
      }
    }
  };

  const embed = (latents: ArrayLike<number>): Float32Array => {
    const n = latents.length / r;
    const out = new Float32Array(n * d);
    const x = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      forward(latents, i * r, x);
      out.set(x, i * d);
    }
    return out;
  };

  /** The nearest point's angles of one point, and the squared distance. */
  const nearest = (points: ArrayLike<number>, off: number): { theta: Float64Array; dist2: number } => {
    // initial guess: invert tanh and A
    const y = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      const v = Math.min(0.999999, Math.max(-0.999999, points[off + i] as number));
      y[i] = Math.atanh(v) - (bias[i] as number);
    }
    const aty = new Float64Array(m);
    for (let p = 0; p < m; p++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += (A[i * m + p] as number) * (y[i] as number);
      aty[p] = s;
    }
    const phi = new Float64Array(m);
    for (let p = 0; p < m; p++) {
      let s = 0;
      for (let q = 0; q < m; q++) s += (ataInv[p * m + q] as number) * (aty[q] as number);
      phi[p] = s;
    }
    const starts: Float64Array[] = [
      Float64Array.from({ length: r }, (_, j) => Math.atan2(phi[2 * j + 1] as number, phi[2 * j] as number)),
    ];
    for (let k = 0; k < K; k++) starts.push(centres.slice(k * r, (k + 1) * r));
    let best = { theta: starts[0] as Float64Array, dist2: Number.POSITIVE_INFINITY };
    const x = new Float64Array(d);
    const jac = new Float64Array(d * r);
    for (const start of starts) {
      const theta = start.slice();
      let lambda = 1e-3;
      let cur = residual2(points, off, theta, x);
      for (let it = 0; it < 50; it++) {
        forward(theta, 0, x, jac);
        // Levenberg-Marquardt step on the r angles
        const jtj = new Float64Array(r * r);
        const jtr = new Float64Array(r);
        for (let i = 0; i < d; i++) {
          const res = (x[i] as number) - (points[off + i] as number);
          for (let p = 0; p < r; p++) {
            jtr[p] = (jtr[p] as number) + (jac[i * r + p] as number) * res;
            for (let q = 0; q < r; q++)
              jtj[p * r + q] =
                (jtj[p * r + q] as number) + (jac[i * r + p] as number) * (jac[i * r + q] as number);
          }
        }
        for (let p = 0; p < r; p++) jtj[p * r + p] = (jtj[p * r + p] as number) * (1 + lambda) + 1e-12;
        const step = solve(jtj, jtr, r);
        const trial = theta.map((t, p) => t - (step[p] as number));
        const next = residual2(points, off, trial, x);
        if (next < cur) {
          theta.set(trial);
          const gain = cur - next;
          cur = next;
          lambda = Math.max(lambda / 3, 1e-9);
          if (gain < 1e-14 * (1 + cur)) break;
        } else {
          lambda *= 4;
          if (lambda > 1e8) break;
        }
      }
      if (cur < best.dist2) best = { theta: theta.map(wrap), dist2: cur };
    }
    return best;
  };

  function residual2(
    points: ArrayLike<number>,
    off: number,
    theta: ArrayLike<number>,
    x: Float64Array,
  ): number {
    forward(theta, 0, x);
    let s = 0;
    for (let i = 0; i < d; i++) s += ((x[i] as number) - (points[off + i] as number)) ** 2;
    return s;
  }

  const logNorm = r * Math.log(TWO_PI * besselI0(kappa));
  return {
    name: 'bumpy-torus',
    ambientDim: d,
    intrinsicDim: r,
    latentDim: r,
    shape: [1, 1, d],
    mixture: { weights, centres, concentration: kappa },
    sample(n, g) {
      const gen = typeof g === 'number' ? createRng(g) : g;
      const latents = new Float32Array(n * r);
      for (let i = 0; i < n; i++) {
        const u = gen.next();
        let k = 0;
        for (let acc = weights[0] as number; acc < u && k < K - 1; acc += weights[++k] as number);
        for (let j = 0; j < r; j++)
          latents[i * r + j] = wrap(vonMises(centres[k * r + j] as number, kappa, gen));
      }
      return { data: embed(latents), latents };
    },
    embed,
    distance(points) {
      const n = points.length / d;
      if (!Number.isInteger(n))
        throw new RangeError(`bumpyTorus.distance: ${points.length} values is not a multiple of ${d}`);
      return Float32Array.from({ length: n }, (_, i) => Math.sqrt(nearest(points, i * d).dist2));
    },
    project(points) {
      const n = points.length / d;
      const out = new Float32Array(n * r);
      for (let i = 0; i < n; i++) out.set(nearest(points, i * d).theta, i * r);
      return out;
    },
    logDensity(latents) {
      const n = latents.length / r;
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          let e = 0;
          for (let j = 0; j < r; j++)
            e += Math.cos((latents[i * r + j] as number) - (centres[k * r + j] as number));
          s += (weights[k] as number) * Math.exp(kappa * (e - r));
        }
        // log of sum_k w_k prod_j exp(κ cos(θ_j − μ_kj)) / (2π I0(κ)), with exp(κ r) factored out
        out[i] = Math.log(s) + kappa * r - logNorm;
      }
      return out;
    },
  };
}

/** Inverse of a small symmetric positive definite matrix (Gauss-Jordan). */
function invert(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++)
      if (Math.abs(m[r * n + c] as number) > Math.abs(m[p * n + c] as number)) p = r;
    for (let k = 0; k < n; k++) {
      [m[c * n + k], m[p * n + k]] = [m[p * n + k] as number, m[c * n + k] as number];
      [inv[c * n + k], inv[p * n + k]] = [inv[p * n + k] as number, inv[c * n + k] as number];
    }
    const piv = m[c * n + c] as number;
    for (let k = 0; k < n; k++) {
      m[c * n + k] = (m[c * n + k] as number) / piv;
      inv[c * n + k] = (inv[c * n + k] as number) / piv;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c] as number;
      if (f === 0) continue;
      for (let k = 0; k < n; k++) {
        m[r * n + k] = (m[r * n + k] as number) - f * (m[c * n + k] as number);
        inv[r * n + k] = (inv[r * n + k] as number) - f * (inv[c * n + k] as number);
      }
    }
  }
  return inv;
}

function solve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const inv = invert(a, n);
  return Float64Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let k = 0; k < n; k++) s += (inv[i * n + k] as number) * (b[k] as number);
    return s;
  });
}
