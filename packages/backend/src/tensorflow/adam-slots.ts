/**
 * Adam on tfjs-node's `tensorflow` backend in one TensorFlow kernel per variable:
 * `ResourceApplyAdam` on resource variables held by the binding (`VarHandleOp` with TensorFlow's
 * anonymous shared name, so each handle owns its variable and deleting the handle frees it).
 *
 * Per variable and step: `AssignVariableOp(r, value)` (shares the buffer, no copy),
 * `ResourceApplyAdam(r, m, v, ...)` (reads var, m, v, grad once and writes var, m, v once,
 * multithreaded) and `ReadVariableOp(r)` (shares the buffer again). When the tfjs variable is the
 * only holder of its data (tfjs refCount 1), its own handle is released before the update, so
 * TensorFlow updates the buffer in place; otherwise TensorFlow copies it first (copy on write), so
 * a tensor that shares the data never changes. The moments live only in the resources; the
 * optimizer's stock slot variables hold stale copies until written back.
 *
 * TensorFlow's update is `alpha = lr sqrt(1 - b2^t) / (1 - b1^t)`, `m += (g - m)(1 - b1)`,
 * `v += (g^2 - v)(1 - b2)`, `var -= alpha m / (sqrt(v) + eps)`. tfjs's Adam adds `eps` to the
 * bias-corrected `sqrt(v / (1 - b2^t))`; passing `b1^t = b2^t = 0`, `lr = lr sqrt(c2) / c1` and
 * `eps = eps sqrt(c2)` (`c = 1 - beta^t`, computed in float64 once a step) gives tfjs's update.
 */
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { floatType, type NodeBackend, type OpAttr } from './binding';

/** TensorFlow's `ResourceHandleOp::ANONYMOUS_NAME`: a variable owned by its handle alone. */
const ANONYMOUS = 'cd2c89b7-88b7-44c8-ad83-06c2a9158347';

interface Slot {
  /** Handle ids of the resource variables: the value, the first and the second moment. */
  readonly r: number;
  readonly m: number;
  readonly v: number;
  readonly shape: readonly number[];
}

/** The per-step scalars, as handle ids. */
export interface AdamScalars {
  readonly zero: number;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
}

/** Resource variables for the moments of an optimizer's variables, by position. */
export class TensorflowAdamSlots {
  private slots: Array<Slot | undefined> = [];

  constructor(readonly backend: NodeBackend) {}

  private op(name: string, attrs: readonly OpAttr[], inputs: readonly number[], outputs: number) {
    return this.backend.binding.executeOp(name, attrs, inputs, outputs);
  }

  private dtype(): OpAttr {
    return floatType(this.backend.binding, 'dtype');
  }

  private handle(shape: readonly number[]): number {
    const b = this.backend.binding;
    const [out] = this.op(
      'VarHandleOp',
      [
        { name: 'container', type: b.TF_ATTR_STRING, value: '' },
        { name: 'shared_name', type: b.TF_ATTR_STRING, value: ANONYMOUS },
        this.dtype(),
        { name: 'shape', type: b.TF_ATTR_SHAPE, value: [...shape] },
      ],
      [],
      1,
    );
    if (out === undefined) throw new Error('VarHandleOp returned no handle');
    return out.id;
  }

  private assign(resource: number, value: number): void {
    this.op('AssignVariableOp', [this.dtype()], [resource, value], 0);
  }

  private readId(resource: number): number {
    const [out] = this.op('ReadVariableOp', [this.dtype()], [resource], 1);
    if (out === undefined) throw new Error('ReadVariableOp returned nothing');
    return out.id;
  }

  /** Whether position `i` has its resources. */
  has(i: number): boolean {
    return this.slots[i] !== undefined;
  }

  /** Positions with resources. */
  get size(): number {
    return this.slots.length;
  }

  /** Creates the resources of position `i`, the moments starting from `m0`, `v0` (shared, not copied). */
  init(i: number, shape: readonly number[], m0: Tensor, v0: Tensor): void {
    const [mId, vId] = this.backend.getInputTensorIds([m0, v0]) as [number, number];
    const made: number[] = [];
    try {
      const r = this.handle(shape);
      made.push(r);
      const m = this.handle(shape);
      made.push(m);
      const v = this.handle(shape);
      made.push(v);
      this.assign(m, mId);
      this.assign(v, vId);
      this.slots[i] = { r, m, v, shape: [...shape] };
    } catch (e) {
      for (const id of made) this.backend.binding.deleteTensor(id);
      throw e;
    }
  }

  /** Float32 scalars for one step (delete them with {@link deleteScalars}). */
  scalars(lr: number, beta1: number, beta2: number, epsilon: number): AdamScalars {
    const b = this.backend.binding;
    const s = (x: number) => b.createTensor([], b.TF_FLOAT, Float32Array.of(x));
    return { zero: s(0), lr: s(lr), beta1: s(beta1), beta2: s(beta2), epsilon: s(epsilon) };
  }

  deleteScalars(s: AdamScalars): void {
    for (const id of [s.zero, s.lr, s.beta1, s.beta2, s.epsilon]) this.backend.binding.deleteTensor(id);
  }

  /**
   * One Adam step of position `i`: `value` (a variable of this backend) is updated with `grad`.
   * Returns whether TensorFlow updated the buffer in place (no copy).
   */
  step(i: number, value: Variable, grad: Tensor, s: AdamScalars, inPlace: boolean): boolean {
    const slot = this.slots[i];
    if (slot === undefined) throw new Error(`no Adam resources at position ${i}`);
    const be = this.backend;
    const [valueId, gradId] = be.getInputTensorIds([value, grad]) as [number, number];
    this.assign(slot.r, valueId);
    const data = be.tensorMap.get(value.dataId);
    const alone = inPlace && data.refCount === 1 && data.values == null && data.id === valueId;
    if (alone) {
      // the resource is now the only holder of the buffer: TensorFlow updates it in place
      be.binding.deleteTensor(valueId);
      data.id = -1;
    }
    try {
      this.op(
        'ResourceApplyAdam',
        [
          floatType(be.binding),
          { name: 'use_locking', type: be.binding.TF_ATTR_BOOL, value: false },
          { name: 'use_nesterov', type: be.binding.TF_ATTR_BOOL, value: false },
        ],
        [slot.r, slot.m, slot.v, s.zero, s.zero, s.lr, s.beta1, s.beta2, s.epsilon, gradId],
        0,
      );
    } finally {
      // the new value (or, if the update threw, the unchanged one)
      const id = this.readId(slot.r);
      if (alone) {
        data.id = id;
      } else {
        const t = be.createOutputTensor({ id, shape: [...value.shape], dtype: be.binding.TF_FLOAT });
        value.assign(t);
        t.dispose();
      }
    }
    return alone;
  }

  /** Copies of the moments of position `i`. */
  read(i: number): { m: Float32Array; v: Float32Array; shape: readonly number[] } {
    const slot = this.slots[i];
    if (slot === undefined) throw new Error(`no Adam resources at position ${i}`);
    const get = (resource: number): Float32Array => {
      const id = this.readId(resource);
      try {
        return Float32Array.from(this.backend.binding.tensorDataSync(id) as Float32Array);
      } finally {
        this.backend.binding.deleteTensor(id);
      }
    };
    return { m: get(slot.m), v: get(slot.v), shape: slot.shape };
  }

  /** Frees every resource. */
  dispose(): void {
    for (const slot of this.slots) {
      if (slot === undefined) continue;
      for (const id of [slot.r, slot.m, slot.v]) this.backend.binding.deleteTensor(id);
    }
    this.slots = [];
  }
}
