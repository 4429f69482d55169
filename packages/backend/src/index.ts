/**
 * @tsvae/backend: picks the fastest working TensorFlow.js backend at run time and says why,
 * registers the kernels that make conv-net training work and fast (wasm) or faster (tfjs-node),
 * and installs native TensorFlow in one call (`setupTensorflow`, the CLI's `tsvae setup
 * tensorflow`).
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
export {
  registerTensorflowKernels,
  TENSORFLOW_GRADIENTS,
  TENSORFLOW_KERNELS,
  type TensorflowKernel,
  type TensorflowKernelOptions,
  tensorflowKernelsRegistered,
  unregisterTensorflowKernels,
} from './tensorflow/kernels';
export {
  findManagedInstall,
  type ManagedLookup,
  type TensorflowInstall,
  type TensorflowSmokeResult,
  TFJS_NODE_VERSION,
  tensorflowHome,
} from './tensorflow/managed';
export {
  DEFAULT_TENSORFLOW_VERSION,
  PATCHELF_VERSION,
  removeTensorflow,
  type SetupTensorflowOptions,
  setupTensorflow,
  TESTED_TENSORFLOW_VERSIONS,
  type TensorflowRemoveResult,
  TensorflowSetupError,
  type TensorflowSetupProblem,
  type TensorflowSetupResult,
  tensorflowSetupStatus,
} from './tensorflow/setup';
export type {
  BackendCandidate,
  BackendInfo,
  BackendLogger,
  BackendName,
  BackendRejection,
  BackendRequest,
  InitBackendOptions,
  NativeTensorflowInfo,
  RejectionKind,
  TfjsNodeSource,
} from './types';
export {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
  type WasmTrainingKernel,
  wasmTrainingKernelsRegistered,
} from './wasm-kernels/index';
export { createThreadedWasmBackend } from './wasm-threads';
