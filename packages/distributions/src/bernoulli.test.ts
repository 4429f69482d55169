import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Bernoulli, bernoulliNll, DEFAULT_BERNOULLI_CLAMP } from './bernoulli';
import {
  expectClose,
  expectGradsMatch,
  f32,
  gradsAndFiniteDiffs,
  meanAndSe,
  prng,
  sumRows,
  take,
  tensorAndValues,
  useCpu,
} from './test-helpers';

beforeAll(useCpu);

/** float64 log(1 + e^l), stable. */
function softplus64(l: number): number {
  return Math.max(l, 0) + Math.log1p(Math.exp(-Math.abs(l)));
}

/** float64 x log p + (1 - x) log(1 - p) with p = sigmoid(l), from the definition. */
function logProbLogits64(x: number, l: number): number {
  const logP = -softplus64(-l);
  const log1mP = -softplus64(l);
  return x * logP + (1 - x) * log1mP;
}

/** float64 clamped cross-entropy of the reference code. */
function logProbProbs64(x: number, p: number, c: number): number {
  return x * Math.log(Math.max(p, c)) + (1 - x) * Math.log(Math.max(1 - p, c));
}

describe('Bernoulli.logProb', () => {
  it('from logits matches float64 for logits from -100 to 100 (finite, no overflow)', () => {
    const logitsList = [-100, -30, -5, -0.3, 0, 0.3, 5, 30, 100, 17.5, -17.5, 2];
    const B = 3;
    const rand = prng(1);
    const [l, lV] = tensorAndValues([B, 4], (i) => logitsList[i] as number);
    const [x, xV] = tensorAndValues([B, 4], (i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 1 : rand()));
    const got = take(Bernoulli.fromLogits(l).logProb(x));
    const want = sumRows(B, 12, (j) => logProbLogits64(xV[j] as number, lV[j] as number));
    const mag = sumRows(B, 12, (j) => Math.abs(logProbLogits64(xV[j] as number, lV[j] as number)) + 1e-6);
    got.forEach((g, b) => {
      expectClose(g, want[b] as number, 1e-5 * (mag[b] as number), `row ${b}`);
    });
    tf.dispose([l, x]);
  });

  it('from probabilities matches the clamped float64 formula, including p = 0 and p = 1', () => {
    const probs = [0, 1, 1e-12, 1 - 1e-9, 0.5, 0.01, 0.99, 0.3];
    for (const clamp of [DEFAULT_BERNOULLI_CLAMP, 1e-3]) {
      const [p, pV] = tensorAndValues([2, 4], (i) => probs[i] as number);
      const [x, xV] = tensorAndValues([2, 4], (i) => [1, 0, 1, 0, 1, 0.2, 0, 0.7][i] as number);
      const dist =
        clamp === DEFAULT_BERNOULLI_CLAMP ? Bernoulli.fromProbs(p) : Bernoulli.fromProbs(p, { clamp });
      const got = take(dist.logProb(x));
      const want = sumRows(2, 8, (j) => logProbProbs64(xV[j] as number, pV[j] as number, clamp));
      got.forEach((g, b) => {
        expectClose(g, want[b] as number, 1e-5 * Math.abs(want[b] as number), `clamp ${clamp}`);
      });
      tf.dispose([p, x]);
    }
    // the clamp shows: log(1e-8) * 1 for p = 0, x = 1
    const p0 = tf.tensor2d([[0]]);
    expectClose(
      take(Bernoulli.fromProbs(p0).logProb(tf.tensor2d([[1]])))[0] as number,
      Math.log(1e-8),
      1e-4,
      'p=0',
    );
    p0.dispose();
  });

  it('logits and probabilities agree (p = sigmoid(l)) for moderate logits', () => {
    const [l, lV] = tensorAndValues([2, 3], (i) => i - 2.5);
    const p = tf.tensor(
      f32(6, (i) => 1 / (1 + Math.exp(-(lV[i] as number)))),
      [2, 3],
    );
    const x = tf.tensor2d([
      [0, 1, 0.5],
      [1, 0.25, 0],
    ]);
    const a = take(Bernoulli.fromLogits(l).logProb(x));
    const b = take(Bernoulli.fromProbs(p).logProb(x));
    a.forEach((v, i) => {
      expectClose(v, b[i] as number, 1e-5 * Math.abs(v), `row ${i}`);
    });
    const pl = take(Bernoulli.fromProbs(p).logits());
    pl.forEach((v, i) => {
      expectClose(v, lV[i] as number, 1e-4, `logits() ${i}`);
    });
    tf.dispose([l, p, x]);
  });
});

describe('Bernoulli entropy, mean and sampling', () => {
  it('entropy matches float64 from logits and from probabilities, and is >= 0', () => {
    const [l, lV] = tensorAndValues([1, 6], (i) => [-40, -3, -0.1, 0, 2, 40][i] as number);
    const h = take(Bernoulli.fromLogits(l).entropy())[0] as number;
    let want = 0;
    for (const li of lV) {
      const p = 1 / (1 + Math.exp(-li));
      want += softplus64(li) - p * li;
    }
    expectClose(h, want, 1e-5 * want + 1e-7, 'entropy (logits)');
    const p = tf.tensor2d([[0, 0.5, 0.1, 1]]);
    const hp = take(Bernoulli.fromProbs(p).entropy())[0] as number;
    const wantP = Math.log(2) - (0.1 * Math.log(0.1) + 0.9 * Math.log(0.9));
    expectClose(hp, wantP, 1e-6, 'entropy (probs)');
    expect(hp).toBeGreaterThanOrEqual(0);
    tf.dispose([l, p]);
  });

  it('entropy = -E[log p(x)] and mean() = E[x] against Monte Carlo (4.5 standard errors)', () => {
    const S = 20_000;
    const logits = [-1.5, 0.2, 2.5];
    const l = tf.tidy(() => tf.tile(tf.tensor2d([logits]), [S, 1]));
    const dist = Bernoulli.fromLogits(l);
    const x = dist.sample(4);
    expect(x.shape).toEqual([S, 3]);
    const xs = Array.from(x.dataSync());
    expect(xs.every((v) => v === 0 || v === 1)).toBe(true);
    const mean = take(dist.mean());
    logits.forEach((li, j) => {
      const col = xs.filter((_, i) => i % 3 === j);
      const m = meanAndSe(col);
      expectClose(mean[j] as number, 1 / (1 + Math.exp(-li)), 1e-6, `mean() ${j}`);
      expectClose(m.mean, mean[j] as number, 4.5 * m.se, `sample mean ${j}`);
    });
    const h = meanAndSe(take(dist.logProb(x)).map((v) => -v));
    expectClose(take(dist.entropy())[0] as number, h.mean, 4.5 * h.se, 'entropy vs MC');
    tf.dispose([l, x]);
  });
});

describe('Bernoulli gradients', () => {
  it('d logProb / d logits = x - sigmoid(l), and matches finite differences', () => {
    const rand = prng(3);
    const lV = f32(6, () => -4 + 8 * rand());
    const xV = f32(6, () => rand());
    const x = tf.tensor(xV, [2, 3]);
    const r = gradsAndFiniteDiffs((l) => tf.sum(Bernoulli.fromLogits(l).logProb(x)), [lV], [[2, 3]], 1e-2);
    expectGradsMatch(r, 3e-3, 3e-3, 'logits');
    r.analytic[0]?.forEach((g, j) => {
      const want = (xV[j] as number) - 1 / (1 + Math.exp(-(lV[j] as number)));
      expectClose(g, want, 1e-6, `closed form ${j}`);
    });
    x.dispose();
  });

  it('d logProb / d p = x / p - (1 - x) / (1 - p) inside the clamp, and matches finite differences', () => {
    const rand = prng(4);
    const pV = f32(6, () => 0.1 + 0.8 * rand());
    const xV = f32(6, () => rand());
    const x = tf.tensor(xV, [2, 3]);
    const r = gradsAndFiniteDiffs((p) => tf.sum(Bernoulli.fromProbs(p).logProb(x)), [pV], [[2, 3]], 1e-3);
    expectGradsMatch(r, 3e-3, 3e-3, 'probs');
    r.analytic[0]?.forEach((g, j) => {
      const p = pV[j] as number;
      const xx = xV[j] as number;
      expectClose(g, xx / p - (1 - xx) / (1 - p), 1e-5 * (1 / p + 1 / (1 - p)), `closed form ${j}`);
    });
    x.dispose();
  });
});

describe('bernoulliNll', () => {
  it('is -logProb for both parameterisations, shape [B]', () => {
    const x = tf.tensor3d([[[0, 1]], [[1, 0.5]]]);
    const l = tf.tensor3d([[[-2, 3]], [[0.5, -0.5]]]);
    const p = tf.sigmoid(l);
    const a = take(bernoulliNll(x, l, { from: 'logits' }));
    const b = take(bernoulliNll(x, p, { from: 'probs' }));
    const c = take(bernoulliNll(x, p, { from: 'probs', clamp: 0.4 }));
    expect(a).toHaveLength(2);
    const want = [
      -(logProbLogits64(0, -2) + logProbLogits64(1, 3)),
      -(logProbLogits64(1, 0.5) + logProbLogits64(0.5, -0.5)),
    ];
    a.forEach((v, i) => {
      expectClose(v, want[i] as number, 1e-5, `logits ${i}`);
    });
    b.forEach((v, i) => {
      expectClose(v, want[i] as number, 1e-5, `probs ${i}`);
    });
    // with clamp 0.4, only p = sigmoid(-0.5) = 0.378 (row 1, x = 0.5) is clamped: row 0 unchanged, row 1 changed
    expectClose(c[0] as number, b[0] as number, 1e-6, 'clamp 0.4 leaves row 0');
    expect(Math.abs((c[1] as number) - (b[1] as number))).toBeGreaterThan(1e-2);
    const pv = Array.from(p.dataSync());
    const wantC = [
      -(logProbProbs64(0, pv[0] as number, 0.4) + logProbProbs64(1, pv[1] as number, 0.4)),
      -(logProbProbs64(1, pv[2] as number, 0.4) + logProbProbs64(0.5, pv[3] as number, 0.4)),
    ];
    c.forEach((v, i) => {
      expectClose(v, wantC[i] as number, 1e-5, `clamped ${i}`);
    });
    tf.dispose([x, l, p]);
  });

  it('rejects bad options', () => {
    const t = tf.zeros([1, 2]);
    expect(() => bernoulliNll(t, t, { from: 'logit' as 'logits' })).toThrow(/'from'/);
    expect(() => Bernoulli.fromProbs(t, { clamp: 0 })).toThrow(/clamp/);
    expect(() => Bernoulli.fromLogits(tf.scalar(1))).toThrow(/batch axis/);
    t.dispose();
  });
});
