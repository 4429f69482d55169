/**
 * Adam with a fused update on the wasm backend.
 *
 * tfjs's AdamOptimizer spends about a dozen full passes over every parameter per step (mul, add,
 * square, div, sqrt, assign...), each a separate kernel: for the 13M-parameter stage-1 net that is
 * most of a training step. On wasm this subclass does the whole update in one pass in JS over the
 * wasm heap: the moments are updated in place, the new value is written to a fresh buffer (never in
 * place: XNNPACK caches packed weights by tensor id). On the `cpu` backend the moments live in JS
 * arrays and each step reads the gradient and the value once and writes the new value once. On
 * tfjs-node (`tensorflow`) each variable takes one TensorFlow `ResourceApplyAdam` kernel on
 * resource variables held by the binding (see ./tensorflow/adam-slots.ts), instead of the stock 14
 * elementwise kernels. `getWeights` / `setWeights` / serialisation are the stock AdamOptimizer's
 * (JS and TensorFlow-held moments are written back to its variables when asked for).
 *
 * The public state API (`getLearningRate` / `setLearningRate`, `getState` / `setState`, and
 * `adamStateToWeights` / `adamStateFromWeights` for checkpoint files) covers everything needed to
 * resume bit for bit, including the float32 running `beta^t` products that the stock `setWeights`
 * recomputes with `pow`, so nothing outside this file touches AdamOptimizer's private fields.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  AdamOptimizer,
  backend as activeBackend,
  add,
  clone,
  dispose,
  div,
  engine,
  getBackend,
  mul,
  type NamedTensorMap,
  scalar,
  sqrt,
  square,
  sub,
  type Tensor,
  tensor,
  tidy,
  type Variable,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { TensorflowAdamSlots } from './tensorflow/adam-slots';
import { nodeBackend } from './tensorflow/binding';

/** What `Optimizer.applyGradients` receives (tfjs-core does not export these two types). */
type VariableGradients = Parameters<AdamOptimizer['applyGradients']>[0];

interface Slot {
  originalName: string;
  variable: Variable;
}

/** The stock optimizer's private state (tfjs-core 4.22). */
interface StockAdamFields {
  accBeta1: Variable;
  accBeta2: Variable;
  accumulatedFirstMoment: Array<Slot | undefined>;
  accumulatedSecondMoment: Array<Slot | undefined>;
}

/**
 * The first and second moments of one variable in an {@link AdamState}: float32, the variable's
 * shape.
 */
export interface AdamMoments {
  /**
   * The variable's name when the moments were made (the stock slot name without its `/m`). For
   * reading and checkpoint manifests only: moments go to variables by position.
   */
  name: string;
  /** First moment (running mean of the gradient). */
  m: Tensor;
  /** Second moment (running mean of the squared gradient). */
  v: Tensor;
}

/**
 * Everything a {@link FusedAdamOptimizer} needs to continue bit for bit
 * ({@link FusedAdamOptimizer.getState} / {@link FusedAdamOptimizer.setState}).
 *
 * `moments` has one entry per position the optimizer has seen in `applyGradients` (tfjs keeps Adam
 * moments by position in the gradient list, not by name), in that order; every position of every
 * call so far, including variables whose gradient was absent (their moments are zeros). Variables
 * that have never been in a call have no entry: a fresh optimizer's state has `moments: []`, and
 * after a restore they start from zeros on their first step, exactly as they would have.
 */
export interface AdamState {
  /** Steps taken (`optimizer.iterations`). */
  iterations: number;
  /** The learning rate the next step will use. */
  learningRate: number;
  /** Hyperparameters; {@link FusedAdamOptimizer.setState} requires the optimizer to have the same. */
  beta1: number;
  /** See {@link AdamState.beta1}. */
  beta2: number;
  /** See {@link AdamState.beta1}. */
  epsilon: number;
  /**
   * `beta1^(iterations+1)`, the bias-correction power of the next step, as the optimizer holds it: a
   * float32 running product (it can differ in the last bit from a power computed afresh, hence
   * stored rather than recomputed). A float32 value, so it survives JSON exactly.
   */
  accBeta1: number;
  /** `beta2^(iterations+1)`, as {@link AdamState.accBeta1}. */
  accBeta2: number;
  /** Moments by position (see above). */
  moments: AdamMoments[];
}

/** A named tensor, as a tf.io weights blob holds it (`{ name, tensor }`). */
export interface AdamWeight {
  /** Name in the weights manifest. */
  name: string;
  /** The tensor (float32). */
  tensor: Tensor;
}

/**
 * The JSON half of an {@link AdamState} ({@link adamStateToWeights}): every field but the moments,
 * the variable names and the prefix of the tensor names. JSON keeps every JS number exactly, so
 * `JSON.parse(JSON.stringify(meta))` restores the float32 `beta^t` bit for bit.
 */
export interface AdamStateMeta {
  /** Always `tsvae-adam-state`. */
  format: 'tsvae-adam-state';
  /** Always 1. */
  version: 1;
  /** Prefix of the tensor names: moments `i` are `${prefix}${i}/m` and `${prefix}${i}/v`. */
  prefix: string;
  /** {@link AdamState.iterations}. */
  iterations: number;
  /** {@link AdamState.learningRate}. */
  learningRate: number;
  /** {@link AdamState.beta1}. */
  beta1: number;
  /** {@link AdamState.beta2}. */
  beta2: number;
  /** {@link AdamState.epsilon}. */
  epsilon: number;
  /** {@link AdamState.accBeta1}. */
  accBeta1: number;
  /** {@link AdamState.accBeta2}. */
  accBeta2: number;
  /** {@link AdamMoments.name} of each position. */
  variables: string[];
}

/**
 * Splits a state into tensors for a tf.io weights blob (`tf.io.encodeWeights(weights)`) and JSON
 * metadata for a manifest. The weights are the state's own tensors (no copies): keep the state
 * until they are written, then dispose it as usual.
 *
 * @param options.prefix - start of every tensor name (default `adam/`), e.g. to share one blob
 * with the model's weights.
 * @example
 * ```ts
 * const state = await opt.getState();
 * const { weights, meta } = adamStateToWeights(state);
 * const { data, specs } = await tf.io.encodeWeights(weights);
 * // write data, specs and JSON.stringify(meta); then:
 * disposeAdamState(state);
 * ```
 */
export function adamStateToWeights(
  state: AdamState,
  options: { prefix?: string } = {},
): { weights: AdamWeight[]; meta: AdamStateMeta } {
  const prefix = options.prefix ?? 'adam/';
  checkStateNumbers(state, 'adamStateToWeights');
  state.moments.forEach(({ name, m, v }, i) => {
    checkMoments(name, m, v, i, 'adamStateToWeights');
  });
  const weights = state.moments.flatMap(({ m, v }, i) => [
    { name: `${prefix}${i}/m`, tensor: m },
    { name: `${prefix}${i}/v`, tensor: v },
  ]);
  const meta: AdamStateMeta = {
    format: 'tsvae-adam-state',
    version: 1,
    prefix,
    iterations: state.iterations,
    learningRate: state.learningRate,
    beta1: state.beta1,
    beta2: state.beta2,
    epsilon: state.epsilon,
    accBeta1: state.accBeta1,
    accBeta2: state.accBeta2,
    variables: state.moments.map((x) => x.name),
  };
  return { weights, meta };
}

/**
 * The inverse of {@link adamStateToWeights}: `weights` as a list or as the map
 * `tf.io.decodeWeights` returns (other tensors in it, e.g. the model's, are ignored) and `meta` as
 * parsed from JSON (checked here). The state's moments are the given tensors (no copies):
 * {@link FusedAdamOptimizer.setState} copies them, so dispose the weights afterwards as usual.
 *
 * @throws when `meta` is malformed, a tensor is missing or not float32, or `m` and `v` differ in
 * shape.
 */
export function adamStateFromWeights(
  weights: readonly AdamWeight[] | NamedTensorMap,
  meta: AdamStateMeta,
): AdamState {
  const where = 'adamStateFromWeights';
  const raw = meta as unknown as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || raw['format'] !== 'tsvae-adam-state' || raw['version'] !== 1)
    throw new Error(`${where}: meta is not a version-1 tsvae-adam-state (format ${String(raw?.['format'])})`);
  if (typeof raw['prefix'] !== 'string') throw new Error(`${where}: meta.prefix must be a string`);
  const variables = raw['variables'];
  if (!Array.isArray(variables) || !variables.every((x) => typeof x === 'string'))
    throw new Error(`${where}: meta.variables must be an array of strings`);
  const byName: NamedTensorMap = Array.isArray(weights)
    ? Object.fromEntries((weights as readonly AdamWeight[]).map((w) => [w.name, w.tensor]))
    : (weights as NamedTensorMap);
  const find = (name: string): Tensor => {
    const t = byName[name];
    if (t === undefined) throw new Error(`${where}: the weights have no tensor ${name}`);
    return t;
  };
  const moments = (variables as string[]).map((name, i) => {
    const m = find(`${meta.prefix}${i}/m`);
    const v = find(`${meta.prefix}${i}/v`);
    checkMoments(name, m, v, i, where);
    return { name, m, v };
  });
  const state: AdamState = {
    iterations: meta.iterations,
    learningRate: meta.learningRate,
    beta1: meta.beta1,
    beta2: meta.beta2,
    epsilon: meta.epsilon,
    accBeta1: meta.accBeta1,
    accBeta2: meta.accBeta2,
    moments,
  };
  checkStateNumbers(state, where);
  return state;
}

/** Disposes the moment tensors of a state (those {@link FusedAdamOptimizer.getState} returns). */
export function disposeAdamState(state: AdamState): void {
  dispose(state.moments.flatMap((x) => [x.m, x.v]));
}

/** `learningRate` when it is a finite number > 0; throws otherwise. */
function checkLearningRate(learningRate: number, where = 'FusedAdamOptimizer.setLearningRate'): number {
  if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate <= 0)
    throw new RangeError(
      `${where}: the learning rate must be a finite number > 0, got ${String(learningRate)}`,
    );
  return learningRate;
}

/** Throws unless the numbers of `state` are in range. */
function checkStateNumbers(state: AdamState, where: string): void {
  const check = (key: keyof AdamState, ok: (x: number) => boolean, what: string) => {
    const x = state[key];
    if (typeof x !== 'number' || !ok(x))
      throw new RangeError(`${where}: ${key} must be ${what}, got ${String(x)}`);
  };
  check('iterations', (x) => Number.isSafeInteger(x) && x >= 0, 'an integer >= 0');
  checkLearningRate(state.learningRate, where);
  check('beta1', (x) => x >= 0 && x < 1, 'in [0, 1)');
  check('beta2', (x) => x >= 0 && x < 1, 'in [0, 1)');
  check('epsilon', (x) => x >= 0 && Number.isFinite(x), 'finite and >= 0');
  check('accBeta1', (x) => x >= 0 && x <= 1, 'in [0, 1]');
  check('accBeta2', (x) => x >= 0 && x <= 1, 'in [0, 1]');
  if (!Array.isArray(state.moments)) throw new Error(`${where}: moments must be an array`);
}

/** Throws unless `m` and `v` are live float32 tensors of one shape. */
function checkMoments(name: string, m: Tensor, v: Tensor, i: number, where: string): void {
  for (const t of [m, v]) {
    if (t == null || t.isDisposed || t.dtype !== 'float32')
      throw new Error(`${where}: the moments of ${name} (position ${i}) must be live float32 tensors`);
  }
  if (!sameShape(m.shape, v.shape))
    throw new Error(
      `${where}: the moments of ${name} (position ${i}) differ in shape: [${m.shape}] vs [${v.shape}]`,
    );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/** An independent float32 copy of `t` (its own buffer on every backend). */
async function deepCopy(t: Tensor): Promise<Tensor> {
  const values = Float32Array.from((await t.data()) as Float32Array);
  return tensor(values, t.shape, 'float32');
}

/** {@link deepCopy} as a non-trainable variable. */
async function copyToVariable(t: Tensor): Promise<Variable> {
  const values = Float32Array.from((await t.data()) as Float32Array);
  return tidy(() => tensor(values, t.shape, 'float32').variable(false));
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
   * How to update: `heap` (one pass over the wasm heap), `js` (moments in JS arrays), `resource`
   * (one TensorFlow `ResourceApplyAdam` a variable, tfjs-node only), `ops` (12 tfjs kernels a
   * variable), or `auto`: heap on wasm, js on cpu, resource on tensorflow, ops elsewhere.
   */
  path: 'auto' | 'heap' | 'js' | 'resource' | 'ops' = 'auto';
  /**
   * On the resource path: let TensorFlow update a variable's buffer in place when the variable is
   * its only holder (default true); false always copies first (for comparisons).
   */
  inPlace = true;
  /** Moments kept in JS on non-wasm backends, by variable index; the variables hold stale copies. */
  private js: Array<{ m: Float32Array; v: Float32Array } | undefined> = [];
  /** Moments kept in TensorFlow resource variables (resource path); the variables hold stale copies. */
  private tf: TensorflowAdamSlots | null = null;

  /** The update path `auto` resolves to on the active backend. */
  private resolvePath(): 'heap' | 'js' | 'resource' | 'ops' {
    if (this.path !== 'auto') return this.path;
    const active = getBackend();
    if (active === 'wasm') return 'heap';
    if (active === 'cpu') return 'js';
    if (active === 'tensorflow' && nodeBackend() !== null) return 'resource';
    return 'ops';
  }

  /** Variable updates of the resource path that ran without copying the variable (tests, benchmarks). */
  inPlaceUpdates = 0;

  override applyGradients(variableGradients: VariableGradients): void {
    const active = getBackend();
    const path = this.resolvePath();
    if (path !== 'resource' && this.tf !== null) this.syncMoments();
    if (path === 'js' || (path === 'heap' && active !== 'wasm')) {
      this.applyInJs(variableGradients);
      return;
    }
    if (path === 'resource' && active === 'tensorflow' && this.applyWithResources(variableGradients)) return;
    if (path === 'ops' || path === 'resource') {
      // 12 kernels instead of the stock 14 (no bias-correction divisions)
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
    const state = this as unknown as StockAdamFields;
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

  /**
   * The stock moment variables of variable `i`, created (zeros) when absent; throws when existing
   * ones do not have the variable's shape (moments restored for other variables).
   */
  private momentSlots(i: number, name: string, value: Variable): { m: Variable; v: Variable } {
    const state = this as unknown as StockAdamFields;
    const slot = (slots: Array<Slot | undefined>, suffix: string): Variable => {
      let s = slots[i];
      if (s == null) {
        s = { originalName: `${name}/${suffix}`, variable: tidy(() => zerosLike(value).variable(false)) };
        slots[i] = s;
      } else if (!sameShape(s.variable.shape, value.shape)) {
        throw new Error(
          `FusedAdamOptimizer: the moment ${s.originalName} (position ${i}, shape [${s.variable.shape}]) ` +
            `does not fit variable ${name} (shape [${value.shape}]): the optimizer state was made for other variables`,
        );
      }
      return s.variable;
    };
    return { m: slot(state.accumulatedFirstMoment, 'm'), v: slot(state.accumulatedSecondMoment, 'v') };
  }

  /** Advances beta^t and the iteration count after a fused step. */
  private endStep(): void {
    const state = this as unknown as StockAdamFields;
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
  private stepScales(state: StockAdamFields): { lrT: number; epsT: number } {
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
    const state = this as unknown as StockAdamFields;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const { lrT, epsT } = this.stepScales(state);
    for (let i = 0; i < names.length; i++) {
      const value = values[i]!;
      const grad = grads[i];
      let moments = this.js[i];
      if (moments === undefined) {
        // start from the stock state (zeros when new; restored after setWeights / setState)
        const { m, v } = this.momentSlots(i, names[i]!, value);
        moments = {
          m: Float32Array.from(m.dataSync() as Float32Array),
          v: Float32Array.from(v.dataSync() as Float32Array),
        };
        this.js[i] = moments;
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

  /**
   * The update as one `ResourceApplyAdam` a variable (tfjs-node). Returns false, having done
   * nothing, when a variable or gradient is not a float32 tensor of the tensorflow backend.
   */
  private applyWithResources(variableGradients: VariableGradients): boolean {
    const backend = nodeBackend();
    if (backend === null) return false;
    const { names, grads, values } = gradientEntries(variableGradients);
    const mine = (t: Tensor | undefined) =>
      t == null || (t.dtype === 'float32' && backend.tensorMap.has(t.dataId));
    if (!values.every((v) => v !== undefined && mine(v)) || !grads.every(mine)) return false;
    if (this.js.length > 0) this.syncMoments();
    if (this.tf === null || this.tf.backend !== backend) {
      this.tf?.dispose();
      this.tf = new TensorflowAdamSlots(backend);
    }
    const slots = this.tf;
    const state = this as unknown as StockAdamFields;
    const { lrT, epsT } = this.stepScales(state);
    const scalars = slots.scalars(lrT, this.beta1, this.beta2, epsT);
    try {
      for (let i = 0; i < names.length; i++) {
        const value = values[i] as Variable;
        if (!slots.has(i)) {
          // start from the stock state (zeros when new; restored after setWeights / setState)
          const { m, v } = this.momentSlots(i, names[i] as string, value);
          slots.init(i, value.shape, m, v);
        }
        const grad = grads[i];
        if (grad == null) continue;
        if (slots.step(i, value, grad, scalars, this.inPlace)) this.inPlaceUpdates += 1;
      }
    } finally {
      slots.deleteScalars(scalars);
    }
    this.endStep();
    return true;
  }

  /** The update as 12 tfjs kernels a variable, on the stock state variables. */
  private applyWithOps(variableGradients: VariableGradients): void {
    this.syncMoments();
    const { names, grads, values } = gradientEntries(variableGradients);
    const state = this as unknown as StockAdamFields;
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

  /** Writes the JS and TensorFlow-held moments back into the stock state variables. */
  private syncMoments(): void {
    const state = this as unknown as StockAdamFields;
    if (this.tf !== null) {
      const slots = this.tf;
      this.tf = null;
      try {
        for (let i = 0; i < slots.size; i++) {
          if (!slots.has(i)) continue;
          const { m, v } = slots.read(i);
          const mVar = state.accumulatedFirstMoment[i]?.variable;
          const vVar = state.accumulatedSecondMoment[i]?.variable;
          if (mVar) tidy(() => mVar.assign(tensor(m, mVar.shape, 'float32')));
          if (vVar) tidy(() => vVar.assign(tensor(v, vVar.shape, 'float32')));
        }
      } finally {
        slots.dispose();
      }
    }
    this.js.forEach((moments, i) => {
      if (moments === undefined) return;
      const m = state.accumulatedFirstMoment[i]?.variable;
      const v = state.accumulatedSecondMoment[i]?.variable;
      if (m) tidy(() => m.assign(tensor(moments.m, m.shape, 'float32')));
      if (v) tidy(() => v.assign(tensor(moments.v, v.shape, 'float32')));
    });
    this.js = [];
  }

  /** The learning rate the next step will use. */
  getLearningRate(): number {
    return this.learningRate;
  }

  /**
   * Sets the learning rate from the next step on; the moments, `beta^t` and the iteration count are
   * kept.
   *
   * @throws when `learningRate` is not a finite number > 0.
   */
  setLearningRate(learningRate: number): void {
    this.learningRate = checkLearningRate(learningRate);
  }

  /**
   * Everything needed to continue bit for bit (see {@link AdamState}): a snapshot taken when this is
   * called (a step taken while it resolves does not show). The moments are fresh copies that the
   * caller owns: dispose them ({@link disposeAdamState}) when done; the optimizer never uses them.
   * Works on every update path; it does not change the optimizer (the `js` path's moments stay in
   * JS).
   */
  async getState(): Promise<AdamState> {
    const fields = this as unknown as StockAdamFields;
    const firsts = fields.accumulatedFirstMoment;
    const seconds = fields.accumulatedSecondMoment;
    const count = Math.max(firsts.length, seconds.length);
    // snapshot synchronously (JS moments copied, tensors cloned: tfjs tensors are immutable and the
    // heap path never writes into a shared buffer), then make independent copies of the clones
    type Source = Tensor | Float32Array;
    const snapshot: Array<{ name: string; shape: number[]; m: Source; v: Source }> = [];
    const clones: Tensor[] = [];
    const cloned = (t: Tensor): Tensor => {
      const c = clone(t);
      clones.push(c);
      return c;
    };
    const made: Tensor[] = []; // the caller's copies, disposed if this fails
    try {
      const accBeta1 = cloned(fields.accBeta1);
      const accBeta2 = cloned(fields.accBeta2);
      for (let i = 0; i < count; i++) {
        const first = firsts[i];
        const second = seconds[i];
        if (first == null || second == null)
          throw new Error(
            `FusedAdamOptimizer.getState: moment slots are missing at position ${i} of ${count}`,
          );
        const js = this.js[i] ?? (this.tf?.has(i) ? this.tf.read(i) : undefined);
        snapshot.push({
          name: first.originalName.endsWith('/m') ? first.originalName.slice(0, -2) : first.originalName,
          shape: first.variable.shape,
          m: js ? js.m.slice() : cloned(first.variable),
          v: js ? js.v.slice() : cloned(second.variable),
        });
      }
      const head = {
        iterations: this.iterations,
        learningRate: this.learningRate,
        beta1: this.beta1,
        beta2: this.beta2,
        epsilon: this.epsilon,
      };
      const [b1, b2] = await Promise.all([accBeta1.data(), accBeta2.data()]);
      const own = async (x: Source, shape: number[]): Promise<Tensor> =>
        x instanceof Float32Array ? tensor(x, shape, 'float32') : deepCopy(x);
      const moments: AdamMoments[] = [];
      for (const { name, shape, m, v } of snapshot) {
        const mc = await own(m, shape);
        made.push(mc);
        const vc = await own(v, shape);
        made.push(vc);
        moments.push({ name, m: mc, v: vc });
      }
      return { ...head, accBeta1: b1![0]!, accBeta2: b2![0]!, moments };
    } catch (error) {
      dispose(made);
      throw error;
    } finally {
      dispose(clones);
    }
  }

  /**
   * Restores a state from {@link FusedAdamOptimizer.getState} (possibly through
   * {@link adamStateToWeights} / {@link adamStateFromWeights}): iteration count, learning rate,
   * `beta^t` (rounded to float32, exact for values read from an optimizer) and moments, which are
   * copied (the caller keeps owning `state`'s tensors). Moments go to variables by position, as in
   * `applyGradients`; positions past `state.moments` start from zeros on their first step, as they
   * would have in the optimizer the state came from. The previous moments are disposed.
   *
   * @throws (leaving the optimizer unchanged) when a field is out of range, when `beta1`, `beta2`
   * or `epsilon` differ from this optimizer's (construct it with the state's), or when a moment pair
   * is not float32 or `m` and `v` differ in shape. A moment that does not fit its variable's shape
   * throws on the next step.
   */
  async setState(state: AdamState): Promise<void> {
    checkStateNumbers(state, 'FusedAdamOptimizer.setState');
    for (const key of ['beta1', 'beta2', 'epsilon'] as const) {
      if (state[key] !== this[key])
        throw new Error(
          `FusedAdamOptimizer.setState: the state's ${key} is ${state[key]} but this optimizer's is ${this[key]}; ` +
            "construct the optimizer with the state's beta1, beta2 and epsilon",
        );
    }
    state.moments.forEach(({ name, m, v }, i) => {
      checkMoments(name, m, v, i, 'FusedAdamOptimizer.setState');
    });
    const copies: Array<{ name: string; m: Variable; v: Variable }> = [];
    const made: Tensor[] = []; // disposed if this fails
    try {
      for (const { name, m, v } of state.moments) {
        const mc = await copyToVariable(m);
        made.push(mc);
        const vc = await copyToVariable(v);
        made.push(vc);
        copies.push({ name, m: mc, v: vc });
      }
    } catch (error) {
      dispose(made);
      throw error;
    }
    // all checked and copied: swap in one go
    const fields = this as unknown as StockAdamFields;
    this.js = [];
    this.tf?.dispose();
    this.tf = null;
    dispose(
      [...fields.accumulatedFirstMoment, ...fields.accumulatedSecondMoment]
        .filter((s): s is Slot => s != null)
        .map((s) => s.variable),
    );
    fields.accumulatedFirstMoment = copies.map((x) => ({ originalName: `${x.name}/m`, variable: x.m }));
    fields.accumulatedSecondMoment = copies.map((x) => ({ originalName: `${x.name}/v`, variable: x.v }));
    tidy(() => {
      fields.accBeta1.assign(scalar(state.accBeta1, 'float32'));
      fields.accBeta2.assign(scalar(state.accBeta2, 'float32'));
    });
    this.iterations_ = state.iterations;
    this.learningRate = state.learningRate;
  }

  override async getWeights(): Promise<NamedTensor[]> {
    this.syncMoments();
    return super.getWeights();
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.js = [];
    this.tf?.dispose();
    this.tf = null;
    await super.setWeights(weightValues);
  }

  override dispose(): void {
    this.js = [];
    this.tf?.dispose();
    this.tf = null;
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
