/**
 * Adam with a fused update on the wasm backend.
 *
 * tfjs's AdamOptimizer spends about a dozen full passes over every parameter per step (mul, add,
 * square, div, sqrt, assign...), each a separate kernel: for the 13M-parameter stage-1 net that is
 * most of a training step. On wasm this subclass does the whole update in one pass in JS over the
 * wasm heap: the moments are updated in place, the new value is written to a fresh buffer (never in
 * place: XNNPACK caches packed weights by tensor id). On the `cpu` backend the moments live in JS
 * arrays and each step reads the gradient and the value once and writes the new value once. On
 * tfjs-node (`tensorflow`) the update stays in native kernels (moving the data through JS measured
 * no faster), 12 a variable instead of the stock 14. `getWeights` / `setWeights` / serialisation are the stock
 * AdamOptimizer's (JS moments are written back to its variables when asked for).
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  AdamOptimizer,
  backend as activeBackend,
  add,
  div,
  engine,
  getBackend,
  mul,
  sqrt,
  square,
  sub,
  type Tensor,
  tensor,
  tidy,
  type Variable,
  zerosLike,
} from '@tensorflow/tfjs-core';

/** What `Optimizer.applyGradients` receives (tfjs-core does not export these two types). */
type VariableGradients = Parameters<AdamOptimizer['applyGradients']>[0];

interface Slot {
  originalName: string;
  variable: Variable;
}

/** The stock optimizer's private state (tfjs-core 4.22). */
interface AdamState {
  accBeta1: Variable;
  accBeta2: Variable;
  accumulatedFirstMoment: Array<Slot | undefined>;
  accumulatedSecondMoment: Array<Slot | undefined>;
}

/** Names, gradients and variables of an `applyGradients` argument, in order. */
function gradientEntries(variableGradients: VariableGradients): {
  names: string[];
  grads: Array<Tensor | undefined>;
  values: Array<Variable | undefined>;
} {
  const names = Array.isArray(variableGradients)
    ? variableGradients.map((v) => v.name)
    : Object.keys(variableGradients);
  const grads = names.map((name, i) =>
    Array.isArray(variableGradients) ? variableGradients[i]?.tensor : variableGradients[name],
  );
  const values = names.map((name) => engine().registeredVariables[name]);
  return { names, grads, values };
}

/**
 * One Adam step over flat arrays: the moments `mv`, `vv` in place, the new value into `ov`
 * (float64 per element, rounded to float32 once on store).
 */
function adamElements(
  gv: Float32Array,
  mv: Float32Array,
  vv: Float32Array,
  wv: Float32Array,
  ov: Float32Array,
  b1: number,
  b2: number,
  lrT: number,
  epsT: number,
): void {
  for (let j = 0; j < ov.length; j++) {
    const g = gv[j]!;
    const mj = b1 * mv[j]! + (1 - b1) * g;
    const vj = b2 * vv[j]! + (1 - b2) * g * g;
    mv[j] = mj;
    vv[j] = vj;
    ov[j] = wv[j]! - (lrT * mj) / (Math.sqrt(vj) + epsT);
  }
}

/**
 * `tf.train.adam` with a one-pass update on the wasm backend (identical arithmetic, in float64
 * per element, rounded to float32 once). Use it wherever `tf.train.adam` would be used.
 */
export class FusedAdamOptimizer extends AdamOptimizer {
  /** Number of steps done by the fused paths (for tests and benchmarks). */
  fusedSteps = 0;
  /**
   * How to update: `heap` (one pass over the wasm heap), `js` (moments in JS arrays), `ops` (12
   * tfjs kernels a variable), or `auto`: heap on wasm, js on cpu, ops elsewhere (tfjs-node).
   */
  path: 'auto' | 'heap' | 'js' | 'ops' = 'auto';
  /** Moments kept in JS on non-wasm backends, by variable index; the variables hold stale copies. */
  private js: Array<{ m: Float32Array; v: Float32Array } | undefined> = [];

  override applyGradients(variableGradients: VariableGradients): void {
    const active = getBackend();
    const path =
      this.path !== 'auto' ? this.path : active === 'wasm' ? 'heap' : active === 'cpu' ? 'js' : 'ops';
    if (path === 'js' || (path === 'heap' && active !== 'wasm')) {
      this.applyInJs(variableGradients);
      return;
    }
    if (path === 'ops') {
      // tfjs-node: its elementwise kernels are native and reading the data out through JS measured
      // no faster (120 vs 130 ms a step for 12.8M parameters); 12 kernels instead of the stock 14
      // (no bias-correction divisions) measured 132 vs 155 ms.
      this.applyWithOps(variableGradients);
      return;
    }
    this.syncMoments();
    const backend = activeBackend() as unknown as BackendWasm;
    const { names, grads, values } = gradientEntries(variableGradients);
    const onWasm = (t: Tensor | undefined) => t === undefined || backend.dataIdMap.has(t.dataId);
    if (!values.every((v) => v !== undefined && v.dtype === 'float32' && onWasm(v)) || !grads.every(onWasm)) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const b1 = this.beta1;
    const b2 = this.beta2;
    // accBeta = beta^t for the step being taken (the stock update uses it before multiplying)
    const { lrT, epsT } = this.stepScales(state);
    for (let i = 0; i < names.length; i++) {
      const value = values[i]!;
      const { m, v } = this.momentSlots(i, names[i]!, value);
      const grad = grads[i];
      if (grad === undefined || grad === null) continue;
      // the moments are updated in place: give them a private buffer if anything shares theirs
      // (wasm Identity / Reshape share buffers, e.g. after tf.clone(m))
      for (const slot of [m, v]) {
        if (backend.refCount(slot.dataId) > 1)
          slot.assign(tidy(() => tensor(slot.dataSync(), slot.shape, 'float32')));
      }
      const out = backend.makeOutput(value.shape, 'float32');
      // views after the allocation (it may grow the heap)
      const gv = backend.typedArrayFromHeap(grad) as Float32Array;
      const mv = backend.typedArrayFromHeap(m) as Float32Array;
      const vv = backend.typedArrayFromHeap(v) as Float32Array;
      const wv = backend.typedArrayFromHeap(value) as Float32Array;
      const ov = backend.typedArrayFromHeap(out) as Float32Array;
      adamElements(gv, mv, vv, wv, ov, b1, b2, lrT, epsT);
      const next = engine().makeTensorFromTensorInfo(out);
      value.assign(next);
      next.dispose();
    }
    this.endStep();
  }

  /** The stock moment variables of variable `i`, created (zeros) when absent. */
  private momentSlots(i: number, name: string, value: Variable): { m: Variable; v: Variable } {
    const state = this as unknown as AdamState;
    const slot = (slots: Array<Slot | undefined>, suffix: string): Variable => {
      let s = slots[i];
      if (s == null) {
        s = { originalName: `${name}/${suffix}`, variable: tidy(() => zerosLike(value).variable(false)) };
        slots[i] = s;
      }
      return s.variable;
    };
    return { m: slot(state.accumulatedFirstMoment, 'm'), v: slot(state.accumulatedSecondMoment, 'v') };
  }

  /** Advances beta^t and the iteration count after a fused step. */
  private endStep(): void {
    const state = this as unknown as AdamState;
    tidy(() => {
      state.accBeta1.assign(mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
    this.fusedSteps += 1;
  }

  /**
   * lr * sqrt(1 - b2^t) / (1 - b1^t) and eps * sqrt(1 - b2^t): the stock update
   * lr * (m / c1) / (sqrt(v / c2) + eps) rewritten with one sqrt and one division an element.
   */
  private stepScales(state: AdamState): { lrT: number; epsT: number } {
    const c1 = Math.fround(1 - (state.accBeta1.dataSync()[0] ?? 0));
    const c2 = Math.fround(1 - (state.accBeta2.dataSync()[0] ?? 0));
    return { lrT: (this.learningRate * Math.sqrt(c2)) / c1, epsT: this.epsilon * Math.sqrt(c2) };
  }

  /** The one-pass update on any backend: read gradient and value, write the new value. */
  private applyInJs(variableGradients: VariableGradients): void {
    const { names, grads, values } = gradientEntries(variableGradients);
    if (!values.every((v) => v !== undefined && v.dtype === 'float32')) {
      this.syncMoments();
      this.js = [];
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const { lrT, epsT } = this.stepScales(state);
    for (let i = 0; i < names.length; i++) {
      const value = values[i]!;
      const grad = grads[i];
      let moments = this.js[i];
      if (moments === undefined) {
        // start from the stock state when there is one (e.g. after setWeights)
        const m = state.accumulatedFirstMoment[i]?.variable;
        const v = state.accumulatedSecondMoment[i]?.variable;
        moments = {
          m: m ? Float32Array.from(m.dataSync() as Float32Array) : new Float32Array(value.size),
          v: v ? Float32Array.from(v.dataSync() as Float32Array) : new Float32Array(value.size),
        };
        this.js[i] = moments;
        this.momentSlots(i, names[i]!, value);
      }
      if (grad === undefined || grad === null) continue;
      const gv = grad.dataSync() as Float32Array;
      const wv = value.dataSync() as Float32Array;
      const { m: mv, v: vv } = moments;
      const ov = new Float32Array(wv.length);
      adamElements(gv, mv, vv, wv, ov, b1, b2, lrT, epsT);
      const next = tensor(ov, value.shape, 'float32');
      value.assign(next);
      next.dispose();
    }
    this.endStep();
  }

  /** The update as 12 tfjs kernels a variable, on the stock state variables. */
  private applyWithOps(variableGradients: VariableGradients): void {
    this.syncMoments();
    const { names, grads, values } = gradientEntries(variableGradients);
    const state = this as unknown as AdamState;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const { lrT, epsT } = this.stepScales(state);
    tidy(() => {
      names.forEach((name, i) => {
        const value = values[i]!;
        const { m: mVar, v: vVar } = this.momentSlots(i, name, value);
        const grad = grads[i];
        if (grad == null) return;
        const m = add(mVar, mul(sub(grad, mVar), 1 - b1));
        const v = add(vVar, mul(sub(square(grad), vVar), 1 - b2));
        mVar.assign(m);
        vVar.assign(v);
        value.assign(sub(value, div(mul(m, lrT), add(sqrt(v), epsT))));
      });
    });
    this.endStep();
  }

  /** Writes the JS moments back into the stock state variables. */
  private syncMoments(): void {
    const state = this as unknown as AdamState;
    this.js.forEach((moments, i) => {
      if (moments === undefined) return;
      const m = state.accumulatedFirstMoment[i]?.variable;
      const v = state.accumulatedSecondMoment[i]?.variable;
      if (m) tidy(() => m.assign(tensor(moments.m, m.shape, 'float32')));
      if (v) tidy(() => v.assign(tensor(moments.v, v.shape, 'float32')));
    });
    this.js = [];
  }

  override async getWeights(): Promise<NamedTensor[]> {
    this.syncMoments();
    return super.getWeights();
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.js = [];
    await super.setWeights(weightValues);
  }

  override dispose(): void {
    this.js = [];
    super.dispose();
  }
}

/** A named tensor as `getWeights` returns it. */
type NamedTensor = Awaited<ReturnType<AdamOptimizer['getWeights']>>[number];

/**
 * Creates a {@link FusedAdamOptimizer}; same signature and defaults as `tf.train.adam`.
 *
 * @example
 * ```ts
 * const opt = adam(1e-4);
 * opt.minimize(() => loss(batch), false, variables);
 * ```
 */
export function adam(learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon?: number): FusedAdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
