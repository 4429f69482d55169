import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { registerHigherOrderGradients } from '../gradients';
import { batchMatMulPlan } from '../wasm-kernels/batch-mat-mul';
import {
  registerTensorflowKernels,
  tensorflowKernelsRegistered,
  unregisterTensorflowKernels,
} from './kernels';
import { probeTensorflow, skipTitle, TENSORFLOW_REQUIRED } from './test-helpers';

const probe = await probeTensorflow();

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Runs `f` on a backend with fresh inputs, returning the output values; checks for leaks. */
async function on(
  backend: string,
  data: Array<[Float32Array, number[]]>,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xs = data.map(([v, s]) => tf.tensor(v, s));
  const y = f(...xs);
  const result = { shape: y.shape, values: Float32Array.from(y.dataSync() as Float32Array) };
  tf.dispose([y, ...xs]);
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

function worstRelative(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  return worst / Math.max(scale, 1e-30);
}

async function compare(
  data: Array<[Float32Array, number[]]>,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  rel = 1e-5,
) {
  const cpu = await on('cpu', data, f);
  const native = await on('tensorflow', data, f);
  expect(native.shape).toEqual(cpu.shape);
  expect(worstRelative(native.values, cpu.values)).toBeLessThanOrEqual(rel);
  return { cpu, native };
}

/** [aShape, bShape, transposeA, transposeB] */
type MatCase = [number[], number[], boolean, boolean];
const matCases: MatCase[] = [
  [[64, 96], [200, 96], false, true], // dense forward-like A B^T, large B: C^T plan
  [[96, 64], [96, 200], true, false], // weight-gradient-like A^T B
  [[7, 5], [3, 7], true, true],
  [[5, 7], [3, 5], true, true],
  [[3, 6, 4], [3, 5, 4], false, true], // batched
  [[3, 4, 6], [1, 4, 5], true, false], // batched with broadcasting
  [[1, 300], [2, 300], false, true], // one row
  [[33, 1], [33, 17], true, false],
];

describe.runIf(TENSORFLOW_REQUIRED)('the tensorflow backend (TSVAE_TEST_TENSORFLOW=1)', () => {
  it('is available', () => {
    expect(probe.ok ? 'available' : probe.reason).toBe('available');
  });
});

describe.skipIf(!probe.ok)(skipTitle('tensorflow kernels agree with the cpu backend', probe), () => {
  it('registered: the native ReLU gradients, and the transposing BatchMatMul only without oneDNN', async () => {
    const all = ['BatchMatMul', 'TsvaeReluGrad', 'TsvaeLeakyReluGrad'];
    const onednn = probe.ok && probe.info.native?.onednn === true;
    // what initBackend registered for the oneDNN setting it loaded TensorFlow with
    expect(probe.ok && probe.info.trainingKernels).toEqual(onednn ? all.slice(1) : all);
    await tf.setBackend('tensorflow');
    const a = tf.ones([4, 3]);
    const b = tf.ones([5, 3]);
    const kernels = async () => {
      const p = await tf.profile(() => tf.matMul(a, b, false, true));
      tf.dispose(p.result as tf.Tensor);
      return p.kernelNames;
    };
    expect(registerTensorflowKernels()).toEqual(all);
    expect(await kernels()).toContain('Transpose'); // ours materialises the cheaper transpose
    // with oneDNN the stock kernel (adj_x / adj_y) comes back, also after ours was registered
    expect(registerTensorflowKernels({ onednn: true })).toEqual(all.slice(1));
    expect(tensorflowKernelsRegistered()).toEqual(all.slice(1));
    expect(await kernels()).toEqual(['BatchMatMul']);
    // the comparisons below run on ours
    expect(registerTensorflowKernels()).toEqual(all);
    expect(tensorflowKernelsRegistered()).toEqual(all);
    tf.dispose([a, b]);
  });

  it('covers both plans of the transposed product', () => {
    const plans = matCases.map(([a, b, ta, tb]) => {
      const m = ta ? a.at(-1)! : a.at(-2)!;
      const k = ta ? a.at(-2)! : a.at(-1)!;
      const n = tb ? b.at(-2)! : b.at(-1)!;
      return batchMatMulPlan(m, k, n, size(a.slice(0, -2)), size(b.slice(0, -2)), ta, tb);
    });
    expect(new Set(plans)).toEqual(new Set(['transpose-operands', 'transpose-output']));
  });

  it.each(matCases)('BatchMatMul a%j b%j transposeA=%s transposeB=%s', async (a, b, ta, tb) => {
    await compare(
      [
        [values(size(a), 1), a],
        [values(size(b), 2), b],
      ],
      (x, y) => tf.matMul(x!, y!, ta, tb),
    );
  });

  it('the ReLU and leaky-ReLU gradients are TensorFlow single ops, equal to the cpu backend', async () => {
    const x = values(4 * 257, 3);
    x[0] = 0;
    x[1] = -0;
    const dy = values(4 * 257, 4);
    for (const act of [(t: tf.Tensor) => tf.relu(t), (t: tf.Tensor) => tf.leakyRelu(t, 0.2)]) {
      const f = (xt: tf.Tensor, dyt: tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(act(t), dyt)))(xt);
      const { cpu, native } = await compare(
        [
          [x, [4, 257]],
          [dy, [4, 257]],
        ],
        f,
        0,
      );
      expect(Array.from(native.values)).toEqual(Array.from(cpu.values));
    }
    await tf.setBackend('tensorflow');
    const xs = tf.tensor(x, [4, 257]);
    const profile = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(xs));
    expect(profile.kernelNames).toContain('TsvaeReluGrad');
    expect(profile.kernelNames).not.toContain('Step');
    const leaky = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(tf.leakyRelu(t, 0.1)))(xs));
    expect(leaky.kernelNames).toContain('TsvaeLeakyReluGrad');
    expect(leaky.kernelNames).not.toContain('Select');
    tf.dispose([xs, profile.result as tf.Tensor, leaky.result as tf.Tensor]);
  });

  it('second-order gradients through the native gradient kernels (a gradient penalty) match the cpu backend', async () => {
    registerHigherOrderGradients();
    const penaltyGrad = (wt: tf.Tensor, xt: tf.Tensor) => {
      const w = tf.variable(wt, true, `w${Math.random()}`);
      const { value, grads } = tf.variableGrads(() => {
        const g = tf.grad((t: tf.Tensor) =>
          tf.sum(tf.relu(tf.leakyRelu(tf.matMul(t as tf.Tensor2D, w as tf.Tensor2D), 0.2))),
        )(xt);
        return tf.sum(tf.square(g)) as tf.Scalar;
      }, [w]);
      const out = tf.clone(grads[w.name]!);
      tf.dispose([w, value, ...Object.values(grads)]);
      return out;
    };
    await compare(
      [
        [values(6 * 5, 5), [6, 5]],
        [values(4 * 6, 6), [4, 6]],
      ],
      penaltyGrad,
    );
  });

  it('off the tensorflow backend the stock gradients run (the replacements delegate)', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor1d([-1, 0, 2]);
    const profile = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x));
    expect(profile.kernelNames).toContain('Step');
    expect(profile.kernelNames).not.toContain('TsvaeReluGrad');
    tf.dispose([x, profile.result as tf.Tensor]);
  });

  it('unregistering restores tfjs-node, registering again repairs', async () => {
    await tf.setBackend('tensorflow');
    const x = tf.tensor1d([-1, 0, 2]);
    unregisterTensorflowKernels();
    expect(tensorflowKernelsRegistered()).toEqual([]);
    const stock = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x));
    expect(stock.kernelNames).toContain('Step');
    registerTensorflowKernels();
    const ours = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(tf.relu(t)))(x));
    expect(ours.kernelNames).toContain('TsvaeReluGrad');
    tf.dispose([x, stock.result as tf.Tensor, ours.result as tf.Tensor]);
  });
});
