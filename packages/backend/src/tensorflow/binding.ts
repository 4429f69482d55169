/**
 * Typed access to what tfjs-node's backend exposes: its native binding (TensorFlow eager ops by
 * name, tensor handles by id) and the bookkeeping that maps tfjs data ids to handles. tfjs-node
 * 4.22's `NodeJSKernelBackend`; nothing here is public API of tfjs-node, so every use checks that
 * the shape is as expected ({@link nodeBackend} returns null otherwise).
 */
import { type DataId, engine, type Tensor } from '@tensorflow/tfjs-core';

/** An op attribute as the binding takes it. */
export interface OpAttr {
  readonly name: string;
  readonly type: number;
  readonly value: unknown;
}

/** What `executeOp` returns per output. */
export interface OutputInfo {
  readonly id: number;
  readonly shape: number[];
  readonly dtype: number;
}

/** The parts of tfjs-node's native binding tsvae uses. */
export interface TfBinding {
  readonly TF_Version: string;
  readonly TF_FLOAT: number;
  readonly TF_INT32: number;
  readonly TF_ATTR_STRING: number;
  readonly TF_ATTR_INT: number;
  readonly TF_ATTR_FLOAT: number;
  readonly TF_ATTR_BOOL: number;
  readonly TF_ATTR_TYPE: number;
  readonly TF_ATTR_SHAPE: number;
  executeOp(
    name: string,
    attrs: readonly OpAttr[],
    inputIds: readonly number[],
    numOutputs: number,
  ): OutputInfo[];
  createTensor(shape: readonly number[], dtype: number, values: Float32Array | Int32Array): number;
  deleteTensor(id: number): void;
  tensorDataSync(id: number): Float32Array | Int32Array | Uint8Array;
  isUsingGpuDevice(): boolean;
}

/** tfjs-node's per-data-id record. */
export interface NodeTensorData {
  id: number;
  refCount: number;
  values: unknown;
}

/** The parts of tfjs-node's `NodeJSKernelBackend` tsvae uses. */
export interface NodeBackend {
  readonly binding: TfBinding;
  readonly tensorMap: { get(dataId: DataId): NodeTensorData; has(dataId: DataId): boolean };
  /** Handle ids of tensors of this backend (writes pending JS values into TensorFlow first). */
  getInputTensorIds(tensors: readonly Tensor[]): number[];
  /** A tfjs tensor (of the active backend) for an op output. */
  createOutputTensor(info: OutputInfo): Tensor;
  executeSingleOutput(name: string, attrs: readonly OpAttr[], inputs: readonly Tensor[]): Tensor;
}

function isNodeBackend(b: unknown): b is NodeBackend {
  const x = b as Partial<NodeBackend> | null;
  return (
    x != null &&
    typeof x.binding?.executeOp === 'function' &&
    typeof x.binding.createTensor === 'function' &&
    typeof x.binding.deleteTensor === 'function' &&
    typeof x.getInputTensorIds === 'function' &&
    typeof x.createOutputTensor === 'function' &&
    typeof x.executeSingleOutput === 'function' &&
    typeof x.tensorMap?.get === 'function'
  );
}

/** tfjs-node's backend object when the `tensorflow` backend is registered and looks as expected. */
export function nodeBackend(): NodeBackend | null {
  let b: unknown;
  try {
    b = engine().findBackend('tensorflow');
  } catch {
    return null;
  }
  return isNodeBackend(b) ? b : null;
}

/** `{ name, type: TF_ATTR_TYPE, value: TF_FLOAT }`. */
export function floatType(binding: TfBinding, name = 'T'): OpAttr {
  return { name, type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
}
