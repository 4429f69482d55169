import { createRng } from '@tsvae/core';
import { describe, expect, it } from 'vitest';
import { energyDistance, euclidean, torusDistance } from './energy';

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 through erf). */
function phi(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x / Math.SQRT2));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

/** E|X - Y| for independent normals with difference N(delta, s2). */
function meanAbs(delta: number, s2: number): number {
  const s = Math.sqrt(s2);
  return (
    s * Math.sqrt(2 / Math.PI) * Math.exp(-(delta * delta) / (2 * s2)) + delta * (1 - 2 * phi(-delta / s))
  );
}

describe('energyDistance', () => {
  it('matches the closed form for two 1-D normals', () => {
    const rng = createRng(3);
    for (const [delta, sy] of [
      [0, 1],
      [1, 1],
      [0.5, 2],
    ] as const) {
      const n = 3000;
      const x = Float64Array.from({ length: n }, () => rng.normal());
      const y = Float64Array.from({ length: n }, () => delta + sy * rng.normal());
      const want = 2 * meanAbs(delta, 1 + sy * sy) - meanAbs(0, 2) - meanAbs(0, 2 * sy * sy);
      expect(Math.abs(energyDistance(x, y, 1) - want), `delta ${delta}, sy ${sy}`).toBeLessThan(0.03);
    }
  });

  it('is symmetric, grows with the shift, and the torus metric wraps angles', () => {
    const rng = createRng(5);
    const x = Float64Array.from({ length: 400 }, () => rng.normal());
    const near = Float64Array.from({ length: 400 }, () => 0.2 + rng.normal());
    const far = Float64Array.from({ length: 400 }, () => 2 + rng.normal());
    expect(energyDistance(x, near, 2)).toBeCloseTo(energyDistance(near, x, 2), 12);
    expect(energyDistance(x, far, 2)).toBeGreaterThan(energyDistance(x, near, 2));
    expect(torusDistance([0.1], 0, [2 * Math.PI - 0.1], 0, 1)).toBeCloseTo(0.2, 12);
    expect(euclidean([0.1], 0, [2 * Math.PI - 0.1], 0, 1)).toBeCloseTo(2 * Math.PI - 0.2, 12);
    expect(() => energyDistance([1, 2, 3], [1, 2], 2)).toThrow(/not a multiple of 2/);
  });
});
