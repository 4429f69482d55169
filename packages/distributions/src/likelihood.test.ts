import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DiagonalGaussian } from './gaussian';
import {
  type GammaConvention,
  GaussianDecoderLikelihood,
  gammaLogStd,
  gaussianNll,
  optimalLogGamma,
} from './likelihood';
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

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** float64 NLL of one element, written directly from the recipe's formulas. */
function nll64(x: number, xHat: number, logGamma: number, convention: GammaConvention): number {
  const gamma = Math.exp(logGamma);
  return convention === 'std'
    ? ((x - xHat) / gamma) ** 2 / 2 + Math.log(gamma) + HALF_LOG_2PI
    : (x - xHat) ** 2 / (2 * gamma) + 0.5 * Math.log(gamma) + HALF_LOG_2PI;
}

const B = 3;
const shape = [B, 2, 2, 3]; // images: [B, h, w, c]
const n = 36;

describe('gaussianNll', () => {
  const cases: Array<{ gamma: number; scale: number }> = [
    { gamma: 1e-4, scale: 1 },
    { gamma: 1, scale: 1 },
    { gamma: 1e3, scale: 1 },
    { gamma: 1e-4, scale: 1e3 },
    { gamma: 1e3, scale: 1e3 },
  ];
  for (const convention of ['std', 'variance'] as const) {
    for (const { gamma, scale } of cases) {
      it(`matches float64 (${convention}, gamma = ${gamma}, |x| ~ ${scale}) and is finite`, () => {
        const rand = prng(Math.round(gamma * 1e4) + scale);
        const std = convention === 'std' ? gamma : Math.sqrt(gamma);
        const [x, xV] = tensorAndValues(shape, () => scale * rand());
        const [xHat, xHatV] = tensorAndValues(shape, (i) => (xV[i] as number) + 3 * std * gauss(rand));
        const lgV = Math.fround(Math.log(gamma));
        const lg = tf.scalar(lgV);
        const got = take(gaussianNll(x, xHat, lg, convention));
        const want = sumRows(B, n, (j) => nll64(xV[j] as number, xHatV[j] as number, lgV, convention));
        const mag = sumRows(B, n, (j) =>
          Math.abs(nll64(xV[j] as number, xHatV[j] as number, lgV, convention)),
        );
        expect(got).toHaveLength(B);
        got.forEach((g, b) => {
          expectClose(g, want[b] as number, 1e-5 * (mag[b] as number), `row ${b}`);
        });
        tf.dispose([x, xHat, lg]);
      });
    }
  }

  it("'variance' with log gamma = 2 L equals 'std' with log gamma = L", () => {
    const rand = prng(5);
    const [x] = tensorAndValues(shape, () => rand());
    const [xHat] = tensorAndValues(shape, () => rand());
    for (const L of [Math.log(1e-4), -1, 0, 2, Math.log(1e3)]) {
      const a = take(tf.tidy(() => gaussianNll(x, xHat, tf.scalar(L), 'std')));
      const b = take(tf.tidy(() => gaussianNll(x, xHat, tf.scalar(2 * L), 'variance')));
      a.forEach((v, i) => {
        expectClose(v, b[i] as number, 1e-5 * Math.abs(v) + 1e-4, `L = ${L}`);
      });
    }
    tf.dispose([x, xHat]);
  });

  it('equals -DiagonalGaussian(xHat, log std).logProb(x)', () => {
    const rand = prng(6);
    const [x] = tensorAndValues(shape, () => rand());
    const [xHat] = tensorAndValues(shape, () => rand());
    const lg = tf.scalar(-1.7);
    for (const convention of ['std', 'variance'] as const) {
      const nll = take(gaussianNll(x, xHat, lg, convention));
      const logStd = tf.tidy(() => tf.mul(tf.onesLike(xHat), gammaLogStd(lg, convention)));
      const lp = take(new DiagonalGaussian(xHat, logStd).logProb(x));
      nll.forEach((v, i) => {
        expectClose(v, -(lp[i] as number), 1e-5 * Math.abs(v), convention);
      });
      logStd.dispose();
    }
    tf.dispose([x, xHat, lg]);
  });

  it('d/d logGamma matches the closed form (std: sum(1 - d^2); variance: sum(1 - d^2) / 2) and finite differences', () => {
    const rand = prng(7);
    const xV = f32(n, () => rand());
    const xHatV = f32(n, () => rand());
    for (const convention of ['std', 'variance'] as const) {
      for (const L of [-2, 0.5]) {
        const x = tf.tensor(xV, shape);
        const r = gradsAndFiniteDiffs(
          (xh, lg) => tf.sum(gaussianNll(x, xh, lg, convention)),
          [xHatV, f32(1, () => L)],
          [shape, []],
          1e-3,
        );
        expectGradsMatch(r, 3e-3, 3e-3, `${convention} L=${L}`);
        const lgStd = convention === 'std' ? Math.fround(L) : Math.fround(L) / 2;
        let closed = 0;
        for (let j = 0; j < n; j++) {
          const d = ((xV[j] as number) - (xHatV[j] as number)) / Math.exp(lgStd);
          closed += 1 - d * d;
        }
        if (convention === 'variance') closed /= 2;
        expectClose(
          r.analytic[1]?.[0] as number,
          closed,
          1e-5 * Math.abs(closed) + 1e-4,
          `closed form ${convention}`,
        );
        x.dispose();
      }
    }
  });

  it('is minimised over log gamma at gamma^2 = mean squared error (std) / gamma = mse (variance)', () => {
    const rand = prng(8);
    const [x, xV] = tensorAndValues(shape, () => rand());
    const [xHat, xHatV] = tensorAndValues(shape, () => rand());
    let mse = 0;
    for (let j = 0; j < n; j++) mse += ((xV[j] as number) - (xHatV[j] as number)) ** 2 / n;
    for (const convention of ['std', 'variance'] as const) {
      const best = convention === 'std' ? 0.5 * Math.log(mse) : Math.log(mse);
      const f = (lg: number): number =>
        take(tf.tidy(() => tf.sum(gaussianNll(x, xHat, tf.scalar(lg), convention))))[0] as number;
      const g = tf.tidy(() =>
        tf.grad((lg: Tensor) => tf.sum(gaussianNll(x, xHat, lg, convention)))(tf.scalar(best)),
      );
      expectClose(take(g)[0] as number, 0, 1e-4 * n, `gradient at the optimum (${convention})`);
      expect(f(best)).toBeLessThan(f(best - 0.05));
      expect(f(best)).toBeLessThan(f(best + 0.05));
    }
    tf.dispose([x, xHat]);
  });

  it('rejects an unknown convention and a scalar x', () => {
    const x = tf.zeros([2, 3]);
    const s = tf.scalar(0);
    expect(() => gaussianNll(x, x, s, 'sd' as GammaConvention)).toThrow(/unknown gamma convention/);
    expect(() => gaussianNll(s, s, s)).toThrow(/batch axis/);
    tf.dispose([x, s]);
  });
});

describe('GaussianDecoderLikelihood', () => {
  it('logProb = -nll = -gaussianNll, and gamma()/stddev() follow the convention', () => {
    const rand = prng(9);
    const [x] = tensorAndValues([2, 5], () => rand());
    const [xHat] = tensorAndValues([2, 5], () => rand());
    const lg = tf.variable(tf.scalar(Math.log(0.25)));
    for (const convention of ['std', 'variance'] as const) {
      const lik = new GaussianDecoderLikelihood(xHat, lg, convention);
      const nll = take(lik.nll(x));
      const lp = take(lik.logProb(x));
      const direct = take(gaussianNll(x, xHat, lg, convention));
      nll.forEach((v, i) => {
        expect(v).toBe(direct[i]);
        expect(lp[i]).toBe(-v);
      });
      expectClose(take(lik.gamma())[0] as number, 0.25, 1e-7, 'gamma');
      expectClose(
        take(lik.stddev())[0] as number,
        convention === 'std' ? 0.25 : 0.5,
        1e-7,
        `stddev ${convention}`,
      );
    }
    expect(new GaussianDecoderLikelihood(xHat, lg).convention).toBe('std');
    tf.dispose([x, xHat, lg]);
  });

  it('gradients reach a tf.Variable log gamma (variableGrads)', () => {
    const x = tf.tensor2d([[0.1, 0.9, 0.4]]);
    const xHat = tf.tensor2d([[0.2, 0.7, 0.4]]);
    const lg = tf.variable(tf.scalar(0));
    const { grads, value } = tf.variableGrads(
      () => tf.sum(new GaussianDecoderLikelihood(xHat, lg).nll(x)),
      [lg],
    );
    // d/dL sum(d^2/2 e^{-2L} + L) at L = 0: sum(1 - d^2) = 3 - (0.01 + 0.04 + 0)
    expectClose(take(grads[lg.name] as Tensor)[0] as number, 3 - 0.05, 1e-6, 'dNLL/dlogGamma');
    value.dispose();
    tf.dispose([x, xHat, lg]);
  });

  it('sample() = xHat + stddev * eps (mean and variance z-tests, both conventions)', () => {
    const S = 20_000;
    const xHat = tf.fill([S, 1], 3);
    for (const convention of ['std', 'variance'] as const) {
      const lg = tf.scalar(Math.log(0.36));
      const lik = new GaussianDecoderLikelihood(xHat, lg, convention);
      const z = take(lik.sample(17));
      const sd = convention === 'std' ? 0.36 : 0.6;
      const m = meanAndSe(z);
      expectClose(m.mean, 3, 4.5 * m.se, `mean ${convention}`);
      const v = meanAndSe(z.map((t) => (t - 3) ** 2));
      expectClose(v.mean, sd * sd, 4.5 * v.se, `variance ${convention}`);
      lg.dispose();
    }
    xHat.dispose();
  });
});

describe('optimalLogGamma', () => {
  const rand = prng(31);
  const shape = [4, 3, 3, 1];
  const n = 36;
  const xv = Array.from({ length: n }, () => rand());
  const hv = xv.map((v) => v + 0.2 * (rand() - 0.5));
  const mse = xv.reduce((s, v, i) => s + (v - (hv[i] as number)) ** 2, 0) / n;

  for (const convention of ['std', 'variance'] as const) {
    it(`${convention}: is the closed form (gamma^2 = mse) and no gamma on a grid gives a lower NLL`, () => {
      const x = tf.tensor(xv, shape);
      const xHat = tf.tensor(hv, shape);
      const lg = optimalLogGamma(x, xHat, convention, 1e-6);
      const want = convention === 'std' ? 0.5 * Math.log(mse) : Math.log(mse);
      expect(lg.dataSync()[0]).toBeCloseTo(want, 5);
      const best = tf.tidy(() => tf.sum(gaussianNll(x, xHat, lg, convention)).dataSync()[0] as number);
      for (let d = -2; d <= 2; d += 0.05) {
        const other = tf.tidy(
          () => tf.sum(gaussianNll(x, xHat, tf.scalar(want + d), convention)).dataSync()[0] as number,
        );
        expect(other).toBeGreaterThanOrEqual(best - 1e-4 * Math.abs(best));
      }
      tf.dispose([x, xHat, lg]);
    });
  }

  it('is floored (in the convention of gamma) when the reconstruction is exact', () => {
    tf.tidy(() => {
      const x = tf.tensor(xv, shape);
      expect(optimalLogGamma(x, x, 'std', 1e-3).dataSync()[0]).toBeCloseTo(Math.log(1e-3), 5);
      expect(optimalLogGamma(x, x, 'variance', 1e-3).dataSync()[0]).toBeCloseTo(Math.log(1e-3), 5);
      expect(() => optimalLogGamma(x, x, 'std', 0)).toThrow(RangeError);
    });
  });
});
