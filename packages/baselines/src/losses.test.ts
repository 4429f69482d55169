/**
 * The GAN losses against their closed forms on fixed logits (through stub discriminators whose
 * output is a known function of the input), the saturating vs non-saturating generator gradients,
 * the penalties' gradients against finite differences on the production critic, WGAN's clipping
 * and BEGAN's k_t rule.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { create, createRng, deriveSeed, InvalidConfigError } from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import './index';
import type { GanDiscriminator, GanLoss } from './kinds';
import { gradientPenalty } from './losses';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const softplus = (t: number): number => Math.log1p(Math.exp(t));
const sigmoid = (t: number): number => 1 / (1 + Math.exp(-t));
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A discriminator `D(x) = scale * x` on `[B, 1, 1, 1]` inputs (critic) or `D(x) = scale * x` (autoencoder). */
function linearStub(scale: number, output: 'critic' | 'autoencoder' = 'critic'): GanDiscriminator {
  return {
    inputShape: [1, 1, 1],
    output,
    trainableVariables: () => [],
    getWeights: () => [],
    setWeights: () => {},
    countParams: () => 0,
    dispose: () => {},
    forward: (x) =>
      tf.tidy(() => (output === 'critic' ? tf.reshape(tf.mul(x, scale), [x.shape[0], 1]) : tf.mul(x, scale))),
  };
}

const column = (v: readonly number[]) => tf.tensor4d([...v], [v.length, 1, 1, 1]);
const value = (t: tf.Tensor): number => t.dataSync()[0] as number;

async function loss(name: string, config: Record<string, unknown> = {}): Promise<GanLoss> {
  return create('gan-loss', name, config);
}

const R = [2, -1, 0.5, 3];
const F = [-3, 0.2, 1, -0.7];

describe('the losses on fixed logits (D(x) = x)', () => {
  const d = linearStub(1);
  const dTerms = (l: GanLoss) =>
    l.discriminatorLoss({ real: column(R), fake: column(F), discriminator: d, seed: 1 });
  const gTerms = (l: GanLoss) => l.generatorLoss({ fake: column(F), discriminator: d, seed: 1 });

  it('mm-gan and ns-gan: D = E softplus(-D(x)) + E softplus(D(G)); G = -E softplus(D(G)) / E softplus(-D(G))', async () => {
    const dWant = mean(R.map((r) => softplus(-r))) + mean(F.map(softplus));
    for (const name of ['mm-gan', 'ns-gan']) {
      const l = await loss(name);
      const t = dTerms(l);
      expect(value(t.loss)).toBeCloseTo(dWant, 5);
      expect(value(t.values['realScore'] as tf.Scalar)).toBeCloseTo(mean(R.map(sigmoid)), 6);
      expect(value(t.values['fakeScore'] as tf.Scalar)).toBeCloseTo(mean(F.map(sigmoid)), 6);
      expect(l.discriminatorSteps).toBe(1);
    }
    expect(value(gTerms(await loss('mm-gan')).loss)).toBeCloseTo(-mean(F.map(softplus)), 5);
    expect(value(gTerms(await loss('ns-gan')).loss)).toBeCloseTo(mean(F.map((f) => softplus(-f))), 5);
  });

  it('lsgan on probabilities (compare_gan) and on logits (Mao et al.)', async () => {
    const p = await loss('lsgan');
    expect(value(dTerms(p).loss)).toBeCloseTo(
      0.5 * (mean(R.map((r) => (sigmoid(r) - 1) ** 2)) + mean(F.map((f) => sigmoid(f) ** 2))),
      6,
    );
    expect(value(gTerms(p).loss)).toBeCloseTo(0.5 * mean(F.map((f) => (sigmoid(f) - 1) ** 2)), 6);
    const l = await loss('lsgan', { on: 'logit' });
    expect(value(dTerms(l).loss)).toBeCloseTo(
      0.5 * (mean(R.map((r) => (r - 1) ** 2)) + mean(F.map((f) => f ** 2))),
      5,
    );
    expect(value(gTerms(l).loss)).toBeCloseTo(0.5 * mean(F.map((f) => (f - 1) ** 2)), 5);
  });

  it('wgan: critic E D(G) - E D(x), generator -E D(G), the estimate E D(x) - E D(G); 5 critic steps', async () => {
    const l = await loss('wgan');
    const t = dTerms(l);
    expect(value(t.loss)).toBeCloseTo(mean(F) - mean(R), 6);
    expect(value(t.values['criticEstimate'] as tf.Scalar)).toBeCloseTo(mean(R) - mean(F), 6);
    expect(value(gTerms(l).loss)).toBeCloseTo(-mean(F), 6);
    expect(l.discriminatorSteps).toBe(5);
  });

  it('wgan-gp: with D(x) = a x every input gradient is a, so the penalty is (sqrt(1e-4 + a^2) - 1)^2', async () => {
    const a = 3;
    const l = await loss('wgan-gp');
    const t = l.discriminatorLoss({
      real: column(R),
      fake: column(F),
      discriminator: linearStub(a),
      seed: 7,
    });
    const penalty = (Math.sqrt(1e-4 + a * a) - 1) ** 2;
    expect(value(t.values['penalty'] as tf.Scalar)).toBeCloseTo(penalty, 4);
    expect(value(t.loss)).toBeCloseTo(a * (mean(F) - mean(R)) + 10 * penalty, 3);
    expect(l.discriminatorSteps).toBe(5);
  });

  it('dragan: the penalty of sigmoid(a x) at x + alpha (x_p - x), x_p = x + 0.5 std(x) U[0, 1)', async () => {
    const a = 1.5;
    const seed = 11;
    const l = await loss('dragan');
    const t = l.discriminatorLoss({ real: column(R), fake: column(F), discriminator: linearStub(a), seed });
    // the same draws as the loss: noise and alpha from the step's seed
    const lossSeed = seed;
    const noise = tf
      .randomUniform([4, 1, 1, 1], 0, 1, 'float32', deriveSeed(lossSeed, 'perturbation'))
      .dataSync();
    const alpha = tf.randomUniform([4, 1, 1, 1], 0, 1, 'float32', deriveSeed(lossSeed, 'alpha')).dataSync();
    const mu = mean(R);
    const std = Math.sqrt(mean(R.map((r) => (r - mu) ** 2)));
    const penalty = mean(
      R.map((r, i) => {
        const xp = r + 0.5 * std * (noise[i] as number);
        const xHat = r + (alpha[i] as number) * (xp - r);
        const g = a * sigmoid(a * xHat) * (1 - sigmoid(a * xHat));
        return (Math.sqrt(1e-4 + g * g) - 1) ** 2;
      }),
    );
    const classic = mean(R.map((r) => softplus(-a * r))) + mean(F.map((f) => softplus(a * f)));
    expect(value(t.values['penalty'] as tf.Scalar)).toBeCloseTo(penalty, 5);
    expect(value(t.loss)).toBeCloseTo(classic + 10 * penalty, 4);
    // the generator's loss is the non-saturating one
    expect(value(l.generatorLoss({ fake: column(F), discriminator: linearStub(a), seed }).loss)).toBeCloseTo(
      mean(F.map((f) => softplus(-a * f))),
      5,
    );
  });
});

describe('saturating vs non-saturating generator gradients', () => {
  it('as D(G(z)) -> 0 the minimax gradient vanishes (-sigmoid(f)) and the non-saturating one tends to -1 (-(1 - sigmoid(f)))', async () => {
    const logits = [-1, -5, -10, -20];
    const d = linearStub(1);
    const grad = async (name: string) => {
      const l = await loss(name);
      const g = tf.grad(
        (f: tf.Tensor) => l.generatorLoss({ fake: f as tf.Tensor4D, discriminator: d, seed: 1 }).loss,
      )(column(logits));
      return Array.from(g.dataSync(), (v) => v * logits.length);
    };
    const mm = await grad('mm-gan');
    const ns = await grad('ns-gan');
    logits.forEach((f, i) => {
      expect(mm[i]).toBeCloseTo(-sigmoid(f), 6);
      expect(ns[i]).toBeCloseTo(-(1 - sigmoid(f)), 6);
    });
    expect(Math.abs(mm[3] as number)).toBeLessThan(1e-8);
    expect(ns[3]).toBeLessThan(-0.999);
    // the same limit through the probabilities: d/dD of log(1 - D) is -1/(1 - D) -> -1, of -log D is -1/D -> -inf
  });
});

describe('BEGAN', () => {
  it('D minimises L(x) - k L(G); k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G)), 0, 1), bit for bit in float32', async () => {
    const c = 0.4; // D(v) = c v, so L(v) = mean |c v - v| = 0.6 mean |v|
    const d = linearStub(c, 'autoencoder');
    const f32 = Math.fround;
    const L = (v: readonly number[]) => (1 - c) * mean(v.map(Math.abs));
    for (const [k0, real, fake] of [
      [0, R, F], // gamma L(x) < L(G): k would go below 0 and is clipped there
      [0.5, R.map((r) => r * 40), F], // gamma L(x) > L(G): k grows
      [0.99995, R.map((r) => r * 400), F], // clipped at 1
    ] as const) {
      const l = await loss('began', { initialK: k0, lambdaK: 1e-3, gamma: 0.75 });
      const t = l.discriminatorLoss({ real: column(real), fake: column(fake), discriminator: d, seed: 1 });
      const lr = value(t.values['realError'] as tf.Scalar);
      const lf = value(t.values['fakeError'] as tf.Scalar);
      expect(lr).toBeCloseTo(L(real), 4);
      expect(lf).toBeCloseTo(L(fake), 5);
      expect(value(t.loss)).toBeCloseTo(lr - f32(k0) * lf, 4);
      expect(value(t.values['convergence'] as tf.Scalar)).toBeCloseTo(lr + Math.abs(0.75 * lr - lf), 4);
      l.afterDiscriminatorStep?.(d, t);
      const next = f32(f32(k0) + f32(f32(1e-3) * f32(f32(f32(0.75) * lr) - lf)));
      const want = Math.min(1, Math.max(0, next));
      expect(l.diagnostics?.()['k']).toBe(want);
      expect(want).toBeGreaterThanOrEqual(0);
      expect(want).toBeLessThanOrEqual(1);
      // the state round-trips through get/setWeights (checkpoints)
      const saved = tf.clone(l.getWeights()[0]?.tensor as tf.Tensor);
      const other = await loss('began');
      other.setWeights([{ name: 'k', tensor: saved }]);
      expect(other.diagnostics?.()['k']).toBe(want);
      tf.dispose([saved, t.loss, ...Object.values(t.values)]);
      l.dispose();
      other.dispose();
    }
    // without clipping (compare_gan), k leaves [0, 1]
    const unclipped = await loss('began', { clipK: false });
    const t = unclipped.discriminatorLoss({ real: column(R), fake: column(F), discriminator: d, seed: 1 });
    unclipped.afterDiscriminatorStep?.(d, t);
    expect(unclipped.diagnostics?.()['k']).toBeLessThan(0);
    expect(unclipped.discriminatorSteps).toBe(5);
  });
});

describe('the penalties on the production critic', () => {
  /**
   * A small `infogan` critic without BatchNorm on 8x8x1 images, its kernels scaled 25x (so its
   * input gradients are O(1) and the penalty matters) and its biases drawn from N(0, 0.3^2).
   */
  async function smallCritic(seed: number): Promise<GanDiscriminator> {
    const d = await create(
      'gan-discriminator',
      'infogan',
      { imageShape: [8, 8, 1], convDims: [3, 4], fcDim: 5, batchNorm: false },
      { context: { seed } },
    );
    for (const v of d.trainableVariables()) {
      tf.tidy(() =>
        v.assign(v.name.includes('bias') ? tf.randomNormal(v.shape, 0, 0.3, 'float32', seed) : tf.mul(v, 25)),
      );
    }
    return d;
  }

  for (const [name, config] of [
    ['wgan-gp', {}],
    ['dragan', {}],
    ['dragan', { gradientOf: 'logit' }],
  ] as const) {
    it(`${name} ${JSON.stringify(config)}: the gradient of the discriminator loss with respect to every critic weight matches finite differences`, async () => {
      const before = tf.memory().numTensors;
      const d = await smallCritic(3);
      const l = await loss(name, config);
      const real = tf.randomUniform([3, 8, 8, 1], 0, 1, 'float32', 21) as tf.Tensor4D;
      const fake = tf.randomUniform([3, 8, 8, 1], 0, 1, 'float32', 22) as tf.Tensor4D;
      const f = () => l.discriminatorLoss({ real, fake, discriminator: d, seed: 5 });
      const vars = d.trainableVariables();
      const { grads, value: v0 } = tf.variableGrads(() => f().loss, vars);
      const penaltyOnly = tf.variableGrads(() => f().values['penalty'] as tf.Scalar, vars);
      const at = (v: tf.Variable, i: number, delta: number): number =>
        tf.tidy(() => {
          const w0 = v.dataSync();
          const w = Float32Array.from(w0);
          w[i] = (w0[i] as number) + delta;
          v.assign(tf.tensor(w, v.shape));
          const out = value(f().loss);
          v.assign(tf.tensor(w0, v.shape));
          return out;
        });
      // Central differences on single weights, where the loss is smooth over [-h, h] (a leaky-ReLU
      // pre-activation crossing zero makes the penalty jump; such coordinates are skipped).
      const h = 2e-3;
      const rng = createRng(7);
      for (const v of vars) {
        const g = (grads[v.name] as tf.Tensor).dataSync();
        let checked = 0;
        for (let tries = 0; tries < 12 && checked < 3; tries++) {
          const i = rng.nextInt(v.size);
          const [fp, f0, fm] = [at(v, i, h), at(v, i, 0), at(v, i, -h)];
          if (Math.abs(fp - 2 * f0 + fm) > 1e-3 * Math.max(1, Math.abs(f0))) continue;
          const numeric = (fp - fm) / (2 * h);
          const analytic = g[i] as number;
          expect(Math.abs(analytic - numeric), `${v.name}[${i}]`).toBeLessThan(
            1e-2 * Math.abs(analytic) + (1e-6 * Math.max(1, Math.abs(f0))) / h,
          );
          checked++;
        }
        expect(checked, v.name).toBeGreaterThanOrEqual(2);
      }
      // the penalty contributes: its own gradient is far from zero
      const norm = tf.tidy(() =>
        value(tf.addN(Object.values(penaltyOnly.grads).map((g) => tf.sum(tf.square(g))))),
      );
      expect(norm).toBeGreaterThan(1e-2);
      tf.dispose([
        v0,
        real,
        fake,
        ...Object.values(grads),
        penaltyOnly.value,
        ...Object.values(penaltyOnly.grads),
      ]);
      d.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('gradientPenalty of a linear function <a, x> is (sqrt(eps + |a|^2) - 1)^2', () => {
    const a = tf.tensor4d([0.3, -0.4, 1.2, 0.1], [1, 2, 2, 1]);
    const x = tf.randomNormal([5, 2, 2, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const p = gradientPenalty((xx) => tf.sum(tf.mul(xx, a), [1, 2, 3]), x, 1e-4);
    const n2 = 0.09 + 0.16 + 1.44 + 0.01;
    expect(value(p)).toBeCloseTo((Math.sqrt(1e-4 + n2) - 1) ** 2, 6);
  });
});

describe('WGAN weight clipping', () => {
  it('after each critic step every critic weight is in [-c, c]; weights inside are untouched', async () => {
    const d = await create(
      'gan-discriminator',
      'infogan',
      { imageShape: [8, 8, 1], convDims: [3, 4], fcDim: 5 },
      { context: { seed: 9 } },
    );
    for (const v of d.trainableVariables()) tf.tidy(() => v.assign(tf.mul(v, 10)));
    const before = d.trainableVariables().map((v) => Float32Array.from(v.dataSync()));
    expect(Math.max(...before.map((b) => Math.max(...b.map(Math.abs))))).toBeGreaterThan(0.05);
    const l = await loss('wgan', { clip: 0.02 });
    l.afterDiscriminatorStep?.(d, { loss: tf.scalar(0), values: {} });
    d.trainableVariables().forEach((v, i) => {
      const now = v.dataSync();
      now.forEach((w, j) => {
        expect(Math.abs(w)).toBeLessThanOrEqual(0.02);
        const b = before[i]?.[j] as number;
        if (Math.abs(b) <= 0.02) expect(w).toBe(b);
        else expect(w).toBe(Math.fround(Math.sign(b) * 0.02));
      });
    });
    d.dispose();
  });
});

describe('strict configs', () => {
  it('an unknown key is an error naming the loss and the key', async () => {
    const err = await create('gan-loss', 'wgan-gp', { lamda: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as Error).message).toMatch(/gan-loss plugin "wgan-gp".*"lamda": unknown key/);
  });
});
