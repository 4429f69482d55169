/**
 * Registration of the wasm training kernels (see the package README for what each one does).
 */
import '@tensorflow/tfjs-backend-wasm';
import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { makeBatchMatMulConfig } from './batch-mat-mul';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter';
import { makeConv2DBackpropInputConfig } from './conv2d-backprop-input';
import { makeCastConfig, makeIdentityConfig } from './identity';
import { makeMeanConfig, makeSumConfig } from './reduce';
import { makeTileConfig } from './tile';
import { stockKernel, WASM } from './util';

/** The kernels that {@link registerWasmTrainingKernels} registers for the wasm backend. */
export const WASM_TRAINING_KERNELS = [
  'Conv2DBackpropFilter',
  'BatchMatMul',
  'Conv2DBackpropInput',
  'Tile',
  'Sum',
  'Mean',
  'Identity',
  'Cast',
] as const;

/** Name of a kernel registered by {@link registerWasmTrainingKernels}. */
export type WasmTrainingKernel = (typeof WASM_TRAINING_KERNELS)[number];

const stock = new Map<string, KernelConfig | undefined>();
let registered = false;

function replace(config: KernelConfig): void {
  if (getKernel(config.kernelName, WASM) !== undefined) unregisterKernel(config.kernelName, WASM);
  registerKernel(config);
}

/**
 * Registers the wasm kernels that make conv-net training work (Conv2DBackpropFilter) and fast
 * (BatchMatMul with transposes and Conv2DBackpropInput on XNNPACK; Tile by block copies; Sum and
 * Mean over leading axes without transposes; Identity and same-dtype Cast without copies). Idempotent. Safe to call before or after `tf.setBackend('wasm')`; {@link initBackend} calls it when it picks wasm.
 *
 * @returns the names of the kernels now registered by this package
 */
export function registerWasmTrainingKernels(): readonly WasmTrainingKernel[] {
  if (registered) return WASM_TRAINING_KERNELS;
  for (const name of WASM_TRAINING_KERNELS) stock.set(name, stockKernel(name));
  replace(conv2DBackpropFilterConfig);
  const bmm = stock.get('BatchMatMul');
  if (bmm !== undefined) replace(makeBatchMatMulConfig(bmm));
  const cbi = stock.get('Conv2DBackpropInput');
  if (cbi !== undefined) replace(makeConv2DBackpropInputConfig(cbi));
  const tile = stock.get('Tile');
  if (tile !== undefined) replace(makeTileConfig(tile));
  const sum = stock.get('Sum');
  if (sum !== undefined) replace(makeSumConfig(sum));
  const mean = stock.get('Mean');
  if (mean !== undefined) replace(makeMeanConfig(mean));
  const identity = stock.get('Identity');
  if (identity !== undefined) replace(makeIdentityConfig(identity));
  const cast = stock.get('Cast');
  if (cast !== undefined) replace(makeCastConfig(cast));
  registered = true;
  return WASM_TRAINING_KERNELS;
}

/** Restores the stock wasm kernels (mainly for tests and comparisons). Idempotent. */
export function unregisterWasmTrainingKernels(): void {
  if (!registered) return;
  for (const name of WASM_TRAINING_KERNELS) {
    if (getKernel(name, WASM) !== undefined) unregisterKernel(name, WASM);
    const original = stock.get(name);
    if (original !== undefined) registerKernel(original);
  }
  registered = false;
}

/** Whether {@link registerWasmTrainingKernels} is in effect. */
export function wasmTrainingKernelsRegistered(): boolean {
  return registered;
}
