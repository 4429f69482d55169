/**
 * `@tsvae/stages`' `latentDiagnostics` with `gmm` and `flow`: their `logProb` (`SecondStage.logProb`)
 * makes the held-out log-likelihood exact; closed forms for a mixture fitted to one Gaussian and for
 * the flow at initialisation (the identity: `N(0, I)`).
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { create, createRng, type DataSplit } from '@tsvae/core';
import { latentDiagnostics } from '@tsvae/stages';
import { identityStage1 } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GaussianMixture } from './gmm';
import './index';
import { cholesky as choleskyOrNull } from './linalg';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const LOG_2PI = Math.log(2 * Math.PI);

function cholesky(a: Float64Array, d: number): Float64Array {
  const l = choleskyOrNull(a, d);
  if (!l) throw new Error('not positive definite');
  return l;
}

/** `n` draws of `N(mean, cov)` (row-major float32) from a seeded generator. */
function gaussianRows(
  n: number,
  mean: readonly number[],
  cov: readonly number[],
  seed: number,
): Float32Array {
  const d = mean.length;
  const l = cholesky(Float64Array.from(cov), d);
  const rng = createRng(seed);
  const out = new Float32Array(n * d);
  const eps = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) eps[j] = rng.normal();
    for (let a = 0; a < d; a++) {
      let s = mean[a] as number;
      for (let k = 0; k <= a; k++) s += (l[a * d + k] as number) * (eps[k] as number);
      out[i * d + a] = s;
    }
  }
  return out;
}

const vectors = (data: Float32Array, d: number): DataSplit => ({
  size: data.length / d,
  shape: [1, 1, d],
  data,
});

/** The finite-sample bias of the Fréchet distance between samples of one Gaussian (eigenvalues <= lambda). */
const fdBias = (d: number, lambda: number, ...sizes: number[]) =>
  lambda * sizes.reduce((s, n) => s + 1 / n, 0) * d * (1 + (d + 1) / 4);

describe('latentDiagnostics with gmm and flow (exact held-out log-likelihood)', () => {
  it('a one-component gmm fitted to codes of one Gaussian: Fréchet distance ~ 0, log-likelihood = the closed form', async () => {
    const d = 3;
    const mean = [1, -0.5, 2];
    const cov = [1, 0.5, 0.2, 0.5, 1.5, 0.3, 0.2, 0.3, 0.8];
    const nTrain = 4000;
    const n = 4000;
    const count = 4000;
    const gmm = (await create(
      'second-stage',
      'gmm',
      { latentDim: d, components: 1 },
      { context: { seed: 1 } },
    )) as GaussianMixture;
    const train = gaussianRows(nTrain, mean, cov, 21);
    await gmm.fit(
      { size: nTrain, latentDim: d, mu: train, sigma: new Float32Array(nTrain * d) },
      { seed: 2 },
    );
    const test = gaussianRows(n, mean, cov, 22);
    const before = tf.memory().numTensors;
    const r = await latentDiagnostics({
      stage1: identityStage1(d), // codes z = x (sigma ~ 1e-13)
      secondStage: gmm,
      heldOut: vectors(test, d),
      count,
      seed: 0,
      batchSize: 1000,
    });
    expect(tf.memory().numTensors).toBe(before);

    // Fréchet distance: only the finite-sample bias of three samples (training, held-out, drawn);
    // the largest eigenvalue of cov is below 2. N(0, I) is far: at least |mean|^2 = 5.25.
    const bias = fdBias(d, 2, nTrain, n, count);
    expect(r.frechetDistance.secondStage).toBeLessThan(3 * bias);
    expect(r.frechetDistance.prior).toBeGreaterThan(5.25);

    // log-likelihood: the mean of log N(z_i; mean, cov) over the held-out codes, in float64. The
    // fitted parameters differ from the true ones by O(1/sqrt(nTrain)): the expected loss is
    // (d + d(d+1)/2) / (2 nTrain) ~ 0.001 nats; tolerance 0.01.
    const l = cholesky(Float64Array.from(cov), d);
    let logDet = 0;
    for (let j = 0; j < d; j++) logDet += 2 * Math.log(l[j * d + j] as number);
    let sum = 0;
    const y = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      let maha = 0;
      for (let a = 0; a < d; a++) {
        let s = (test[i * d + a] as number) - (mean[a] as number);
        for (let k = 0; k < a; k++) s -= (l[a * d + k] as number) * (y[k] as number);
        y[a] = s / (l[a * d + a] as number);
        maha += (y[a] as number) ** 2;
      }
      sum += -0.5 * (d * LOG_2PI + logDet + maha);
    }
    const closed = sum / n;
    expect(r.logLikelihood.secondStage?.kind).toBe('exact');
    expect(Math.abs((r.logLikelihood.secondStage?.value ?? 0) - closed)).toBeLessThan(0.01);
    // ... and the negative entropy -(d log(2 pi e) + log det cov) / 2 within 4 standard errors sqrt(d / 2n)
    const entropy = 0.5 * (d * (LOG_2PI + 1) + logDet);
    expect(Math.abs((r.logLikelihood.secondStage?.value ?? 0) + entropy)).toBeLessThan(
      4 * Math.sqrt(d / 2 / n),
    );
    // the float32 logProb used agrees with the mixture's own float64 logLikelihood
    const own = gmm.logLikelihood(test).reduce((s, v) => s + v, 0) / n;
    expect(r.logLikelihood.secondStage?.value).toBeCloseTo(own, 4);
    gmm.dispose();
  });

  it('the flow at initialisation is N(0, I): on codes from N(0, I) it scores as the prior does', async () => {
    const d = 4;
    const n = 2000;
    const flow = await create(
      'second-stage',
      'flow',
      { latentDim: d, couplings: 2, width: 8 },
      { context: { seed: 3 } },
    );
    expect(flow.logProb).toBeTypeOf('function');
    const r = await latentDiagnostics({
      stage1: identityStage1(d, 0), // mu = 0, sigma = 1: z = eps
      secondStage: flow,
      heldOut: vectors(new Float32Array(n * d), d),
      count: n,
      seed: 4,
    });
    expect(r.logLikelihood.secondStage?.kind).toBe('exact');
    expect(r.logLikelihood.secondStage?.value).toBeCloseTo(r.logLikelihood.prior, 4);
    const bias = fdBias(d, 1, n, n);
    expect(r.frechetDistance.secondStage).toBeLessThan(3 * bias);
    expect(r.frechetDistance.prior).toBeLessThan(3 * bias);
    flow.dispose();
  });
});
