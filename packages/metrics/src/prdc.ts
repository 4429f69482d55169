/**
 * Improved precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al.
 * 2020) from k-nearest-neighbour balls in feature space, in float64, a block of rows at a time.
 */
import type { FeatureRows } from './stats';

/** Options of {@link precisionRecallDensityCoverage} and {@link knnRadii}. */
export interface PrdcOptions {
  /**
   * Neighbourhood size `k` (default 3, Kynkäänniemi et al.'s choice for precision and recall;
   * Naeem et al. suggest 5 for density and coverage at 10k samples).
   */
  readonly k?: number;
  /**
   * Count a sample exactly on a ball's boundary as inside (`d <= r`, the comparison of
   * Kynkäänniemi et al.'s code) instead of strictly inside (`d < r`, Naeem et al.'s reference
   * `prdc` code, the default). The two differ only on ties, e.g. duplicated or discrete features,
   * or a set compared with itself: without other ties its density is exactly 1 with `d < r` and
   * `(k + 1) / k` with `d <= r`.
   */
  readonly closedBalls?: boolean;
  /**
   * Rows per block of the distance computation (default 256). Memory beyond the inputs is
   * `blockSize * (blockSize + 2 dim)` float64 plus `k + 1` numbers per row: 10k x 10k never needs
   * a 10k x 10k matrix.
   */
  readonly blockSize?: number;
  /**
   * The real set's radii, from {@link knnRadii}`(real, dim, { k })`, when several fake sets are
   * compared with the same real set (e.g. trials): saves the real x real pass.
   */
  readonly realRadii?: Float64Array;
}

/** Precision, recall, density and coverage of a fake sample set against a real one. */
export interface PrdcResult {
  /** Fraction of fake samples inside the real manifold (the union of real k-NN balls). */
  readonly precision: number;
  /** Fraction of real samples inside the fake manifold (the union of fake k-NN balls). */
  readonly recall: number;
  /**
   * Real k-NN balls containing each fake sample, averaged over fake samples and divided by `k`
   * (`1 / (k M) sum_j sum_i 1[Y_j in B(X_i, r_i)]`); about 1 for matching distributions, can
   * exceed 1.
   */
  readonly density: number;
  /** Fraction of real samples whose k-NN ball contains at least one fake sample. */
  readonly coverage: number;
  readonly k: number;
  /** Real samples (N). */
  readonly realCount: number;
  /** Fake samples (M). */
  readonly fakeCount: number;
  readonly dim: number;
}

/** One step of a blocked computation: the fraction of the work done so far. Internal. */
export type PrdcStep = number;

function rowsOf(name: string, x: FeatureRows, dim: number): number {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`dim must be a positive integer, got ${dim}`);
  const n = x.length / dim;
  if (!Number.isInteger(n))
    throw new RangeError(`${name} features: length ${x.length} is not a multiple of ${dim}`);
  return n;
}

function checkK(k: number, n: number, name: string): void {
  if (!Number.isInteger(k) || k <= 0) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (n < k + 1) {
    throw new RangeError(`${name} set has ${n} samples; k-NN radii with k = ${k} need at least ${k + 1}`);
  }
}

function blockOf(options: PrdcOptions): number {
  const b = options.blockSize ?? 256;
  if (!Number.isInteger(b) || b <= 0) throw new RangeError(`blockSize must be a positive integer, got ${b}`);
  return b;
}

/** Squared norms of the rows of `x`, each summed in row order (as the dot products below). */
function squaredNorms(x: FeatureRows, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let t = 0; t < d; t++) {
      const v = x[o + t] as number;
      s += v * v;
    }
    out[i] = s;
  }
  return out;
}

/**
 * Euclidean distances between the rows of two float64 blocks `a` (`ra` rows) and `b` (`rb` rows)
 * of width `d`, from squared norms and dot products, `sqrt(max(0, |a|^2 + |b|^2 - 2 a.b))`, into
 * `out[i * rb + j]`. Every dot product and norm is summed in the same order, so identical rows are
 * at distance exactly 0 and a distance does not depend on which block a row sits in (ties stay
 * ties). Two rows of `a` against four of `b` at a time share their loads.
 */
function distanceTile(
  a: Float64Array,
  na: Float64Array,
  ao: number,
  ra: number,
  b: Float64Array,
  nb: Float64Array,
  bo: number,
  rb: number,
  d: number,
  out: Float64Array,
): void {
  const put = (i: number, j: number, dot: number): void => {
    const s = (na[ao + i] as number) + (nb[bo + j] as number) - 2 * dot;
    out[i * rb + j] = s > 0 ? Math.sqrt(s) : 0;
  };
  let i = 0;
  for (; i + 1 < ra; i += 2) {
    const x0 = i * d;
    const x1 = x0 + d;
    let j = 0;
    for (; j + 3 < rb; j += 4) {
      const y0 = j * d;
      const y1 = y0 + d;
      const y2 = y1 + d;
      const y3 = y2 + d;
      let s00 = 0;
      let s01 = 0;
      let s02 = 0;
      let s03 = 0;
      let s10 = 0;
      let s11 = 0;
      let s12 = 0;
      let s13 = 0;
      for (let t = 0; t < d; t++) {
        const u = a[x0 + t] as number;
        const v = a[x1 + t] as number;
        const w0 = b[y0 + t] as number;
        const w1 = b[y1 + t] as number;
        const w2 = b[y2 + t] as number;
        const w3 = b[y3 + t] as number;
        s00 += u * w0;
        s01 += u * w1;
        s02 += u * w2;
        s03 += u * w3;
        s10 += v * w0;
        s11 += v * w1;
        s12 += v * w2;
        s13 += v * w3;
      }
      put(i, j, s00);
      put(i, j + 1, s01);
      put(i, j + 2, s02);
      put(i, j + 3, s03);
      put(i + 1, j, s10);
      put(i + 1, j + 1, s11);
      put(i + 1, j + 2, s12);
      put(i + 1, j + 3, s13);
    }
    for (; j < rb; j++) {
      const y0 = j * d;
      let s0 = 0;
      let s1 = 0;
      for (let t = 0; t < d; t++) {
        const w = b[y0 + t] as number;
        s0 += (a[x0 + t] as number) * w;
        s1 += (a[x1 + t] as number) * w;
      }
      put(i, j, s0);
      put(i + 1, j, s1);
    }
  }
  for (; i < ra; i++) {
    const x0 = i * d;
    for (let j = 0; j < rb; j++) {
      const y0 = j * d;
      let s = 0;
      for (let t = 0; t < d; t++) s += (a[x0 + t] as number) * (b[y0 + t] as number);
      put(i, j, s);
    }
  }
}

/** Rows `[r0, r1)` of `x` as float64, in `scratch`. */
function rowsF64(x: FeatureRows, r0: number, r1: number, d: number, scratch: Float64Array): Float64Array {
  const view = scratch.subarray(0, (r1 - r0) * d);
  view.set(x.subarray(r0 * d, r1 * d));
  return view;
}

function drain(steps: Iterable<PrdcStep>): void {
  const it = steps[Symbol.iterator]();
  while (!it.next().done) {
    // the work is in the steps
  }
}

/** Keeps the `k` smallest values seen per row, ascending, in `best[row * k .. row * k + k)`. */
function insert(best: Float64Array, k: number, row: number, v: number): void {
  const base = row * k;
  if (!(v < (best[base + k - 1] as number))) return;
  let p = k - 1;
  while (p > 0 && (best[base + p - 1] as number) > v) {
    best[base + p] = best[base + p - 1] as number;
    p--;
  }
  best[base + p] = v;
}

/**
 * The steps of {@link knnRadii}: fills `radii` and yields the fraction done after each block of
 * rows. Internal (evaluateGenerators drives it between event-loop turns).
 */
export function* knnRadiiSteps(
  x: FeatureRows,
  dim: number,
  options: PrdcOptions,
  radii: Float64Array,
): Generator<PrdcStep> {
  const n = rowsOf('the', x, dim);
  const k = options.k ?? 3;
  checkK(k, n, 'the');
  const block = blockOf(options);
  const best = new Float64Array(n * k).fill(Number.POSITIVE_INFINITY);
  const tile = new Float64Array(block * block);
  const norms = squaredNorms(x, n, dim);
  const bufA = new Float64Array(block * dim);
  const bufB = new Float64Array(block * dim);
  const totalPairs = (n * (n - 1)) / 2;
  let pairs = 0;
  for (let i0 = 0; i0 < n; i0 += block) {
    const i1 = Math.min(n, i0 + block);
    const a = rowsF64(x, i0, i1, dim, bufA);
    for (let j0 = i0; j0 < n; j0 += block) {
      const j1 = Math.min(n, j0 + block);
      const b = j0 === i0 ? a : rowsF64(x, j0, j1, dim, bufB);
      distanceTile(a, norms, i0, i1 - i0, b, norms, j0, j1 - j0, dim, tile);
      const w = j1 - j0;
      for (let i = i0; i < i1; i++) {
        const row = (i - i0) * w;
        // Each unordered pair once: on the diagonal tile only j > i (the self-distance is never a neighbour).
        for (let j = j0 === i0 ? i + 1 : j0; j < j1; j++) {
          const v = tile[row + j - j0] as number;
          insert(best, k, i, v);
          insert(best, k, j, v);
        }
      }
    }
    const rows = i1 - i0;
    pairs += rows * (n - i1) + (rows * (rows - 1)) / 2;
    yield totalPairs > 0 ? pairs / totalPairs : 1;
  }
  for (let i = 0; i < n; i++) radii[i] = best[i * k + k - 1] as number;
}

/**
 * The k-NN radius of every row of `x` (row-major `[n, dim]`): the distance to its `k`-th nearest
 * other row (the row itself excluded; a duplicate row counts, at distance 0). Float64, blocked:
 * memory `O(n k + blockSize (blockSize + dim))`. Needs `n >= k + 1`.
 */
export function knnRadii(x: FeatureRows, dim: number, options: PrdcOptions = {}): Float64Array {
  const radii = new Float64Array(rowsOf('the', x, dim));
  drain(knnRadiiSteps(x, dim, options, radii));
  return radii;
}

/** The steps of {@link precisionRecallDensityCoverage}; the result is left in `out.result`. Internal. */
export function* prdcSteps(
  real: FeatureRows,
  fake: FeatureRows,
  dim: number,
  options: PrdcOptions,
  out: { result?: PrdcResult },
): Generator<PrdcStep> {
  const n = rowsOf('real', real, dim);
  const m = rowsOf('fake', fake, dim);
  const k = options.k ?? 3;
  checkK(k, n, 'the real');
  checkK(k, m, 'the fake');
  const block = blockOf(options);
  // Work shares of the three passes (pairs of rows each).
  const wReal = options.realRadii ? 0 : (n * (n - 1)) / 2;
  const wFake = (m * (m - 1)) / 2;
  const total = wReal + wFake + n * m;
  let rReal = options.realRadii;
  if (rReal) {
    if (rReal.length !== n)
      throw new RangeError(`realRadii has ${rReal.length} values for ${n} real samples`);
  } else {
    const radii = new Float64Array(n);
    for (const f of knnRadiiSteps(real, dim, { k, blockSize: block }, radii)) yield (f * wReal) / total;
    rReal = radii;
  }
  const rFake = new Float64Array(m);
  for (const f of knnRadiiSteps(fake, dim, { k, blockSize: block }, rFake)) yield (wReal + f * wFake) / total;

  const closed = options.closedBalls ?? false;
  const inside = closed ? (d: number, r: number) => d <= r : (d: number, r: number) => d < r;
  const ballsHolding = new Int32Array(m); // real balls containing fake j
  const covered = new Uint8Array(n); // real ball i holds a fake sample
  const recalled = new Uint8Array(n); // real i lies in a fake ball
  const tile = new Float64Array(block * block);
  const realNorms = squaredNorms(real, n, dim);
  const fakeNorms = squaredNorms(fake, m, dim);
  const bufA = new Float64Array(block * dim);
  const bufB = new Float64Array(block * dim);
  for (let i0 = 0; i0 < n; i0 += block) {
    const i1 = Math.min(n, i0 + block);
    const a = rowsF64(real, i0, i1, dim, bufA);
    for (let j0 = 0; j0 < m; j0 += block) {
      const j1 = Math.min(m, j0 + block);
      const b = rowsF64(fake, j0, j1, dim, bufB);
      distanceTile(a, realNorms, i0, i1 - i0, b, fakeNorms, j0, j1 - j0, dim, tile);
      const w = j1 - j0;
      for (let i = i0; i < i1; i++) {
        const row = (i - i0) * w;
        const ri = rReal[i] as number;
        for (let j = j0; j < j1; j++) {
          const dist = tile[row + j - j0] as number;
          if (inside(dist, ri)) {
            ballsHolding[j] = (ballsHolding[j] as number) + 1;
            covered[i] = 1;
          }
          if (recalled[i] === 0 && inside(dist, rFake[j] as number)) recalled[i] = 1;
        }
      }
    }
    yield (wReal + wFake + i1 * m) / total;
  }
  let precise = 0;
  let held = 0;
  for (const c of ballsHolding) {
    if (c > 0) precise++;
    held += c;
  }
  let coveredCount = 0;
  for (const c of covered) coveredCount += c;
  let recalledCount = 0;
  for (const c of recalled) recalledCount += c;
  out.result = {
    precision: precise / m,
    recall: recalledCount / n,
    density: held / (k * m),
    coverage: coveredCount / n,
    k,
    realCount: n,
    fakeCount: m,
    dim,
  };
}

/**
 * Improved precision and recall (Kynkäänniemi, Karras, Laine, Lehtinen, Aila: "Improved Precision
 * and Recall Metric for Assessing Generative Models", NeurIPS 2019) and density and coverage
 * (Naeem, Oh, Uh, Choi, Yoo: "Reliable Fidelity and Diversity Metrics for Generative Models",
 * ICML 2020) of fake features against real features (row-major `[n, dim]` and `[m, dim]`).
 *
 * With `r_i` the distance of real `X_i` to its k-th nearest other real sample and `s_j` the same
 * among the fake samples `Y_j` ({@link knnRadii}):
 * - precision = `1/M sum_j 1[exists i: |Y_j - X_i| < r_i]`,
 * - recall = `1/N sum_i 1[exists j: |X_i - Y_j| < s_j]`,
 * - density = `1/(k M) sum_j sum_i 1[|Y_j - X_i| < r_i]`,
 * - coverage = `1/N sum_i 1[exists j: |X_i - Y_j| < r_i]` (real radii only),
 *
 * as in Naeem et al.'s reference code (`<`; see {@link PrdcOptions.closedBalls}). Distances are
 * float64 Euclidean (`sqrt(|x|^2 + |y|^2 - 2 x.y)`, as scikit-learn's `euclidean_distances`
 * that the reference code calls, with every sum in one order so that ties stay exact), computed a
 * block of rows at a time: memory stays `O((N + M) k + blockSize (blockSize + dim))`, so 10k x 10k
 * never holds a 10k x 10k matrix; the time is `O((N^2 / 2 + M^2 / 2 + N M) dim)`.
 *
 * @example
 * ```ts
 * const r = precisionRecallDensityCoverage(realFeatures, fakeFeatures, 2048, { k: 5 });
 * console.log(r.precision, r.recall, r.density, r.coverage);
 * ```
 */
export function precisionRecallDensityCoverage(
  real: FeatureRows,
  fake: FeatureRows,
  dim: number,
  options: PrdcOptions = {},
): PrdcResult {
  const out: { result?: PrdcResult } = {};
  drain(prdcSteps(real, fake, dim, options, out));
  return out.result as PrdcResult;
}

/**
 * Runs blocked steps, giving the event loop a turn between blocks (so a signal handler can run)
 * and stopping with the signal's reason. Internal.
 */
export async function runSteps(
  steps: Iterable<PrdcStep>,
  signal?: AbortSignal,
  onStep?: (fraction: number) => void,
): Promise<void> {
  for (const f of steps) {
    onStep?.(f);
    await new Promise<void>((r) => setTimeout(r, 0));
    signal?.throwIfAborted();
  }
}
