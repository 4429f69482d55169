import * as tf from '@tensorflow/tfjs-core';
import { createSync, getRegistry, InvalidConfigError } from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import '@tsvae/layers';
import { registerLayersPlugins, resnetConfigSchema, resnetDecoderPlan } from '@tsvae/layers';
import { randomImages, useCpu } from './test-helpers';

beforeAll(useCpu);

type Shape = [number, number, number];

function roundTripShapes(name: string, shape: Shape, config: Record<string, unknown>, latentDim = 8): void {
  const cfg = { ...config, imageShape: shape, latentDim };
  const enc = createSync('encoder', name, cfg);
  const dec = createSync('decoder', name, cfg);
  const before = tf.memory().numTensors;
  const x = randomImages([2, ...shape], 1);
  for (const training of [true, false]) {
    const { mu, logSigma } = enc.encode(x, { training });
    expect(mu.shape).toEqual([2, latentDim]);
    expect(logSigma.shape).toEqual([2, latentDim]);
    const out = dec.decode(mu, { training });
    expect(out.mean.shape).toEqual([2, ...shape]);
    const m = out.mean.dataSync();
    expect(m.every((v) => v >= 0 && v <= 1)).toBe(true);
    tf.dispose([mu, logSigma, out.mean, out.logits as tf.Tensor]);
  }
  x.dispose();
  expect(tf.memory().numTensors).toBe(before);
  expect(enc.inputShape).toEqual(shape);
  expect(dec.outputShape).toEqual(shape);
  enc.dispose();
  dec.dispose();
}

describe('output shapes', () => {
  const shapes: Shape[] = [
    [28, 28, 1],
    [32, 32, 3],
    [64, 64, 3],
  ];
  for (const s of shapes) {
    it(`infogan ${s.join('x')}`, () => roundTripShapes('infogan', s, { convDims: [4, 8], fcDim: 16 }));
    it(`resnet ${s.join('x')}`, () => roundTripShapes('resnet', s, { baseDim: 2, numScale: 3, fcDim: 8 }));
  }
  it('infogan 28x28x1 at the recipe sizes', () => roundTripShapes('infogan', [28, 28, 1], {}, 64));
  it('wae 64x64x3 (small channels)', () => roundTripShapes('wae', [64, 64, 3], { baseDim: 2 }));
  it('wae 32x32x3 (small channels)', () => roundTripShapes('wae', [32, 32, 3], { baseDim: 2 }));
  it('wae at the recipe sizes: symbolic shapes and parameter count', () => {
    const enc = createSync('encoder', 'wae', { imageShape: [64, 64, 3] });
    const dec = createSync('decoder', 'wae', { imageShape: [64, 64, 3] });
    const em = (enc as unknown as { model: { outputs: { shape: unknown }[] } }).model;
    const dm = (dec as unknown as { model: { outputs: { shape: unknown }[] } }).model;
    expect(em.outputs.map((o) => o.shape)).toEqual([
      [null, 64],
      [null, 64],
    ]);
    expect(dm.outputs[0]?.shape).toEqual([null, 64, 64, 3]);
    // encoder: conv5x5 3->128, 128->256, 256->512, 512->1024 (+bias), BN gamma/beta, dense 8*8*1024 -> 64 twice
    const conv = (i: number, o: number) => 25 * i * o + o;
    const encCount =
      conv(3, 128) +
      conv(128, 256) +
      conv(256, 512) +
      conv(512, 1024) +
      2 * (128 + 256 + 512 + 1024) +
      2 * (65536 * 64 + 64);
    expect(enc.countParams()).toBe(encCount);
    // decoder: dense 64 -> 65536, deconv 1024->512, 512->256, 256->128, 128->3, BN on the first three
    const decCount =
      64 * 65536 +
      65536 +
      conv(1024, 512) +
      conv(512, 256) +
      conv(256, 128) +
      conv(128, 3) +
      2 * (512 + 256 + 128);
    expect(dec.countParams()).toBe(decCount);
    enc.dispose();
    dec.dispose();
  });
});

describe('infogan parameter count', () => {
  it('matches a hand count on 28x28x1 with latentDim 64', () => {
    const cfg = { imageShape: [28, 28, 1], latentDim: 64 };
    const enc = createSync('encoder', 'infogan', cfg);
    const dec = createSync('decoder', 'infogan', cfg);
    // Encoder (spectral-norm u vectors and BN moving statistics are not trainable):
    const conv1 = 4 * 4 * 1 * 64 + 64; // 1088
    const conv2 = 4 * 4 * 64 * 128 + 128; // 131200
    const bn2 = 2 * 128; // 256
    const fc3 = 7 * 7 * 128 * 1024 + 1024; // 6423552
    const bn3 = 2 * 1024; // 2048
    const en4 = 1024 * 128 + 128; // 131200
    expect(enc.countParams()).toBe(conv1 + conv2 + bn2 + fc3 + bn3 + en4);
    expect(enc.countParams()).toBe(6689344);
    // Decoder:
    const fc1 = 64 * 1024 + 1024; // 66560
    const bn1 = 2 * 1024; // 2048
    const fc2 = 1024 * 6272 + 6272; // 6428800
    const dbn2 = 2 * 6272; // 12544
    const conv3 = 4 * 4 * 64 * 128 + 64; // 131136
    const bn3d = 2 * 64; // 128
    const conv4 = 4 * 4 * 1 * 64 + 1; // 1025
    expect(dec.countParams()).toBe(fc1 + bn1 + fc2 + dbn2 + conv3 + bn3d + conv4);
    expect(dec.countParams()).toBe(6642241);
    // Every weight, trainable or not, is named uniquely.
    const names = enc.getWeights().map((w) => w.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining([
        'conv1/kernel',
        'conv1/u',
        'bn2/moving_mean',
        'bn2/moving_variance',
        'bn2/step',
        'en4/u',
      ]),
    );
    const trainable = enc.trainableVariables().reduce((s, v) => s + v.size, 0);
    expect(trainable).toBe(enc.countParams());
    enc.dispose();
    dec.dispose();
  });
});

describe('registration and config validation', () => {
  it('registers every plugin, idempotently', () => {
    registerLayersPlugins();
    registerLayersPlugins();
    const r = getRegistry();
    for (const n of ['infogan', 'wae', 'resnet']) {
      expect(r.has('encoder', n)).toBe(true);
      expect(r.has('decoder', n)).toBe(true);
    }
    expect(r.has('second-stage', 'mlp')).toBe(true);
  });

  it('fills in defaults', () => {
    const c = getRegistry().resolveConfig('encoder', 'infogan', { inputShape: [28, 28, 1] });
    expect(c).toMatchObject({ imageShape: [28, 28, 1], latentDim: 64, convDims: [64, 128], fcDim: 1024 });
    const m = getRegistry().resolveConfig('second-stage', 'mlp', { latentDim: 16 });
    expect(m).toMatchObject({
      latentDim: 16,
      secondLatentDim: 16,
      depth: 3,
      width: 1024,
      gammaConvention: 'std',
    });
  });

  const bad: [string, string, Record<string, unknown>, string][] = [
    ['encoder', 'infogan', { imageShape: [30, 28, 1] }, 'imageShape'],
    ['encoder', 'infogan', {}, 'imageShape'],
    ['encoder', 'infogan', { imageShape: [28, 28, 1], latentDim: 0 }, 'latentDim'],
    ['decoder', 'infogan', { outputShape: [28, 28, 1], fcDim: 'big' }, 'fcDim'],
    ['encoder', 'wae', { imageShape: [28, 28, 3] }, 'imageShape'],
    ['encoder', 'resnet', { imageShape: [32, 32, 3], kernelSize: -1 }, 'kernelSize'],
    ['second-stage', 'mlp', { latentDim: 8, width: 2.5 }, 'width'],
    ['second-stage', 'mlp', { gammaConvention: 'precision' }, 'gammaConvention'],
  ];
  for (const [kind, name, config, field] of bad) {
    it(`${kind} ${name}: an invalid ${field} is named`, () => {
      let err: unknown;
      try {
        createSync(kind as 'encoder', name, config);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidConfigError);
      expect(String((err as Error).message)).toContain(field);
      expect(String((err as Error).message)).toContain(name);
    });
  }

  it('plans the resnet decoder like the reference code', () => {
    const c32 = resnetConfigSchema.parse({ imageShape: [32, 32, 3] });
    expect(resnetDecoderPlan(c32)).toEqual({ start: [2, 2], dims: [256, 128, 64, 32, 16] });
    const c28 = resnetConfigSchema.parse({ imageShape: [28, 28, 1] });
    expect(resnetDecoderPlan(c28)).toEqual({ start: [7, 7], dims: [64, 32, 16] });
  });
});

function checkStep(config: Record<string, unknown>): Promise<void> {
  return import('./index').then(({ createStage1Vae, stage1Step }) => {
    const vae = createStage1Vae({
      encoder: { name: 'infogan', config },
      decoder: { name: 'infogan', config },
      imageShape: [28, 28, 1],
    });
    const x = randomImages([4, 28, 28, 1], 1);
    const before = vae.trainableVariables().map((v) => v.clone());
    const opt = tf.train.adam(1e-4);
    const r = stage1Step(vae, opt, x, 0);
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.loss).toBeCloseTo(r.reconstruction + r.kl, 2);
    const after = vae.trainableVariables();
    expect(after.length).toBe(before.length);
    after.forEach((v, i) => {
      const changed = tf.tidy(() => tf.any(tf.notEqual(v, before[i] as tf.Tensor)).dataSync()[0]);
      expect(changed, v.name).toBe(1);
    });
    tf.dispose([...before, x]);
    opt.dispose();
    vae.dispose();
  });
}

describe('training step', () => {
  it('infogan 28x28x1 (small widths), batch 4: one Adam step updates every trainable variable', () =>
    checkStep({ convDims: [8, 16], fcDim: 32 }));
});

// The cpu backend's Conv2DBackpropFilter makes this ~30 s.
describe.runIf(process.env['TSVAE_SLOW_TESTS'])('training step at the recipe sizes (slow)', () => {
  it(
    'infogan 28x28x1, batch 4: one Adam step updates every trainable variable',
    () => checkStep({}),
    120_000,
  );
});
