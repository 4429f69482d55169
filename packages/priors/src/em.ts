/**
 * EM for a Gaussian mixture in float64, on Gaussian data points: each point is `N(mu_i,
 * diag(sigma_i^2))` (plain points when `sigma` is absent), so stage-1 codes enter as their encoder
 * posteriors, integrated exactly, rather than as one draw of them.
 */
import { createRng, type Logger, type Rng, silentLogger } from '@tsvae/core';
import { cholesky, invertLower, LOG_2PI, logSumExp } from './linalg';

/** Covariance structure of the components. */
export type CovarianceType = 'full' | 'diag';

/** A Gaussian mixture's parameters in float64. */
export interface MixtureParams {
  /** Number of components `k`. */
  readonly components: number;
  /** Dimension `d`. */
  readonly dim: number;
  readonly covariance: CovarianceType;
  /** Log mixture weights, `[k]` (they sum to 1 in probability). */
  readonly logWeights: Float64Array;
  /** Component means, `[k, d]` row-major. */
  readonly means: Float64Array;
  /**
   * `full`: lower Cholesky factors `L_k` of the covariances (`S_k = L_k L_k^T`), `[k, d, d]`;
   * `diag`: the standard deviations, `[k, d]`.
   */
  readonly scales: Float64Array;
}

/** What EM fits: `n` points of dimension `d`, each the Gaussian `N(mu_i, diag(sigma_i^2))`. */
export interface MixtureData {
  readonly size: number;
  readonly dim: number;
  /** Means, `[n, d]` row-major. */
  readonly mu: ArrayLike<number>;
  /** Standard deviations, `[n, d]` row-major; absent: plain points (`sigma = 0`). */
  readonly sigma?: ArrayLike<number>;
}

/** Settings of {@link fitMixture}. */
export interface EmSettings {
  readonly components: number;
  readonly covariance: CovarianceType;
  /** Added to every covariance's diagonal (the covariance floor), > 0. */
  readonly regularization: number;
  /** Stop when the per-point log-likelihood changes by less than this. */
  readonly tolerance: number;
  readonly maxIterations: number;
}

/** One EM iteration, as reported to {@link FitMixtureOptions.onIteration}. */
export interface EmIteration {
  /** 1-based. */
  readonly iteration: number;
  /** Mean over the points of the log-likelihood bound of the current parameters (see {@link fitMixture}). */
  readonly logLikelihood: number;
  /** Whether this iteration met the tolerance (the fit stops here). */
  readonly converged: boolean;
}

/** Options of {@link fitMixture}. */
export interface FitMixtureOptions {
  /** Seed of the k-means++ initialisation. */
  readonly seed: number;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
  /** Called after each iteration's E-step (awaited). */
  readonly onIteration?: (it: EmIteration) => void | Promise<void>;
}

/** What {@link fitMixture} returns. */
export interface FitMixtureResult {
  /** The parameters whose log-likelihood was reported last. */
  readonly params: MixtureParams;
  readonly iterations: number;
  readonly converged: boolean;
  /** Per-iteration log-likelihoods (mean over the points). */
  readonly logLikelihoods: readonly number[];
}

/** An error of the mixture fit (e.g. a covariance that is not positive definite). */
export class MixtureFitError extends Error {
  override readonly name = 'MixtureFitError';
}

/** Per-component quantities of the density: precision factors and normalising constants. */
export interface MixtureDensity {
  readonly params: MixtureParams;
  /**
   * `full`: `L_k^{-1}` (lower-triangular), `[k, d, d]`, so `|L_k^{-1}(x - m_k)|^2` is the
   * Mahalanobis distance; `diag`: `1 / std`, `[k, d]`.
   */
  readonly inverseScales: Float64Array;
  /** Diagonal of `S_k^{-1}`, `[k, d]`. */
  readonly precisionDiag: Float64Array;
  /** `log w_k - sum_j log L_k,jj - d/2 log(2 pi)`, `[k]`. */
  readonly logNorm: Float64Array;
}

/** Precomputes {@link MixtureDensity} (throws if a scale is not positive). */
export function mixtureDensity(params: MixtureParams): MixtureDensity {
  const { components: k, dim: d, covariance } = params;
  const inverseScales = new Float64Array(covariance === 'full' ? k * d * d : k * d);
  const precisionDiag = new Float64Array(k * d);
  const logNorm = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let logDet = 0;
    if (covariance === 'full') {
      const l = params.scales.subarray(c * d * d, (c + 1) * d * d);
      for (let j = 0; j < d; j++) {
        const v = l[j * d + j] as number;
        if (!(v > 0) || !Number.isFinite(v)) {
          throw new MixtureFitError(`component ${c}: Cholesky factor has diagonal entry ${v} (must be > 0)`);
        }
        logDet += Math.log(v);
      }
      const inv = invertLower(l, d);
      inverseScales.set(inv, c * d * d);
      for (let r = 0; r < d; r++)
        for (let j = 0; j <= r; j++)
          precisionDiag[c * d + j] = (precisionDiag[c * d + j] as number) + (inv[r * d + j] as number) ** 2;
    } else {
      for (let j = 0; j < d; j++) {
        const v = params.scales[c * d + j] as number;
        if (!(v > 0) || !Number.isFinite(v)) {
          throw new MixtureFitError(`component ${c}: standard deviation ${v} (must be > 0)`);
        }
        logDet += Math.log(v);
        inverseScales[c * d + j] = 1 / v;
        precisionDiag[c * d + j] = 1 / (v * v);
      }
    }
    logNorm[c] = (params.logWeights[c] as number) - logDet - 0.5 * d * LOG_2PI;
  }
  return { params, inverseScales, precisionDiag, logNorm };
}

/**
 * `out[i * k + c] = log w_c + E_{N(mu_i, sigma_i^2)} log N(z; m_c, S_c)`, i.e. the component log
 * densities of the points' means minus `tr(S_c^{-1} diag(sigma_i^2)) / 2`.
 */
export function componentLogDensities(
  density: MixtureDensity,
  data: MixtureData,
  out: Float64Array = new Float64Array(data.size * density.params.components),
): Float64Array {
  const { components: k, dim: d, covariance, means } = density.params;
  const { mu, sigma } = data;
  const diff = new Float64Array(d);
  for (let i = 0; i < data.size; i++) {
    for (let c = 0; c < k; c++) {
      let maha = 0;
      if (covariance === 'full') {
        for (let j = 0; j < d; j++) diff[j] = (mu[i * d + j] as number) - (means[c * d + j] as number);
        const inv = density.inverseScales;
        const o = c * d * d;
        for (let r = 0; r < d; r++) {
          let y = 0;
          const ro = o + r * d;
          for (let j = 0; j <= r; j++) y += (inv[ro + j] as number) * (diff[j] as number);
          maha += y * y;
        }
      } else {
        for (let j = 0; j < d; j++) {
          const y =
            ((mu[i * d + j] as number) - (means[c * d + j] as number)) *
            (density.inverseScales[c * d + j] as number);
          maha += y * y;
        }
      }
      if (sigma) {
        for (let j = 0; j < d; j++) {
          const s = sigma[i * d + j] as number;
          maha += (density.precisionDiag[c * d + j] as number) * s * s;
        }
      }
      out[i * k + c] = (density.logNorm[c] as number) - 0.5 * maha;
    }
  }
  return out;
}

/** Log-likelihood of each row of `z` (`[n, d]`) under the mixture, in float64. */
export function mixtureLogLikelihood(density: MixtureDensity, z: ArrayLike<number>): Float64Array {
  const { components: k, dim: d } = density.params;
  if (z.length % d !== 0) throw new RangeError(`${z.length} values are not rows of ${d}`);
  const n = z.length / d;
  const comp = componentLogDensities(density, { size: n, dim: d, mu: z });
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = logSumExp(comp, i * k, k);
  return out;
}

/** k-means++ seeding on the rows of `x`: `k` row indices (the first uniform, then by squared distance). */
export function kmeansPlusPlus(x: ArrayLike<number>, n: number, d: number, k: number, rng: Rng): number[] {
  const chosen: number[] = [rng.nextInt(n)];
  const dist = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  while (chosen.length < k) {
    const last = chosen.at(-1) as number;
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += ((x[i * d + j] as number) - (x[last * d + j] as number)) ** 2;
      if (s < (dist[i] as number)) dist[i] = s;
      total += dist[i] as number;
    }
    let next: number;
    if (!(total > 0)) {
      // every point sits on a centre already (fewer distinct points than k): any point will do
      next = rng.nextInt(n);
    } else {
      const u = rng.next() * total;
      let acc = 0;
      next = n - 1;
      for (let i = 0; i < n; i++) {
        acc += dist[i] as number;
        if (acc > u) {
          next = i;
          break;
        }
      }
    }
    chosen.push(next);
  }
  return chosen;
}

const TINY = 10 * Number.EPSILON;

/**
 * The M-step: weights, means and covariances from responsibilities `resp` (`[n, k]`), each
 * covariance `sum_i r_ic ((mu_i - m_c)(mu_i - m_c)^T + diag(sigma_i^2)) / N_c + reg I`. A
 * component with no responsibility keeps `fallback`'s mean and scales.
 */
function mStep(data: MixtureData, resp: Float64Array, s: EmSettings, fallback: MixtureParams): MixtureParams {
  const { size: n, dim: d, mu, sigma } = data;
  const k = s.components;
  const full = s.covariance === 'full';
  const nk = new Float64Array(k);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < k; c++) nk[c] = (nk[c] as number) + (resp[i * k + c] as number);
  const means = new Float64Array(k * d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const r = resp[i * k + c] as number;
      if (r === 0) continue;
      for (let j = 0; j < d; j++)
        means[c * d + j] = (means[c * d + j] as number) + r * (mu[i * d + j] as number);
    }
  }
  const empty = Array.from(nk, (v) => !(v > TINY * n));
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < d; j++) {
      means[c * d + j] = empty[c]
        ? (fallback.means[c * d + j] as number)
        : (means[c * d + j] as number) / (nk[c] as number);
    }
  }
  const cov = new Float64Array(full ? k * d * d : k * d);
  const diff = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const r = resp[i * k + c] as number;
      if (r === 0 || empty[c]) continue;
      for (let j = 0; j < d; j++) diff[j] = (mu[i * d + j] as number) - (means[c * d + j] as number);
      if (full) {
        const o = c * d * d;
        for (let a = 0; a < d; a++) {
          const ra = r * (diff[a] as number);
          const ao = o + a * d;
          for (let b = 0; b <= a; b++) cov[ao + b] = (cov[ao + b] as number) + ra * (diff[b] as number);
        }
      } else {
        for (let j = 0; j < d; j++)
          cov[c * d + j] = (cov[c * d + j] as number) + r * (diff[j] as number) ** 2;
      }
      if (sigma) {
        for (let j = 0; j < d; j++) {
          const sv = sigma[i * d + j] as number;
          const at = full ? c * d * d + j * d + j : c * d + j;
          cov[at] = (cov[at] as number) + r * sv * sv;
        }
      }
    }
  }
  const scales = new Float64Array(cov.length);
  const logWeights = new Float64Array(k);
  const total = n + k * TINY;
  for (let c = 0; c < k; c++) {
    logWeights[c] = Math.log(((nk[c] as number) + TINY) / total);
    if (empty[c]) {
      scales.set(
        fallback.scales.subarray(full ? c * d * d : c * d, full ? (c + 1) * d * d : (c + 1) * d),
        full ? c * d * d : c * d,
      );
      continue;
    }
    const w = nk[c] as number;
    if (full) {
      const block = cov.subarray(c * d * d, (c + 1) * d * d);
      for (let a = 0; a < d; a++) {
        for (let b = 0; b <= a; b++) block[a * d + b] = (block[a * d + b] as number) / w;
        block[a * d + a] = (block[a * d + a] as number) + s.regularization;
      }
      const l = cholesky(block, d);
      if (!l) {
        throw new MixtureFitError(
          `component ${c}: the covariance is not positive definite even with regularization ${s.regularization}; raise \`regularization\``,
        );
      }
      scales.set(l, c * d * d);
    } else {
      for (let j = 0; j < d; j++)
        scales[c * d + j] = Math.sqrt((cov[c * d + j] as number) / w + s.regularization);
    }
  }
  return { components: k, dim: d, covariance: s.covariance, logWeights, means, scales };
}

/** One component fitted to all the data: the fallback for components left empty. */
function globalParams(data: MixtureData, s: EmSettings): MixtureParams {
  const ones = new Float64Array(data.size).fill(1);
  const one = mStep(data, ones, { ...s, components: 1 }, identityMixture(1, data.dim, s.covariance));
  const k = s.components;
  const d = data.dim;
  const rep = (a: Float64Array) => {
    const out = new Float64Array(a.length * k);
    for (let c = 0; c < k; c++) out.set(a, c * a.length);
    return out;
  };
  return {
    components: k,
    dim: d,
    covariance: s.covariance,
    logWeights: new Float64Array(k).fill(-Math.log(k)),
    means: rep(one.means),
    scales: rep(one.scales),
  };
}

/** `k` equally weighted standard normal components (what a mixture is before it is fitted). */
export function identityMixture(k: number, d: number, covariance: CovarianceType): MixtureParams {
  const scales = new Float64Array(covariance === 'full' ? k * d * d : k * d);
  for (let c = 0; c < k; c++)
    for (let j = 0; j < d; j++) scales[covariance === 'full' ? c * d * d + j * d + j : c * d + j] = 1;
  return {
    components: k,
    dim: d,
    covariance,
    logWeights: new Float64Array(k).fill(-Math.log(k)),
    means: new Float64Array(k * d),
    scales,
  };
}

/**
 * Fits a Gaussian mixture by EM in float64. Initialisation: k-means++ centres on the points' means
 * (seeded), each point assigned to its nearest centre, one M-step. Each iteration is an E-step
 * (responsibilities, and the mean log-likelihood of the current parameters, reported) then, unless
 * the change is below `tolerance` or the iterations are used up, an M-step. The returned parameters
 * are those whose log-likelihood was reported last.
 *
 * With `sigma`, point `i` is the Gaussian `q_i = N(mu_i, diag(sigma_i^2))` and EM maximises
 * `sum_i sum_c r_ic (log w_c + E_{q_i} log N(z; m_c, S_c) - log r_ic)`, a lower bound of
 * `sum_i E_{q_i} log p(z)` (exact when `sigma = 0`), which increases every iteration (up to the
 * small change the covariance floor makes); the M-step adds the mean posterior variance to each
 * covariance. This fits the aggregate posterior itself, not a finite draw from it.
 */
export async function fitMixture(
  data: MixtureData,
  settings: EmSettings,
  options: FitMixtureOptions,
): Promise<FitMixtureResult> {
  const { size: n, dim: d } = data;
  const k = settings.components;
  const logger = options.logger ?? silentLogger;
  if (data.mu.length !== n * d || (data.sigma && data.sigma.length !== n * d)) {
    throw new RangeError(`fitMixture: expected ${n} x ${d} values`);
  }
  if (n < k) throw new RangeError(`fitMixture: ${k} components need at least ${k} points, got ${n}`);
  const rng = createRng(options.seed);
  const centres = kmeansPlusPlus(data.mu, n, d, k, rng);
  const resp = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestDist = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const ci = centres[c] as number;
      let s = 0;
      for (let j = 0; j < d; j++)
        s += ((data.mu[i * d + j] as number) - (data.mu[ci * d + j] as number)) ** 2;
      if (s < bestDist) {
        bestDist = s;
        best = c;
      }
    }
    resp[i * k + best] = 1;
  }
  let params = mStep(data, resp, settings, globalParams(data, settings));
  const lls: number[] = [];
  let prev = Number.NEGATIVE_INFINITY;
  let converged = false;
  const comp = new Float64Array(n * k);
  for (let it = 1; it <= settings.maxIterations; it++) {
    options.signal?.throwIfAborted();
    componentLogDensities(mixtureDensity(params), data, comp);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const lse = logSumExp(comp, i * k, k);
      sum += lse;
      for (let c = 0; c < k; c++) resp[i * k + c] = Math.exp((comp[i * k + c] as number) - lse);
    }
    const ll = sum / n;
    if (!Number.isFinite(ll)) throw new MixtureFitError(`the log-likelihood became ${ll} at iteration ${it}`);
    converged = it > 1 && Math.abs(ll - prev) < settings.tolerance;
    lls.push(ll);
    logger.debug('gmm EM iteration', { iteration: it, logLikelihood: ll, change: ll - prev });
    await options.onIteration?.({ iteration: it, logLikelihood: ll, converged });
    prev = ll;
    if (converged || it === settings.maxIterations) break;
    options.signal?.throwIfAborted();
    params = mStep(data, resp, settings, params);
  }
  if (!converged) {
    logger.warn('gmm EM did not converge', {
      iterations: lls.length,
      tolerance: settings.tolerance,
      lastChange: lls.length > 1 ? (lls.at(-1) as number) - (lls.at(-2) as number) : null,
    });
  }
  return { params, iterations: lls.length, converged, logLikelihoods: lls };
}
