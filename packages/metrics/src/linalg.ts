/**
 * Float64 dense symmetric linear algebra on flat row-major `Float64Array`s: Householder
 * tridiagonalisation + implicit QL (EISPACK tred2/tql2 reorganised for row access).
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
  const a = Float64Array.from(matrix);
  const wantV = options.vectors === true;
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
 * `tr sqrt(S1 S2)` for symmetric positive semi-definite S1, S2 via the stable symmetric form
 * `tr sqrt(A S2 A)`, `A = sqrt(S1)`: with `S1 = V L V^T`, the eigenvalues of `A S2 A` are those
 * of `B S2 B^T`, `B = L^{1/2} V^T`. Tiny negative eigenvalues (round-off) are clamped to zero.
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
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
