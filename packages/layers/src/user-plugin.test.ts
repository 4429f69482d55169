/**
 * Section 6: the plugin interfaces suffice. A user-defined encoder (plain tf variables, no
 * tfjs-layers) is registered, a VAE is built with it through the registry, and it trains.
 */
import * as tf from '@tensorflow/tfjs-core';
import { definePlugin, type Encoder, getRegistry, type NamedWeight, register, z } from '@tsvae/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStage1Vae, loadStage1Vae, memoryIO, saveStage1Vae, stage1Step } from './index';
import { randomImages, useCpu, withSeed } from './test-helpers';

beforeAll(useCpu);
afterAll(() => {
  getRegistry().unregister('encoder', 'test-user-dense');
});

/** A one-hidden-layer dense encoder implementing core's `Encoder`. */
function userDenseEncoder(imageShape: [number, number, number], latentDim: number, hidden: number): Encoder {
  const d = imageShape[0] * imageShape[1] * imageShape[2];
  const vars = tf.tidy(() => ({
    w1: tf.variable(tf.randomNormal([d, hidden], 0, Math.sqrt(2 / d))),
    b1: tf.variable(tf.zeros([hidden])),
    wMu: tf.variable(tf.randomNormal([hidden, latentDim], 0, 0.02)),
    bMu: tf.variable(tf.zeros([latentDim])),
    wLs: tf.variable(tf.randomNormal([hidden, latentDim], 0, 0.02)),
    bLs: tf.variable(tf.zeros([latentDim])),
  }));
  const entries = Object.entries(vars);
  return {
    inputShape: imageShape,
    latentDim,
    trainableVariables: () => Object.values(vars),
    getWeights: (): NamedWeight[] => entries.map(([name, tensor]) => ({ name, tensor })),
    setWeights(weights) {
      for (const [name, v] of entries) {
        const w = weights.find((x) => x.name === name);
        if (!w) throw new Error(`setWeights: missing weight "${name}"`);
        v.assign(w.tensor);
      }
    },
    countParams: () => entries.reduce((s, [, v]) => s + v.size, 0),
    dispose: () => tf.dispose(Object.values(vars)),
    encode: (x) =>
      tf.tidy(() => {
        const h = tf.relu(tf.add(tf.matMul(tf.reshape(x, [x.shape[0], d]), vars.w1), vars.b1));
        return {
          mu: tf.add(tf.matMul(h, vars.wMu), vars.bMu) as tf.Tensor2D,
          logSigma: tf.add(tf.matMul(h, vars.wLs), vars.bLs) as tf.Tensor2D,
        };
      }),
  };
}

describe('a user-defined encoder through the registry', () => {
  it('registers, builds a VAE with createStage1Vae, trains (loss goes down) and saves/loads', async () => {
    register(
      definePlugin({
        kind: 'encoder',
        name: 'test-user-dense',
        configSchema: z.object({
          imageShape: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
          latentDim: z.number().int().positive(),
          hidden: z.number().int().positive().default(32),
        }),
        create: (c) => userDenseEncoder(c.imageShape, c.latentDim, c.hidden),
      }),
    );
    const vae = withSeed(3, () =>
      createStage1Vae({
        encoder: { name: 'test-user-dense', config: { hidden: 16 } },
        decoder: { name: 'infogan', config: { convDims: [4, 8], fcDim: 16 } },
        latentDim: 4,
        imageShape: [8, 8, 1],
      }),
    );
    expect(vae.encoder.countParams()).toBe(64 * 16 + 16 + 2 * (16 * 4 + 4));
    const x = randomImages([8, 8, 8, 1], 4);
    const evalLoss = () =>
      tf.tidy(() => vae.loss(x, { training: false, seed: 123 }).loss.dataSync()[0] as number);
    const opt = tf.train.adam(1e-3);
    const first = stage1Step(vae, opt, x, 0);
    const before = evalLoss();
    const numTensors = tf.memory().numTensors;
    let last = first;
    for (let i = 1; i < 30; i++) last = stage1Step(vae, opt, x, i);
    expect(tf.memory().numTensors).toBe(numTensors); // no leak per step
    expect(last.loss).toBeLessThan(first.loss);
    expect(evalLoss()).toBeLessThan(before);
    expect(vae.gamma()).toBeLessThan(1); // the learned gamma moved

    // it saves and loads through the registry like a built-in
    const handler = memoryIO();
    await saveStage1Vae(vae, handler);
    const loaded = await loadStage1Vae(handler);
    const a = vae.loss(x, { training: false, seed: 1 }).loss;
    const b = loaded.loss(x, { training: false, seed: 1 }).loss;
    expect(b.dataSync()[0]).toBe(a.dataSync()[0]);
    tf.dispose([a, b, x]);
    opt.dispose();
    vae.dispose();
    loaded.dispose();
  });
});
