/** Small float64 dense linear algebra for the mixture: Cholesky factors and triangular inverses. */

/** `log(2 pi)`. */
export const LOG_2PI = Math.log(2 * Math.PI);

/**
 * The lower Cholesky factor `L` (`L L^T = a`) of a symmetric `d x d` matrix (row-major; only its
 * lower triangle is read). Returns `null` when `a` is not (numerically) positive definite.
 */
export function cholesky(a: Float64Array, d: number): Float64Array | null {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j] as number;
      for (let p = 0; p < j; p++) s -= (l[i * d + p] as number) * (l[j * d + p] as number);
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return null;
        l[i * d + i] = Math.sqrt(s);
      } else {
        l[i * d + j] = s / (l[j * d + j] as number);
      }
    }
  }
  return l;
}

/** The inverse of a lower-triangular `d x d` matrix with a positive diagonal (lower-triangular too). */
export function invertLower(l: Float64Array, d: number): Float64Array {
  const inv = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    inv[j * d + j] = 1 / (l[j * d + j] as number);
    for (let i = j + 1; i < d; i++) {
      let s = 0;
      for (let p = j; p < i; p++) s += (l[i * d + p] as number) * (inv[p * d + j] as number);
      inv[i * d + j] = -s / (l[i * d + i] as number);
    }
  }
  return inv;
}

/** `log |det a|` of a square `d x d` matrix (row-major) by LU with partial pivoting; `-Infinity` if singular. */
export function logAbsDet(a: ArrayLike<number>, d: number): number {
  const m = Float64Array.from(a);
  let out = 0;
  for (let c = 0; c < d; c++) {
    let piv = c;
    for (let r = c + 1; r < d; r++)
      if (Math.abs(m[r * d + c] as number) > Math.abs(m[piv * d + c] as number)) piv = r;
    const p = m[piv * d + c] as number;
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (piv !== c) {
      for (let k = 0; k < d; k++) {
        const t = m[c * d + k] as number;
        m[c * d + k] = m[piv * d + k] as number;
        m[piv * d + k] = t;
      }
    }
    out += Math.log(Math.abs(p));
    for (let r = c + 1; r < d; r++) {
      const f = (m[r * d + c] as number) / p;
      if (f === 0) continue;
      for (let k = c; k < d; k++) m[r * d + k] = (m[r * d + k] as number) - f * (m[c * d + k] as number);
    }
  }
  return out;
}

/** `log sum_i exp(v_i)` of `v[offset .. offset + n)`, stable. */
export function logSumExp(v: Float64Array, offset: number, n: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, v[offset + i] as number);
  if (max === Number.NEGATIVE_INFINITY) return max;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp((v[offset + i] as number) - max);
  return max + Math.log(s);
}
