/**
 * Test utilities (not exported from the package): a seeded PRNG, float64 reference helpers, Monte
 * Carlo statistics and central finite differences for tfjs functions.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

/** Selects the deterministic cpu backend (call in `beforeAll`). */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** mulberry32: a small seeded PRNG returning numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from a uniform PRNG. */
export function gauss(rand: () => number): number {
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** `n` values `f(i)` as a float32 array (the values tfjs will actually see). */
export function f32(n: number, f: (i: number) => number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => f(i));
}

/** A float32 tensor of `shape` and the float64 view of the very same (float32-rounded) values. */
export function tensorAndValues(shape: number[], f: (i: number) => number): [Tensor, number[]] {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = f32(n, f);
  return [tf.tensor(vals, shape, 'float32'), Array.from(vals)];
}

/** Reads a `[B]` tensor into a plain array and disposes it. */
export function take(t: Tensor): number[] {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

/** Sums `perElem(j)` over the event elements of each example: `B` rows of `n / B` elements. */
export function sumRows(batch: number, n: number, perElem: (j: number) => number): number[] {
  const per = n / batch;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    let s = 0;
    for (let k = 0; k < per; k++) {
      s += perElem(b * per + k);
    }
    out.push(s);
  }
  return out;
}

/** Sample mean and its standard error. */
export function meanAndSe(xs: ArrayLike<number>): { mean: number; se: number } {
  const n = xs.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += xs[i] as number;
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += ((xs[i] as number) - mean) ** 2;
  return { mean, se: Math.sqrt(ss / (n - 1) / n) };
}

/** `|actual - expected| <= tol`, with a readable failure message. */
export function expectClose(actual: number, expected: number, tol: number, what = ''): void {
  if (!(Math.abs(actual - expected) <= tol) || !Number.isFinite(actual)) {
    throw new Error(`${what}: got ${actual}, expected ${expected} ± ${tol} (diff ${actual - expected})`);
  }
}

/**
 * Analytical gradients of the scalar function `f` (via `tf.grads`) and central finite differences
 * of the same float32 function, one perturbed element at a time (the actual float32 step is used).
 */
export function gradsAndFiniteDiffs(
  f: (...xs: Tensor[]) => Scalar,
  values: Float32Array[],
  shapes: number[][],
  h: number,
): { analytic: number[][]; numeric: number[][] } {
  const make = (vs: Float32Array[]): Tensor[] => vs.map((v, i) => tf.tensor(v, shapes[i], 'float32'));
  const base = make(values);
  const g = tf.grads((...xs: Tensor[]) => f(...xs))(base);
  const analytic = g.map((t) => Array.from(t.dataSync()));
  tf.dispose(g);
  tf.dispose(base);
  const evalAt = (vs: Float32Array[]): number => {
    const ts = make(vs);
    const out = tf.tidy(() => f(...ts));
    const v = out.dataSync()[0] as number;
    out.dispose();
    tf.dispose(ts);
    return v;
  };
  const numeric = values.map((v, i) =>
    Array.from(v, (vj, j) => {
      const plus = values.map((w) => w.slice());
      const minus = values.map((w) => w.slice());
      (plus[i] as Float32Array)[j] = vj + h;
      (minus[i] as Float32Array)[j] = vj - h;
      const step = ((plus[i] as Float32Array)[j] as number) - ((minus[i] as Float32Array)[j] as number);
      return (evalAt(plus) - evalAt(minus)) / step;
    }),
  );
  return { analytic, numeric };
}

/** Asserts every analytical gradient entry matches its finite difference within `rtol * |g| + atol`. */
export function expectGradsMatch(
  r: { analytic: number[][]; numeric: number[][] },
  rtol: number,
  atol: number,
  what: string,
): void {
  r.analytic.forEach((ga, i) => {
    ga.forEach((a, j) => {
      const n = r.numeric[i]?.[j] as number;
      expectClose(a, n, rtol * Math.abs(n) + atol, `${what}: d/dparam${i}[${j}]`);
    });
  });
}
