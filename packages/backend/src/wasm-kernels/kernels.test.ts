import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchMatMulPlan } from './batch-mat-mul';
import { planPhaseDim } from './conv2d-backprop-input';
import { registerWasmTrainingKernels } from './index';

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];

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

/** Runs `f` on a backend with fresh inputs made from `data`, returning the output values. */
async function on(
  backend: string,
  data: Array<[Float32Array, number[]]>,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xs = data.map(([v, s]) => tf.tensor(v, s));
  const y = f(...xs);
  const result = { shape: y.shape, values: y.dataSync() as Float32Array };
  tf.dispose([y, ...xs]);
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

function expectClose(actual: Float32Array, expected: Float32Array, rel = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst).toBeLessThanOrEqual(rel * Math.max(scale, 1e-12));
}

async function compare(
  data: Array<[Float32Array, number[]]>,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  rel = 1e-5,
) {
  const cpu = await on('cpu', data, f);
  const wasm = await on('wasm', data, f);
  expect(wasm.shape).toEqual(cpu.shape);
  expectClose(wasm.values, cpu.values, rel);
}

beforeAll(async () => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.setBackend('cpu');
});

/** [batch, h, w, inC, outC, filter, stride, pad] */
type ConvCase = [
  number,
  number,
  number,
  number,
  number,
  number | [number, number],
  number | [number, number],
  Pad,
];
const convCases: ConvCase[] = [
  [2, 8, 8, 3, 4, 3, 1, 'same'],
  [2, 8, 8, 3, 4, 3, 1, 'valid'],
  [3, 9, 7, 2, 5, 4, 2, 'same'],
  [3, 9, 7, 2, 5, 4, 2, 'valid'],
  [1, 11, 11, 1, 1, 3, 2, 'same'],
  [1, 10, 10, 1, 6, 4, 2, 'same'],
  [2, 10, 12, 6, 1, 4, 2, 'valid'],
  [2, 7, 9, 3, 2, [3, 2], [2, 1], 'same'],
  [2, 8, 8, 2, 3, 3, 2, 1],
  [2, 9, 8, 2, 3, 5, 3, 'same'],
  [
    2,
    8,
    8,
    4,
    3,
    3,
    2,
    [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  ],
  [2, 6, 6, 3, 3, 1, 1, 'valid'],
  [4, 14, 14, 16, 32, 4, 2, 'same'],
];

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

describe('wasm training kernels agree with the cpu backend', () => {
  it.each(
    convCases,
  )('Conv2DBackpropFilter x[%i,%i,%i,%i] co=%i k=%j s=%j pad=%j', async (b, h, w, ci, co, k, s, pad) => {
    const [kh, kw] = pair(k);
    const info = tf.backend_util.computeConv2DInfo([b, h, w, ci], [kh, kw, ci, co], s, 1, pad);
    const xShape = [b, h, w, ci];
    const dyShape = info.outShape;
    await compare(
      [
        [values(size(xShape), 1), xShape],
        [values(size(dyShape), 2), dyShape],
      ],
      (x, dy) =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy: dy! }, {
          strides: s,
          pad,
          dataFormat: 'NHWC',
          filterShape: [kh, kw, ci, co],
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
  });

  it.each(
    convCases,
  )('Conv2DBackpropInput dx[%i,%i,%i,%i] co=%i k=%j s=%j pad=%j', async (b, h, w, ci, co, k, s, pad) => {
    const [kh, kw] = pair(k);
    const info = tf.backend_util.computeConv2DInfo([b, h, w, ci], [kh, kw, ci, co], s, 1, pad);
    const fShape = [kh, kw, ci, co];
    const dyShape = info.outShape;
    await compare(
      [
        [values(size(dyShape), 3), dyShape],
        [values(size(fShape), 4), fShape],
      ],
      (dy, f) =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: dy!, filter: f! }, {
          strides: s,
          pad,
          dataFormat: 'NHWC',
          inputShape: [b, h, w, ci],
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
  });

  it.each([
    [[64, 4, 14, 14], [128, 6, 3, 3], 2, 'same'],
    [[1, 3, 3, 5], [5, 1, 4, 4], 2, 'valid'],
  ] as Array<
    [number[], number[], number, 'same' | 'valid']
  >)('conv2dTranspose %j filter %j', async (x, f, s, pad) => {
    const [b, h, w, ci] = x as [number, number, number, number];
    const [co, , kh, kw] = f as [number, number, number, number];
    const outH = pad === 'same' ? h * s : (h - 1) * s + kh;
    const outW = pad === 'same' ? w * s : (w - 1) * s + kw;
    const xShape = [b, h, w, ci];
    const fShape = [kh, kw, co, ci];
    await compare(
      [
        [values(size(xShape), 5), xShape],
        [values(size(fShape), 6), fShape],
      ],
      (xt, ft) => tf.conv2dTranspose(xt as tf.Tensor4D, ft as tf.Tensor4D, [b, outH, outW, co], s, pad),
    );
  });

  const mm: Array<[number[], number[], boolean, boolean]> = [
    [[5, 7], [7, 3], false, false],
    [[7, 5], [7, 3], true, false],
    [[5, 7], [3, 7], false, true],
    [[7, 5], [3, 7], true, true],
    [[64, 1024], [300, 1024], false, true],
    [[64, 300], [64, 200], true, false],
    [[1, 9], [1, 9], true, false],
    [[9, 1], [4, 1], false, true],
    [[3, 4, 6], [3, 5, 6], false, true],
    [[3, 6, 4], [1, 6, 5], true, false],
    [[2, 2, 6, 4], [2, 2, 5, 6], true, true],
  ];
  it.each(mm)('BatchMatMul %j x %j tA=%s tB=%s', async (a, b, ta, tb) => {
    await compare(
      [
        [values(size(a), 7), a],
        [values(size(b), 8), b],
      ],
      (x, y) => tf.matMul(x!, y!, ta, tb),
    );
  });
});

describe('kernel plans', () => {
  it('BatchMatMul picks the plan that moves less data', () => {
    expect(batchMatMulPlan(64, 1024, 1024, 1, 1, false, true)).toBe('transpose-output');
    expect(batchMatMulPlan(1024, 64, 1024, 1, 1, true, false)).toBe('transpose-operands');
    expect(batchMatMulPlan(4, 4, 4, 1, 1, false, false)).toBe('stock');
  });

  it('Conv2DBackpropInput phases cover every filter tap once', () => {
    for (const [s, pad, k] of [
      [2, 1, 4],
      [2, 0, 4],
      [3, 2, 5],
      [2, 0, 1],
    ] as const) {
      const taps = new Set<number>();
      for (let q = 0; q < s; q++) {
        const p = planPhaseDim(q, s, pad, k, 7, 14 - (14 % s));
        for (let t = 0; t < p.taps; t++) taps.add(p.r + t * s);
      }
      expect([...taps].sort((a, b) => a - b)).toEqual(Array.from({ length: k }, (_, i) => i));
    }
  });
});

describe('gradients of a small conv VAE loss', () => {
  it('agree between wasm (with the training kernels) and cpu to 1e-5 relative', async () => {
    const b = 3;
    const shapes: Record<string, number[]> = {
      x: [b, 8, 8, 1],
      c1: [4, 4, 1, 4],
      c2: [4, 4, 4, 8],
      d1: [2 * 2 * 8, 16],
      mu: [16, 4],
      ls: [16, 4],
      eps: [b, 4],
      g1: [4, 2 * 2 * 8],
      t1: [4, 4, 4, 8],
      t2: [4, 4, 1, 4],
    };
    const names = Object.keys(shapes);
    const data = names.map((n, i): [Float32Array, number[]] => {
      const v = values(size(shapes[n]!), 11 + i);
      if (n === 'x') for (let j = 0; j < v.length; j++) v[j] = (v[j]! + 1) / 2;
      else if (n !== 'eps') for (let j = 0; j < v.length; j++) v[j] = v[j]! * 0.3;
      return [v, shapes[n]!];
    });
    const trainable = names.filter((n) => n !== 'x' && n !== 'eps');
    const loss = (t: Record<string, tf.Tensor>): tf.Scalar => {
      const x = t['x'] as tf.Tensor4D;
      let h: tf.Tensor = tf.leakyRelu(tf.conv2d(x, t['c1'] as tf.Tensor4D, 2, 'same'), 0.2);
      h = tf.conv2d(h as tf.Tensor4D, t['c2'] as tf.Tensor4D, 2, 'same');
      const m = tf.moments(h, [0, 1, 2]);
      h = tf.leakyRelu(tf.div(tf.sub(h, m.mean), tf.sqrt(tf.add(m.variance, 1e-5))), 0.2);
      const f = tf.relu(tf.matMul(tf.reshape(h, [b, -1]), t['d1'] as tf.Tensor2D));
      const mu = tf.matMul(f, t['mu'] as tf.Tensor2D);
      const logSigma = tf.matMul(f, t['ls'] as tf.Tensor2D);
      const z = tf.add(mu, tf.mul(tf.exp(logSigma), t['eps']!));
      let d = tf.reshape(tf.relu(tf.matMul(z, t['g1'] as tf.Tensor2D)), [b, 2, 2, 8]) as tf.Tensor4D;
      d = tf.relu(tf.conv2dTranspose(d, t['t1'] as tf.Tensor4D, [b, 4, 4, 4], 2, 'same')) as tf.Tensor4D;
      const xHat = tf.sigmoid(tf.conv2dTranspose(d, t['t2'] as tf.Tensor4D, [b, 8, 8, 1], 2, 'same'));
      const nll = tf.sum(tf.square(tf.sub(x, xHat)));
      const kl = tf.mul(
        0.5,
        tf.sum(tf.sub(tf.add(tf.square(mu), tf.exp(tf.mul(2, logSigma))), tf.add(tf.mul(2, logSigma), 1))),
      );
      return tf.div(tf.add(nll, kl), b);
    };
    const gradsOn = async (backend: string) => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const tensors = Object.fromEntries(names.map((n, i) => [n, tf.tensor(data[i]![0], data[i]![1])]));
      const g = tf.grads((...ws: tf.Tensor[]) =>
        loss({ ...tensors, ...Object.fromEntries(trainable.map((n, i) => [n, ws[i]!])) }),
      )(trainable.map((n) => tensors[n]!));
      const out = g.map((t) => t.dataSync().slice() as Float32Array);
      tf.dispose([...g, ...Object.values(tensors)]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const cpu = await gradsOn('cpu');
    const wasm = await gradsOn('wasm');
    for (let i = 0; i < cpu.length; i++) expectClose(wasm[i]!, cpu[i]!, 1e-5);
  });
});

describe('Tile', () => {
  const cases: Array<[number[], number[]]> = [
    [
      [1, 1, 1, 5],
      [3, 4, 2, 1],
    ],
    [
      [2, 3],
      [2, 2],
    ],
    [
      [3, 1],
      [1, 4],
    ],
    [
      [2, 1, 3],
      [2, 3, 1],
    ],
    [[4], [3]],
    [
      [2, 3, 2],
      [1, 1, 1],
    ],
    [
      [1, 2, 1, 3],
      [2, 1, 3, 2],
    ],
  ];
  it.each(cases)('tile %j by %j', async (shape, reps) => {
    await compare([[values(size(shape), 9), shape]], (x) => tf.tile(x!, reps), 0);
    await tf.setBackend('wasm');
    const i = tf.tile(
      tf.tensor(
        Array.from({ length: size(shape) }, (_, k) => k),
        shape,
        'int32',
      ),
      reps,
    );
    await tf.setBackend('cpu');
    const e = tf.tile(
      tf.tensor(
        Array.from({ length: size(shape) }, (_, k) => k),
        shape,
        'int32',
      ),
      reps,
    );
    expect(Array.from(i.dataSync())).toEqual(Array.from(e.dataSync()));
    tf.dispose([i, e]);
  });
});

describe('Sum and Mean', () => {
  const cases: Array<[number[], number | number[], boolean]> = [
    [[6, 5], 0, false],
    [[6, 5], [0], true],
    [[3, 4, 5, 2], [0, 1, 2], false],
    [[3, 4, 5, 2], [2, 0, 1], true],
    [[3, 4, 5], [0, 1], false],
    [[3, 4, 5], -1, false],
    [[3, 4, 5], [1], false],
    [[3, 4, 5], [0, 1, 2], false],
    [[1, 7], 0, false],
  ];
  it.each(cases)('sum and mean of %j over %j keepDims=%s', async (shape, axis, keepDims) => {
    await compare([[values(size(shape), 10), shape]], (x) => tf.sum(x!, axis, keepDims));
    await compare([[values(size(shape), 11), shape]], (x) => tf.mean(x!, axis, keepDims));
  });
});

describe('Identity and Cast share buffers safely', () => {
  it('clones survive disposing the original and keep their values', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const a = tf.tensor([1, 2, 3]);
    const b = tf.clone(a);
    const c = tf.cast(b, 'float32');
    const d = tf.cast(b, 'int32');
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    expect(d.dtype).toBe('int32');
    expect(Array.from(d.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([c, d]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
