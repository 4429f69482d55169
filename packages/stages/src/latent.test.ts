import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tsvae/layers';
import {
  create,
  createRng,
  type DataSplit,
  deriveSeed,
  type LossTerms,
  type NamedWeight,
  type SecondStage,
} from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModels, resolveComponents } from './components';
import { parseRunConfig } from './config';
import { heldOutCodes, latentDiagnostics } from './latent';
import { identityStage1, registerTinyPlugins, smallRunConfig } from './testing';
import { encodeDataset, stage1Diagnostics } from './train';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
});

const LOG_2PI = Math.log(2 * Math.PI);

/** Lower Cholesky factor of a symmetric positive definite `d x d` matrix (float64). */
function cholesky(a: readonly number[], d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j] as number;
      for (let k = 0; k < j; k++) s -= (l[i * d + k] as number) * (l[j * d + k] as number);
      l[i * d + j] = i === j ? Math.sqrt(s) : s / (l[j * d + j] as number);
    }
  }
  return l;
}

/**
 * `n` rows of dimension `d` whose sample mean is exactly `mean` and whose sample covariance
 * (ddof 1) is exactly `cov` (up to float32 rounding): seeded normals, whitened, then coloured.
 */
function exactGaussianRows(
  n: number,
  mean: readonly number[],
  cov: readonly number[],
  seed: number,
): Float32Array {
  const d = mean.length;
  const rng = createRng(seed);
  const x = Float64Array.from({ length: n * d }, () => rng.normal());
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) mu[j] = (mu[j] as number) + (x[i * d + j] as number) / n;
  const c = new Array<number>(d * d).fill(0);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++)
        c[a * d + b] =
          (c[a * d + b] as number) +
          (((x[i * d + a] as number) - (mu[a] as number)) * ((x[i * d + b] as number) - (mu[b] as number))) /
            (n - 1);
  const lc = cholesky(c, d);
  const lt = cholesky(cov, d);
  const out = new Float32Array(n * d);
  const w = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    // w = lc^{-1} (x - mu), then out = lt w + mean
    for (let a = 0; a < d; a++) {
      let s = (x[i * d + a] as number) - (mu[a] as number);
      for (let k = 0; k < a; k++) s -= (lc[a * d + k] as number) * (w[k] as number);
      w[a] = s / (lc[a * d + a] as number);
    }
    for (let a = 0; a < d; a++) {
      let s = mean[a] as number;
      for (let k = 0; k <= a; k++) s += (lt[a * d + k] as number) * (w[k] as number);
      out[i * d + a] = s;
    }
  }
  return out;
}

/** Vector data `[n, 1, 1, d]` as a split. */
const vectors = (data: Float32Array, d: number): DataSplit => ({
  size: data.length / d,
  shape: [1, 1, d],
  data,
});

/**
 * A second stage whose `sample(n)` is exactly `N(mean, cov)` in the sample statistics (see
 * {@link exactGaussianRows}) and whose `logProb` is the Gaussian density.
 */
function exactGaussianStage(mean: readonly number[], cov: readonly number[]): SecondStage {
  const d = mean.length;
  const l = cholesky(cov, d);
  let logDet = 0;
  for (let j = 0; j < d; j++) logDet += 2 * Math.log(l[j * d + j] as number);
  // precision = cov^{-1} via solving with l (small d)
  const inv = new Float64Array(d * d);
  for (let col = 0; col < d; col++) {
    const y = new Float64Array(d);
    for (let a = 0; a < d; a++) {
      let s = a === col ? 1 : 0;
      for (let k = 0; k < a; k++) s -= (l[a * d + k] as number) * (y[k] as number);
      y[a] = s / (l[a * d + a] as number);
    }
    for (let a = d - 1; a >= 0; a--) {
      let s = y[a] as number;
      for (let k = a + 1; k < d; k++) s -= (l[k * d + a] as number) * (inv[k * d + col] as number);
      inv[a * d + col] = s / (l[a * d + a] as number);
    }
  }
  const logProb = (z: tf.Tensor2D): tf.Tensor1D =>
    tf.tidy(() => {
      const diff = tf.sub(z, tf.tensor1d(Float32Array.from(mean)));
      const maha = tf.sum(tf.mul(tf.matMul(diff, tf.tensor2d(Float32Array.from(inv), [d, d])), diff), 1);
      return tf.sub(tf.mul(maha, -0.5), 0.5 * (d * LOG_2PI + logDet)) as tf.Tensor1D;
    });
  return {
    latentDim: d,
    trainableVariables: () => [],
    getWeights: (): NamedWeight[] => [],
    setWeights: () => {},
    countParams: () => 0,
    dispose: () => {},
    sample: (n, o) => tf.tensor2d(exactGaussianRows(n, mean, cov, o?.seed ?? 1), [n, d]),
    logProb,
    loss: (z): LossTerms =>
      tf.tidy(() => {
        const nll = tf.neg(tf.mean(logProb(z))) as tf.Scalar;
        return { loss: nll, reconstruction: tf.clone(nll), kl: tf.scalar(0) };
      }),
  };
}

describe('latentDiagnostics: closed forms', () => {
  it('gives the closed-form Fréchet distance and log-likelihood of N(m1, S1) against codes of mean m2, covariance S2', async () => {
    // 2-d, non-commuting covariances: tr sqrt(S1^1/2 S2 S1^1/2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2))
    const m1 = [0.5, -1];
    const s1 = [2, 0.6, 0.6, 0.5];
    const m2 = [-0.3, 0.4];
    const s2 = [0.7, -0.3, -0.3, 1.5];
    const n = 100;
    const codes = exactGaussianRows(n, m2, s2, 11);
    const before = tf.memory().numTensors;
    const r = await latentDiagnostics({
      stage1: identityStage1(2),
      secondStage: exactGaussianStage(m1, s1),
      heldOut: vectors(codes, 2),
      count: 50,
      seed: 0,
      // one sampling batch (exact sample statistics), two likelihood batches (64 + 36 codes)
      batchSize: 64,
    });
    expect(tf.memory().numTensors).toBe(before);

    const tr = (s: number[]) => (s[0] as number) + (s[3] as number);
    const det = (s: number[]) => (s[0] as number) * (s[3] as number) - (s[1] as number) * (s[2] as number);
    const trProd =
      (s1[0] as number) * (s2[0] as number) +
      (s1[1] as number) * (s2[2] as number) +
      (s1[2] as number) * (s2[1] as number) +
      (s1[3] as number) * (s2[3] as number);
    const fd =
      ((m1[0] as number) - (m2[0] as number)) ** 2 +
      ((m1[1] as number) - (m2[1] as number)) ** 2 +
      tr(s1) +
      tr(s2) -
      2 * Math.sqrt(trProd + 2 * Math.sqrt(det(s1) * det(s2)));
    expect(r.frechetDistance.secondStage).toBeCloseTo(fd, 4);
    expect(fd).toBeGreaterThan(1); // a real distance, not ~0

    // mean log N(z_i; m1, S1) over codes with empirical mean m2 and covariance (n-1)/n S2
    const d1 = det(s1);
    const inv1 = [
      (s1[3] as number) / d1,
      -(s1[1] as number) / d1,
      -(s1[2] as number) / d1,
      (s1[0] as number) / d1,
    ];
    const sHat = s2.map((v) => (v * (n - 1)) / n);
    const trInvS =
      (inv1[0] as number) * (sHat[0] as number) +
      (inv1[1] as number) * (sHat[2] as number) +
      (inv1[2] as number) * (sHat[1] as number) +
      (inv1[3] as number) * (sHat[3] as number);
    const dm = [(m2[0] as number) - (m1[0] as number), (m2[1] as number) - (m1[1] as number)];
    const maha =
      (inv1[0] as number) * (dm[0] as number) ** 2 +
      2 * (inv1[1] as number) * (dm[0] as number) * (dm[1] as number) +
      (inv1[3] as number) * (dm[1] as number) ** 2;
    const ll = -0.5 * (2 * LOG_2PI + Math.log(d1) + trInvS + maha);
    expect(r.logLikelihood.secondStage?.kind).toBe('exact');
    expect(r.logLikelihood.secondStage?.value).toBeCloseTo(ll, 4);
    // N(0, I): -(d log 2 pi + tr Shat + |m2|^2) / 2
    const llPrior = -0.5 * (2 * LOG_2PI + tr(sHat) + (m2[0] as number) ** 2 + (m2[1] as number) ** 2);
    expect(r.logLikelihood.prior).toBeCloseTo(llPrior, 5);
    expect(r).toMatchObject({ latentDim: 2, heldOut: n, count: 50, seed: 0 });
  });

  it('N(0, I) against codes drawn from N(0, I) (z = 0 + 1 * eps): Fréchet distance within its finite-sample bias', async () => {
    const d = 4;
    const n = 4000;
    const count = 4000;
    // codes: mu = 0, sigma = 1, so z = eps ~ N(0, I) exactly (heldOutCodes' draw)
    const r = await latentDiagnostics({
      stage1: identityStage1(d, 0),
      secondStage: exactGaussianStage([0, 0, 0, 0], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]),
      heldOut: vectors(new Float32Array(n * d), d),
      count,
      seed: 7,
      batchSize: 1000,
    });
    // E[FD] of two independent samples of N(0, I_d), sizes n1, n2, to second order:
    // (1/n1 + 1/n2) d (mean term) + (1/n1 + 1/n2) d (d + 1) / 4 (covariance term) = 0.0045 here.
    const bias = (1 / n + 1 / count) * d * (1 + (d + 1) / 4);
    expect(r.frechetDistance.prior).toBeGreaterThan(bias / 5);
    expect(r.frechetDistance.prior).toBeLessThan(3 * bias);
    expect(r.frechetDistance.secondStage).toBeLessThan(3 * bias);
    // held-out log-likelihood of N(0, I): -d (log 2 pi + 1) / 2, std of the mean sqrt(d / 2 / n)
    expect(Math.abs(r.logLikelihood.prior + 0.5 * d * (LOG_2PI + 1))).toBeLessThan(4 * Math.sqrt(d / 2 / n));
    // the exact second stage is N(0, I) too: the same log-likelihood (float32 vs float64)
    expect(r.logLikelihood.secondStage?.value).toBeCloseTo(r.logLikelihood.prior, 4);
    // sigma = 1 everywhere: every dimension inactive
    expect(r.dimensions).toMatchObject({ threshold: 0.05, active: 0, inactive: 4 });
    for (const v of r.dimensions.variances) expect(v).toBeCloseTo(1, 6);

    // without a second stage: the same N(0, I) and stage-1 numbers, nothing for the second stage
    const none = await latentDiagnostics({
      stage1: identityStage1(d, 0),
      secondStage: null,
      heldOut: vectors(new Float32Array(n * d), d),
      count,
      seed: 7,
      batchSize: 1000,
    });
    expect(none).toEqual({
      ...r,
      frechetDistance: { secondStage: null, prior: r.frechetDistance.prior },
      logLikelihood: { secondStage: null, prior: r.logLikelihood.prior },
    });
  });
});

describe('latentDiagnostics on the production networks (smallRunConfig)', () => {
  const config = parseRunConfig(smallRunConfig());
  let heldOut: DataSplit;
  beforeAll(async () => {
    const ds = await create('dataset', config.dataset.name, config.dataset.config as Record<string, unknown>);
    heldOut = await ds.load('test');
  });
  const models = () => createModels(resolveComponents(config, [8, 8, 1]), config.seed);

  it('counts active / inactive dimensions of a stage 1 whose encoder variances are set', async () => {
    const { stage1, secondStage, dispose } = await models();
    try {
      // infogan encoder: sigma = softplus(en4 output [k..2k)) + 1e-6 (spectral-normalised kernel, so
      // zero columns stay zero); zero its kernel there and set the bias
      const k = stage1.latentDim;
      const sigmas = [0.01, 0.1, 1, 0.2];
      const weights = stage1.getWeights().map((w) => {
        if (/en4\/kernel$/.test(w.name)) {
          const v = w.tensor.arraySync() as number[][];
          return { name: w.name, tensor: tf.tensor2d(v.map((row) => row.map((x, j) => (j < k ? x : 0)))) };
        }
        if (/en4\/bias$/.test(w.name)) {
          const v = w.tensor.arraySync() as number[];
          const b = v.map((x, j) => (j < k ? x : Math.log(Math.expm1((sigmas[j - k] as number) - 1e-6))));
          return { name: w.name, tensor: tf.tensor1d(b) };
        }
        return w;
      });
      expect(weights.filter((w) => /en4\/(kernel|bias)$/.test(w.name))).toHaveLength(2);
      stage1.setWeights(weights);
      const r = await latentDiagnostics({ stage1, secondStage, heldOut, count: 64, seed: 0 });
      expect(r.dimensions.variances).toHaveLength(k);
      r.dimensions.variances.forEach((v, j) => {
        expect(v / (sigmas[j] as number) ** 2).toBeCloseTo(1, 4);
      });
      // variances 1e-4, 0.01, 1, 0.04 against 0.05: three active
      expect(r.dimensions).toMatchObject({ threshold: 0.05, active: 3, inactive: 1 });
      const strict = await latentDiagnostics({
        stage1,
        secondStage,
        heldOut,
        count: 64,
        seed: 0,
        threshold: 0.02,
      });
      expect(strict.dimensions).toMatchObject({ threshold: 0.02, active: 2, inactive: 2 });
      // the same definition as the per-epoch stage-1 diagnostics
      const s1 = stage1Diagnostics(stage1, heldOut, { threshold: 0.05 });
      expect(s1.activeDims).toBe(3);
      s1.meanVariance.forEach((v, j) => {
        expect(r.dimensions.variances[j]).toBeCloseTo(v, 6);
      });
    } finally {
      dispose();
    }
  });

  it('reports the ELBO of the mlp second stage: minus its loss on the held-out codes, averaged, seeded', async () => {
    const { stage1, secondStage, dispose } = await models();
    try {
      expect(secondStage.logProb).toBeUndefined();
      const seed = 5;
      const before = tf.memory().numTensors;
      // 64 test codes in batches of 48 and 16
      const r = await latentDiagnostics({ stage1, secondStage, heldOut, count: 40, seed, batchSize: 48 });
      expect(tf.memory().numTensors).toBe(before);
      const z = heldOutCodes(encodeDataset(stage1, heldOut), seed);
      const d = stage1.latentDim;
      const lossOf = (from: number, to: number, b: number) =>
        tf.tidy(
          () =>
            secondStage
              .loss(tf.tensor2d(z.slice(from * d, to * d), [to - from, d]), {
                training: false,
                seed: deriveSeed(seed, 'latent-elbo', b),
              })
              .loss.dataSync()[0] as number,
        );
      const elbo = -(48 * lossOf(0, 48, 0) + 16 * lossOf(48, 64, 1)) / 64;
      expect(r.logLikelihood.secondStage?.kind).toBe('elbo');
      expect(r.logLikelihood.secondStage?.value).toBeCloseTo(elbo, 4);
      // the noise matters: another loss seed gives another value, so the seed above is the one used
      expect(Math.abs(-lossOf(0, 64, 99) - elbo)).toBeGreaterThan(1e-4);

      // seed 0 reproduces; another seed draws other codes and samples
      const a = await latentDiagnostics({ stage1, secondStage, heldOut, count: 40, seed: 0 });
      const b = await latentDiagnostics({ stage1, secondStage, heldOut, count: 40, seed: 0 });
      expect(b).toEqual(a);
      const c = await latentDiagnostics({ stage1, secondStage, heldOut, count: 40, seed: 1 });
      expect(c.frechetDistance.secondStage).not.toBe(a.frechetDistance.secondStage);
      expect(c.frechetDistance.prior).not.toBe(a.frechetDistance.prior);
      expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    } finally {
      dispose();
    }
  });

  it('draws the held-out codes as mu + sigma * eps with eps from deriveSeed(seed, latent-codes)', () => {
    const codes = {
      size: 3,
      latentDim: 2,
      mu: Float32Array.from([1, 2, 3, 4, 5, 6]),
      sigma: Float32Array.from([0, 1, 2, 0, 1, 2]),
    };
    const rng = createRng(deriveSeed(9, 'latent-codes'));
    const want = Float32Array.from(codes.mu, (m, i) => m + (codes.sigma[i] as number) * rng.normal());
    expect(heldOutCodes(codes, 9)).toEqual(want);
    expect(heldOutCodes(codes, 9)[0]).toBe(1);
  });

  it('rejects bad options and stops when aborted', async () => {
    const { stage1, secondStage, dispose } = await models();
    try {
      const base = { stage1, secondStage, heldOut, count: 8, seed: 0 };
      await expect(latentDiagnostics({ ...base, count: 1 })).rejects.toThrow(
        'count must be an integer >= 2, got 1',
      );
      await expect(latentDiagnostics({ ...base, threshold: 0 })).rejects.toThrow(
        'threshold must be a positive',
      );
      await expect(
        latentDiagnostics({ ...base, secondStage: exactGaussianStage([0, 0], [1, 0, 0, 1]) }),
      ).rejects.toThrow('the second stage models 2-d codes, stage 1 makes 4-d ones');
      const controller = new AbortController();
      const reason = new Error('stop');
      const p = latentDiagnostics({ ...base, batchSize: 4, signal: controller.signal });
      controller.abort(reason);
      await expect(p).rejects.toBe(reason);
    } finally {
      dispose();
    }
  });
});
