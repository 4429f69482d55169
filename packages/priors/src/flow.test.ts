import '@tensorflow/tfjs-backend-cpu';
// gradients of every op (tfjs-core's Node build registers none)
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { create, createRng, InvalidConfigError } from '@tsvae/core';
import { trainStage2 } from '@tsvae/stages';
import { beforeAll, describe, expect, it } from 'vitest';
import { couplingMask, type FlowConfig, RealNvpFlow } from './flow';
import './index';
import { logAbsDet } from './linalg';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const config = (over: Partial<FlowConfig> = {}): FlowConfig => ({
  latentDim: 3,
  couplings: 4,
  width: 16,
  depth: 2,
  ...over,
});

/** Replaces every weight by seeded noise (std `scale`), so the flow is far from the identity. */
function randomise(flow: RealNvpFlow, seed: number, scale = 0.5): void {
  const rng = createRng(seed);
  flow.setWeights(
    flow.getWeights().map((w) => ({
      name: w.name,
      tensor: tf.tensor(
        Float32Array.from({ length: w.tensor.size }, () => rng.normal() * scale),
        w.tensor.shape,
      ),
    })),
  );
}

/** The Jacobian `du_i / dz_j` of the flow at one point, by automatic differentiation, row by row. */
function jacobian(flow: RealNvpFlow, point: number[]): number[] {
  const d = point.length;
  const out: number[] = [];
  const z0 = tf.tensor2d([point]);
  for (let i = 0; i < d; i++) {
    const g = tf.grad((z: tf.Tensor) => {
      const { u } = flow.forward(z as tf.Tensor2D);
      return tf.sum(tf.slice(u, [0, i], [1, 1]));
    })(z0);
    out.push(...g.dataSync());
    g.dispose();
  }
  z0.dispose();
  return out;
}

describe('the flow second stage', () => {
  it('masks: each coupling transforms some dimensions and conditions on the others', () => {
    for (const d of [2, 3, 5, 8]) {
      const seen = new Array(d).fill(0);
      for (let i = 0; i < 4; i++) {
        const m = couplingMask(i, d);
        const ones = m.reduce((s, v) => s + v, 0);
        expect(ones).toBeGreaterThan(0);
        expect(ones).toBeLessThan(d);
        m.forEach((v, j) => {
          if (v === 0) seen[j]++;
        });
      }
      expect(seen.every((c) => c > 0)).toBe(true);
    }
  });

  it('log |det| equals a brute-force Jacobian determinant (d = 2, 3, 5)', () => {
    for (const d of [2, 3, 5]) {
      const flow = new RealNvpFlow(config({ latentDim: d }), 7);
      randomise(flow, d);
      const rng = createRng(d + 100);
      for (let p = 0; p < 3; p++) {
        const point = Array.from({ length: d }, () => rng.normal());
        const want = logAbsDet(jacobian(flow, point), d);
        const z = tf.tensor2d([point]);
        const { u, logDet } = flow.forward(z);
        const got = logDet.dataSync()[0] as number;
        expect(Math.abs(got - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
        // a wrong sign or a missing layer would be far off: the determinant is far from 1
        expect(Math.abs(want)).toBeGreaterThan(0.05);
        tf.dispose([z, u, logDet]);
      }
      flow.dispose();
    }
  });

  it('inverse(forward(z)) = z, and its density integrates to 1 (d = 2)', () => {
    const flow = new RealNvpFlow(config({ latentDim: 2 }), 3);
    randomise(flow, 1, 0.4);
    const rng = createRng(5);
    const z = tf.tensor2d(
      Float32Array.from({ length: 40 }, () => rng.normal() * 2),
      [20, 2],
    );
    const { u, logDet } = flow.forward(z);
    const back = flow.inverse(u);
    const zd = z.dataSync();
    for (const [i, v] of back.dataSync().entries()) expect(v).toBeCloseTo(zd[i] as number, 4);
    const h = 0.1;
    const pts: number[] = [];
    for (let a = -10; a < 10; a += h) for (let b = -10; b < 10; b += h) pts.push(a, b);
    const grid = tf.tensor2d(pts, [pts.length / 2, 2]);
    const lp = flow.logProb(grid);
    const mass = Array.from(lp.dataSync()).reduce((s, v) => s + Math.exp(v), 0) * h * h;
    expect(mass).toBeCloseTo(1, 2);
    tf.dispose([z, u, logDet, back, grid, lp]);
    flow.dispose();
  });

  it('starts as N(0, I): loss(z) is the standard normal NLL, and it is a registered strict plugin', async () => {
    const flow = await create(
      'second-stage',
      'flow',
      { latentDim: 4, couplings: 2, width: 8 },
      { context: { seed: 1 } },
    );
    const z = tf.tensor2d([
      [0.5, -1, 2, 0],
      [1, 1, 1, 1],
    ]);
    const t = flow.loss(z, { training: true });
    const want = (0.5 * (0.25 + 1 + 4) + 0.5 * 4 + 4 * Math.log(2 * Math.PI)) / 2;
    expect(t.loss.dataSync()[0]).toBeCloseTo(want, 5);
    expect(t.kl.dataSync()[0]).toBe(0);
    tf.dispose([z, t.loss, t.reconstruction, t.kl]);
    flow.dispose();
    await expect(create('second-stage', 'flow', { latentDim: 1 })).rejects.toThrow(InvalidConfigError);
    await expect(create('second-stage', 'flow', { latentDim: 4, layers: 3 })).rejects.toThrow(
      InvalidConfigError,
    );
  });

  it('trained by the ordinary gradient loop, reaches the entropy of a correlated Gaussian (beyond any diagonal one)', async () => {
    // z = mu + sigma * eps with mu ~ N(0, C), C = [[1, .9], [.9, 1]] and sigma = 0.1:
    // the codes are N(0, C + 0.01 I), whose NLL per code is 0.5 log det(2 pi e (C + 0.01 I)).
    const n = 1024;
    const rng = createRng(21);
    const mu = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const a = rng.normal();
      const b = rng.normal();
      mu[i * 2] = a;
      mu[i * 2 + 1] = 0.9 * a + Math.sqrt(1 - 0.81) * b;
    }
    const codes = { size: n, latentDim: 2, mu, sigma: new Float32Array(n * 2).fill(0.1) };
    const cov = [1.01, 0.9, 0.9, 1.01];
    const det = (cov[0] as number) * (cov[3] as number) - 0.81;
    const entropy = 0.5 * Math.log((2 * Math.PI * Math.E) ** 2 * det);
    const bestDiagonal = 0.5 * Math.log((2 * Math.PI * Math.E) ** 2 * 1.01 * 1.01);
    const flow = new RealNvpFlow(config({ latentDim: 2, couplings: 4, width: 32 }), 4);
    const r = await trainStage2(flow, codes, { epochs: 12, batchSize: 256, lr: 2e-2, seed: 1 });
    const first = r.metrics[0]?.loss as number;
    const last = r.metrics.at(-1)?.loss as number;
    expect(last).toBeLessThan(first - 0.3);
    // held-out codes
    const test = tf.tidy(() => {
      const e = tf.randomNormal([4000, 2], 0, 1, 'float32', 77);
      const l = tf.tensor2d([
        [Math.sqrt(1.01), 0],
        [0.9 / Math.sqrt(1.01), Math.sqrt(1.01 - 0.81 / 1.01)],
      ]);
      return tf.matMul(e, l, false, true) as tf.Tensor2D;
    });
    const t = flow.loss(test, { training: false });
    const nll = t.loss.dataSync()[0] as number;
    expect(nll).toBeLessThan(entropy + 0.05);
    expect(nll).toBeLessThan(bestDiagonal - 0.5);
    tf.dispose([test, t.loss, t.reconstruction, t.kl]);
    r.optimizer.dispose();
    flow.dispose();
  });

  it('is seeded: the same seed gives the same weights and samples; weights round-trip', () => {
    const a = new RealNvpFlow(config(), 11);
    const b = new RealNvpFlow(config(), 11);
    const c = new RealNvpFlow(config(), 12);
    const bytes = (f: RealNvpFlow) => f.getWeights().flatMap((w) => Array.from(w.tensor.dataSync()));
    expect(bytes(b)).toEqual(bytes(a));
    expect(bytes(c)).not.toEqual(bytes(a));
    randomise(a, 2, 0.3);
    b.setWeights(a.getWeights());
    const sa = a.sample(32, { seed: 0 });
    const sb = b.sample(32, { seed: 0 });
    const sc = a.sample(32, { seed: 1 });
    expect(Array.from(sb.dataSync())).toEqual(Array.from(sa.dataSync()));
    expect(Array.from(sc.dataSync())).not.toEqual(Array.from(sa.dataSync()));
    expect(() => b.setWeights(a.getWeights().slice(1))).toThrow(/missing weight "affine\/loc"/);
    const before = tf.memory().numTensors;
    const z = a.sample(8, { seed: 3 });
    const t = a.loss(z, { training: true });
    tf.dispose([z, t.loss, t.reconstruction, t.kl]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([sa, sb, sc]);
    for (const f of [a, b, c]) f.dispose();
  });
});
