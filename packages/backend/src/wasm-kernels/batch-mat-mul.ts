/**
 * BatchMatMul for the wasm backend that keeps transposed products on XNNPACK.
 *
 * The stock kernel takes XNNPACK's fast path only when neither operand is transposed, and every
 * dense layer's gradient transposes one. This kernel materialises what is needed with the wasm
 * Transpose kernel, choosing the cheaper of two plans:
 * 1. transpose the transposed operand(s), then C = A B;
 * 2. compute C^T = op(B)^T op(A)^T (free when the operands are stored transposed) and transpose C^T.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  type BatchMatMulAttrs,
  broadcast_util,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { free, transposeInfo, view, WASM } from './util';

interface Args {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: BackendWasm;
  attrs: BatchMatMulAttrs;
}

/** Which plan {@link makeBatchMatMulConfig} uses for a product (exported for tests). */
export function batchMatMulPlan(
  m: number,
  k: number,
  n: number,
  batchA: number,
  batchB: number,
  transposeA: boolean,
  transposeB: boolean,
): 'stock' | 'transpose-operands' | 'transpose-output' {
  if (!transposeA && !transposeB) return 'stock';
  const batch = Math.max(batchA, batchB);
  const plan1 = (transposeA ? m * k * batchA : 0) + (transposeB ? k * n * batchB : 0);
  const plan2 = (transposeB ? 0 : k * n * batchB) + (transposeA ? 0 : m * k * batchA) + m * n * batch;
  return plan2 < plan1 ? 'transpose-output' : 'transpose-operands';
}

/** Kernel config: BatchMatMul that routes transposed products through the stock fast path. */
export function makeBatchMatMulConfig(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as unknown as (args: Args) => TensorInfo;
  function batchMatMul(args: Args): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs;
    const transposeA = Boolean(attrs.transposeA);
    const transposeB = Boolean(attrs.transposeB);
    if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32')
      return stockFunc(args);
    const ra = a.shape.length;
    const rb = b.shape.length;
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(b.shape.slice(0, -2));
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return stockFunc(args);
    const aRows = a.shape[ra - 2]!;
    const aCols = a.shape[ra - 1]!;
    const bRows = b.shape[rb - 2]!;
    const bCols = b.shape[rb - 1]!;
    const m = transposeA ? aCols : aRows;
    const k = transposeA ? aRows : aCols;
    const n = transposeB ? bRows : bCols;
    const kB = transposeB ? bCols : bRows;
    util.assert(
      k === kB,
      () =>
        `Error in matMul: inner shapes (${k}) and (${kB}) of Tensors with shapes ${a.shape} and ${b.shape} ` +
        `and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
    const outShape = broadcast_util
      .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
      .concat([m, n]);
    const a3 = view(a, [batchA, aRows, aCols]);
    const b3 = view(b, [batchB, bRows, bCols]);
    const noT = { transposeA: false, transposeB: false };
    const plan = batchMatMulPlan(m, k, n, batchA, batchB, transposeA, transposeB);
    if (plan === 'transpose-operands') {
      const x = transposeA ? transposeInfo(backend, a3, [0, 2, 1]) : a3;
      const y = transposeB ? transposeInfo(backend, b3, [0, 2, 1]) : b3;
      const out = stockFunc({ inputs: { a: x, b: y }, backend, attrs: noT });
      if (transposeA) free(backend, x);
      if (transposeB) free(backend, y);
      return view(out, outShape);
    }
    // C^T = op(B)^T op(A)^T
    const x = transposeB ? b3 : transposeInfo(backend, b3, [0, 2, 1]); // [batchB, n, k]
    const y = transposeA ? a3 : transposeInfo(backend, a3, [0, 2, 1]); // [batchA, k, m]
    const outT = stockFunc({ inputs: { a: x, b: y }, backend, attrs: noT }); // [batch, n, m]
    if (!transposeB) free(backend, x);
    if (!transposeA) free(backend, y);
    const out = transposeInfo(backend, outT, [0, 2, 1]);
    free(backend, outT);
    return view(out, outShape);
  }
  return {
    kernelName: 'BatchMatMul',
    backendName: WASM,
    kernelFunc: batchMatMul as unknown as KernelFunc,
    ...(stock.setupFunc === undefined ? {} : { setupFunc: stock.setupFunc }),
    ...(stock.disposeFunc === undefined ? {} : { disposeFunc: stock.disposeFunc }),
  };
}
