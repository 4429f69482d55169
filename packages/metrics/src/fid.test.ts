import { describe, expect, it } from 'vitest';
import { fidFromFeatures, frechetDistance, preferLowRank } from './fid';
import { readNpy } from './npy';
import { computeStatistics, StatisticsAccumulator, statisticsFromNpz, statisticsToNpz } from './stats';
import { fixtureBytes, fixtureJson, fixtureNpy, lcgFeatures } from './testing';

interface MathExpected {
  cases: { name: string; dim: number; n1: number; n2: number; fid_scipy: number; fid_eigh: number }[];
  features: {
    mu_a: number[];
    sigma_a_diag: number[];
    sigma_a_01: number;
    fid_scipy: number;
  };
  big2048: {
    n: number;
    dim: number;
    seeds: [number, number];
    scale2: number;
    fid_scipy: number;
    fid_eigh: number;
    trace1: number;
    mu1_0: number;
    sigma1_00: number;
    sigma1_01: number;
  };
}

const expected = fixtureJson<MathExpected>('math', 'expected.json');

describe('frechetDistance vs scipy.linalg.sqrtm (pytorch-fid calculate_frechet_distance)', () => {
  it.each(expected.cases)('$name (d = $dim)', (c) => {
    const s1 = statisticsFromNpz(fixtureBytes('math', `${c.name}_1.npz`));
    const s2 = statisticsFromNpz(fixtureBytes('math', `${c.name}_2.npz`));
    expect(s1.dim).toBe(c.dim);
    const r = frechetDistance(s1, s2);
    if (c.fid_scipy < 1e-3) {
      // Nearly identical sets: compare absolutely (the value is pure round-off-level difference).
      expect(Math.abs(r.fid - c.fid_eigh)).toBeLessThan(1e-9);
      expect(Math.abs(r.fid - c.fid_scipy)).toBeLessThan(1e-9);
    } else {
      expect(Math.abs(r.fid - c.fid_scipy) / c.fid_scipy).toBeLessThan(1e-6);
      expect(Math.abs(r.fid - c.fid_eigh) / c.fid_eigh).toBeLessThan(1e-7);
    }
    // Self-distance: zero up to round-off in the square roots of ~0 eigenvalues.
    let tr = 0;
    for (let i = 0; i < s1.dim; i++) tr += s1.sigma[i * s1.dim + i] as number;
    expect(Math.abs(frechetDistance(s1, s1).fid)).toBeLessThan(1e-6 * tr);
  });

  it('is symmetric and reports N', () => {
    const a = fixtureNpy('math', 'feat_a.npy');
    const b = fixtureNpy('math', 'feat_b.npy');
    const ab = fidFromFeatures(a.data as Float32Array, b.data as Float32Array, 16);
    const ba = fidFromFeatures(b.data as Float32Array, a.data as Float32Array, 16);
    expect(ab.n1).toBe(120);
    expect(ab.n2).toBe(90);
    expect(Math.abs(ab.fid - expected.features.fid_scipy) / expected.features.fid_scipy).toBeLessThan(1e-9);
    expect(ba.fid).toBeCloseTo(ab.fid, 9);
  });
});

describe('fidFromFeatures with fewer samples than dimensions (nuclear norm of B1 B2^T)', () => {
  it.each([
    [40, 50, 64],
    [50, 40, 64],
    [7, 3, 200],
    [2, 2, 30],
  ])('n1 = %i, n2 = %i, d = %i: equals the covariance route', (n1, n2, d) => {
    expect(preferLowRank(n1, n2, d)).toBe(true);
    const x = lcgFeatures(3 + n1, n1, d);
    const y = lcgFeatures(5 + n2, n2, d, 1.7);
    const r = fidFromFeatures(x, y, d);
    const ref = frechetDistance(computeStatistics(x, d), computeStatistics(y, d));
    expect(r).toMatchObject({ n1, n2, dim: d });
    // The covariance route takes square roots of round-off-level eigenvalues (rank < d): ~1e-9.
    expect(Math.abs(r.fid - ref.fid) / ref.fid).toBeLessThan(1e-8);
    // Self-distance is zero up to round-off: square roots of round-off-level eigenvalues give
    // about sqrt(eps) * tr(S), as in the covariance route and scipy's sqrtm.
    let tr = 0;
    const s = computeStatistics(x, d);
    for (let i = 0; i < d; i++) tr += s.sigma[i * d + i] as number;
    expect(Math.abs(fidFromFeatures(x, x, d).fid)).toBeLessThan(1e-6 * tr);
  });

  it('keeps the covariance route when samples outnumber dimensions', () => {
    expect(preferLowRank(10000, 10000, 2048)).toBe(false);
    expect(preferLowRank(120, 90, 16)).toBe(false);
    expect(preferLowRank(1000, 1000, 2048)).toBe(true);
  });
});

describe('statistics', () => {
  it('mean and ddof=1 covariance in float64 match numpy; streaming = one shot', () => {
    const a = fixtureNpy('math', 'feat_a.npy');
    const s = computeStatistics(a.data as Float32Array, 16);
    expect(s.count).toBe(120);
    expected.features.mu_a.forEach((m, i) => {
      expect(s.mu[i]).toBeCloseTo(m, 12);
      expect(s.sigma[i * 16 + i]).toBeCloseTo(expected.features.sigma_a_diag[i] as number, 12);
    });
    expect(s.sigma[1]).toBeCloseTo(expected.features.sigma_a_01, 12);
    const acc = new StatisticsAccumulator(16);
    const data = a.data as Float32Array;
    for (const [lo, hi] of [
      [0, 7],
      [7, 8],
      [8, 64],
      [64, 120],
    ] as const)
      acc.add(data.subarray(lo * 16, hi * 16));
    const t = acc.finalize();
    for (let i = 0; i < 256; i++) expect(t.sigma[i]).toBeCloseTo(s.sigma[i] as number, 12);
    for (let i = 0; i < 16; i++) expect(t.mu[i]).toBeCloseTo(s.mu[i] as number, 13);
  });

  it('any dimension (not only multiples of the 4x4 register blocks), any batch split: equals the two-pass covariance', () => {
    for (const [d, n] of [
      [1, 5],
      [3, 70],
      [7, 131],
      [18, 200],
    ] as const) {
      let state = 12345 + d;
      const rand = () => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return state / 2147483648;
      };
      // features with an offset and correlated columns (x_j = u_j + 0.5 u_{j-1} + 3)
      const u = Array.from({ length: n * d }, rand);
      const x = new Float64Array(n * d);
      for (let r = 0; r < n; r++)
        for (let j = 0; j < d; j++)
          x[r * d + j] = (u[r * d + j] as number) + (j > 0 ? 0.5 * (u[r * d + j - 1] as number) : 0) + 3;
      const mu = new Float64Array(d);
      for (let r = 0; r < n; r++)
        for (let j = 0; j < d; j++) mu[j] = (mu[j] as number) + (x[r * d + j] as number) / n;
      const ref = new Float64Array(d * d);
      for (let r = 0; r < n; r++)
        for (let i = 0; i < d; i++)
          for (let j = 0; j < d; j++)
            ref[i * d + j] =
              (ref[i * d + j] as number) +
              (((x[r * d + i] as number) - (mu[i] as number)) *
                ((x[r * d + j] as number) - (mu[j] as number))) /
                (n - 1);
      const acc = new StatisticsAccumulator(d);
      for (let lo = 0; lo < n; lo += 67) acc.add(x.subarray(lo * d, Math.min(n, lo + 67) * d));
      for (const s of [computeStatistics(x, d), acc.finalize()]) {
        for (let i = 0; i < d; i++) expect(s.mu[i]).toBeCloseTo(mu[i] as number, 12);
        for (let i = 0; i < d * d; i++) expect(s.sigma[i]).toBeCloseTo(ref[i] as number, 12);
      }
    }
  });

  it('round-trips the pytorch-fid .npz layout', () => {
    const s = statisticsFromNpz(fixtureBytes('math', 'random32_1.npz'));
    const bytes = statisticsToNpz({ ...s, count: 500 });
    const back = statisticsFromNpz(bytes);
    expect(back.count).toBe(500);
    expect([...back.mu]).toEqual([...s.mu]);
    expect([...back.sigma]).toEqual([...s.sigma]);
  });

  it('rejects malformed statistics with a clear error', () => {
    expect(() => readNpy(new Uint8Array(12))).toThrow(/not a .npy/);
    expect(() => statisticsFromNpz(new Uint8Array(30))).toThrow(/npz/);
    expect(() => computeStatistics(new Float32Array(16), 16)).toThrow(/at least 2/);
  });
});

describe.runIf(process.env.TSVAE_SLOW_TESTS)('2048-d FID (slow)', () => {
  it('matches scipy sqrtm on 2500 x 2048 LCG features', () => {
    const b = expected.big2048;
    const x = lcgFeatures(b.seeds[0], b.n, b.dim);
    const y = lcgFeatures(b.seeds[1], b.n, b.dim, b.scale2);
    const s1 = computeStatistics(x, b.dim);
    expect(s1.mu[0]).toBeCloseTo(b.mu1_0, 12);
    expect(s1.sigma[0]).toBeCloseTo(b.sigma1_00, 12);
    expect(s1.sigma[1]).toBeCloseTo(b.sigma1_01, 12);
    const r = frechetDistance(s1, computeStatistics(y, b.dim));
    expect(Math.abs(r.fid - b.fid_scipy) / b.fid_scipy).toBeLessThan(1e-9);
  }, 600_000);
});
