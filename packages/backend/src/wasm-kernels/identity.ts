/**
 * Identity (and same-dtype Cast) for the wasm backend without a copy. The engine clones every
 * tensor it saves for the backward pass (`saveTensorsForBackwardMode` -> Identity), and the stock
 * wasm kernel copies the data: about 200 copies a stage-1 training step. Tensors are immutable, so
 * the clone can share the buffer with a reference count, as the cpu backend and wasm Reshape do.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { CastAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { WASM } from './util';

interface Args {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs?: Partial<CastAttrs>;
}

function share(backend: BackendWasm, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Kernel config: Identity that shares the input's buffer. */
export function makeIdentityConfig(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as unknown as (args: Args) => TensorInfo;
  const identity = (args: Args): TensorInfo =>
    args.inputs.x.dtype === 'string' ? stockFunc(args) : share(args.backend, args.inputs.x);
  return { ...stock, kernelFunc: identity as unknown as KernelFunc, backendName: WASM };
}

/** Kernel config: Cast that shares the buffer when the dtype does not change. */
export function makeCastConfig(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as unknown as (args: Args) => TensorInfo;
  const cast = (args: Args): TensorInfo =>
    args.attrs?.dtype === args.inputs.x.dtype && args.inputs.x.dtype !== 'string'
      ? share(args.backend, args.inputs.x)
      : stockFunc(args);
  return { ...stock, kernelFunc: cast as unknown as KernelFunc, backendName: WASM };
}
