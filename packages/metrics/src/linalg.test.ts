import { describe, expect, it } from 'vitest';
import { symmetricEigen, traceSqrtProduct } from './linalg';
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
