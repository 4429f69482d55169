import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import { createSync } from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createStage1Vae,
  type InfoganEncoder,
  LearnedGamma,
  loadSecondStage,
  loadStage1Vae,
  type MlpSecondStage,
  memoryIO,
  saveSecondStage,
  saveStage1Vae,
  stage1Step,
} from './index';
import { randomImages, useCpu, withSeed } from './test-helpers';

beforeAll(useCpu);

function same(a: tf.Tensor, b: tf.Tensor): void {
  expect(a.shape).toEqual(b.shape);
  expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
}

describe('save -> load', () => {
  for (const name of ['infogan', 'resnet'] as const) {
    it(`a stage-1 VAE (${name}) gives identical outputs`, async () => {
      const config =
        name === 'infogan' ? { convDims: [3, 4], fcDim: 8 } : { baseDim: 2, numScale: 2, fcDim: 8 };
      const vae = withSeed(1, () =>
        createStage1Vae({
          encoder: { name, config },
          decoder: { name, config },
          latentDim: 3,
          imageShape: [8, 8, 1],
        }),
      );
      const x = randomImages([4, 8, 8, 1], 2);
      // a couple of steps so BatchNorm statistics, u vectors and logGamma are not at their init
      const opt = tf.train.adam(1e-2);
      for (let i = 0; i < 2; i++) stage1Step(vae, opt, x, i);
      const handler = memoryIO();
      await saveStage1Vae(vae, handler);
      const loaded = await loadStage1Vae(handler);
      expect(loaded.getWeights().map((w) => w.name)).toEqual(vae.getWeights().map((w) => w.name));
      expect(loaded.gamma()).toBe(vae.gamma());
      const a = vae.encode(x, { training: false });
      const b = loaded.encode(x, { training: false });
      same(a.mu, b.mu);
      same(a.logSigma, b.logSigma);
      const da = vae.decode(a.mu, { training: false });
      const db = loaded.decode(b.mu, { training: false });
      same(da, db);
      const la = vae.loss(x, { training: false, seed: 3 });
      const lb = loaded.loss(x, { training: false, seed: 3 });
      same(la.loss, lb.loss);
      tf.dispose([a.mu, a.logSigma, b.mu, b.logSigma, da, db, la.loss, la.kl, la.reconstruction, la.gamma]);
      tf.dispose([lb.loss, lb.kl, lb.reconstruction, lb.gamma, x]);
      opt.dispose();
      vae.dispose();
      loaded.dispose();
    });
  }

  it('the mlp second stage gives identical samples and losses', async () => {
    const stage = withSeed(4, () => createSync('second-stage', 'mlp', { latentDim: 4, width: 16, depth: 2 }));
    const z = tf.randomNormal([8, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const handler = memoryIO();
    const artifacts = await saveSecondStage(stage, handler);
    expect(artifacts.weightSpecs?.map((s) => s.name)).toContain('decoder/loggamma_z/logGamma');
    const loaded = await loadSecondStage(handler);
    same(stage.sample(5, { seed: 9 }), loaded.sample(5, { seed: 9 }));
    same(stage.loss(z, { training: false }).kl, loaded.loss(z, { training: false }).kl);
    stage.dispose();
    loaded.dispose();
  });

  it('tfjs-layers models with the custom layers (spectral norm, BatchNorm, LearnedGamma) round-trip through tf.loadLayersModel', async () => {
    const enc = withSeed(5, () =>
      createSync('encoder', 'infogan', { imageShape: [8, 8, 1], latentDim: 2, convDims: [2, 3], fcDim: 4 }),
    ) as InfoganEncoder;
    const x = randomImages([2, 8, 8, 1], 6);
    tf.dispose(enc.encode(x, { training: true }) as unknown as tf.Tensor[]);
    const h1 = memoryIO();
    await enc.model.save(h1);
    const topo = JSON.stringify(h1.artifacts?.modelTopology);
    for (const cls of ['TsvaeSpectralNormConv2D', 'TsvaeSpectralNormDense', 'TsvaeBatchNorm'])
      expect(topo).toContain(cls);
    const m = await loadLayersModel(h1);
    same(enc.model.predict(x) as tf.Tensor, m.predict(x) as tf.Tensor);

    const stage = withSeed(6, () =>
      createSync('second-stage', 'mlp', { latentDim: 3, width: 8, depth: 1 }),
    ) as MlpSecondStage;
    stage.logGamma().assign(tf.scalar(-1.25));
    const h2 = memoryIO();
    await stage.decoderModel.save(h2);
    expect(JSON.stringify(h2.artifacts?.modelTopology)).toContain('"class_name":"LearnedGamma"');
    const dm = await loadLayersModel(h2);
    const gl = dm.getLayer('loggamma_z');
    expect(gl).toBeInstanceOf(LearnedGamma);
    expect((gl as LearnedGamma).gamma()).toBeCloseTo(Math.exp(-1.25), 6);
    const u = tf.randomNormal([2, 3], 0, 1, 'float32', 2);
    const [za, ga] = stage.decoderModel.predict(u) as tf.Tensor[];
    const [zb, gb] = dm.predict(u) as tf.Tensor[];
    same(za as tf.Tensor, zb as tf.Tensor);
    same(ga as tf.Tensor, gb as tf.Tensor);
    enc.dispose();
    stage.dispose();
    m.dispose();
    dm.dispose();
  });
});

describe('mlp second stage', () => {
  it('has the skip concat and its loss decreases on a fixed batch', () => {
    const stage = withSeed(8, () =>
      createSync('second-stage', 'mlp', { latentDim: 4, secondLatentDim: 3, width: 32, depth: 3 }),
    ) as MlpSecondStage;
    const concat = stage.encoderModel.getLayer('skip_concat');
    expect(concat.outputShape).toEqual([null, 4 + 32]);
    expect(stage.decoderModel.getLayer('skip_concat').outputShape).toEqual([null, 3 + 32]);
    // parameters: encoder 4->32->32->32, [36]->3 twice; decoder 3->32->32->32, [35]->4; logGamma_z
    const enc = 4 * 32 + 32 + 2 * (32 * 32 + 32) + 2 * (36 * 3 + 3);
    const dec = 3 * 32 + 32 + 2 * (32 * 32 + 32) + (35 * 4 + 4) + 1;
    expect(stage.countParams()).toBe(enc + dec);
    const r = tf.randomNormal([32, 4], 0, 1, 'float32', 3);
    const z = tf.tidy(() =>
      tf.add(tf.mul(r, tf.tensor1d([2, 0.5, 1, 0.1])), tf.tensor1d([1, -1, 0, 3])),
    ) as tf.Tensor2D;
    const evalLoss = () =>
      tf.tidy(() => stage.loss(z, { training: false, seed: 77 }).loss.dataSync()[0] as number);
    const before = evalLoss();
    const opt = tf.train.adam(3e-3);
    for (let i = 0; i < 60; i++) {
      const cost = opt.minimize(
        () => stage.loss(z, { training: true, seed: i }).loss,
        true,
        stage.trainableVariables(),
      );
      cost?.dispose();
    }
    const after = evalLoss();
    expect(after).toBeLessThan(before - 1);
    expect(stage.diagnostics()).toEqual({ gamma: stage.gamma() });
    expect(stage.gamma()).not.toBe(1); // logGamma_z is trained too
    const s = stage.sample(6, { seed: 1 });
    expect(s.shape).toEqual([6, 4]);
    same(s, stage.sample(6, { seed: 1 }));
    opt.dispose();
    tf.dispose([r, z, s]);
    stage.dispose();
  });
});
