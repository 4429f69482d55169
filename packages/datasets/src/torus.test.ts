import { createRng } from '@tsvae/core';
import { describe, expect, it } from 'vitest';
import { besselI0, bumpyTorus, vonMises } from './torus';

const TWO_PI = 2 * Math.PI;
const angleDiff = (a: number, b: number) => Math.abs(((a - b + 3 * Math.PI) % TWO_PI) - Math.PI);

describe('von Mises sampling', () => {
  it('has the mean direction mu and mean resultant length I1(κ)/I0(κ)', () => {
    const rng = createRng(4);
    for (const kappa of [0.5, 4, 20]) {
      let c = 0;
      let s = 0;
      const n = 40000;
      for (let i = 0; i < n; i++) {
        const t = vonMises(1, kappa, rng);
        c += Math.cos(t);
        s += Math.sin(t);
      }
      // I1(x) = I0'(x), by a central difference of the series
      const i1 = (besselI0(kappa + 1e-5) - besselI0(kappa - 1e-5)) / 2e-5;
      expect(Math.hypot(c, s) / n).toBeCloseTo(i1 / besselI0(kappa), 2);
      expect(Math.atan2(s, c)).toBeCloseTo(1, 1);
    }
    expect(besselI0(0)).toBe(1);
    expect(besselI0(1)).toBeCloseTo(1.2660658777520082, 12);
  });
});

describe('bumpyTorus', () => {
  for (const r of [1, 2, 4]) {
    it(`r = ${r}: samples lie on the manifold and project back to their angles`, () => {
      const m = bumpyTorus({ dim: 16, intrinsicDim: r, seed: 3 });
      const { data, latents } = m.sample(50, 7);
      expect(data.every((v) => v > -1 && v < 1)).toBe(true);
      expect(latents.every((t) => t >= 0 && t < TWO_PI)).toBe(true);
      for (const dist of m.distance(data)) expect(dist).toBeLessThan(1e-5);
      const back = m.project(data);
      for (let i = 0; i < latents.length; i++)
        expect(angleDiff(back[i] as number, latents[i] as number)).toBeLessThan(1e-3);
    });
  }

  it('a step of length ε off the manifold, orthogonal to it, has distance ε', () => {
    const m = bumpyTorus({ dim: 12, intrinsicDim: 2, seed: 1 });
    const rng = createRng(9);
    const { data, latents } = m.sample(20, 2);
    for (let i = 0; i < 20; i++) {
      const x0 = data.subarray(i * 12, (i + 1) * 12);
      const th = latents.subarray(i * 2, i * 2 + 2);
      // tangent vectors by finite differences of the embedding
      const tang = [0, 1].map((j) => {
        const a = Array.from(th);
        const b = Array.from(th);
        a[j] = (a[j] as number) + 1e-4;
        b[j] = (b[j] as number) - 1e-4;
        const ea = m.embed(a);
        const eb = m.embed(b);
        return Float64Array.from(ea, (v, k) => (v - (eb[k] as number)) / 2e-4);
      });
      // a random direction with the tangent components removed (Gram-Schmidt)
      const v = Float64Array.from({ length: 12 }, () => rng.normal());
      const basis: Float64Array[] = [];
      for (const t of tang) {
        const u = t.slice();
        for (const b of basis) {
          const dot = u.reduce((s, x, k) => s + x * (b[k] as number), 0);
          for (let k = 0; k < 12; k++) u[k] = (u[k] as number) - dot * (b[k] as number);
        }
        const norm = Math.hypot(...u);
        basis.push(u.map((x) => x / norm));
      }
      for (const b of basis) {
        const dot = v.reduce((s, x, k) => s + x * (b[k] as number), 0);
        for (let k = 0; k < 12; k++) v[k] = (v[k] as number) - dot * (b[k] as number);
      }
      const norm = Math.hypot(...v);
      const eps = 1e-3;
      const p = Float32Array.from(x0, (x, k) => x + (eps * (v[k] as number)) / norm);
      expect(m.distance(p)[0]).toBeCloseTo(eps, 5);
    }
  });

  it('the density integrates to 1 and the samples follow it (r = 1: histogram vs the integral per bin)', () => {
    const m = bumpyTorus({ dim: 8, intrinsicDim: 1, components: 3, concentration: 6, seed: 5 });
    const grid = 20000;
    const thetas = Float64Array.from({ length: grid }, (_, i) => ((i + 0.5) * TWO_PI) / grid);
    const dens = Array.from(m.logDensity(thetas), Math.exp);
    expect(dens.reduce((s, p) => s + p, 0) * (TWO_PI / grid)).toBeCloseTo(1, 6);
    const bins = 24;
    const n = 60000;
    const { latents } = m.sample(n, 11);
    const hist = new Array<number>(bins).fill(0);
    for (const t of latents) hist[Math.min(bins - 1, Math.floor((t / TWO_PI) * bins))]! += 1;
    for (let b = 0; b < bins; b++) {
      let mass = 0;
      for (let i = 0; i < grid; i++)
        if (Math.floor((i / grid) * bins) === b) mass += (dens[i] as number) * (TWO_PI / grid);
      const expected = mass * n;
      // within 5 standard deviations of the binomial count
      expect(Math.abs((hist[b] as number) - expected), `bin ${b}`).toBeLessThan(5 * Math.sqrt(expected + 1));
    }
    // and it is far from uniform
    expect(Math.max(...hist) / Math.min(...hist.map((h) => h + 1))).toBeGreaterThan(5);
  });

  it('rejects a dimension below 2r', () => {
    expect(() => bumpyTorus({ dim: 3, intrinsicDim: 2 })).toThrow(RangeError);
  });
});
