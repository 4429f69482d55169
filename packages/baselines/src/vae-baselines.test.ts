/**
 * wae-mmd and vae-flow: the MMD estimate against a float64 reference, the planar flows' log-det
 * against a numerical Jacobian, the KL estimate against its closed form, and training through
 * `@tsvae/stages`' trainTwoStage on the production networks.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { create, createRng, toTensor } from '@tsvae/core';
import { energyDistance } from '@tsvae/metrics';
import { loadRun, trainTwoStage } from '@tsvae/stages';
import { registerTinyPlugins, SMALL_INFOGAN, smallRunConfig, tempDir } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { baselineRunConfig } from './models';
import { registerToyPlugins } from './testing';
import {
  DETERMINISTIC_LOG_SIGMA,
  imqMmd,
  PlanarFlow,
  type VaeFlowModel,
  type WaeMmdModel,
} from './vae-baselines';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
  registerToyPlugins();
});

function matrix(n: number, d: number, seed: number, shift = 0): number[][] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal() + shift));
}

/** The WAE code's estimator in float64. */
function referenceMmd(q: number[][], p: number[][], base: number, scales: number[]): number {
  const n = q.length;
  const d2 = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v - (b[i] as number)) ** 2, 0);
  let stat = 0;
  for (const s of scales) {
    const c = s * base;
    const k = (a: number[], b: number[]) => c / (c + d2(a, b));
    let within = 0;
    let cross = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i !== j) within += k(q[i] as number[], q[j] as number[]) + k(p[i] as number[], p[j] as number[]);
        cross += k(q[i] as number[], p[j] as number[]);
      }
    }
    stat += within / (n * n - n) - (2 * cross) / (n * n);
  }
  return stat;
}

describe('imqMmd', () => {
  it("matches the WAE code's estimator (float64 reference); shifting q away from p raises it", () => {
    const scales = [0.1, 0.2, 0.5, 1, 2, 5, 10];
    const p = matrix(6, 3, 1);
    for (const shift of [0, 1.5]) {
      const q = matrix(6, 3, 2, shift);
      const got = imqMmd(tf.tensor2d(q), tf.tensor2d(p), { base: 6, scales }).dataSync()[0] as number;
      expect(got).toBeCloseTo(referenceMmd(q, p, 6, scales), 5);
    }
    const near = referenceMmd(matrix(6, 3, 2), p, 6, scales);
    const far = referenceMmd(matrix(6, 3, 2, 1.5), p, 6, scales);
    expect(far).toBeGreaterThan(near + 0.1);
  });
});

const imageShape = [8, 8, 1];
const networks = {
  encoder: { name: 'infogan', config: { ...SMALL_INFOGAN } },
  decoder: { name: 'infogan', config: { ...SMALL_INFOGAN } },
  latentDim: 4,
  imageShape,
};

async function images(n: number): Promise<tf.Tensor4D> {
  const data = await (await create('dataset', 'tiny-manifold', { size: 128, side: 8 })).load('train');
  return toTensor(
    data,
    Int32Array.from({ length: n }, (_, i) => i),
  );
}

describe('wae-mmd', () => {
  it('loss = 0.05 |x - decode(mu)|^2 + 10 MMD(mu, prior draws); deterministic encode; gamma 1', async () => {
    const m = (await create('stage1', 'wae-mmd', networks, { context: { seed: 4 } })) as WaeMmdModel;
    const x = await images(16);
    const t = m.loss(x, { training: false, seed: 9 });
    const mu = m.encoder.encode(x, { training: false }).mu;
    const xr = m.decode(mu, { training: false });
    const recon = (0.05 * (tf.sum(tf.square(tf.sub(x, xr))).dataSync()[0] as number)) / 16;
    const prior = tf.randomNormal([16, 4], 0, 1, 'float32', 9) as tf.Tensor2D;
    const mmd = imqMmd(mu, prior, {
      base: 2 * 4,
      scales: [0.1, 0.2, 0.5, 1, 2, 5, 10],
    }).dataSync()[0] as number;
    expect(t.reconstruction.dataSync()[0]).toBeCloseTo(recon, 4);
    expect(t.kl.dataSync()[0]).toBeCloseTo(10 * mmd, 4);
    expect(t.loss.dataSync()[0]).toBeCloseTo(recon + 10 * mmd, 4);
    expect(m.gamma()).toBe(1);
    const enc = m.encode(x, { training: false });
    expect(Array.from(enc.mu.dataSync())).toEqual(Array.from(mu.dataSync()));
    expect(Array.from(new Set(enc.logSigma.dataSync()))).toEqual([Math.fround(DETERMINISTIC_LOG_SIGMA)]);
    // weights round-trip by name, as the vae plugin names them
    const names = m.getWeights().map((w) => w.name);
    expect(names.every((n) => n.startsWith('encoder/') || n.startsWith('decoder/'))).toBe(true);
    m.dispose();
  });
});

describe('vae-flow', () => {
  it("the planar flows' log-det is log|det| of the numerical Jacobian; u_hat keeps them invertible", () => {
    const flow = new PlanarFlow(3, 2, 0.8, 17);
    // an adversarial u for the first layer: w^T u = -10 |w|^2, far below -1
    tf.tidy(() => {
      const w = flow.w.arraySync() as number[][];
      const u = flow.u.arraySync() as number[][];
      u[0] = (w[0] as number[]).map((v) => -10 * v);
      flow.u.assign(tf.tensor2d(u));
    });
    const z = [0.3, -0.7];
    const out = flow.forward(tf.tensor2d([z]));
    const logDet = out.logDet.dataSync()[0] as number;
    expect(Number.isFinite(logDet)).toBe(true);
    const h = 1e-3;
    const f = (v: number[]) => Array.from(flow.forward(tf.tensor2d([v])).z.dataSync());
    const col = (j: number) => {
      const up = f(z.map((v, i) => (i === j ? v + h : v)));
      const down = f(z.map((v, i) => (i === j ? v - h : v)));
      return up.map((u, i) => (u - (down[i] as number)) / (2 * h));
    };
    const [c0, c1] = [col(0), col(1)];
    const det = (c0[0] as number) * (c1[1] as number) - (c0[1] as number) * (c1[0] as number);
    expect(det).toBeGreaterThan(0);
    expect(logDet).toBeCloseTo(Math.log(det), 2);
    flow.dispose();
  });

  it('with no flow, the KL estimate averages to the closed-form Gaussian KL; its log-det terms enter with a minus sign', async () => {
    const n = 4000;
    const m = (await create(
      'stage1',
      'vae-flow',
      { ...networks, flowLength: 0 },
      { context: { seed: 5 } },
    )) as VaeFlowModel;
    const one = await images(1);
    const x = tf.tile(one, [n, 1, 1, 1]) as tf.Tensor4D;
    const { mu, logSigma } = m.encode(one, { training: false });
    const analytic = tf
      .mul(
        0.5,
        tf.sum(tf.sub(tf.add(tf.square(mu), tf.exp(tf.mul(2, logSigma))), tf.add(tf.mul(2, logSigma), 1))),
      )
      .dataSync()[0] as number;
    const estimate = m.loss(x, { training: false, seed: 3 }).kl.dataSync()[0] as number;
    // the estimator's standard deviation is about sqrt(latentDim / 2) per sample
    expect(Math.abs(estimate - analytic)).toBeLessThan((4 * Math.sqrt(2)) / Math.sqrt(n));
    m.dispose();
    // with flows: kl = sum(-log sigma - eps^2/2 + z_K^2/2) - logDet, recomputed from the same draws
    const k = (await create(
      'stage1',
      'vae-flow',
      { ...networks, flowLength: 4 },
      { context: { seed: 5 } },
    )) as VaeFlowModel;
    const xb = await images(8);
    const got = k.loss(xb, { training: false, seed: 3 }).kl.dataSync()[0] as number;
    const want = tf.tidy(() => {
      const p = k.encode(xb, { training: false });
      const eps = tf.randomNormal(p.mu.shape, 0, 1, 'float32', 3);
      const { z, logDet } = k.flow.forward(tf.add(p.mu, tf.mul(tf.exp(p.logSigma), eps)) as tf.Tensor2D);
      const per = tf.sub(
        tf.sum(tf.add(tf.neg(p.logSigma), tf.mul(0.5, tf.sub(tf.square(z), tf.square(eps)))), 1),
        logDet,
      );
      return tf.mean(per).dataSync()[0] as number;
    });
    expect(got).toBeCloseTo(want, 4);
    expect(k.getWeights().map((w) => w.name)).toEqual(
      expect.arrayContaining(['flow/w', 'flow/u', 'flow/b', 'logGamma']),
    );
    k.dispose();
  });
});

describe('training through trainTwoStage (stage 2 off, one-stage sampling)', () => {
  /** Energy distance between 256 one-stage samples of a run and 256 test images. */
  async function sampleDistance(runDir: string): Promise<number> {
    const run = await loadRun(runDir);
    try {
      const test = await (
        await create('dataset', 'tiny-manifold', { size: 128, intrinsicDim: 2, side: 8 })
      ).load('test');
      const ref = test.data.subarray(0, Math.min(256, test.size) * 64) as Float32Array;
      const x = run.stage1.decode(tf.randomNormal([256, 4], 0, 1, 'float32', 77) as tf.Tensor2D, {
        training: false,
      });
      const d = energyDistance(x.dataSync() as Float32Array, ref, 64);
      x.dispose();
      return d;
    } finally {
      run.dispose();
    }
  }

  // wae-mmd matches q(z) to the prior; vae-flow has a learned gamma, whose aggregate posterior
  // drifts from N(0, I) as gamma falls (the paper's point): its prior samples improve less.
  it.each([
    ['wae-mmd', 0.5],
    ['vae-flow', 0.8],
  ] as const)(
    '%s: training lowers the energy distance of its samples to the test images to below %s of the untrained model',
    { timeout: 240_000 },
    async (name, margin) => {
      const config = (epochs: number) =>
        // the production networks at test size (stages' small config) on the baseline's run config
        baselineRunConfig(
          name,
          'quick',
          'tiny-manifold',
          smallRunConfig({ stage1: { epochs, lr: 5e-3 }, checkpoint: { everyEpochs: 100, keep: 1 } }),
        ).config;
      const untrained = tempDir('tsvae-vae-');
      await trainTwoStage({ runDir: untrained, config: config(0) });
      const trained = tempDir('tsvae-vae-');
      const r = await trainTwoStage({ runDir: trained, config: config(8) });
      expect(r.status).toBe('completed');
      const before = await sampleDistance(untrained);
      const after = await sampleDistance(trained);
      expect(after, `energy distance ${before} -> ${after}`).toBeLessThan(margin * before);
    },
  );
});
