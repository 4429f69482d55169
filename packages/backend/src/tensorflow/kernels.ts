/**
 * Kernel registrations for tfjs-node's `tensorflow` backend where its mapping onto TensorFlow is
 * slow (see the package README):
 *
 * - `BatchMatMul` with a transposed operand: tfjs-node passes `adj_x` / `adj_y` to BatchMatMulV2,
 *   which without oneDNN took 24-28 ms for a [64,1024] x [6272,1024]^T product that takes 10.5 ms
 *   untransposed. This kernel materialises the cheaper side instead, as the wasm one does
 *   (`batchMatMulPlan`): the transposed operand(s), or `C^T = op(B)^T op(A)^T` and then `C^T`
 *   (for that product: a 64x1024 and a 64x6272 transpose instead of a 6272x1024 one), then an
 *   untransposed BatchMatMulV2. Not on a GPU (cuBLAS transposes for free), and not with oneDNN on
 *   (the default): oneDNN's matmul takes the transposed operands at no extra cost, and there the
 *   materialised transposes cost more than they save (bench/backend-vs-torch.mjs --profile, stage 2:
 *   BatchMatMul + Transpose 53 ms a step with this kernel, 41.5 ms with the stock one).
 * - The ReLU and leaky-ReLU gradients: tfjs computes them as `dy * step(x)` and
 *   `where(x > 0, dy, alpha dy)`, which tfjs-node runs as IsNan + Greater + Fill + Select + Mul
 *   (about 12 ms of a stage-1 step); TensorFlow has them as single ops, `ReluGrad` and
 *   `LeakyReluGrad`. Gradients are registered per kernel, not per backend, so the `Relu` and
 *   `LeakyRelu` gradients are replaced by ones that run the kernels `TsvaeReluGrad` /
 *   `TsvaeLeakyReluGrad` (registered for `tensorflow` only) when the active backend is
 *   `tensorflow` and call the stock gradient everywhere else. The new kernels have gradients too,
 *   so second-order gradients (GAN gradient penalties) still work.
 *
 * `NaN` inputs: TensorFlow's ReluGrad gives 0 where x is NaN, tfjs's step gives NaN (the loss is
 * NaN either way and training stops at its NaN guard).
 */
import {
  type BatchMatMulAttrs,
  engine,
  type GradConfig,
  getBackend,
  getGradient,
  getKernel,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  registerGradient,
  registerKernel,
  type Tensor,
  type TensorInfo,
  tidy,
  transpose,
  unregisterKernel,
  util,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { batchMatMulPlan } from '../wasm-kernels/batch-mat-mul';
import { floatType, type NodeBackend, nodeBackend } from './binding';

const TF = 'tensorflow';

/** The kernels {@link registerTensorflowKernels} registers or replaces. */
export const TENSORFLOW_KERNELS = ['BatchMatMul', 'TsvaeReluGrad', 'TsvaeLeakyReluGrad'] as const;

/** Name of a kernel of {@link TENSORFLOW_KERNELS}. */
export type TensorflowKernel = (typeof TENSORFLOW_KERNELS)[number];

/** The gradients {@link registerTensorflowKernels} replaces (delegating to the stock ones off tensorflow). */
export const TENSORFLOW_GRADIENTS = ['Relu', 'LeakyRelu'] as const;

let stockBatchMatMul: KernelConfig | undefined;
const stockGradients = new Map<string, GradConfig>();
const ours = new Map<string, GradConfig>();
let registered: TensorflowKernel[] = [];

/** The last two axes swapped. */
function swapLast(x: Tensor): Tensor {
  const perm = Array.from({ length: x.rank }, (_, i) => i);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return transpose(x, perm);
}

function makeBatchMatMul(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as unknown as (args: {
    inputs: { a: TensorInfo; b: TensorInfo };
    backend: unknown;
    attrs: NamedAttrMap;
  }) => Tensor;
  const kernelFunc = (args: { inputs: { a: Tensor; b: Tensor }; backend: unknown; attrs: NamedAttrMap }) => {
    const { a, b } = args.inputs;
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    if (
      (!transposeA && !transposeB) ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      a.rank < 2 ||
      b.rank < 2
    )
      return stockFunc(args);
    const ra = a.rank;
    const rb = b.rank;
    const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
    const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
    const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(b.shape.slice(0, -2));
    const plan = batchMatMulPlan(m, k, n, batchA, batchB, Boolean(transposeA), Boolean(transposeB));
    const plain = { transposeA: false, transposeB: false } as unknown as NamedAttrMap;
    return tidy(() => {
      if (plan === 'transpose-operands') {
        const x = transposeA ? swapLast(a) : a;
        const y = transposeB ? swapLast(b) : b;
        return stockFunc({ inputs: { a: x, b: y }, backend: args.backend, attrs: plain });
      }
      // C^T = op(B)^T op(A)^T: op(B)^T is B itself when B is stored transposed
      const x = transposeB ? b : swapLast(b);
      const y = transposeA ? a : swapLast(a);
      return swapLast(stockFunc({ inputs: { a: x, b: y }, backend: args.backend, attrs: plain }));
    });
  };
  return {
    kernelName: 'BatchMatMul',
    backendName: TF,
    kernelFunc: kernelFunc as unknown as KernelFunc,
    ...(stock.setupFunc === undefined ? {} : { setupFunc: stock.setupFunc }),
    ...(stock.disposeFunc === undefined ? {} : { disposeFunc: stock.disposeFunc }),
  };
}

function backendOf(b: unknown): NodeBackend {
  return b as NodeBackend;
}

const reluGradKernel: KernelConfig = {
  kernelName: 'TsvaeReluGrad',
  backendName: TF,
  kernelFunc: (({ inputs, backend }: { inputs: { dy: Tensor; x: Tensor }; backend: unknown }) => {
    const be = backendOf(backend);
    return be.executeSingleOutput('ReluGrad', [floatType(be.binding)], [inputs.dy, inputs.x]);
  }) as unknown as KernelFunc,
};

const leakyReluGradKernel: KernelConfig = {
  kernelName: 'TsvaeLeakyReluGrad',
  backendName: TF,
  kernelFunc: (({
    inputs,
    backend,
    attrs,
  }: {
    inputs: { dy: Tensor; x: Tensor };
    backend: unknown;
    attrs: { alpha: number };
  }) => {
    const be = backendOf(backend);
    return be.executeSingleOutput(
      'LeakyReluGrad',
      [floatType(be.binding), { name: 'alpha', type: be.binding.TF_ATTR_FLOAT, value: attrs.alpha }],
      [inputs.dy, inputs.x],
    );
  }) as unknown as KernelFunc,
};

/** Whether the native gradient kernel `name` runs for these tensors now. */
function native(name: string, ...xs: Tensor[]): boolean {
  return getBackend() === TF && xs.every((x) => x.dtype === 'float32') && getKernel(name, TF) !== undefined;
}

function run(name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap = {}): Tensor {
  return engine().runKernel(name, inputs, attrs) as Tensor;
}

/** The stock gradient of `kernel` applied to (dy, x): the fallback off tensorflow. */
function stockGrad(kernel: string, dy: Tensor, x: Tensor, attrs: NamedAttrMap): Tensor {
  const g = stockGradients.get(kernel) ?? getGradient(kernel);
  if (g === undefined) throw new Error(`no gradient registered for ${kernel}`);
  return (g.gradFunc(dy, [x], attrs) as Record<string, () => Tensor>)['x']!();
}

function reluGrad(dy: Tensor, x: Tensor): Tensor {
  return native('TsvaeReluGrad', dy, x) ? run('TsvaeReluGrad', { dy, x }) : stockGrad('Relu', dy, x, {});
}

function leakyReluGrad(dy: Tensor, x: Tensor, alpha: number): Tensor {
  return native('TsvaeLeakyReluGrad', dy, x)
    ? run('TsvaeLeakyReluGrad', { dy, x }, { alpha } as unknown as NamedAttrMap)
    : stockGrad('LeakyRelu', dy, x, { alpha } as unknown as NamedAttrMap);
}

const GRADIENTS: readonly GradConfig[] = [
  {
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [Tensor];
      if (!native('TsvaeReluGrad', dy as Tensor, x)) {
        const stock = stockGradients.get('Relu');
        if (stock) return stock.gradFunc(dy, saved, attrs);
      }
      return { x: () => reluGrad(dy as Tensor, x) };
    },
  },
  {
    kernelName: 'LeakyRelu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as [Tensor];
      if (!native('TsvaeLeakyReluGrad', dy as Tensor, x)) {
        const stock = stockGradients.get('LeakyRelu');
        if (stock) return stock.gradFunc(dy, saved, attrs);
      }
      const { alpha } = attrs as unknown as { alpha: number };
      return { x: () => leakyReluGrad(dy as Tensor, x, alpha) };
    },
  },
  // the native gradient kernels are linear in dy and piecewise constant in x
  {
    kernelName: 'TsvaeReluGrad',
    inputsToSave: ['x'],
    gradFunc: (ddy, saved) => {
      const [x] = saved as [Tensor];
      return { dy: () => reluGrad(ddy as Tensor, x), x: () => zerosLike(x) };
    },
  },
  {
    kernelName: 'TsvaeLeakyReluGrad',
    inputsToSave: ['x'],
    gradFunc: (ddy, saved, attrs) => {
      const [x] = saved as [Tensor];
      const { alpha } = attrs as unknown as { alpha: number };
      return { dy: () => leakyReluGrad(ddy as Tensor, x, alpha), x: () => zerosLike(x) };
    },
  },
];

function replaceKernel(config: KernelConfig): void {
  if (getKernel(config.kernelName, config.backendName) !== undefined)
    unregisterKernel(config.kernelName, config.backendName);
  registerKernel(config);
}

/** Installs the gradients of {@link GRADIENTS} (capturing the stock ones they fall back to). */
function registerGradients(): void {
  for (const config of GRADIENTS) {
    const current = getGradient(config.kernelName);
    if (current === config) continue;
    // a stock gradient re-registered since (e.g. by a second copy of tfjs loading) is the new stock
    if (current !== undefined) stockGradients.set(config.kernelName, current);
    registerGradient(config);
    ours.set(config.kernelName, config);
  }
}

/** Options of {@link registerTensorflowKernels}. */
export interface TensorflowKernelOptions {
  /**
   * Whether TensorFlow runs with oneDNN (`TF_ENABLE_ONEDNN_OPTS`, as {@link initBackend} set it).
   * With oneDNN the transposing `BatchMatMul` is not registered (it is slower there). Default
   * false: the kernel is registered.
   */
  readonly onednn?: boolean;
}

/**
 * Registers the `tensorflow` backend's faster kernels and gradients (see the module
 * documentation). Call after tfjs-node has loaded (its own registrations would replace these);
 * {@link initBackend} does when it picks `tensorflow`. Idempotent, and repairs registrations a
 * later tfjs load replaced. Returns the kernels in effect.
 */
export function registerTensorflowKernels(
  options: TensorflowKernelOptions = {},
): readonly TensorflowKernel[] {
  const out: TensorflowKernel[] = [];
  const backend = nodeBackend();
  if (backend === null) return out; // no tfjs-node (or not the one these kernels know)
  const current = getKernel('BatchMatMul', TF);
  const onGpu = backend.binding.isUsingGpuDevice();
  if (current !== undefined && !onGpu && !options.onednn) {
    if (stockBatchMatMul === undefined || current.kernelFunc !== ourBatchMatMul?.kernelFunc) {
      stockBatchMatMul = current;
      ourBatchMatMul = makeBatchMatMul(current);
      replaceKernel(ourBatchMatMul);
    }
    out.push('BatchMatMul');
  } else if (stockBatchMatMul !== undefined && current?.kernelFunc === ourBatchMatMul?.kernelFunc) {
    // registered earlier in this process without oneDNN: back to tfjs-node's own
    replaceKernel(stockBatchMatMul);
    stockBatchMatMul = undefined;
    ourBatchMatMul = undefined;
  }
  replaceKernel(reluGradKernel);
  replaceKernel(leakyReluGradKernel);
  out.push('TsvaeReluGrad', 'TsvaeLeakyReluGrad');
  registerGradients();
  registered = out;
  return out;
}

let ourBatchMatMul: KernelConfig | undefined;

/** Restores tfjs-node's own kernels and the stock ReLU gradients (for comparisons). Idempotent. */
export function unregisterTensorflowKernels(): void {
  if (
    stockBatchMatMul !== undefined &&
    getKernel('BatchMatMul', TF)?.kernelFunc === ourBatchMatMul?.kernelFunc
  ) {
    replaceKernel(stockBatchMatMul);
  }
  stockBatchMatMul = undefined;
  ourBatchMatMul = undefined;
  for (const name of ['TsvaeReluGrad', 'TsvaeLeakyReluGrad']) {
    if (getKernel(name, TF) !== undefined) unregisterKernel(name, TF);
  }
  for (const [name, config] of ours) {
    const stock = stockGradients.get(name);
    if (getGradient(name) === config && stock !== undefined) registerGradient(stock);
  }
  ours.clear();
  registered = [];
}

/** The kernels {@link registerTensorflowKernels} put in effect (empty before or after unregistering). */
export function tensorflowKernelsRegistered(): readonly TensorflowKernel[] {
  return registered;
}
