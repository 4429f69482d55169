/**
 * The `optimal-gamma` likelihood of the stage-1 VAE and the `mlp` second stage: at fixed weights
 * the loss with the closed-form gamma is the lowest over gamma; its gradient w.r.t. the network
 * weights matches finite differences and (envelope theorem) the gradient at gamma held fixed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { input, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import {
  type Decoder,
  definePlugin,
  deriveSeed,
  type Encoder,
  getRegistry,
  type NamedWeight,
  register,
  z,
} from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createStage1Vae,
  kernelInitializer,
  LogitsDecoder,
  MlpSecondStage,
  mlpConfigSchema,
  type Stage1VaeModel,
  TwoHeadEncoder,
} from './index';
import { randomImages, useCpu } from './test-helpers';

beforeAll(async () => {
  await useCpu();
  registerSmooth();
});

/**
 * Smooth (tanh) dense networks: finite differences need a loss without ReLU kinks. The VAE, its
 * likelihood and its optimal gamma are the production ones.
 */
const smoothConfig = z.object({
  latentDim: z.number().int(),
  imageShape: z.tuple([z.number(), z.number(), z.number()]),
});

function registerSmooth(): void {
  const reg = getRegistry();
  if (reg.has('encoder', 'test-smooth')) return;
  const dense = (units: number, name: string, seed: number, activation?: 'tanh') =>
    layers.dense({
      units,
      name,
      kernelInitializer: kernelInitializer('glorot-uniform', deriveSeed(seed, name)),
      ...(activation ? { activation } : {}),
    });
  register(
    definePlugin({
      kind: 'encoder',
      name: 'test-smooth',
      configSchema: smoothConfig,
      create: (c, ctx): Encoder => {
        const [h, w, ch] = c.imageShape;
        const seed = ctx.seed ?? 1;
        const x = input({ shape: [h, w, ch] });
        const f = layers.flatten().apply(x) as SymbolicTensor;
        const t = dense(12, 'h', seed, 'tanh').apply(f) as SymbolicTensor;
        const mu = dense(c.latentDim, 'mu', seed).apply(t) as SymbolicTensor;
        const ls = dense(c.latentDim, 'ls', seed).apply(t) as SymbolicTensor;
        return new TwoHeadEncoder([h, w, ch], c.latentDim, model({ inputs: x, outputs: [mu, ls] }));
      },
    }),
  );
  register(
    definePlugin({
      kind: 'decoder',
      name: 'test-smooth',
      configSchema: smoothConfig,
      create: (c, ctx): Decoder => {
        const [h, w, ch] = c.imageShape;
        const seed = ctx.seed ?? 2;
        const zIn = input({ shape: [c.latentDim] });
        const t = dense(12, 'h', seed, 'tanh').apply(zIn) as SymbolicTensor;
        const o = dense(h * w * ch, 'o', seed).apply(t) as SymbolicTensor;
        const img = layers.reshape({ targetShape: [h, w, ch] }).apply(o) as SymbolicTensor;
        return new LogitsDecoder([h, w, ch], c.latentDim, model({ inputs: zIn, outputs: img }));
      },
    }),
  );
}

type Part = { readonly name: string; readonly config: Record<string, unknown> };
const infogan: Part = { name: 'infogan', config: { convDims: [3, 4], fcDim: 8, spectralNorm: false } };
const smooth: Part = { name: 'test-smooth', config: {} };

function vae(
  likelihood: 'optimal-gamma' | 'fixed-gamma',
  fixedGamma = 1,
  part: Part = infogan,
): Stage1VaeModel {
  return createStage1Vae(
    {
      encoder: part,
      decoder: part,
      latentDim: 3,
      imageShape: [8, 8, 1],
      likelihood,
      fixedGamma,
      gammaFloor: 1e-4,
    },
    { seed: 5 },
  );
}

/** The loss (a number) in inference mode, with the noise seeded. */
function lossOf(m: Stage1VaeModel, x: tf.Tensor4D): number {
  return tf.tidy(() => m.loss(x, { training: false, seed: 9 }).loss.dataSync()[0] as number);
}

describe('stage-1 optimal gamma', () => {
  it('at fixed weights, gamma* = sqrt(mse) and no fixed gamma on a grid gives a lower loss', () => {
    const x = randomImages([6, 8, 8, 1], 3);
    const opt = vae('optimal-gamma');
    const best = lossOf(opt, x);
    const gStar = tf.tidy(() => opt.loss(x, { training: false, seed: 9 }).gamma.dataSync()[0] as number);
    // gamma* = sqrt of the mean squared error of the reconstruction with the same noise
    const mse = tf.tidy(() => {
      const { mu, logSigma } = opt.encode(x, { training: false });
      const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', 9);
      const xr = opt.decode(tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D, { training: false });
      return tf.mean(tf.square(tf.sub(x, xr))).dataSync()[0] as number;
    });
    expect(gStar).toBeCloseTo(Math.sqrt(mse), 6);
    const shared: NamedWeight[] = opt.getWeights().filter((w) => w.name !== 'logGamma');
    let lowest = Number.POSITIVE_INFINITY;
    let argmin = 0;
    for (let k = -20; k <= 20; k++) {
      const g = gStar * Math.exp(k * 0.1);
      const fixed = vae('fixed-gamma', g);
      fixed.setWeights(shared);
      const l = lossOf(fixed, x);
      if (l < lowest) {
        lowest = l;
        argmin = g;
      }
      expect(l, `gamma ${g}`).toBeGreaterThanOrEqual(best - 1e-4 * Math.abs(best));
      fixed.dispose();
    }
    expect(argmin).toBeCloseTo(gStar, 6); // the grid's best is its k = 0 point, gamma*
    tf.dispose(x);
    opt.dispose();
  });

  it('its gradient w.r.t. the weights matches central finite differences and the fixed-gamma gradient at gamma*', () => {
    const x = randomImages([6, 8, 8, 1], 4);
    const opt = vae('optimal-gamma', 1, smooth);
    const vars = opt.trainableVariables();
    expect(vars.some((v) => v.name.includes('logGamma'))).toBe(false);
    const { grads, value } = tf.variableGrads(() => opt.loss(x, { training: false, seed: 9 }).loss, vars);
    const gStar = tf.tidy(() => opt.loss(x, { training: false, seed: 9 }).gamma.dataSync()[0] as number);
    // the same weights with gamma held at gamma*: the envelope theorem says the gradients agree
    const fixed = vae('fixed-gamma', gStar, smooth);
    fixed.setWeights(opt.getWeights().filter((w) => w.name !== 'logGamma'));
    const fixedGrads = tf.variableGrads(
      () => fixed.loss(x, { training: false, seed: 9 }).loss,
      fixed.trainableVariables(),
    );
    const byName = (gs: tf.NamedTensorMap, vs: tf.Variable[]) => vs.map((v) => gs[v.name] as tf.Tensor);
    const g1 = byName(grads, vars);
    const g2 = byName(fixedGrads.grads, fixed.trainableVariables());
    let checked = 0;
    for (let i = 0; i < vars.length; i++) {
      const v = vars[i] as tf.Variable;
      const g = (g1[i] as tf.Tensor).dataSync();
      const gf = (g2[i] as tf.Tensor).dataSync();
      // the largest-gradient entry of each variable
      let j = 0;
      for (let k = 1; k < g.length; k++) if (Math.abs(g[k] as number) > Math.abs(g[j] as number)) j = k;
      const gj = g[j] as number;
      if (Math.abs(gj) < 1e-2) continue;
      expect(gf[j] as number, `${v.name} vs fixed gamma`).toBeCloseTo(gj, 3);
      const w0 = v.dataSync().slice();
      const h = 1e-2;
      const at = (delta: number) => {
        const w = w0.slice();
        w[j] = (w[j] as number) + delta;
        v.assign(tf.tensor(w, v.shape));
        return lossOf(opt, x);
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      v.assign(tf.tensor(w0, v.shape));
      expect(
        Math.abs(fd - gj) / Math.max(1, Math.abs(gj)),
        `${v.name}[${j}]: fd ${fd}, grad ${gj}`,
      ).toBeLessThan(2e-2);
      checked++;
    }
    expect(checked).toBeGreaterThan(4);
    tf.dispose([x, value, ...Object.values(grads), fixedGrads.value, ...Object.values(fixedGrads.grads)]);
    opt.dispose();
    fixed.dispose();
  });

  it('training writes the batch optimum into logGamma (checkpointed like a weight); inference does not', () => {
    const x = randomImages([6, 8, 8, 1], 5);
    const opt = vae('optimal-gamma');
    expect(opt.gamma()).toBe(1);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      opt.loss(x, { training: false, seed: 1 });
    });
    expect(opt.gamma()).toBe(1);
    const g = tf.tidy(() => opt.loss(x, { training: true, seed: 1 }).gamma.dataSync()[0] as number);
    expect(opt.gamma()).toBeCloseTo(g, 6);
    expect(tf.memory().numTensors).toBe(before);
    expect(opt.getWeights().some((w) => w.name === 'logGamma')).toBe(true);
    tf.dispose(x);
    opt.dispose();
  });
});

describe('mlp optimal gamma_z', () => {
  it('the loss at gamma_z* is the lowest over gamma_z, the state is not trained, and training writes it', () => {
    const z = tf.tidy(() => tf.mul(tf.randomNormal([16, 3], 0, 1, 'float32', 7), 0.7) as tf.Tensor2D);
    const opt = new MlpSecondStage(
      mlpConfigSchema.parse({ latentDim: 3, width: 8, depth: 1, gamma: 'optimal' }),
      3,
    );
    const learned = new MlpSecondStage(mlpConfigSchema.parse({ latentDim: 3, width: 8, depth: 1 }), 3);
    expect(opt.trainableVariables()).toHaveLength(learned.trainableVariables().length - 1);
    const lossAt = (m: MlpSecondStage) =>
      tf.tidy(() => m.loss(z, { training: false, seed: 2 }).loss.dataSync()[0] as number);
    const best = lossAt(opt);
    const lgStar = tf.tidy(() =>
      Math.log(opt.loss(z, { training: false, seed: 2 }).gamma.dataSync()[0] as number),
    );
    for (let d = -1.5; d <= 1.5; d += 0.1) {
      learned.logGamma().assign(tf.scalar(lgStar + d));
      expect(lossAt(learned)).toBeGreaterThanOrEqual(best - 1e-4 * Math.abs(best));
    }
    tf.tidy(() => {
      opt.loss(z, { training: true, seed: 2 });
    });
    expect(Math.log(opt.gamma())).toBeCloseTo(lgStar, 5);
    tf.dispose(z);
    opt.dispose();
    learned.dispose();
  });
});
