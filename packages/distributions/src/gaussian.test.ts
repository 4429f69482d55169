import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOG_2PI } from './constants';
import { DiagonalGaussian, klStandardNormal, StandardNormal } from './gaussian';
import {
  expectClose,
  expectGradsMatch,
  f32,
  gauss,
  gradsAndFiniteDiffs,
  meanAndSe,
  prng,
  sumRows,
  take,
  tensorAndValues,
  useCpu,
} from './test-helpers';

beforeAll(useCpu);

const LOG_1EM4 = Math.log(1e-4);
const LOG_1E3 = Math.log(1e3);

/** float64 log N(x; mu, sigma^2) of one element. */
function logNormal64(x: number, mu: number, ls: number): number {
  const d = (x - mu) / Math.exp(ls);
  return -0.5 * d * d - ls - 0.5 * Math.log(2 * Math.PI);
}

/** float64 KL(N(mp, sp^2) || N(mq, sq^2)) of one element, from the textbook formula. */
function kl64(mp: number, lsp: number, mq: number, lsq: number): number {
  const sp2 = Math.exp(2 * lsp);
  const sq2 = Math.exp(2 * lsq);
  return lsq - lsp + (sp2 + (mp - mq) ** 2) / (2 * sq2) - 0.5;
}

/** Tiles one parameter vector `S` times: shape `[S, D]`. */
function tiled(v: number[], s: number): Tensor {
  return tf.tidy(() => tf.tile(tf.tensor2d([v]), [s, 1]));
}

describe('DiagonalGaussian.logProb', () => {
  it('matches a float64 closed form, including sigma = 1e-4, sigma = 1e3 and |mu| = 1e3', () => {
    const rand = prng(1);
    const B = 4;
    const D = 6;
    // Rows: moderate; tiny sigma at large mu; huge sigma at large negative mu; mixed.
    const lsOf = (b: number, j: number): number =>
      b === 0 ? -2 + 4 * rand() : b === 1 ? LOG_1EM4 : b === 2 ? LOG_1E3 : j % 2 ? LOG_1EM4 : LOG_1E3;
    const muOf = (b: number): number =>
      b === 0 ? gauss(rand) : b === 1 ? 1e3 : b === 2 ? -1e3 : 1e3 * gauss(rand);
    const lsRaw = f32(B * D, (i) => lsOf(Math.floor(i / D), i % D));
    const [mu, muV] = tensorAndValues([B, D], (i) => muOf(Math.floor(i / D)));
    const [ls, lsV] = tensorAndValues([B, D], (i) => lsRaw[i] as number);
    const [x, xV] = tensorAndValues(
      [B, D],
      (i) => (muV[i] as number) + Math.exp(lsRaw[i] as number) * 2 * gauss(rand),
    );
    const got = take(new DiagonalGaussian(mu, ls).logProb(x));
    const want = sumRows(B, B * D, (j) => logNormal64(xV[j] as number, muV[j] as number, lsV[j] as number));
    const scale = sumRows(
      B,
      B * D,
      (j) => Math.abs(logNormal64(xV[j] as number, muV[j] as number, lsV[j] as number)) + 1,
    );
    expect(got).toHaveLength(B);
    got.forEach((g, b) => {
      expectClose(g, want[b] as number, 1e-5 * (scale[b] as number), `row ${b}`);
    });
    tf.dispose([mu, ls, x]);
  });

  it('sums over every event axis of a rank-4 tensor and handles a rank-1 (event-less) tensor', () => {
    const mu = tf.zeros([2, 3, 4, 2]);
    const ls = tf.fill([2, 3, 4, 2], Math.log(2));
    const x = tf.ones([2, 3, 4, 2]);
    const got = take(new DiagonalGaussian(mu, ls).logProb(x));
    const per = logNormal64(1, 0, Math.log(2));
    expect(got).toHaveLength(2);
    for (const g of got) expectClose(g, 24 * per, 1e-4, 'rank 4');
    const mu1 = tf.tensor1d([0, 1]);
    const ls1 = tf.tensor1d([0, Math.log(3)]);
    const got1 = take(new DiagonalGaussian(mu1, ls1).logProb(tf.tensor1d([0.5, -1])));
    expectClose(got1[0] as number, logNormal64(0.5, 0, 0), 1e-6, 'rank 1 [0]');
    expectClose(got1[1] as number, logNormal64(-1, 1, Math.log(3)), 1e-6, 'rank 1 [1]');
    tf.dispose([mu, ls, x, mu1, ls1]);
  });
});

describe('DiagonalGaussian: closed forms against Monte Carlo', () => {
  const S = 20_000;
  const params = [
    { mu: [0.3, -1.2, 2.0], ls: [0.1, -0.7, 0.5] },
    { mu: [5, -3, 0], ls: [-2, 1, 0] },
  ];

  it('entropy = -E[log q(z)] within 4 standard errors, and matches the float64 closed form', () => {
    params.forEach(({ mu, ls }, k) => {
      const q = new DiagonalGaussian(tiled(mu, S), tiled(ls, S));
      const z = q.sample(100 + k);
      const negLogQ = take(q.logProb(z)).map((v) => -v);
      const { mean, se } = meanAndSe(negLogQ);
      const h = take(q.entropy());
      const h64 = ls.reduce((a, l) => a + l + 0.5 * (1 + LOG_2PI), 0);
      expectClose(h[0] as number, h64, 1e-5, 'entropy closed form');
      expectClose(h[0] as number, mean, 4 * se, `entropy vs MC (se ${se})`);
      tf.dispose([q.mu, q.logSigma, z]);
    });
  });

  it('klToStandardNormal = E[log q(z) - log p(z)] within 4 standard errors', () => {
    const prior = new StandardNormal([3]);
    params.forEach(({ mu, ls }, k) => {
      const q = new DiagonalGaussian(tiled(mu, S), tiled(ls, S));
      const z = q.sample(200 + k);
      const logQ = take(q.logProb(z));
      const logP = take(prior.logProb(z));
      const { mean, se } = meanAndSe(logQ.map((v, i) => v - (logP[i] as number)));
      const kl = take(q.klToStandardNormal())[0] as number;
      const kl64Sum = mu.reduce((a, m, j) => a + kl64(m, ls[j] as number, 0, 0), 0);
      expectClose(kl, kl64Sum, 1e-5 * kl64Sum, 'KL closed form');
      expectClose(kl, mean, 4 * se, `KL vs MC (se ${se})`);
      tf.dispose([q.mu, q.logSigma, z]);
    });
  });

  it('kl(other) = E_p[log p(z) - log q(z)] within 4 standard errors', () => {
    const other = { mu: [1, 0.5, -1], ls: [0.3, -0.2, 0.8] };
    params.forEach(({ mu, ls }, k) => {
      const p = new DiagonalGaussian(tiled(mu, S), tiled(ls, S));
      const q = new DiagonalGaussian(tiled(other.mu, S), tiled(other.ls, S));
      const z = p.sample(300 + k);
      const logP = take(p.logProb(z));
      const logQ = take(q.logProb(z));
      const { mean, se } = meanAndSe(logP.map((v, i) => v - (logQ[i] as number)));
      const kl = take(p.kl(q))[0] as number;
      const want = mu.reduce(
        (a, m, j) => a + kl64(m, ls[j] as number, other.mu[j] as number, other.ls[j] as number),
        0,
      );
      expectClose(kl, want, 1e-5 * want, 'KL(p||q) closed form');
      expectClose(kl, mean, 4 * se, `KL(p||q) vs MC (se ${se})`);
      tf.dispose([p.mu, p.logSigma, q.mu, q.logSigma, z]);
    });
  });

  it('sample() has mean mu and standard deviation sigma (z-tests on every dimension)', () => {
    const mu = [2, -1, 1e3];
    const ls = [0, Math.log(0.1), Math.log(50)];
    const q = new DiagonalGaussian(tiled(mu, S), tiled(ls, S));
    const z = q.sample(7);
    const cols = tf.unstack(tf.transpose(z)).map((c) => take(c));
    cols.forEach((col, j) => {
      const sigma = Math.exp(ls[j] as number);
      const { mean, se } = meanAndSe(col);
      expectClose(mean, mu[j] as number, 4.5 * se, `mean of dim ${j}`);
      const variance = meanAndSe(col.map((v) => (v - (mu[j] as number)) ** 2));
      expectClose(variance.mean, sigma * sigma, 4.5 * variance.se, `variance of dim ${j}`);
    });
    tf.dispose([q.mu, q.logSigma, z]);
  });
});

describe('DiagonalGaussian.sample', () => {
  it('is deterministic for a seed, differs across seeds, and has the shape of mu', () => {
    const mu = tf.zeros([3, 2, 2]);
    const ls = tf.zeros([3, 2, 2]);
    const q = new DiagonalGaussian(mu, ls);
    const a = q.sample(42);
    const b = q.sample(42);
    const c = q.sample(43);
    expect(a.shape).toEqual([3, 2, 2]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    tf.dispose([mu, ls, a, b, c]);
  });

  it('is reparameterised: d sum(w z)/d mu = w and d sum(w z)/d logSigma = w (z - mu)', () => {
    const [mu, muV] = tensorAndValues([2, 3], (i) => i - 2);
    const [ls, lsV] = tensorAndValues([2, 3], (i) => 0.2 * i - 0.5);
    const [w, wV] = tensorAndValues([2, 3], (i) => 1 + 0.5 * i);
    const z = take(new DiagonalGaussian(mu, ls).sample(5));
    const [gMu, gLs] = tf.grads((m: Tensor, l: Tensor) =>
      tf.sum(tf.mul(w, new DiagonalGaussian(m, l).sample(5))),
    )([mu, ls]);
    const gm = take(gMu as Tensor);
    const gl = take(gLs as Tensor);
    for (let j = 0; j < 6; j++) {
      expectClose(gm[j] as number, wV[j] as number, 1e-6, `dmu ${j}`);
      expectClose(
        gl[j] as number,
        (wV[j] as number) * ((z[j] as number) - (muV[j] as number)),
        1e-5,
        `dls ${j}`,
      );
    }
    // and the noise really is scaled by sigma: (z - mu) / sigma has unit scale for two different sigmas
    expect(lsV[0]).not.toEqual(lsV[5]);
    tf.dispose([mu, ls, w]);
  });
});

describe('gradients against central finite differences (float32)', () => {
  const rand = prng(11);
  const vals = (n: number, lo: number, hi: number): Float32Array => f32(n, () => lo + (hi - lo) * rand());
  const w = tf.tensor1d([0.7, -1.3]);
  const weighted = (t: Tensor): tf.Scalar => tf.sum(tf.mul(w, t));

  it('klStandardNormal wrt mu and logSigma (and the analytical mu, sigma^2 - 1)', () => {
    const mu = vals(6, -2, 2);
    const ls = vals(6, -1, 1);
    const r = gradsAndFiniteDiffs(
      (m, l) => weighted(klStandardNormal(m, l)),
      [mu, ls],
      [
        [2, 3],
        [2, 3],
      ],
      1e-2,
    );
    expectGradsMatch(r, 3e-3, 3e-3, 'klStandardNormal');
    const wv = [0.7, -1.3];
    for (let j = 0; j < 6; j++) {
      const wb = wv[Math.floor(j / 3)] as number;
      expectClose(r.analytic[0]?.[j] as number, wb * (mu[j] as number), 1e-5, 'dKL/dmu = mu');
      expectClose(r.analytic[1]?.[j] as number, wb * (Math.exp(2 * (ls[j] as number)) - 1), 1e-5, 'dKL/dls');
    }
  });

  it('kl(other) wrt all four parameters', () => {
    const r = gradsAndFiniteDiffs(
      (mp, lp, mq, lq) => weighted(new DiagonalGaussian(mp, lp).kl(new DiagonalGaussian(mq, lq))),
      [vals(4, -2, 2), vals(4, -1, 1), vals(4, -2, 2), vals(4, -1, 1)],
      [
        [2, 2],
        [2, 2],
        [2, 2],
        [2, 2],
      ],
      1e-2,
    );
    expectGradsMatch(r, 3e-3, 3e-3, 'kl');
  });

  it('logProb wrt x, mu and logSigma; entropy wrt logSigma', () => {
    const r = gradsAndFiniteDiffs(
      (x, m, l) => weighted(new DiagonalGaussian(m, l).logProb(x)),
      [vals(6, -2, 2), vals(6, -2, 2), vals(6, -0.5, 0.5)],
      [
        [2, 3],
        [2, 3],
        [2, 3],
      ],
      1e-2,
    );
    expectGradsMatch(r, 3e-3, 3e-3, 'logProb');
    const mu = tf.zeros([2, 3]);
    const e = gradsAndFiniteDiffs(
      (l) => weighted(new DiagonalGaussian(mu, l).entropy()),
      [vals(6, -1, 1)],
      [[2, 3]],
      1e-2,
    );
    expectGradsMatch(e, 3e-3, 3e-3, 'entropy');
    // d/d logSigma of sum(w * entropy) is w for every element of the row
    e.analytic[0]?.forEach((g, j) => {
      expectClose(g, j < 3 ? 0.7 : -1.3, 1e-6, 'dH/dls');
    });
    mu.dispose();
  });

  it('a seeded sample wrt mu and logSigma', () => {
    const r = gradsAndFiniteDiffs(
      (m, l) => tf.sum(tf.square(new DiagonalGaussian(m, l).sample(9))),
      [vals(6, -2, 2), vals(6, -1, 1)],
      [
        [2, 3],
        [2, 3],
      ],
      1e-2,
    );
    expectGradsMatch(r, 3e-3, 3e-3, 'sample');
  });
});

describe('KL >= 0 (property test over seeded random draws)', () => {
  it('kl(other) and klToStandardNormal are finite, >= 0 and match float64 over 150 draws', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const rand = prng(seed);
      const B = 1 + Math.floor(rand() * 6);
      const D = 1 + Math.floor(rand() * 6);
      const n = B * D;
      const muScale = [1e-3, 1, 1e3][Math.floor(rand() * 3)] as number;
      const nearlyEqualSigmas = rand() < 0.3;
      const [mp, mpV] = tensorAndValues([B, D], () => muScale * gauss(rand));
      const [mq, mqV] = tensorAndValues([B, D], () => (rand() < 0.2 ? 0 : muScale * gauss(rand)));
      const lsPRaw = f32(n, () => LOG_1EM4 + (LOG_1E3 - LOG_1EM4) * rand());
      const [lp, lpV] = tensorAndValues([B, D], (i) => lsPRaw[i] as number);
      const [lq, lqV] = tensorAndValues([B, D], (i) =>
        nearlyEqualSigmas
          ? (lsPRaw[i] as number) + 1e-3 * gauss(rand)
          : LOG_1EM4 + (LOG_1E3 - LOG_1EM4) * rand(),
      );
      const p = new DiagonalGaussian(mp, lp);
      const q = new DiagonalGaussian(mq, lq);
      const klPQ = take(p.kl(q));
      const klPP = take(p.kl(p));
      const klP0 = take(p.klToStandardNormal());
      const want = sumRows(B, n, (j) => {
        const t = 2 * ((lpV[j] as number) - (lqV[j] as number));
        const d = ((mpV[j] as number) - (mqV[j] as number)) / Math.exp(lqV[j] as number);
        return 0.5 * (Math.expm1(t) - t + d * d);
      });
      const scale = sumRows(B, n, (j) => {
        const t = 2 * ((lpV[j] as number) - (lqV[j] as number));
        const d = ((mpV[j] as number) - (mqV[j] as number)) / Math.exp(lqV[j] as number);
        return Math.abs(Math.expm1(t)) * (1 + Math.abs(t)) + Math.abs(t) + d * d;
      });
      for (let b = 0; b < B; b++) {
        const g = klPQ[b] as number;
        expect(Number.isFinite(g), `seed ${seed}`).toBe(true);
        expect(g, `seed ${seed}`).toBeGreaterThanOrEqual(0);
        expectClose(g, want[b] as number, 2e-6 * (scale[b] as number) + 1e-30, `seed ${seed} row ${b}`);
        expect(klPP[b]).toBe(0);
        expect(Number.isFinite(klP0[b] as number)).toBe(true);
        expect(klP0[b] as number).toBeGreaterThanOrEqual(0);
      }
      tf.dispose([mp, mq, lp, lq]);
    }
  });
});

describe('klStandardNormal', () => {
  it('matches float64 at sigma = 1e-4, sigma = 1e3, |mu| = 1e3', () => {
    const [mu, muV] = tensorAndValues([3, 2], (i) => [1e3, -1e3, 0, 0, 0.5, -1e3][i] as number);
    const [ls, lsV] = tensorAndValues(
      [3, 2],
      (i) => [LOG_1EM4, LOG_1E3, LOG_1EM4, LOG_1E3, 0, 0.3][i] as number,
    );
    const got = take(klStandardNormal(mu, ls));
    const want = sumRows(3, 6, (j) => kl64(muV[j] as number, lsV[j] as number, 0, 0));
    got.forEach((g, b) => {
      expectClose(g, want[b] as number, 1e-6 * Math.abs(want[b] as number), `row ${b}`);
    });
    tf.dispose([mu, ls]);
  });

  it('keeps its relative accuracy when sigma is close to 1 (where exp(2 ls) - 1 - 2 ls cancels)', () => {
    const [mu] = tensorAndValues([4, 1], () => 0);
    const [ls, lsV] = tensorAndValues([4, 1], (i) => [1e-3, -1e-3, 3e-4, -2e-5][i] as number);
    const got = take(klStandardNormal(mu, ls));
    got.forEach((g, b) => {
      const l = lsV[b] as number;
      const want = 0.5 * (Math.expm1(2 * l) - 2 * l);
      expectClose(g, want, 1e-3 * want, `ls = ${l}`);
    });
    tf.dispose([mu, ls]);
  });

  it('equals kl() against an explicit N(0, I) DiagonalGaussian', () => {
    const [mu] = tensorAndValues([2, 3], (i) => i - 2.5);
    const [ls] = tensorAndValues([2, 3], (i) => 0.3 * i - 0.8);
    const zero = tf.zeros([2, 3]);
    const a = take(klStandardNormal(mu, ls));
    const b = take(new DiagonalGaussian(mu, ls).kl(new DiagonalGaussian(zero, zero)));
    a.forEach((v, i) => {
      expectClose(v, b[i] as number, 1e-5 * Math.abs(v), `row ${i}`);
    });
    tf.dispose([mu, ls, zero]);
  });
});

describe('StandardNormal', () => {
  it('logProb matches float64 and DiagonalGaussian(0, 0); samples have shape [n, ...event]', () => {
    const prior = new StandardNormal([2, 3]);
    const z = prior.sample(5, 1);
    expect(z.shape).toEqual([5, 2, 3]);
    const zV = Array.from(z.dataSync());
    const got = take(prior.logProb(z));
    const want = sumRows(5, 30, (j) => logNormal64(zV[j] as number, 0, 0));
    got.forEach((g, b) => {
      expectClose(g, want[b] as number, 1e-5, `row ${b}`);
    });
    const zero = tf.zeros([5, 2, 3]);
    const viaDiag = take(new DiagonalGaussian(zero, zero).logProb(z));
    viaDiag.forEach((g, b) => {
      expectClose(g, got[b] as number, 1e-5, `diag row ${b}`);
    });
    tf.dispose([z, zero]);
  });

  it('large |x| = 1e3 stays finite and exact', () => {
    const prior = new StandardNormal([2]);
    const got = take(prior.logProb(tf.tensor2d([[1e3, -1e3]])));
    expectClose(got[0] as number, -1e6 - LOG_2PI, 1, 'x = 1e3');
  });

  it('samples are N(0, 1) (z-tests) and entropy() = -E[log p(z)]', () => {
    const prior = new StandardNormal([4]);
    const z = prior.sample(20_000, 3);
    const zs = Array.from(z.dataSync());
    const m = meanAndSe(zs);
    expectClose(m.mean, 0, 4.5 * m.se, 'mean');
    const v = meanAndSe(zs.map((x) => x * x));
    expectClose(v.mean, 1, 4.5 * v.se, 'variance');
    const h = meanAndSe(take(prior.logProb(z)).map((x) => -x));
    expectClose(prior.entropy(), h.mean, 4 * h.se, 'entropy');
    z.dispose();
  });

  it('rejects bad shapes and counts', () => {
    expect(() => new StandardNormal([0])).toThrow(/positive integers/);
    expect(() => new StandardNormal([2]).sample(-1)).toThrow(/non-negative/);
  });
});

describe('construction', () => {
  it('fromSigma equals the log-sigma constructor and dispose() frees only its own tensor', () => {
    const mu = tf.tensor2d([[0.5, -1]]);
    const sigma = tf.tensor2d([[0.1, 3]]);
    const before = tf.memory().numTensors;
    const q = DiagonalGaussian.fromSigma(mu, sigma);
    expect(tf.memory().numTensors).toBe(before + 1);
    const x = tf.tensor2d([[0.4, 2]]);
    const got = take(q.logProb(x))[0] as number;
    const want = logNormal64(0.4, 0.5, Math.log(0.1)) + logNormal64(2, -1, Math.log(3));
    expectClose(got, want, 1e-5 * Math.abs(want), 'fromSigma logProb');
    expectClose(take(q.sigma())[1] as number, 3, 1e-6, 'sigma()');
    q.dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(mu.isDisposed).toBe(false);
    tf.dispose([mu, sigma]);
  });

  it('rejects a scalar mu and mismatched shapes', () => {
    const s = tf.scalar(0);
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([2, 4]);
    expect(() => new DiagonalGaussian(s, s)).toThrow(/batch axis/);
    expect(() => new DiagonalGaussian(a, b)).toThrow(/same shape/);
    tf.dispose([s, a, b]);
  });
});
