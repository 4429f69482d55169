import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type AdamState,
  type AdamStateMeta,
  adam,
  adamStateFromWeights,
  adamStateToWeights,
  disposeAdamState,
} from './adam';
import { probeTensorflow, skipTitle } from './tensorflow/test-helpers';
import { registerWasmTrainingKernels } from './wasm-kernels/index';

/** tfjs-node, when `tsvae setup tensorflow` ran (the tensorflow rows of PATHS need it). */
const tfProbe = await probeTensorflow();

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

/** The update paths: `auto` is js on cpu, heap on wasm and resource on tensorflow. */
const PATHS: ReadonlyArray<{ backend: string; path: 'auto' | 'ops'; label: string }> = [
  { backend: 'cpu', path: 'auto', label: 'cpu, js path' },
  { backend: 'cpu', path: 'ops', label: 'cpu, ops path' },
  { backend: 'wasm', path: 'auto', label: 'wasm, heap path' },
  { backend: 'wasm', path: 'ops', label: 'wasm, ops path' },
  ...(tfProbe.ok
    ? [
        { backend: 'tensorflow', path: 'auto' as const, label: 'tensorflow, resource path' },
        { backend: 'tensorflow', path: 'ops' as const, label: 'tensorflow, ops path' },
      ]
    : []),
];

let runId = 0;

/** The bit patterns of a float32 tensor. */
function bits(t: tf.Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer));
}

/**
 * A two-variable regression trained with a fixed schedule: steps 0 and 1 train `w` only (so `b` has
 * no moments until step 2), the learning rate drops at step 4.
 */
function regression(init?: { w: Float32Array; b: Float32Array }) {
  const id = runId++;
  const x = tf.tensor2d(
    Array.from({ length: 24 }, (_, i) => Math.sin(i)),
    [6, 4],
  );
  const y = tf.tensor2d(
    Array.from({ length: 12 }, (_, i) => Math.cos(i)),
    [6, 2],
  );
  const w = tf.tidy(() =>
    tf.variable(
      init
        ? tf.tensor2d(init.w, [4, 2])
        : tf.tensor2d(
            Array.from({ length: 8 }, (_, i) => 0.1 * i - 0.3),
            [4, 2],
          ),
      true,
      `run${id}/w`,
    ),
  );
  const b = tf.tidy(() =>
    tf.variable(init ? tf.tensor1d(init.b) : tf.tensor1d([0.05, -0.02]), true, `run${id}/b`),
  );
  const loss = () => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar;
  return {
    w,
    b,
    step(opt: ReturnType<typeof adam>, i: number) {
      if (i === 4) opt.setLearningRate(0.02);
      tf.dispose(opt.minimize(loss, true, i < 2 ? [w] : [w, b]) as tf.Scalar);
    },
    values: () => ({ w: w.dataSync().slice() as Float32Array, b: b.dataSync().slice() as Float32Array }),
    dispose: () => tf.dispose([x, y, w, b]),
  };
}

function optimizer(path: 'auto' | 'ops', learningRate = 0.05) {
  const opt = adam(learningRate);
  opt.path = path;
  return opt;
}

describe.each(PATHS)('FusedAdamOptimizer state ($label)', ({ backend, path }) => {
  it.each([
    1, 5,
  ])('resumes bit for bit from getState after %i steps, directly and through weights + JSON', async (k) => {
    await tf.setBackend(backend);
    const m = 4;
    const before = tf.memory().numTensors;

    // the straight run
    const straight = regression();
    const optA = optimizer(path);
    for (let i = 0; i < k + m; i++) straight.step(optA, i);
    expect(optA.fusedSteps).toBe(k + m);
    const expected = { w: bits(straight.w), b: bits(straight.b) };
    // and it moved
    expect(straight.w.dataSync()[0]).not.toBe(-0.3);

    // the same run, with a snapshot after k steps
    const original = regression();
    const optB = optimizer(path);
    for (let i = 0; i < k; i++) original.step(optB, i);
    const atK = original.values();
    const state = await optB.getState();
    const snapshot = state.moments.map((x) => [bits(x.m), bits(x.v)]);
    for (let i = k; i < k + m; i++) original.step(optB, i);
    // taking the state changes nothing, and the state is a copy
    expect({ w: bits(original.w), b: bits(original.b) }).toEqual(expected);
    expect(state.moments.map((x) => [bits(x.m), bits(x.v)])).toEqual(snapshot);

    // what the state holds
    expect(state.iterations).toBe(k);
    expect(state.learningRate).toBe(k > 4 ? 0.02 : 0.05);
    expect([state.beta1, state.beta2]).toEqual([0.9, 0.999]);
    let acc1 = Math.fround(0.9);
    let acc2 = Math.fround(0.999);
    for (let i = 0; i < k; i++) {
      acc1 = Math.fround(acc1 * Math.fround(0.9));
      acc2 = Math.fround(acc2 * Math.fround(0.999));
    }
    expect(state.accBeta1).toBe(acc1);
    expect(state.accBeta2).toBe(acc2);
    // b has no moments before its first step (k = 1); then both, in variable order
    expect(state.moments.map((x) => x.name)).toEqual(
      k < 2 ? [original.w.name] : [original.w.name, original.b.name],
    );
    expect(state.moments[0]!.m.shape).toEqual([4, 2]);
    expect(state.moments[0]!.m.dataSync().some((x) => x !== 0)).toBe(true);

    // resume directly, into an optimizer made with another learning rate
    const resumed = regression(atK);
    const optC = optimizer(path, 0.5);
    await optC.setState(state);
    expect(optC.getLearningRate()).toBe(state.learningRate);
    expect(optC.iterations).toBe(k);
    for (let i = k; i < k + m; i++) resumed.step(optC, i);
    expect(optC.fusedSteps).toBe(m);
    expect({ w: bits(resumed.w), b: bits(resumed.b) }).toEqual(expected);

    // restoring into an optimizer that has moments of its own (in JS on the js path) replaces them
    const again = regression(atK);
    await optB.setState(state);
    for (let i = k; i < k + m; i++) again.step(optB, i);
    expect({ w: bits(again.w), b: bits(again.b) }).toEqual(expected);

    // resume through one tf.io weights blob and a JSON manifest
    const { weights, meta } = adamStateToWeights(state, { prefix: 'opt/' });
    expect(weights.map((x) => x.name)).toEqual(
      k < 2 ? ['opt/0/m', 'opt/0/v'] : ['opt/0/m', 'opt/0/v', 'opt/1/m', 'opt/1/v'],
    );
    const { data, specs } = await tf.io.encodeWeights(weights);
    disposeAdamState(state);
    const parsed = JSON.parse(JSON.stringify({ meta, specs })) as {
      meta: AdamStateMeta;
      specs: typeof specs;
    };
    expect(parsed.meta).toEqual(meta);
    expect(Object.is(parsed.meta.accBeta1, acc1) && Object.is(parsed.meta.accBeta2, acc2)).toBe(true);
    const decoded = tf.io.decodeWeights(data, parsed.specs);
    const restored = adamStateFromWeights(decoded, parsed.meta);
    const viaWeights = regression(atK);
    const optD = optimizer(path, 0.5);
    await optD.setState(restored);
    tf.dispose(decoded); // setState copied them
    for (let i = k; i < k + m; i++) viaWeights.step(optD, i);
    expect({ w: bits(viaWeights.w), b: bits(viaWeights.b) }).toEqual(expected);

    // getWeights still sees the restored state
    const named = await optD.getWeights();
    expect(named.length).toBe(5);
    expect(named[1]!.name).toBe(`${original.w.name}/m`); // the names travel with the state
    tf.dispose(named[0]!.tensor);

    for (const opt of [optA, optB, optC, optD]) opt.dispose();
    for (const run of [straight, original, again, resumed, viaWeights]) run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('setLearningRate sets the step size (constant gradient: each step moves a weight by lr * sign(g))', async () => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const w = tf.tidy(() => tf.variable(tf.tensor1d([1, -2, 3, 0.5]), true, `lr${runId++}/w`));
    const g = [2, -3, 0.5, -1e-2];
    const c = tf.tensor1d(g);
    const opt = optimizer(path, 0.1);
    expect(opt.getLearningRate()).toBe(0.1);
    const step = (lr: number) => {
      opt.setLearningRate(lr);
      expect(opt.getLearningRate()).toBe(lr);
      const old = w.dataSync().slice();
      tf.dispose(opt.minimize(() => tf.sum(tf.mul(c, w)) as tf.Scalar, true) as tf.Scalar);
      const now = w.dataSync();
      // bias-corrected moments of a constant gradient are g and g^2: the step is lr g / (|g| + eps),
      // about lr sign(g) (to ~1e-5 relative: 1 - beta2^t cancels in float32)
      for (let j = 0; j < 4; j++) {
        const expected = (-lr * g[j]!) / (Math.abs(g[j]!) + tf.backend().epsilon());
        expect(Math.abs(now[j]! - old[j]! - expected)).toBeLessThan(1e-4 * lr + 3e-7);
      }
    };
    step(0.003);
    step(0.0005);
    step(0.25);
    expect(opt.fusedSteps).toBe(3);
    for (const bad of [0, -1e-3, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => opt.setLearningRate(bad)).toThrow(new RegExp(`learning rate .*got ${String(bad)}$`));
    }
    expect(opt.getLearningRate()).toBe(0.25);
    opt.dispose();
    tf.dispose([w, c]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('getState / setState leak nothing, dispose the replaced moments, and snapshot a fresh optimizer', async () => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const run = regression();
    const opt = optimizer(path);

    const fresh = await opt.getState();
    expect(fresh).toMatchObject({ iterations: 0, accBeta1: Math.fround(0.9), accBeta2: Math.fround(0.999) });
    expect(fresh.moments).toEqual([]);

    for (let i = 0; i < 3; i++) run.step(opt, i);
    const withOpt = tf.memory().numTensors;
    const state = await opt.getState();
    expect(tf.memory().numTensors).toBe(withOpt + 4);
    // restoring over existing moments replaces them (the old ones are disposed)
    await opt.setState(state);
    await opt.setState(state);
    expect(tf.memory().numTensors).toBe(withOpt + 4);
    // the optimizer holds copies: disposing the state breaks nothing
    disposeAdamState(state);
    expect(tf.memory().numTensors).toBe(withOpt);
    run.step(opt, 3);
    expect(tf.memory().numTensors).toBe(withOpt);
    // restoring a fresh state forgets the moments
    await opt.setState(fresh);
    expect(tf.memory().numTensors).toBe(withOpt - 4);
    expect(opt.iterations).toBe(0);
    opt.dispose();
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad states and leaves the optimizer as it was', async () => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const run = regression();
    const opt = optimizer(path);
    for (let i = 0; i < 3; i++) run.step(opt, i);
    const state = await opt.getState();
    const keep = bits(state.moments[1]!.v);
    const odd = tf.zeros([3]);
    const bad: Array<[Partial<AdamState>, RegExp]> = [
      [{ beta1: 0.8 }, /beta1 is 0\.8 but this optimizer's is 0\.9/],
      [{ epsilon: 1e-3 }, /epsilon/],
      [{ iterations: 2.5 }, /iterations must be an integer >= 0, got 2\.5/],
      [{ accBeta1: 1.5 }, /accBeta1 must be in \[0, 1\], got 1\.5/],
      [{ learningRate: -1 }, /learning rate .*got -1/],
      [{ moments: [{ name: 'x', m: state.moments[0]!.m, v: odd }] }, /differ in shape: \[4,2\] vs \[3\]/],
    ];
    for (const [change, message] of bad) {
      await expect(opt.setState({ ...state, ...change })).rejects.toThrow(message);
    }
    const after = await opt.getState();
    expect(after.iterations).toBe(3);
    expect(bits(after.moments[1]!.v)).toEqual(keep);
    disposeAdamState(after);

    // moments that do not fit the variables throw on the next step
    const other = optimizer(path);
    await other.setState({ ...state, moments: [{ name: 'x', m: odd, v: odd }] });
    expect(() => tf.tidy(() => run.step(other, 3))).toThrow(
      /moment x\/m \(position 0, shape \[3\]\) does not fit variable run\d+\/w/,
    );

    // checkpoint halves that do not match
    const { weights, meta } = adamStateToWeights(state);
    expect(() => adamStateFromWeights(weights.slice(1), meta)).toThrow(/no tensor adam\/0\/m/);
    expect(() => adamStateFromWeights(weights, { ...meta, format: 'x' } as unknown as AdamStateMeta)).toThrow(
      /not a version-1 tsvae-adam-state/,
    );
    expect(() => adamStateFromWeights(weights, { ...meta, accBeta2: Number.NaN })).toThrow(/accBeta2/);

    disposeAdamState(state);
    tf.dispose(odd);
    other.dispose();
    opt.dispose();
    run.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('AdamState JSON', () => {
  it('every float32 value survives JSON.stringify / JSON.parse exactly', () => {
    const raw = new Uint32Array(20_000);
    let s = 12345;
    for (let i = 0; i < raw.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      raw[i] = s;
    }
    // plus the edges: subnormals, the largest finite, 1 - ulp, beta powers
    const edges = [1, 0x7f7fffff, 0x3f7fffff, 0x00800000, 0x80000001];
    const floats = [
      ...new Float32Array(raw.buffer),
      ...new Float32Array(Uint32Array.from(edges).buffer),
    ].filter(Number.isFinite);
    const back = JSON.parse(JSON.stringify(floats)) as number[];
    expect(back.length).toBe(floats.length);
    let mismatches = 0;
    for (let i = 0; i < floats.length; i++) if (!Object.is(back[i], floats[i])) mismatches++;
    expect(mismatches).toBe(0);
    // and they are float32 values, which is what setState writes back
    expect(back.every((x) => Math.fround(x) === x)).toBe(true);
  });
});

describe.skipIf(!tfProbe.ok)(
  skipTitle('FusedAdamOptimizer on tensorflow (ResourceApplyAdam)', tfProbe),
  () => {
    it('matches tf.train.adam on the cpu backend, one TensorFlow kernel a variable, in place', async () => {
      const ref = await train('cpu', () => tf.train.adam(0.05), 7);
      let fusedOpt: ReturnType<typeof adam> | undefined;
      const fused = await train(
        'tensorflow',
        () => {
          fusedOpt = adam(0.05);
          return fusedOpt;
        },
        7,
      );
      expect(fusedOpt!.fusedSteps).toBe(7);
      // train() keeps the tensors the variables were made from, which share their data until the
      // first update (a copy); every later update runs in place
      expect(fusedOpt!.inPlaceUpdates).toBe(12);
      for (let k = 0; k < 2; k++) {
        for (let i = 0; i < ref.out[k]!.length; i++)
          expect(Math.abs(fused.out[k]![i]! - ref.out[k]![i]!)).toBeLessThan(1e-5);
      }
      // getWeights writes the TensorFlow-held moments back
      for (let k = 0; k < ref.weights.length; k++) {
        const a = fused.weights[k]!.values;
        const e = ref.weights[k]!.values;
        for (let i = 0; i < e.length; i++)
          expect(Math.abs(a[i]! - e[i]!)).toBeLessThan(1e-6 + 1e-4 * Math.abs(e[i]!));
      }
      const kernels = await tf.profile(() => {
        const w = tf.variable(tf.ones([3]));
        const opt = adam(0.1);
        tf.dispose(opt.minimize(() => tf.sum(tf.square(w)) as tf.Scalar, true) as tf.Scalar);
        opt.dispose();
        w.dispose();
      });
      // no elementwise update kernels (the gradient's Square / Mul still run)
      for (const k of ['Sqrt', 'RealDiv', 'Sub']) expect(kernels.kernelNames).not.toContain(k);
    });

    it('copying first (inPlace = false) gives the same bits', async () => {
      const run = async (inPlace: boolean) => {
        await tf.setBackend('tensorflow');
        const r = regression();
        const opt = adam(0.05);
        opt.inPlace = inPlace;
        for (let i = 0; i < 6; i++) r.step(opt, i);
        const out = { w: bits(r.w), b: bits(r.b), inPlace: opt.inPlaceUpdates };
        opt.dispose();
        r.dispose();
        return out;
      };
      const a = await run(true);
      const b = await run(false);
      expect(a.inPlace).toBeGreaterThan(0);
      expect(b.inPlace).toBe(0);
      expect([a.w, a.b]).toEqual([b.w, b.b]);
    });

    it("never changes a tensor that shares a variable's data (tfjs clone, TensorFlow reshape)", async () => {
      await tf.setBackend('tensorflow');
      const w = tf.variable(tf.tensor2d([1, -2, 3, 4], [2, 2]));
      const opt = adam(0.1);
      const step = () => tf.dispose(opt.minimize(() => tf.sum(tf.square(w)) as tf.Scalar, true) as tf.Scalar);
      step();
      const clone = tf.clone(w);
      const reshaped = tf.reshape(w, [4]);
      const snapshot = Array.from(w.dataSync());
      step();
      expect(Array.from(clone.dataSync())).toEqual(snapshot);
      expect(Array.from(reshaped.dataSync())).toEqual(snapshot);
      expect(Array.from(w.dataSync())).not.toEqual(snapshot);
      // after the holders are gone it is in place again
      tf.dispose([clone, reshaped]);
      const before = opt.inPlaceUpdates;
      step();
      expect(opt.inPlaceUpdates).toBe(before + 1);
      opt.dispose();
      w.dispose();
    });

    it('moves its moments along when the backend changes (tensorflow -> cpu -> tensorflow)', async () => {
      const ref = regression();
      await tf.setBackend('cpu');
      const refOpt = adam(0.05);
      for (let i = 0; i < 6; i++) ref.step(refOpt, i);
      const expected = { w: ref.w.dataSync().slice(), b: ref.b.dataSync().slice() };
      refOpt.dispose();
      ref.dispose();
      const opt = adam(0.05);
      const values: { w: Float32Array; b: Float32Array }[] = [];
      let init: { w: Float32Array; b: Float32Array } | undefined;
      for (const [backend, from, to] of [
        ['tensorflow', 0, 2],
        ['cpu', 2, 4],
        ['tensorflow', 4, 6],
      ] as const) {
        await tf.setBackend(backend);
        const r = regression(init);
        for (let i = from; i < to; i++) r.step(opt, i);
        init = r.values();
        values.push(init);
        r.dispose();
      }
      for (let i = 0; i < 8; i++) expect(Math.abs(init!.w[i]! - expected.w[i]!)).toBeLessThan(1e-5);
      opt.dispose();
    });
  },
);
