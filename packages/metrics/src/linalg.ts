/**
 * Float64 dense symmetric linear algebra on flat row-major `Float64Array`s: Householder
 * tridiagonalisation + implicit QL (EISPACK tred2/tql2 reorganised for row access) for
 * eigenvectors; for eigenvalues alone a blocked tridiagonalisation (LAPACK dsytrd / dlatrd: panels
 * of reflectors, then one rank-2k update of the trailing matrix) + QL; a blocked Cholesky and
 * a cache-blocked `A B^T` product. `traceSqrtProduct` (the FID's `tr sqrt(S1 S2)`) takes one
 * Cholesky factorisation, two products and one eigenvalues-only decomposition.
 */

/** Result of {@link symmetricEigen}: eigenvalues ascending; `vectors` row i = eigenvector i. */
export interface SymmetricEigen {
  readonly values: Float64Array;
  /** Row-major `n x n`; row `i` is the unit eigenvector of `values[i]` (absent when not asked). */
  readonly vectors?: Float64Array;
}

/** Error raised when the QL iteration fails to converge. */
export class EigenError extends Error {
  override readonly name = 'EigenError';
}

/** `sum_k a[ao + k] b[bo + k]` over `len` elements (four partial sums). Internal. */
export function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += (a[ao + k] as number) * (b[bo + k] as number);
    s1 += (a[ao + k + 1] as number) * (b[bo + k + 1] as number);
    s2 += (a[ao + k + 2] as number) * (b[bo + k + 2] as number);
    s3 += (a[ao + k + 3] as number) * (b[bo + k + 3] as number);
  }
  for (; k < len; k++) s0 += (a[ao + k] as number) * (b[bo + k] as number);
  return s0 + s1 + s2 + s3;
}

/** `y[yo..] += alpha * x[xo..]` over `len` elements. */
function axpy(alpha: number, x: Float64Array, xo: number, y: Float64Array, yo: number, len: number): void {
  for (let k = 0; k < len; k++) y[yo + k] = (y[yo + k] as number) + alpha * (x[xo + k] as number);
}

/**
 * Reduces the symmetric matrix `a` (overwritten) to tridiagonal form `T = Q^T A Q`.
 * Returns the diagonal `d`, the subdiagonal `e` (`e[i] = T[i][i-1]`, `e[0] = 0`) and, when
 * `wantQ`, the row-major `Q^T` (so that its rows are the basis the tridiagonal acts in).
 */
function tridiagonalise(
  a: Float64Array,
  n: number,
  wantQ: boolean,
): { d: Float64Array; e: Float64Array; qt?: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const beta = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const row = k * n;
    const m = n - k - 1;
    const x0 = k + 1;
    // x = A[k][k+1..n-1] (= column k below the diagonal, by symmetry).
    let norm2 = 0;
    for (let j = x0; j < n; j++) norm2 += (a[row + j] as number) ** 2;
    d[k] = a[row + k] as number;
    const first = a[row + x0] as number;
    const tail = norm2 - first * first;
    if (tail <= 1e-300 * Math.max(1, norm2)) {
      e[x0] = first;
      beta[k] = 0;
      continue;
    }
    const norm = Math.sqrt(norm2);
    const alpha = first > 0 ? -norm : norm;
    // v = x - alpha e1 stored in place of x (row k); beta = 2 / v.v.
    const v0 = first - alpha;
    a[row + x0] = v0;
    const vv = tail + v0 * v0;
    const b = 2 / vv;
    beta[k] = b;
    e[x0] = alpha;
    // p = b * A22 v  (A22 = trailing block, rows/cols x0..n-1).
    let pv = 0;
    for (let i = x0; i < n; i++) {
      const pi = b * dot(a, i * n + x0, a, row + x0, m);
      p[i] = pi;
      pv += pi * (a[row + i] as number);
    }
    // w = p - (b/2)(p.v) v ; A22 -= v w^T + w v^T.
    const kk = (b / 2) * pv;
    for (let i = x0; i < n; i++) p[i] = (p[i] as number) - kk * (a[row + i] as number);
    for (let i = x0; i < n; i++) {
      const vi = a[row + i] as number;
      const wi = p[i] as number;
      const ri = i * n;
      for (let j = x0; j < n; j++) {
        a[ri + j] = (a[ri + j] as number) - vi * (p[j] as number) - wi * (a[row + j] as number);
      }
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2] as number;
    d[n - 1] = a[(n - 1) * n + n - 1] as number;
    e[n - 1] = a[(n - 1) * n + n - 2] as number;
  } else if (n === 1) {
    d[0] = a[0] as number;
  }
  if (!wantQ) return { d, e };
  // Q = H_0 H_1 ... H_{n-3}, accumulated backwards into q (row-major), then transposed.
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const u = new Float64Array(n);
  for (let k = n - 3; k >= 0; k--) {
    const b = beta[k] as number;
    if (b === 0) continue;
    const row = k * n;
    const x0 = k + 1;
    const m = n - x0;
    u.fill(0, x0, n);
    for (let i = x0; i < n; i++) axpy(a[row + i] as number, q, i * n + x0, u, x0, m);
    for (let i = x0; i < n; i++) axpy(-b * (a[row + i] as number), u, x0, q, i * n + x0, m);
  }
  const qt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qt[j * n + i] = q[i * n + j] as number;
  return { d, e, qt };
}

/** Implicit QL on the tridiagonal (d, e); rotations applied to the rows of `vt` when given. */
function tql2(d: Float64Array, e: Float64Array, n: number, vt: Float64Array | undefined): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i] as number;
  if (n > 0) e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l] as number) + Math.abs(e[l] as number));
    let m = l;
    while (m < n - 1) {
      if (Math.abs(e[m] as number) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new EigenError(`QL iteration did not converge for eigenvalue ${l}`);
        let g = d[l] as number;
        let p = ((d[l + 1] as number) - g) / (2 * (e[l] as number));
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = (e[l] as number) / (p + r);
        d[l + 1] = (e[l] as number) * (p + r);
        const dl1 = d[l + 1] as number;
        let h = g - (d[l] as number);
        for (let i = l + 2; i < n; i++) d[i] = (d[i] as number) - h;
        f += h;
        p = d[m] as number;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1] as number;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          const ei = e[i] as number;
          g = c * ei;
          h = c * p;
          r = Math.hypot(p, ei);
          e[i + 1] = s * r;
          s = ei / r;
          c = p / r;
          p = c * (d[i] as number) - s * g;
          d[i + 1] = h + s * (c * g + s * (d[i] as number));
          if (vt) {
            const ri = i * n;
            const rj = ri + n;
            for (let k = 0; k < n; k++) {
              const hk = vt[rj + k] as number;
              const vk = vt[ri + k] as number;
              vt[rj + k] = s * vk + c * hk;
              vt[ri + k] = c * vk - s * hk;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * (e[l] as number)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l] as number) > eps * tst1);
    }
    d[l] = (d[l] as number) + f;
    e[l] = 0;
  }
}

/**
 * Eigen-decomposition of a symmetric `n x n` matrix (row-major; only read, never modified).
 * Eigenvalues ascending; with `vectors: true` also the eigenvectors (row `i` of the result).
 */
export function symmetricEigen(
  matrix: Float64Array,
  n: number,
  options: { readonly vectors?: boolean } = {},
): SymmetricEigen {
  if (matrix.length !== n * n)
    throw new RangeError(`matrix has ${matrix.length} elements, expected ${n}x${n}`);
  const wantV = options.vectors === true;
  if (!wantV) return { values: symmetricEigenvalues(matrix, n) };
  const a = Float64Array.from(matrix);
  const { d, e, qt } = tridiagonalise(a, n, wantV);
  tql2(d, e, n, qt);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (d[i] as number) - (d[j] as number));
  const values = Float64Array.from(order, (i) => d[i] as number);
  if (!wantV || !qt) return { values };
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    vectors.set(qt.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors };
}

/**
 * `tr sqrt(S1 S2)` through the eigendecomposition of `S1` (the route for singular `S1` and `S2`):
 * with `S1 = V L V^T`, the eigenvalues of `A S2 A` (`A = sqrt(S1)`) are those of `B S2 B^T`,
 * `B = L^{1/2} V^T`. Tiny negative eigenvalues (round-off) are clamped to zero.
 */
export function traceSqrtProductEigen(s1: Float64Array, s2: Float64Array, n: number): number {
  const { values, vectors } = symmetricEigen(s1, n, { vectors: true });
  if (!vectors) throw new EigenError('eigenvectors missing');
  const bt = vectors; // scaled in place: row i *= sqrt(max(lambda_i, 0))
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const l = values[i] as number;
    const s = l > 0 ? Math.sqrt(l) : 0;
    if (s === 0) continue;
    keep.push(i);
    for (let k = 0; k < n; k++) bt[i * n + k] = (bt[i * n + k] as number) * s;
  }
  const r = keep.length;
  if (r === 0) return 0;
  // C = B S2 (r x n), then M = C B^T (r x r, symmetric). Rows are processed in blocks so that
  // each row of S2 / B is reused from cache by the whole block (memory bound otherwise).
  const BLOCK = 8;
  const c = new Float64Array(r * n);
  for (let b0 = 0; b0 < r; b0 += BLOCK) {
    const b1 = Math.min(r, b0 + BLOCK);
    for (let k = 0; k < n; k++) {
      for (let ii = b0; ii < b1; ii++) {
        const bik = bt[(keep[ii] as number) * n + k] as number;
        if (bik !== 0) axpy(bik, s2, k * n, c, ii * n, n);
      }
    }
  }
  const m = new Float64Array(r * r);
  for (let b0 = 0; b0 < r; b0 += BLOCK) {
    const b1 = Math.min(r, b0 + BLOCK);
    for (let jj = b0; jj < r; jj++) {
      const bj = (keep[jj] as number) * n;
      for (let ii = b0; ii < b1 && ii <= jj; ii++) {
        const v = dot(c, ii * n, bt, bj, n);
        m[ii * r + jj] = v;
        m[jj * r + ii] = v;
      }
    }
  }
  const ev = symmetricEigen(m, r).values;
  let tr = 0;
  for (const v of ev) if (v > 0) tr += Math.sqrt(v);
  return tr;
}

/**
 * A Cholesky pivot `L[j][j]^2` below this fraction of the largest diagonal entry counts as zero:
 * the matrix is treated as singular (see {@link cholesky}).
 */
export const CHOLESKY_PIVOT_TOLERANCE = 1e-10;

/**
 * The lower Cholesky factor `L` (`A = L L^T`, row-major, zeros above the diagonal) of the symmetric
 * matrix `a` (only its lower triangle is read), or null when `a` is not numerically positive
 * definite: a pivot `<= tolerance * max_i a[i][i]` (singular or rank-deficient, e.g. a sample
 * covariance of `N <= d` samples). Rows are computed four at a time against each earlier row, so
 * that row is read once for the four.
 */
export function cholesky(
  a: Float64Array,
  n: number,
  tolerance: number = CHOLESKY_PIVOT_TOLERANCE,
): Float64Array | null {
  if (a.length !== n * n) throw new RangeError(`matrix has ${a.length} elements, expected ${n}x${n}`);
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, a[i * n + i] as number);
  if (!(maxDiag > 0)) return null;
  const floor = tolerance * maxDiag;
  const l = new Float64Array(n * n);
  for (let i0 = 0; i0 < n; i0 += 4) {
    const rows = Math.min(4, n - i0);
    const r0 = i0 * n;
    // a short last block reads its first row again instead of past the end
    const r1 = rows > 1 ? r0 + n : r0;
    const r2 = rows > 2 ? r0 + 2 * n : r0;
    const r3 = rows > 3 ? r0 + 3 * n : r0;
    // the block's entries left of it: L[i][j] = (A[i][j] - L[i][:j] . L[j][:j]) / L[j][j]
    for (let j = 0; j < i0; j++) {
      const rj = j * n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < j; k++) {
        const ljk = l[rj + k] as number;
        s0 += (l[r0 + k] as number) * ljk;
        s1 += (l[r1 + k] as number) * ljk;
        s2 += (l[r2 + k] as number) * ljk;
        s3 += (l[r3 + k] as number) * ljk;
      }
      const inv = 1 / (l[rj + j] as number);
      l[r0 + j] = ((a[r0 + j] as number) - s0) * inv;
      if (rows > 1) l[r1 + j] = ((a[r1 + j] as number) - s1) * inv;
      if (rows > 2) l[r2 + j] = ((a[r2 + j] as number) - s2) * inv;
      if (rows > 3) l[r3 + j] = ((a[r3 + j] as number) - s3) * inv;
    }
    // the block's own triangle
    for (let ii = 0; ii < rows; ii++) {
      const i = i0 + ii;
      const ri = i * n;
      for (let j = i0; j <= i; j++) {
        const rj = j * n;
        const v = (a[ri + j] as number) - dot(l, ri, l, rj, j);
        if (j === i) {
          if (!(v > floor)) return null;
          l[ri + i] = Math.sqrt(v);
        } else {
          l[ri + j] = v / (l[rj + j] as number);
        }
      }
    }
  }
  return l;
}

/** Rows of `B` held in cache while every row block of `A` passes (see {@link multiplyABt}). */
const PANEL_ROWS = 48;
/** Length of the stretch of `k` the panel holds (48 rows x 256 x 8 B = 96 KB). */
const PANEL_DEPTH = 256;

/**
 * `C[i][j] = sum_k A[i][k] B[j][k]` (`C = A B^T`; `A`, `B`: `n` rows of `depth` (default `n`),
 * `C`: `n x n`, all row-major, `n` a multiple of 4) over `k >= kStart(i0, j0)` for the 4x4 blocks
 * `(i0, j0)` that `wanted` accepts (default all), added into `c`. Blocked for the cache (a panel of
 * `B`'s rows and a stretch of `k` at a time) and for registers (4x4 blocks of `C` with 16 running
 * sums: 8 loads for 16 multiply-adds). Internal (also the covariance update of `stats.ts`).
 */
export function multiplyABt(
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  n: number,
  kStart: (i0: number, j0: number) => number,
  wanted: (i0: number, j0: number) => boolean = () => true,
  depth = n,
): void {
  for (let k0 = 0; k0 < depth; k0 += PANEL_DEPTH) {
    const k1 = Math.min(depth, k0 + PANEL_DEPTH);
    for (let jp = 0; jp < n; jp += PANEL_ROWS) {
      const jpEnd = Math.min(n, jp + PANEL_ROWS);
      for (let i0 = 0; i0 < n; i0 += 4) {
        const a0 = i0 * depth;
        const a1 = a0 + depth;
        const a2 = a1 + depth;
        const a3 = a2 + depth;
        for (let j0 = jp; j0 < jpEnd; j0 += 4) {
          if (!wanted(i0, j0)) continue;
          const from = Math.max(k0, kStart(i0, j0));
          if (from >= k1) continue;
          const b0 = j0 * depth;
          const b1 = b0 + depth;
          const b2 = b1 + depth;
          const b3 = b2 + depth;
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
          for (let k = from; k < k1; k++) {
            const x0 = a[a0 + k] as number;
            const x1 = a[a1 + k] as number;
            const x2 = a[a2 + k] as number;
            const x3 = a[a3 + k] as number;
            const y0 = b[b0 + k] as number;
            const y1 = b[b1 + k] as number;
            const y2 = b[b2 + k] as number;
            const y3 = b[b3 + k] as number;
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
          const o0 = i0 * n + j0;
          const o1 = o0 + n;
          const o2 = o1 + n;
          const o3 = o2 + n;
          c[o0] = (c[o0] as number) + c00;
          c[o0 + 1] = (c[o0 + 1] as number) + c01;
          c[o0 + 2] = (c[o0 + 2] as number) + c02;
          c[o0 + 3] = (c[o0 + 3] as number) + c03;
          c[o1] = (c[o1] as number) + c10;
          c[o1 + 1] = (c[o1 + 1] as number) + c11;
          c[o1 + 2] = (c[o1 + 2] as number) + c12;
          c[o1 + 3] = (c[o1 + 3] as number) + c13;
          c[o2] = (c[o2] as number) + c20;
          c[o2 + 1] = (c[o2 + 1] as number) + c21;
          c[o2 + 2] = (c[o2 + 2] as number) + c22;
          c[o2 + 3] = (c[o2 + 3] as number) + c23;
          c[o3] = (c[o3] as number) + c30;
          c[o3 + 1] = (c[o3 + 1] as number) + c31;
          c[o3 + 2] = (c[o3 + 2] as number) + c32;
          c[o3 + 3] = (c[o3 + 3] as number) + c33;
        }
      }
    }
  }
}

/** `src` (`n x n`) copied into an `np x np` zero-padded row-major array. */
function padded(src: Float64Array, n: number, np: number, transposed = false): Float64Array {
  const out = new Float64Array(np * np);
  for (let i = 0; i < n; i++) {
    if (transposed) for (let j = 0; j < n; j++) out[j * np + i] = src[i * n + j] as number;
    else out.set(src.subarray(i * n, i * n + n), i * np);
  }
  return out;
}

/**
 * `L^T S L` for a lower triangular `L` and a symmetric `S` (row-major `n x n`), symmetric, as a
 * row-major `n x n` array: `Y = L^T S` then `Y L`, both through {@link multiplyABt} on `L^T` (whose
 * rows start at the diagonal: the zero stretches are skipped), the second only for the lower half.
 */
export function congruence(l: Float64Array, s: Float64Array, n: number): Float64Array {
  const np = Math.ceil(n / 4) * 4;
  const lt = padded(l, n, np, true); // row i of L^T: zeros before column i
  const sp = padded(s, n, np);
  // Y[i][j] = sum_k L^T[i][k] S[j][k] (S symmetric), k >= i
  const y = new Float64Array(np * np);
  multiplyABt(lt, sp, y, np, (i0) => i0);
  // M[i][j] = sum_k Y[i][k] L^T[j][k], k >= j; blocks j0 <= i0, mirrored after
  const m = new Float64Array(np * np);
  multiplyABt(
    y,
    lt,
    m,
    np,
    (_i0, j0) => j0,
    (i0, j0) => j0 <= i0,
  );
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v =
        i >> 2 === j >> 2
          ? 0.5 * ((m[i * np + j] as number) + (m[j * np + i] as number))
          : (m[i * np + j] as number);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
}

/** Panel width of the blocked tridiagonalisation. */
const TRIDIAGONAL_PANEL = 32;

/**
 * Householder reduction of the symmetric `a` (`n x n`, overwritten; read as column-major lower,
 * which for a symmetric matrix is the same array) to tridiagonal form, LAPACK's dsytrd: panels of
 * {@link TRIDIAGONAL_PANEL} reflectors are built with dlatrd's matrix-vector products against the
 * not yet updated trailing matrix (a symmetric product reading one triangle), then the trailing
 * matrix takes one rank-2k update. Returns the diagonal and the subdiagonal (`e[i] = T[i][i-1]`,
 * `e[0] = 0`, as {@link tql2} takes it).
 */
function tridiagonaliseBlocked(a: Float64Array, n: number): { d: Float64Array; e: Float64Array } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const sub = new Float64Array(n); // sub[c] = T[c+1][c]
  const nb = TRIDIAGONAL_PANEL;
  const w = new Float64Array(n * nb); // W(r, j) = w[j * n + r]
  const t1 = new Float64Array(nb);
  const t2 = new Float64Array(nb);
  // A(r, c) = a[c * n + r], r >= c
  for (let i0 = 0; i0 < n - 1; i0 += nb) {
    const jb = Math.min(nb, n - 1 - i0);
    // --- dlatrd: the panel's reflectors and W
    for (let j = 0; j < jb; j++) {
      const c = i0 + j;
      const col = c * n;
      // bring column c up to date with the panel's earlier reflectors
      for (let jj = 0; jj < j; jj++) {
        const wcj = w[jj * n + c] as number;
        const vcj = a[(i0 + jj) * n + c] as number;
        const vcol = (i0 + jj) * n;
        const wcol = jj * n;
        for (let r = c; r < n; r++)
          a[col + r] = (a[col + r] as number) - (a[vcol + r] as number) * wcj - (w[wcol + r] as number) * vcj;
      }
      // the reflector that annihilates A(c+2:n, c)
      const alpha = a[col + c + 1] as number;
      let xnorm2 = 0;
      for (let r = c + 2; r < n; r++) xnorm2 += (a[col + r] as number) ** 2;
      let tau = 0;
      if (xnorm2 === 0) {
        sub[c] = alpha;
      } else {
        const beta = alpha >= 0 ? -Math.sqrt(alpha * alpha + xnorm2) : Math.sqrt(alpha * alpha + xnorm2);
        tau = (beta - alpha) / beta;
        const scale = 1 / (alpha - beta);
        for (let r = c + 2; r < n; r++) a[col + r] = (a[col + r] as number) * scale;
        sub[c] = beta;
      }
      a[col + c + 1] = 1; // v = A(c+1:n, c), v[0] = 1
      const wj = j * n;
      if (tau === 0) {
        for (let r = c + 1; r < n; r++) w[wj + r] = 0;
        continue;
      }
      // W(c+1:n, j) = A(c+1:n, c+1:n) v (the trailing matrix as it was before this panel)
      symvLower(a, n, c + 1, a, col, w, wj);
      if (j > 0) {
        for (let jj = 0; jj < j; jj++) {
          t1[jj] = dot(w, jj * n + c + 1, a, col + c + 1, n - c - 1);
          t2[jj] = dot(a, (i0 + jj) * n + c + 1, a, col + c + 1, n - c - 1);
        }
        for (let jj = 0; jj < j; jj++) {
          axpy(-(t1[jj] as number), a, (i0 + jj) * n + c + 1, w, wj + c + 1, n - c - 1);
          axpy(-(t2[jj] as number), w, jj * n + c + 1, w, wj + c + 1, n - c - 1);
        }
      }
      for (let r = c + 1; r < n; r++) w[wj + r] = (w[wj + r] as number) * tau;
      const half = -0.5 * tau * dot(w, wj + c + 1, a, col + c + 1, n - c - 1);
      axpy(half, a, col + c + 1, w, wj + c + 1, n - c - 1);
    }
    // --- the trailing matrix: A(t:n, t:n) -= V W^T + W V^T (lower triangle)
    const t = i0 + jb;
    for (let cc = t; cc < n; cc++) {
      const col = cc * n;
      let jj = 0;
      for (; jj + 1 < jb; jj += 2) {
        const v0 = (i0 + jj) * n;
        const v1 = v0 + n;
        const w0 = jj * n;
        const w1 = w0 + n;
        const p0 = w[w0 + cc] as number;
        const q0 = a[v0 + cc] as number;
        const p1 = w[w1 + cc] as number;
        const q1 = a[v1 + cc] as number;
        for (let r = cc; r < n; r++) {
          a[col + r] =
            (a[col + r] as number) -
            (a[v0 + r] as number) * p0 -
            (w[w0 + r] as number) * q0 -
            (a[v1 + r] as number) * p1 -
            (w[w1 + r] as number) * q1;
        }
      }
      for (; jj < jb; jj++) {
        const v0 = (i0 + jj) * n;
        const w0 = jj * n;
        const p0 = w[w0 + cc] as number;
        const q0 = a[v0 + cc] as number;
        for (let r = cc; r < n; r++)
          a[col + r] = (a[col + r] as number) - (a[v0 + r] as number) * p0 - (w[w0 + r] as number) * q0;
      }
    }
    for (let j = 0; j < jb; j++) {
      const c = i0 + j;
      d[c] = a[c * n + c] as number;
      a[c * n + c + 1] = sub[c] as number;
    }
  }
  d[n - 1] = a[(n - 1) * n + n - 1] as number;
  for (let c = 0; c + 1 < n; c++) e[c + 1] = sub[c] as number;
  return { d, e };
}

/**
 * `y = A(s:n, s:n) x` for the symmetric `A` stored as column-major lower (`A(r, c) = a[c n + r]`,
 * `r >= c`): `x[xo + r]` and `y[yo + r]` for `r` in `[s, n)`. One pass over the triangle, two
 * columns at a time.
 */
function symvLower(
  a: Float64Array,
  n: number,
  s: number,
  x: Float64Array,
  xo: number,
  y: Float64Array,
  yo: number,
): void {
  for (let r = s; r < n; r++) y[yo + r] = 0;
  let c = s;
  for (; c + 1 < n; c += 2) {
    const c0 = c * n;
    const c1 = c0 + n;
    const x0 = x[xo + c] as number;
    const x1 = x[xo + c + 1] as number;
    const a10 = a[c0 + c + 1] as number;
    let acc0 = (a[c0 + c] as number) * x0 + a10 * x1;
    let acc1 = a10 * x0 + (a[c1 + c + 1] as number) * x1;
    for (let r = c + 2; r < n; r++) {
      const p = a[c0 + r] as number;
      const q = a[c1 + r] as number;
      const xr = x[xo + r] as number;
      acc0 += p * xr;
      acc1 += q * xr;
      y[yo + r] = (y[yo + r] as number) + p * x0 + q * x1;
    }
    y[yo + c] = (y[yo + c] as number) + acc0;
    y[yo + c + 1] = (y[yo + c + 1] as number) + acc1;
  }
  if (c < n) y[yo + c] = (y[yo + c] as number) + (a[c * n + c] as number) * (x[xo + c] as number);
}

/**
 * The eigenvalues (ascending) of the symmetric `matrix` (`n x n` row-major; only read): blocked
 * Householder tridiagonalisation and implicit QL without vectors. About `4/3 n^3` flops, half of
 * them in rank-2k updates; the other half reads one triangle per column.
 */
export function symmetricEigenvalues(matrix: Float64Array, n: number): Float64Array {
  if (matrix.length !== n * n)
    throw new RangeError(`matrix has ${matrix.length} elements, expected ${n}x${n}`);
  if (n === 0) return new Float64Array(0);
  const a = Float64Array.from(matrix);
  const { d, e } = tridiagonaliseBlocked(a, n);
  tql2(d, e, n, undefined);
  return d.sort();
}

/**
 * `tr sqrt(S1 S2)` for symmetric positive semi-definite `S1`, `S2` (`n x n`, row-major): with the
 * Cholesky factor `S1 = L L^T`, `S1 S2` is similar to the symmetric `L^T S2 L`, so the trace is the
 * sum of the square roots of that matrix's eigenvalues: one Cholesky factorisation, two products,
 * one eigenvalues-only decomposition. When `S1` is singular (a covariance of `N <= d` samples, or
 * rank-deficient) the roles swap (`S2 S1` has the same eigenvalues); when both are, the
 * eigendecomposition route ({@link traceSqrtProductEigen}) takes over. Tiny negative eigenvalues
 * (round-off) are clamped to zero.
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  const l1 = cholesky(s1, n);
  const [l, other] = l1 !== null ? [l1, s2] : [cholesky(s2, n), s1];
  if (l === null) return traceSqrtProductEigen(s1, s2, n);
  let tr = 0;
  for (const v of symmetricEigenvalues(congruence(l, other, n), n)) if (v > 0) tr += Math.sqrt(v);
  return tr;
}
