import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { create, createRng, InvalidConfigError, type SecondStageFitProgress } from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitMixture, type MixtureParams, mixtureDensity, mixtureLogLikelihood } from './em';
import { GaussianMixture, type GmmConfig } from './gmm';
import './index';
import { cholesky } from './linalg';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const config = (over: Partial<GmmConfig> = {}): GmmConfig => ({
  latentDim: 2,
  components: 3,
  covariance: 'full',
  regularization: 1e-6,
  tolerance: 1e-6,
  maxIterations: 200,
  ...over,
});

/** A known 2-d mixture: weights, means, covariances. */
const TRUTH = {
  weights: [0.5, 0.3, 0.2],
  means: [
    [0, 0],
    [6, 1],
    [-2, 7],
  ],
  covs: [
    [
      [1, 0.6],
      [0.6, 1],
    ],
    [
      [0.5, 0],
      [0, 2],
    ],
    [
      [1.5, -0.7],
      [-0.7, 1],
    ],
  ],
};

/** `n` points from {@link TRUTH} (exact counts per component), seeded. */
function drawTruth(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n * 2);
  let i = 0;
  TRUTH.weights.forEach((w, c) => {
    const l = cholesky(Float64Array.from(TRUTH.covs[c]?.flat() ?? []), 2) as Float64Array;
    const m = TRUTH.means[c] as number[];
    const count = c === TRUTH.weights.length - 1 ? n - i : Math.round(w * n);
    for (let r = 0; r < count; r++, i++) {
      const e0 = rng.normal();
      const e1 = rng.normal();
      out[i * 2] = (m[0] as number) + (l[0] as number) * e0;
      out[i * 2 + 1] = (m[1] as number) + (l[2] as number) * e0 + (l[3] as number) * e1;
    }
  });
  return out;
}

/** Covariance of component c from a full mixture's Cholesky factor. */
function covOf(p: MixtureParams, c: number): number[][] {
  const d = p.dim;
  const l = p.scales.subarray(c * d * d, (c + 1) * d * d);
  return Array.from({ length: d }, (_, a) =>
    Array.from({ length: d }, (_, b) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += (l[a * d + j] as number) * (l[b * d + j] as number);
      return s;
    }),
  );
}

const codesOf = (mu: Float32Array, d: number, sigma?: Float32Array) => ({
  size: mu.length / d,
  latentDim: d,
  mu,
  sigma: sigma ?? new Float32Array(mu.length),
});

describe('EM (fitMixture)', () => {
  it('recovers a known mixture: weights within 0.02, means within 0.1, covariances within 0.15', async () => {
    const x = drawTruth(6000, 11);
    const r = await fitMixture({ size: 6000, dim: 2, mu: x }, config(), { seed: 5 });
    expect(r.converged).toBe(true);
    const p = r.params;
    for (let t = 0; t < 3; t++) {
      const m = TRUTH.means[t] as number[];
      // the fitted component nearest to true component t
      let c = 0;
      let best = Number.POSITIVE_INFINITY;
      for (let k = 0; k < 3; k++) {
        const dd =
          ((p.means[k * 2] as number) - (m[0] as number)) ** 2 +
          ((p.means[k * 2 + 1] as number) - (m[1] as number)) ** 2;
        if (dd < best) {
          best = dd;
          c = k;
        }
      }
      expect(Math.sqrt(best)).toBeLessThan(0.1);
      expect(Math.exp(p.logWeights[c] as number)).toBeCloseTo(TRUTH.weights[t] as number, 1);
      expect(Math.abs(Math.exp(p.logWeights[c] as number) - (TRUTH.weights[t] as number))).toBeLessThan(0.02);
      const cov = covOf(p, c);
      for (let a = 0; a < 2; a++)
        for (let b = 0; b < 2; b++)
          expect(Math.abs((cov[a]?.[b] as number) - (TRUTH.covs[t]?.[a]?.[b] as number))).toBeLessThan(0.15);
    }
  });

  it('never decreases the log-likelihood from one iteration to the next, and reports the final one', async () => {
    const x = drawTruth(1500, 3);
    for (const covariance of ['full', 'diag'] as const) {
      const seen: number[] = [];
      const r = await fitMixture({ size: 1500, dim: 2, mu: x }, config({ covariance, components: 5 }), {
        seed: 9,
        onIteration: (it) => {
          seen.push(it.logLikelihood);
        },
      });
      expect(seen.length).toBeGreaterThan(3);
      for (let i = 1; i < seen.length; i++)
        expect(seen[i] as number).toBeGreaterThanOrEqual((seen[i - 1] as number) - 1e-9);
      expect(seen).toEqual(r.logLikelihoods);
      // the reported value is the returned parameters' log-likelihood
      const ll = mixtureLogLikelihood(mixtureDensity(r.params), x);
      expect(ll.reduce((s, v) => s + v, 0) / 1500).toBeCloseTo(seen.at(-1) as number, 9);
    }
  });

  it('fits the posteriors, not their means: one component gives mean(mu) and cov(mu) + mean(sigma^2) + floor exactly', async () => {
    const rng = createRng(4);
    const n = 200;
    const d = 3;
    const mu = Float64Array.from({ length: n * d }, () => rng.normal() * 2 + 1);
    const sigma = Float64Array.from({ length: n * d }, () => 0.1 + rng.next());
    const reg = 1e-3;
    const r = await fitMixture(
      { size: n, dim: d, mu, sigma },
      { components: 1, covariance: 'full', regularization: reg, tolerance: 1e-9, maxIterations: 3 },
      { seed: 1 },
    );
    const mean = Array.from({ length: d }, (_, j) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += mu[i * d + j] as number;
      return s / n;
    });
    const cov = covOf(r.params, 0);
    for (let a = 0; a < d; a++) {
      expect(r.params.means[a]).toBeCloseTo(mean[a] as number, 12);
      for (let b = 0; b < d; b++) {
        let s = 0;
        for (let i = 0; i < n; i++)
          s +=
            ((mu[i * d + a] as number) - (mean[a] as number)) *
            ((mu[i * d + b] as number) - (mean[b] as number));
        let want = s / n;
        if (a === b) {
          let v = 0;
          for (let i = 0; i < n; i++) v += (sigma[i * d + a] as number) ** 2;
          want += v / n + reg;
        }
        expect(cov[a]?.[b]).toBeCloseTo(want, 10);
      }
    }
  });

  it('k-means++ initialisation is seeded: the same seed (0 included) reproduces, another differs', async () => {
    const x = drawTruth(600, 2);
    const fit = (seed: number) =>
      fitMixture({ size: 600, dim: 2, mu: x }, config({ components: 6, maxIterations: 1 }), { seed });
    const a = await fit(0);
    const b = await fit(0);
    const c = await fit(1);
    expect(Array.from(a.params.means)).toEqual(Array.from(b.params.means));
    expect(Array.from(a.params.scales)).toEqual(Array.from(b.params.scales));
    expect(Array.from(a.params.means)).not.toEqual(Array.from(c.params.means));
  });

  it('the covariance floor keeps every factor positive definite on degenerate data', async () => {
    // 300 points on a line in 3-d, half of them the very same point
    const n = 300;
    const x = new Float64Array(n * 3);
    for (let i = 0; i < n; i++) {
      const t = i < n / 2 ? 0.5 : i / n;
      x.set([t, 2 * t, -t], i * 3);
    }
    for (const covariance of ['full', 'diag'] as const) {
      const r = await fitMixture(
        { size: n, dim: 3, mu: x },
        { components: 4, covariance, regularization: 1e-4, tolerance: 1e-6, maxIterations: 50 },
        { seed: 3 },
      );
      const p = r.params;
      for (let c = 0; c < 4; c++) {
        for (let j = 0; j < 3; j++) {
          const v =
            covariance === 'full' ? (p.scales[c * 9 + j * 4] as number) : (p.scales[c * 3 + j] as number);
          expect(v).toBeGreaterThanOrEqual(Math.sqrt(1e-4) * 0.999);
        }
      }
      expect(r.logLikelihoods.every(Number.isFinite)).toBe(true);
    }
  });

  it('rejects more components than points, and stops when aborted', async () => {
    const x = drawTruth(10, 1);
    await expect(
      fitMixture({ size: 10, dim: 2, mu: x }, config({ components: 11 }), { seed: 1 }),
    ).rejects.toThrow(/11 components need at least 11 points/);
    const controller = new AbortController();
    const reason = new Error('stop');
    await expect(
      fitMixture({ size: 10, dim: 2, mu: x }, config({ components: 2 }), {
        seed: 1,
        signal: controller.signal,
        onIteration: (it) => {
          if (it.iteration === 1) controller.abort(reason);
        },
      }),
    ).rejects.toBe(reason);
  });
});

describe('the gmm second stage', () => {
  async function fitted(over: Partial<GmmConfig> = {}): Promise<GaussianMixture> {
    const g = new GaussianMixture(config(over));
    await g.fit(codesOf(drawTruth(1200, 8), 2), { seed: 17 });
    return g;
  }

  it('is a registered, strictly configured second-stage plugin', async () => {
    const g = await create('second-stage', 'gmm', { latentDim: 4, components: 2 });
    expect(g.latentDim).toBe(4);
    expect(g.trainableVariables()).toEqual([]);
    g.dispose();
    await expect(create('second-stage', 'gmm', { latentDim: 4, k: 3 })).rejects.toThrow(InvalidConfigError);
  });

  it('fit reports each iteration through onProgress (loss = -logLikelihood)', async () => {
    const g = new GaussianMixture(config());
    const seen: SecondStageFitProgress[] = [];
    await g.fit(codesOf(drawTruth(600, 8), 2), { seed: 2, onProgress: (p) => void seen.push(p) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.map((p) => p.iteration)).toEqual(seen.map((_, i) => i + 1));
    for (const p of seen) {
      expect(p.maxIterations).toBe(200);
      expect(p.loss).toBe(-(p.logs['logLikelihood'] as number));
    }
    g.dispose();
  });

  it('loss(z) is the mean negative log-likelihood: tfjs float32 against float64 and the closed form for k = 1', async () => {
    const g = await fitted();
    const z = drawTruth(300, 99);
    const ll = g.logLikelihood(z);
    const mean = ll.reduce((s, v) => s + v, 0) / 300;
    const zt = tf.tensor2d(z, [300, 2]);
    const t = g.loss(zt, { training: false });
    expect(t.loss.dataSync()[0]).toBeCloseTo(-mean, 3);
    expect(t.reconstruction.dataSync()[0]).toBe(t.loss.dataSync()[0]);
    expect(t.kl.dataSync()[0]).toBe(0);
    tf.dispose([zt, t.loss, t.reconstruction, t.kl]);
    g.dispose();

    // one component with a known covariance: log N(z; m, S) by hand
    const one = new GaussianMixture(config({ components: 1 }));
    const s = [
      [2, 0.5],
      [0.5, 1],
    ];
    const l = cholesky(Float64Array.from(s.flat()), 2) as Float64Array;
    one.setParams({
      components: 1,
      dim: 2,
      covariance: 'full',
      logWeights: Float64Array.of(0),
      means: Float64Array.of(1, -1),
      scales: l,
    });
    const det = 2 * 1 - 0.25;
    const inv = [
      [1 / det, -0.5 / det],
      [-0.5 / det, 2 / det],
    ];
    const pt = [0.3, 0.7];
    const dx = [(pt[0] as number) - 1, (pt[1] as number) + 1];
    let q = 0;
    for (let a = 0; a < 2; a++)
      for (let b = 0; b < 2; b++) q += (dx[a] as number) * (inv[a]?.[b] as number) * (dx[b] as number);
    const want = -0.5 * q - 0.5 * Math.log(det) - Math.log(2 * Math.PI);
    expect(one.logLikelihood(Float64Array.from(pt))[0]).toBeCloseTo(want, 6);
    one.dispose();
  });

  it('its density integrates to 1 (full and diag)', async () => {
    for (const covariance of ['full', 'diag'] as const) {
      const g = await fitted({ covariance });
      const h = 0.05;
      const pts: number[] = [];
      for (let a = -8; a < 12; a += h) for (let b = -6; b < 13; b += h) pts.push(a, b);
      const ll = g.logLikelihood(Float64Array.from(pts));
      const mass = ll.reduce((s, v) => s + Math.exp(v), 0) * h * h;
      expect(mass).toBeCloseTo(1, 2);
      g.dispose();
    }
  });

  it('samples exactly: seeded (0 included), and with the mixture mean and covariance', async () => {
    const g = await fitted();
    const a = g.sample(20000, { seed: 0 });
    const b = g.sample(20000, { seed: 0 });
    const c = g.sample(5, { seed: 1 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(c.dataSync())).not.toEqual(Array.from(a.dataSync().slice(0, 10)));
    const p = g.params();
    const w = Array.from(p.logWeights, Math.exp);
    const m = [0, 1].map((j) => w.reduce((s, wc, k) => s + wc * (p.means[k * 2 + j] as number), 0));
    const cov = [0, 1].map((i) =>
      [0, 1].map(
        (j) =>
          w.reduce(
            (s, wc, k) =>
              s +
              wc *
                ((covOf(p, k)[i]?.[j] as number) +
                  (p.means[k * 2 + i] as number) * (p.means[k * 2 + j] as number)),
            0,
          ) -
          (m[i] as number) * (m[j] as number),
      ),
    );
    const x = a.dataSync();
    const sm = [0, 1].map((j) => {
      let s = 0;
      for (let i = 0; i < 20000; i++) s += x[i * 2 + j] as number;
      return s / 20000;
    });
    for (let j = 0; j < 2; j++) expect(Math.abs((sm[j] as number) - (m[j] as number))).toBeLessThan(0.1);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let r = 0; r < 20000; r++)
          s +=
            ((x[r * 2 + i] as number) - (sm[i] as number)) * ((x[r * 2 + j] as number) - (sm[j] as number));
        expect(Math.abs(s / 19999 - (cov[i]?.[j] as number))).toBeLessThan(
          0.05 * Math.max(1, Math.abs(cov[i]?.[j] as number)),
        );
      }
    tf.dispose([a, b, c]);
    g.dispose();
  });

  it('round-trips through getWeights / setWeights: the same densities and samples, bit for bit', async () => {
    for (const covariance of ['full', 'diag'] as const) {
      const g = await fitted({ covariance });
      const copy = new GaussianMixture(config({ covariance }));
      copy.setWeights(g.getWeights().map((w) => ({ name: w.name, tensor: w.tensor.clone() })));
      const z = drawTruth(50, 5);
      expect(Array.from(copy.logLikelihood(z))).toEqual(Array.from(g.logLikelihood(z)));
      const s1 = g.sample(64, { seed: 3 });
      const s2 = copy.sample(64, { seed: 3 });
      expect(Array.from(s2.dataSync())).toEqual(Array.from(s1.dataSync()));
      expect(() => copy.setWeights(g.getWeights().slice(1))).toThrow(/missing weight "means"/);
      tf.dispose([s1, s2]);
      g.dispose();
      copy.dispose();
    }
  });

  it('leaks no tensors in loss, sample, fit and setWeights', async () => {
    const g = await fitted();
    const z = tf.tensor2d(drawTruth(20, 1), [20, 2]);
    const before = tf.memory().numTensors;
    const t = g.loss(z, { training: true });
    tf.dispose([t.loss, t.reconstruction, t.kl]);
    g.sample(10, { seed: 1 }).dispose();
    await g.fit(codesOf(drawTruth(100, 2), 2), { seed: 3 });
    g.setWeights(g.getWeights());
    expect(tf.memory().numTensors).toBe(before);
    z.dispose();
    g.dispose();
  });
});
