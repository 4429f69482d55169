/**
 * Sum and Mean over leading axes for the wasm backend. The stock kernels transpose the input so the
 * reduced axes come last, then reduce; with the wasm Transpose kernel at several ns an element,
 * the bias and BatchNorm gradients (sums over the batch, or over batch x height x width) cost 13%
 * of a stage-1 training step. Reducing a [rows, cols] view column-wise needs no transpose.
 * Other axes and dtypes go to the stock kernels.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type KernelConfig, type KernelFunc, type TensorInfo, util } from '@tensorflow/tfjs-core';
import { heapF32, WASM } from './util';

interface Args {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: { axis: number | number[]; keepDims: boolean };
}

/** Number of leading axes `axis` covers, or -1 when it is not exactly a prefix of the dims. */
export function leadingAxes(axis: number | number[], rank: number): number {
  const axes = [...new Set(util.parseAxisParam(axis, new Array<number>(rank).fill(1)))].sort((a, b) => a - b);
  return axes.every((a, i) => a === i) ? axes.length : -1;
}

/** Column sums of a row-major [rows, cols] array, accumulated in float64 like the cpu backend. */
export function columnSums(
  x: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array,
  scale: number,
): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) acc[c] = (acc[c] as number) + (x[base + c] as number);
  }
  for (let c = 0; c < cols; c++) out[c] = acc[c]! * scale;
}

function make(name: 'Sum' | 'Mean', stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as unknown as (args: Args) => TensorInfo;
  function reduce(args: Args): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { x } = inputs;
    const rank = x.shape.length;
    const k = rank === 0 ? -1 : leadingAxes(attrs.axis, rank);
    // k === rank is a full reduction: the stock kernel already reduces contiguously
    if (x.dtype !== 'float32' || k <= 0 || k === rank) return stockFunc(args);
    const rows = util.sizeFromShape(x.shape.slice(0, k));
    const cols = util.sizeFromShape(x.shape.slice(k));
    const outShape = attrs.keepDims ? x.shape.map((s, i) => (i < k ? 1 : s)) : x.shape.slice(k);
    const out = backend.makeOutput(outShape, 'float32');
    if (cols === 0) return out;
    columnSums(heapF32(backend, x), rows, cols, heapF32(backend, out), name === 'Mean' ? 1 / rows : 1);
    return out;
  }
  return {
    kernelName: name,
    backendName: WASM,
    kernelFunc: reduce as unknown as KernelFunc,
    ...(stock.setupFunc === undefined ? {} : { setupFunc: stock.setupFunc }),
  };
}

/** Kernel config: Sum over leading axes without a transpose. */
export const makeSumConfig = (stock: KernelConfig): KernelConfig => make('Sum', stock);
/** Kernel config: Mean over leading axes without a transpose. */
export const makeMeanConfig = (stock: KernelConfig): KernelConfig => make('Mean', stock);
