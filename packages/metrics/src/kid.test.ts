import { describe, expect, it } from 'vitest';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { kernelInceptionDistance, polynomialMmd2 } from './kid';
import { fixtureJson, fixtureNpy } from './testing';

interface KidExpected {
  features: {
    kid_full: number;
    kid_subsets: { a: number[]; b: number[]; kid: number }[];
    kid_subsets_mean: number;
    kid_subsets_std: number;
  };
}
const expected = fixtureJson<KidExpected>('math', 'expected.json').features;
const a = fixtureNpy('math', 'feat_a.npy').data as Float32Array;
const b = fixtureNpy('math', 'feat_b.npy').data as Float32Array;
const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('KID vs numpy', () => {
  it('unbiased polynomial MMD^2 on full sets and given subsets', () => {
    const full = polynomialMmd2(a, b, 16, all(120), all(90));
    expect(Math.abs(full - expected.kid_full) / Math.abs(expected.kid_full)).toBeLessThan(1e-10);
    for (const s of expected.kid_subsets) {
      expect(Math.abs(polynomialMmd2(a, b, 16, s.a, s.b) - s.kid) / Math.abs(s.kid)).toBeLessThan(1e-10);
    }
  });

  it('tfjs float32 Gram path agrees with float64', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const f = polynomialMmd2(a, b, 16, all(120), all(90), 'tfjs');
    expect(Math.abs(f - expected.kid_full) / Math.abs(expected.kid_full)).toBeLessThan(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('subset sampling: seeded, without replacement, mean/std/N reported', () => {
    const r1 = kernelInceptionDistance(a, b, 16, { subsets: 10, subsetSize: 50, seed: 3 });
    const r2 = kernelInceptionDistance(a, b, 16, { subsets: 10, subsetSize: 50, seed: 3 });
    const r3 = kernelInceptionDistance(a, b, 16, { subsets: 10, subsetSize: 50, seed: 4 });
    expect([...r1.values]).toEqual([...r2.values]);
    expect(r3.mean).not.toBe(r1.mean);
    expect(r1.n1).toBe(120);
    expect(r1.n2).toBe(90);
    const mean = r1.values.reduce((s, v) => s + v, 0) / 10;
    expect(r1.mean).toBeCloseTo(mean, 14);
    // Subset size = full set: every permutation gives the full-set value (no replacement).
    const a90 = a.subarray(0, 90 * 16);
    const r4 = kernelInceptionDistance(a90, b, 16, { subsets: 3, subsetSize: 90 });
    const ref = polynomialMmd2(a90, b, 16, all(90), all(90));
    for (const v of r4.values) expect(Math.abs(v - ref) / Math.abs(ref)).toBeLessThan(1e-12);
    expect(r4.std).toBeLessThan(1e-12 * Math.abs(ref));
    expect(() => kernelInceptionDistance(a, b, 16, { subsetSize: 1000 })).toThrow(/subset size/);
    expect(
      kernelInceptionDistance(a, b, 16, { subsets: 2, subsetSize: 1000, clampSubsetSize: true }).subsetSize,
    ).toBe(90);
  });

  it('std over explicit numpy subsets matches numpy (population std)', () => {
    const vals = expected.kid_subsets.map((s) => polynomialMmd2(a, b, 16, s.a, s.b));
    const mean = vals.reduce((x, y) => x + y, 0) / vals.length;
    const std = Math.sqrt(vals.reduce((x, y) => x + (y - mean) ** 2, 0) / vals.length);
    expect(mean).toBeCloseTo(expected.kid_subsets_mean, 10);
    expect(std).toBeCloseTo(expected.kid_subsets_std, 10);
  });
});
