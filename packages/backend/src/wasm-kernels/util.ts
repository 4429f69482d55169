/**
 * Helpers shared by the wasm training kernels: they call the wasm backend's own registered kernel
 * functions (XNNPACK convolution, transpose, ...) on TensorInfos and free intermediates.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { getKernel, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

/** The wasm backend's registry name. */
export const WASM = 'wasm';

/** Runs the currently registered wasm kernel `name` and returns its single output. */
export function runWasmKernel(
  name: string,
  backend: BackendWasm,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap,
): TensorInfo {
  const config = getKernel(name, WASM);
  if (config === undefined) throw new Error(`@tsvae/backend: wasm kernel ${name} is not registered`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`@tsvae/backend: wasm kernel ${name} returned several outputs`);
  return out;
}

/** A TensorInfo that views the same data with another shape (no copy, no reference taken). */
export function view(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** Transposes `x` with the wasm Transpose kernel (a new buffer). */
export function transposeInfo(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

/** Frees intermediate outputs created inside a kernel. */
export function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** The current float32 contents of `t` on the wasm heap (re-fetch after any allocation). */
export function heapF32(backend: BackendWasm, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Copies a stock kernel config before it is replaced, so it can be used as a fallback. */
export function stockKernel(name: string): KernelConfig | undefined {
  const config = getKernel(name, WASM);
  return config === undefined ? undefined : { ...config };
}
