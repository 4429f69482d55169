import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { adam } from './adam';
import { registerWasmTrainingKernels } from './wasm-kernels/index';

beforeAll(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
});

/** Trains a tiny regression for `steps` steps and returns the final weights. */
async function train(backend: string, makeOpt: () => tf.Optimizer, steps: number) {
  await tf.setBackend(backend);
  const x = tf.tensor2d(
    Array.from({ length: 24 }, (_, i) => Math.sin(i)),
    [6, 4],
  );
  const y = tf.tensor2d(
    Array.from({ length: 12 }, (_, i) => Math.cos(i)),
    [6, 2],
  );
  const w = tf.variable(
    tf.tensor2d(
      Array.from({ length: 8 }, (_, i) => 0.1 * i - 0.3),
      [4, 2],
    ),
  );
  const b = tf.variable(tf.tensor1d([0.05, -0.02]));
  const opt = makeOpt();
  let afterFirst = 0;
  for (let i = 0; i < steps; i++) {
    const loss = opt.minimize(
      () => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar,
      true,
    );
    tf.dispose(loss as tf.Scalar);
    if (i === 0) afterFirst = tf.memory().numTensors;
  }
  // no tensor leaks per step
  expect(tf.memory().numTensors).toBe(afterFirst);
  const out = [w.dataSync().slice(), b.dataSync().slice()];
  const named = await opt.getWeights();
  const moments = named.length;
  const weights = named.map((t) => ({ name: t.name, values: t.tensor.dataSync().slice() as Float32Array }));
  tf.dispose(named.filter((t) => t.name === 'iter').map((t) => t.tensor));
  opt.dispose();
  tf.dispose([x, y, w, b]);
  return { out, moments, weights, opt };
}

describe('FusedAdamOptimizer', () => {
  it('matches tf.train.adam on the cpu backend step for step', async () => {
    const ref = await train('cpu', () => tf.train.adam(0.05), 7);
    const fused = await train('wasm', () => adam(0.05), 7);
    expect((fused.opt as ReturnType<typeof adam>).fusedSteps).toBe(7);
    expect(fused.moments).toBe(ref.moments);
    for (let k = 0; k < 2; k++) {
      const a = fused.out[k]!;
      const e = ref.out[k]!;
      for (let i = 0; i < e.length; i++) expect(Math.abs(a[i]! - e[i]!)).toBeLessThan(1e-5);
      // and it moved
      expect(a.some((v, i) => Math.abs(v - (k === 0 ? 0.1 * i - 0.3 : [0.05, -0.02][i]!)) > 0.05)).toBe(true);
    }
  });

  it('matches tf.train.adam on cpu through the JS path, moments included', async () => {
    const ref = await train('cpu', () => tf.train.adam(0.05), 5);
    const fused = await train('cpu', () => adam(0.05), 5);
    expect((fused.opt as ReturnType<typeof adam>).fusedSteps).toBe(5);
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < ref.out[k]!.length; i++)
        expect(Math.abs(fused.out[k]![i]! - ref.out[k]![i]!)).toBeLessThan(1e-5);
    }
    for (let k = 0; k < ref.weights.length; k++) {
      expect(fused.weights[k]!.name.replace(/^\d+/, '')).toBe(ref.weights[k]!.name.replace(/^\d+/, ''));
      const a = fused.weights[k]!.values;
      const e = ref.weights[k]!.values;
      for (let i = 0; i < e.length; i++)
        expect(Math.abs(a[i]! - e[i]!)).toBeLessThan(1e-6 + 1e-4 * Math.abs(e[i]!));
    }
  });

  it('never mutates a tensor that shares a moment buffer (wasm)', async () => {
    await tf.setBackend('wasm');
    const w = tf.variable(tf.tensor1d([1, -2, 3]));
    const opt = adam(0.1);
    const step = () => tf.dispose(opt.minimize(() => tf.sum(tf.square(w)) as tf.Scalar, true) as tf.Scalar);
    step();
    const weights = await opt.getWeights();
    const m = weights.find((t) => t.name.endsWith('/m'))!.tensor;
    const copy = tf.clone(m); // shares the buffer on wasm
    const snapshot = Array.from(copy.dataSync());
    step();
    expect(Array.from(copy.dataSync())).toEqual(snapshot);
    expect(Array.from(m.dataSync())).not.toEqual(snapshot);
    tf.dispose([copy, weights.find((t) => t.name === 'iter')!.tensor, w]);
    opt.dispose();
  });

  it('matches tf.train.adam through the kernel path (the one tfjs-node uses)', async () => {
    const ref = await train('cpu', () => tf.train.adam(0.05), 5);
    const fused = await train(
      'cpu',
      () => {
        const o = adam(0.05);
        o.path = 'ops';
        return o;
      },
      5,
    );
    expect((fused.opt as ReturnType<typeof adam>).fusedSteps).toBe(5);
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < ref.out[k]!.length; i++)
        expect(Math.abs(fused.out[k]![i]! - ref.out[k]![i]!)).toBeLessThan(1e-5);
    }
  });
});
