import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { HIGHER_ORDER_GRADIENTS, registerHigherOrderGradients } from './gradients';
import { registerWasmTrainingKernels } from './wasm-kernels/index';

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

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const rand = (shape: number[], seed: number, scale = 1): tf.Tensor =>
  tf.tensor(
    values(size(shape), seed).map((v) => v * scale),
    shape,
  );

/** A small critic: conv4x4 s2 -> lrelu -> conv4x4 s2 -> lrelu -> dense -> lrelu -> dense 1. */
interface Critic {
  k1: tf.Variable;
  k2: tf.Variable;
  w3: tf.Variable;
  w4: tf.Variable;
}

function makeCritic(): Critic {
  return tf.tidy(() => ({
    k1: tf.variable(rand([4, 4, 1, 3], 1, 0.5), true, 'k1'),
    k2: tf.variable(rand([4, 4, 3, 4], 2, 0.4), true, 'k2'),
    w3: tf.variable(rand([2 * 2 * 4, 5], 3, 0.6), true, 'w3'),
    w4: tf.variable(rand([5, 1], 4, 0.8), true, 'w4'),
  }));
}

function critic(c: Critic, x: tf.Tensor): tf.Tensor {
  let h = tf.leakyRelu(tf.conv2d(x as tf.Tensor4D, c.k1 as tf.Tensor4D, 2, 'same'), 0.2);
  h = tf.leakyRelu(tf.conv2d(h as tf.Tensor4D, c.k2 as tf.Tensor4D, 2, 'same'), 0.2);
  const flat = tf.reshape(h, [x.shape[0] as number, -1]);
  return tf.matMul(tf.leakyRelu(tf.matMul(flat, c.w3), 0.2) as tf.Tensor2D, c.w4 as tf.Tensor2D);
}

/** The WGAN-GP penalty `mean((|grad_x D(x)| - 1)^2)` at `x`. */
function penalty(c: Critic, x: tf.Tensor): tf.Scalar {
  const g = tf.grad((xx: tf.Tensor) => tf.sum(critic(c, xx)))(x);
  const norms = tf.sqrt(tf.sum(tf.square(g), [1, 2, 3]));
  return tf.mean(tf.square(tf.sub(norms, 1))) as tf.Scalar;
}

beforeAll(() => {
  tf.env().set('PROD', true);
  registerWasmTrainingKernels();
});

describe('registerHigherOrderGradients', () => {
  it('fills exactly the gradients tfjs 4.22 lacks, and a second call registers nothing', async () => {
    await tf.setBackend('cpu');
    // without them, the gradient of an input gradient through leakyRelu throws
    expect(tf.getGradient('Greater')).toBeUndefined();
    const w = tf.variable(tf.tensor1d([0.5, -2]));
    const f = () =>
      tf.variableGrads(() => {
        const g = tf.grad((x: tf.Tensor) => tf.sum(tf.leakyRelu(tf.mul(x, w), 0.2)))(tf.tensor1d([1, 1]));
        return tf.sum(tf.square(g)) as tf.Scalar;
      }, [w]);
    expect(f).toThrow(/gradient function not found for Greater/);
    const added = registerHigherOrderGradients();
    expect(added).toContain('Greater');
    expect(added).toContain('Conv2DBackpropFilter');
    expect(added.every((k) => HIGHER_ORDER_GRADIENTS.includes(k))).toBe(true);
    expect(registerHigherOrderGradients()).toEqual([]);
    // d/dw sum((dleaky(x w)/dx)^2) = d/dw [(w0)^2 + (0.2 w1)^2] = [2 w0, 0.08 w1] (x w0 > 0, x w1 < 0)
    const { grads } = f();
    expect(Array.from(grads[w.name]?.dataSync() ?? [])).toEqual([
      expect.closeTo(1, 6),
      expect.closeTo(-0.16, 6),
    ]);
    tf.dispose([w, ...Object.values(grads)]);
  });

  /** act(x w) for the smooth activations whose stock gradients read their saved output. */
  const SMOOTH: Record<string, (t: tf.Tensor) => tf.Tensor> = {
    Sigmoid: (t) => tf.sigmoid(t),
    Tanh: (t) => tf.tanh(t),
    Exp: (t) => tf.exp(t),
    Elu: (t) => tf.elu(t),
    Softmax: (t) => tf.softmax(tf.reshape(t, [2, 3])),
  };
  /** tfjs's own gradients, as loaded (before any registration here). */
  const STOCK = Object.fromEntries(Object.keys(SMOOTH).map((n) => [n, tf.getGradient(n)]));
  const X = [0.7, -1.3, 0.4, 1.1, -0.2, 0.9];
  const W0 = [0.5, 0.8, -1.2, 0.3, 1.5, -0.6];
  /** d/dw of |d/dx sum(c * act(x * w))|^2, and the first-order d/dx itself. */
  const orders = (act: (t: tf.Tensor) => tf.Tensor, w: tf.Variable) =>
    tf.tidy(() => {
      const c = tf.tensor1d([1, -2, 0.5, 1.5, -1, 2]);
      const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.reshape(act(tf.mul(x, w)), [6]), c));
      const first = tf.grad(f)(tf.tensor1d(X)).dataSync().slice();
      const { grads, value } = tf.variableGrads(
        () => tf.sum(tf.square(tf.grad(f)(tf.tensor1d(X)))) as tf.Scalar,
        [w],
      );
      return {
        first,
        second: (grads[w.name] as tf.Tensor).dataSync().slice(),
        value: value.dataSync()[0] as number,
      };
    });

  it('replaces the gradients that read a saved output: first order unchanged bit for bit, second order matches finite differences', async () => {
    await tf.setBackend('cpu');
    for (const [name, act] of Object.entries(SMOOTH)) {
      const w = tf.variable(tf.tensor1d(W0));
      const stockConfig = STOCK[name] as tf.GradConfig;
      tf.registerGradient(stockConfig);
      const stock = orders(act, w);
      registerHigherOrderGradients();
      expect(tf.getGradient(name), name).not.toBe(stockConfig);
      const ours = orders(act, w);
      expect(Array.from(ours.first), `${name} first order`).toEqual(Array.from(stock.first));
      const h = 1e-3;
      const at = (i: number, d: number) =>
        tf.tidy(() => {
          w.assign(tf.tensor1d(W0.map((v, j) => (j === i ? v + d : v))));
          return orders(act, w).value;
        });
      const numeric = W0.map((_, i) => (at(i, h) - at(i, -h)) / (2 * h));
      tf.tidy(() => w.assign(tf.tensor1d(W0)));
      const scale = Math.max(...numeric.map(Math.abs));
      numeric.forEach((n, i) => {
        expect(Math.abs((ours.second[i] as number) - n), `${name}[${i}]`).toBeLessThan(2e-3 * scale + 1e-3);
      });
      // the stock gradient drops the term through the saved output
      const missing = numeric.some((n, i) => Math.abs((stock.second[i] as number) - n) > 1e-2 * scale + 1e-3);
      expect(missing, `${name}: the stock second order is wrong`).toBe(true);
      w.dispose();
    }
  });

  for (const backend of ['cpu', 'wasm']) {
    it(`${backend}: the gradient penalty's gradient with respect to every weight of a conv/dense/lrelu critic matches finite differences`, async () => {
      registerHigherOrderGradients();
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const c = makeCritic();
      const x = rand([3, 8, 8, 1], 5);
      const { grads, value } = tf.variableGrads(() => penalty(c, x), [c.k1, c.k2, c.w3, c.w4]);
      expect(value.dataSync()[0]).toBeGreaterThan(0);
      // a directional derivative per weight: <grad, d> against (P(w + h d) - P(w - h d)) / 2h
      const h = 1e-3;
      for (const [i, v] of [c.k1, c.k2, c.w3, c.w4].entries()) {
        const d = rand(v.shape, 100 + i);
        const analytic = tf.tidy(() => tf.sum(tf.mul(grads[v.name] as tf.Tensor, d)).dataSync()[0] as number);
        const w0 = tf.clone(v);
        const at = (s: number): number =>
          tf.tidy(() => {
            v.assign(tf.add(w0, tf.mul(d, s)));
            return penalty(c, x).dataSync()[0] as number;
          });
        const numeric = (at(h) - at(-h)) / (2 * h);
        v.assign(w0);
        tf.dispose([d, w0]);
        expect(Math.abs(analytic), v.name).toBeGreaterThan(1e-3);
        expect(Math.abs(analytic - numeric), v.name).toBeLessThan(2e-3 * Math.abs(analytic) + 2e-4);
      }
      tf.dispose([value, x, c.k1, c.k2, c.w3, c.w4, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`${backend}: Conv2DBackpropFilter's gradient: d/d dy is conv2d(x, G), d/dx matches finite differences`, async () => {
      registerHigherOrderGradients();
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      for (const [stride, pad] of [
        [1, 'same'],
        [2, 'same'],
        [2, 'valid'],
      ] as const) {
        const x = rand([2, 6, 6, 2], 7);
        const filterShape: [number, number, number, number] = [3, 3, 2, 3];
        const dyShape = tf.tidy(
          () => tf.conv2d(x as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, stride, pad).shape,
        );
        const dy = rand(dyShape, 8);
        const G = rand(filterShape, 9);
        const f = (xx: tf.Tensor, dd: tf.Tensor): tf.Scalar => {
          const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xx, dy: dd }, {
            strides: stride,
            pad,
            dataFormat: 'NHWC',
            filterShape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          return tf.sum(tf.mul(G, dw)) as tf.Scalar;
        };
        const [gx, gdy] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a, b))([x, dy]) as [
          tf.Tensor,
          tf.Tensor,
        ];
        const want = tf.conv2d(x as tf.Tensor4D, G as tf.Tensor4D, stride, pad);
        expect(Array.from(gdy.dataSync())).toEqual(
          Array.from(want.dataSync()).map((v) => expect.closeTo(v, 4)),
        );
        // f is linear in x: a directional finite difference is exact up to rounding
        const d = rand(x.shape, 10);
        const analytic = tf.tidy(() => tf.sum(tf.mul(gx, d)).dataSync()[0] as number);
        const numeric = tf.tidy(
          () =>
            ((f(tf.add(x, d), dy).dataSync()[0] as number) - (f(tf.sub(x, d), dy).dataSync()[0] as number)) /
            2,
        );
        expect(Math.abs(analytic - numeric), `stride ${stride} ${pad}`).toBeLessThan(
          1e-3 * Math.abs(analytic) + 1e-4,
        );
        tf.dispose([x, dy, G, gx, gdy, want, d]);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
