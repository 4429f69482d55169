import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, MAX_SEED } from './rng';

describe('createRng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = createRng(1);
    const b = createRng(1);
    const c = createRng(2);
    const xa = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xa);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xa);
  });

  it('has uniform and normal moments within a few standard errors', () => {
    const rng = createRng(123);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let z1 = 0;
    let z2 = 0;
    let z4 = 0;
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      s += u;
      s2 += u * u;
      const z = rng.normal();
      z1 += z;
      z2 += z * z;
      z4 += z ** 4;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    // mean 1/2 (sd 1/sqrt(12 n)), E[u^2] = 1/3; normal: mean 0, var 1, kurtosis 3
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 / Math.sqrt(12 * n));
    expect(Math.abs(s2 / n - 1 / 3)).toBeLessThan(5 * Math.sqrt(4 / 45 / n));
    expect(Math.abs(z1 / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(z2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(z4 / n - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
  });

  it('restores its exact stream from a saved state', () => {
    const rng = createRng(99);
    for (let i = 0; i < 11; i++) rng.normal(); // leaves a cached spare normal
    const state = structuredClone(rng.getState());
    const expected = [rng.normal(), rng.next(), rng.nextInt(10), rng.normal()];
    const other = createRng(5);
    other.setState(state);
    expect([other.normal(), other.next(), other.nextInt(10), other.normal()]).toEqual(expected);
  });

  it('shuffles into a permutation and nextInt covers its range', () => {
    const rng = createRng(7);
    const arr = rng.shuffle(Array.from({ length: 100 }, (_, i) => i));
    expect([...arr].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(arr).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(rng.nextInt(6));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => rng.nextInt(0)).toThrow(RangeError);
    expect(() => createRng(Number.NaN)).toThrow(RangeError);
  });
});

describe('deriveSeed', () => {
  it('is deterministic, never 0, within [1, MAX_SEED - 1], and differs by purpose and seed', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 200; s++) {
      for (const purpose of ['stage1-init', 'stage2-init', 'sample']) {
        const v = deriveSeed(s, purpose);
        expect(v).toBe(deriveSeed(s, purpose));
        expect(Number.isInteger(v) && v >= 1 && v <= MAX_SEED - 1).toBe(true);
        seen.add(v);
      }
    }
    expect(seen.size).toBe(600);
    expect(deriveSeed(0, 'a', 1)).not.toBe(deriveSeed(0, 'a', 2));
    expect(deriveSeed(0, 'a1')).not.toBe(deriveSeed(0, 'a', 1));
    expect(deriveSeed(MAX_SEED, 'x')).toBeGreaterThan(0);
  });

  it('rejects seeds outside [0, MAX_SEED]', () => {
    for (const bad of [-1, 1.5, MAX_SEED + 1, Number.NaN])
      expect(() => deriveSeed(bad, 'x')).toThrow(RangeError);
  });
});
