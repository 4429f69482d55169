import { describe, expect, it } from 'vitest';
import {
  cholesky,
  congruence,
  symmetricEigen,
  symmetricEigenvalues,
  traceSqrtProduct,
  traceSqrtProductEigen,
} from './linalg';
import { lcgUniform } from './testing';

function randomSymmetric(n: number, seed: number): Float64Array {
  const u = lcgUniform(seed, n * n);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = (u[i * n + j] as number) - 0.5;
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

describe('symmetricEigen', () => {
  it.each([1, 2, 3, 7, 40])('reconstructs A V = V L for n = %i', (n) => {
    const a = randomSymmetric(n, n + 11);
    const { values, vectors } = symmetricEigen(a, n, { vectors: true });
    expect(vectors).toBeDefined();
    const v = vectors as Float64Array;
    for (let i = 1; i < n; i++) expect(values[i] as number).toBeGreaterThanOrEqual(values[i - 1] as number);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += (a[i * n + j] as number) * (v[k * n + j] as number);
        expect(av).toBeCloseTo((values[k] as number) * (v[k * n + i] as number), 10);
      }
      let norm = 0;
      for (let j = 0; j < n; j++) norm += (v[k * n + j] as number) ** 2;
      expect(norm).toBeCloseTo(1, 12);
    }
    let tr = 0;
    for (let i = 0; i < n; i++) tr += a[i * n + i] as number;
    expect(values.reduce((s, x) => s + x, 0)).toBeCloseTo(tr, 10);
  });

  it('handles already-diagonal and zero matrices', () => {
    const d = Float64Array.from([3, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect([...symmetricEigen(d, 3).values]).toEqual([1, 2, 3]);
    expect([...symmetricEigen(new Float64Array(16), 4).values]).toEqual([0, 0, 0, 0]);
  });

  it('values-only agrees with the full decomposition', () => {
    const a = randomSymmetric(30, 5);
    const full = symmetricEigen(a, 30, { vectors: true }).values;
    const only = symmetricEigen(a, 30).values;
    for (let i = 0; i < 30; i++) expect(only[i]).toBeCloseTo(full[i] as number, 12);
  });
});

describe('traceSqrtProduct', () => {
  it('equals tr(S) for S1 = S2 = S and sum sqrt(a_i b_i) for diagonals', () => {
    const n = 12;
    const r = randomSymmetric(n, 3);
    const s = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let v = 0;
        for (let k = 0; k < n; k++) v += (r[i * n + k] as number) * (r[j * n + k] as number);
        s[i * n + j] = v;
      }
    let tr = 0;
    for (let i = 0; i < n; i++) tr += s[i * n + i] as number;
    expect(traceSqrtProduct(s, s, n)).toBeCloseTo(tr, 9);
    const a = new Float64Array(9);
    const b = new Float64Array(9);
    [1, 4, 0].forEach((v, i) => {
      a[i * 4] = v;
    });
    [9, 1, 5].forEach((v, i) => {
      b[i * 4] = v;
    });
    expect(traceSqrtProduct(a, b, 3)).toBeCloseTo(3 + 2 + 0, 12);
  });
});

/** `R R^T` for a random `n x k` matrix R: positive definite when k >= n, rank k otherwise. */
function gram(n: number, k: number, seed: number): Float64Array {
  const u = lcgUniform(seed, n * k);
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let v = 0;
      for (let t = 0; t < k; t++) v += ((u[i * k + t] as number) - 0.5) * ((u[j * k + t] as number) - 0.5);
      s[i * n + j] = v;
    }
  return s;
}

describe('blocked fast path (Cholesky + eigenvalues-only)', () => {
  // sizes around the 4-row blocks, the 32-column tridiagonal panels and the 48 x 256 product panels
  it.each([1, 2, 5, 31, 33, 67, 130, 261])('eigenvalues-only equals the EISPACK route for n = %i', (n) => {
    const a = randomSymmetric(n, n + 3);
    const ref = symmetricEigen(a, n, { vectors: true }).values;
    const got = symmetricEigenvalues(a, n);
    for (let i = 0; i < n; i++) expect(got[i] as number).toBeCloseTo(ref[i] as number, 10);
  });

  it.each([1, 3, 6, 37, 70])('cholesky reconstructs L L^T = A and is lower triangular (n = %i)', (n) => {
    const a = gram(n, n + 4, n);
    const l = cholesky(a, n) as Float64Array;
    expect(l).not.toBeNull();
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (j > i) expect(l[i * n + j]).toBe(0);
        let v = 0;
        for (let t = 0; t < n; t++) v += (l[i * n + t] as number) * (l[j * n + t] as number);
        expect(v).toBeCloseTo(a[i * n + j] as number, 10);
      }
  });

  it('cholesky reports rank-deficient and indefinite matrices as null', () => {
    expect(cholesky(gram(10, 4, 1), 10)).toBeNull();
    expect(cholesky(randomSymmetric(6, 2), 6)).toBeNull();
    expect(cholesky(new Float64Array(9), 3)).toBeNull();
  });

  it.each([5, 36, 101])('congruence equals L^T S L computed naively (n = %i)', (n) => {
    const l = cholesky(gram(n, n + 2, 7), n) as Float64Array;
    const s = gram(n, n, 8);
    const c = congruence(l, s, n);
    for (let i = 0; i < n; i += 7)
      for (let j = 0; j < n; j += 5) {
        let v = 0;
        for (let p = 0; p < n; p++)
          for (let q = 0; q < n; q++)
            v += (l[p * n + i] as number) * (s[p * n + q] as number) * (l[q * n + j] as number);
        expect(c[i * n + j] as number).toBeCloseTo(v, 9);
      }
  });

  it.each([
    ['both full rank', 45, 60, 60],
    ['S1 singular (swaps roles)', 45, 20, 60],
    ['S2 singular', 45, 60, 20],
    ['both singular (eigen route)', 45, 20, 25],
    ['n not a multiple of 4', 131, 140, 150],
  ])('traceSqrtProduct equals the eigendecomposition route: %s', (_name, n, k1, k2) => {
    const s1 = gram(n, k1, 11);
    const s2 = gram(n, k2, 12);
    const ref = traceSqrtProductEigen(s1, s2, n);
    // singular products: the zero eigenvalues come out as round-off (~1e-15), whose square roots
    // (~3e-8 each) differ between routes, so the agreement is relative 1e-7, not absolute
    expect(Math.abs(traceSqrtProduct(s1, s2, n) - ref)).toBeLessThan(1e-7 * ref);
    expect(Math.abs(traceSqrtProduct(s2, s1, n) - ref)).toBeLessThan(1e-7 * ref);
  });
});
