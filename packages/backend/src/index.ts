/**
 * @tsvae/backend: picks the fastest working TensorFlow.js backend at run time and says why, and
 * registers the wasm kernels that make conv-net training work and fast.
 */
export {
  type AdamMoments,
  type AdamState,
  type AdamStateMeta,
  type AdamWeight,
  adam,
  adamStateFromWeights,
  adamStateToWeights,
  disposeAdamState,
  FusedAdamOptimizer,
} from './adam';
export { HIGHER_ORDER_GRADIENTS, registerHigherOrderGradients } from './gradients';
export {
  BACKEND_ORDER,
  BackendUnavailableError,
  classifyLoadError,
  describeBackend,
  getBackendInfo,
  initBackend,
  selectBackend,
} from './select';
export type {
  BackendCandidate,
  BackendInfo,
  BackendLogger,
  BackendName,
  BackendRejection,
  BackendRequest,
  InitBackendOptions,
  RejectionKind,
} from './types';
export {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
  type WasmTrainingKernel,
  wasmTrainingKernelsRegistered,
} from './wasm-kernels/index';
export { createThreadedWasmBackend } from './wasm-threads';
