/**
 * Gradients that tfjs-core 4.22 lacks for second-order differentiation (a gradient penalty is the
 * gradient, with respect to the weights, of a norm of a gradient with respect to the inputs).
 *
 * tfjs differentiates a gradient through most kernels, but some gradient functions themselves
 * call kernels that have no gradient registered, so taking the gradient of such a gradient throws
 * "Cannot compute gradient: gradient function not found for <Kernel>":
 *
 * - `LeakyRelu`'s gradient uses `Greater`; `Maximum` / `Minimum` use `GreaterEqual` / `Less` /
 *   `LessEqual`; `ClipByValue` uses `LogicalAnd`; `Select`'s uses `LogicalNot`. These comparison and
 *   logical kernels are piecewise constant: their gradient is zero wherever it exists (TensorFlow
 *   registers them as not differentiable, which it treats as zero). Registered here as float32
 *   zeros of each input's shape.
 * - `Conv2DBackpropFilter` (the filter gradient of a convolution) has no gradient: a third-order
 *   term, or the gradient with respect to the inputs of a weight-gradient norm, needs it. For
 *   `dW = backpropFilter(x, dy)` and an upstream `G` (shaped like the filter), the bilinear identity
 *   `<G, backpropFilter(x, dy)> = <dy, conv2d(x, G)>` gives `d/d dy = conv2d(x, G)` and
 *   `d/dx = backpropInput(dy, G) = conv2dTranspose(dy, G, x.shape)`, with the forward strides,
 *   padding and rounding.
 *
 * - Gradients that read the kernel's saved *output* (`Sigmoid`, `Tanh`, `Exp`, `Elu`, `Softmax`)
 *   are silently wrong at second order: tfjs saves an output by cloning it before the
 *   kernel's own node is on the tape, so a gradient computed from that clone is cut off from the
 *   kernel's input (the clone's node precedes the node that makes its input, and backpropagation
 *   drops it). No error is raised; the second derivative just misses a term. These are replaced by
 *   gradients that recompute the output from the saved input (`sigmoid(x)`, `tanh(x)`, `exp(x)`,
 *   ...): the same values at first order (bit for bit; `Elu`'s `exp(x)` may differ in the last bit
 *   from tfjs's `elu(x) + 1`), and the right ones at second order, at the
 *   cost of one more kernel in the backward pass.
 *   `tf.logSoftmax` and `tf.logSigmoid` are `customGrad` ops that save their output the same way;
 *   no kernel gradient reaches them, so they stay wrong at second order: keep them out of
 *   networks whose input gradients are differentiated (`softplus`, `sigmoid` and `log` are fine).
 *
 * The registry is tfjs-core's, so the gradients hold on every backend (cpu, wasm, tfjs-node).
 */
import {
  conv2d,
  conv2dTranspose,
  exp,
  type GradConfig,
  getGradient,
  greater,
  mul,
  type NamedAttrMap,
  registerGradient,
  sigmoid,
  softmax,
  square,
  sub,
  sum,
  type Tensor,
  type Tensor4D,
  tanh,
  where,
  zeros,
} from '@tensorflow/tfjs-core';

/** The comparison and logical kernels given zero gradients, with their input names. */
const PIECEWISE_CONSTANT: Readonly<Record<string, readonly string[]>> = {
  Greater: ['a', 'b'],
  GreaterEqual: ['a', 'b'],
  Less: ['a', 'b'],
  LessEqual: ['a', 'b'],
  Equal: ['a', 'b'],
  NotEqual: ['a', 'b'],
  LogicalAnd: ['a', 'b'],
  LogicalOr: ['a', 'b'],
  LogicalXor: ['a', 'b'],
  LogicalNot: ['x'],
};

/** The attributes of `Conv2DBackpropFilter` (tfjs-core's `Conv2DBackpropFilterAttrs`). */
interface BackpropFilterAttrs {
  readonly strides: [number, number] | number;
  readonly pad: 'valid' | 'same' | number;
  readonly dataFormat: 'NHWC' | 'NCHW';
  readonly dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Gradients computed from the saved input instead of tfjs's saved output (see the module
 * documentation): the same first-order values, correct second-order ones.
 */
const FROM_INPUT: readonly GradConfig[] = [
  {
    kernelName: 'Sigmoid',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [Tensor];
      return {
        x: () => {
          const y = sigmoid(x);
          return mul(dy as Tensor, mul(y, sub(1, y)));
        },
      };
    },
  },
  {
    kernelName: 'Tanh',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [Tensor];
      return { x: () => mul(sub(1, square(tanh(x))), dy as Tensor) };
    },
  },
  {
    kernelName: 'Exp',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [Tensor];
      return { x: () => mul(dy as Tensor, exp(x)) };
    },
  },
  {
    // elu(x) = x (x > 0), exp(x) - 1 (x <= 0)
    kernelName: 'Elu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [Tensor];
      return { x: () => where(greater(x, 0), dy as Tensor, mul(dy as Tensor, exp(x))) };
    },
  },
  {
    kernelName: 'Softmax',
    inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => {
      const [logits] = saved as [Tensor];
      const { dim } = attrs as unknown as { dim: number };
      return {
        logits: () => {
          const y = softmax(logits, dim);
          const dyTimesY = mul(dy as Tensor, y);
          return sub(dyTimesY, mul(sum(dyTimesY, [dim], true), y));
        },
      };
    },
  },
];

/** The kernels whose gradients {@link registerHigherOrderGradients} registers or replaces. */
export const HIGHER_ORDER_GRADIENTS: readonly string[] = [
  ...Object.keys(PIECEWISE_CONSTANT),
  'Conv2DBackpropFilter',
  ...FROM_INPUT.map((g) => g.kernelName),
];

/**
 * Registers the gradients tfjs-core 4.22 lacks for differentiating a gradient through dense, conv
 * and leaky-ReLU networks, and fixes those it gets wrong at second order (see the module
 * documentation): zero gradients for the comparison and logical kernels and the gradient of
 * `Conv2DBackpropFilter` where none is registered (an existing one is left alone), and, replacing
 * tfjs's own, input-based gradients of `Sigmoid`, `Tanh`, `Exp`, `Elu` and `Softmax`
 * (first-order results unchanged; bit for bit but for `Elu`, see above). Idempotent. Returns the kernels it
 * registered or replaced now.
 *
 * @example
 * ```ts
 * import '@tensorflow/tfjs-layers'; // tfjs's own gradients
 * import * as tf from '@tensorflow/tfjs-core';
 * import { registerHigherOrderGradients } from '@tsvae/backend';
 * registerHigherOrderGradients();
 * const w = tf.variable(tf.tensor1d([0.5, -2]));
 * // the gradient, with respect to w, of the squared norm of an input gradient through leakyRelu
 * const { grads } = tf.variableGrads(() => {
 *   const g = tf.grad((x: tf.Tensor) => tf.sum(tf.leakyRelu(tf.mul(x, w), 0.2)))(tf.tensor1d([1, 1]));
 *   return tf.sum(tf.square(g)) as tf.Scalar;
 * }, [w]);
 * ```
 */
export function registerHigherOrderGradients(): string[] {
  higherOrderRequested = true;
  const added: string[] = [];
  for (const [kernelName, inputs] of Object.entries(PIECEWISE_CONSTANT)) {
    if (getGradient(kernelName) !== undefined) continue;
    registerGradient({
      kernelName,
      inputsToSave: [...inputs],
      gradFunc: (_dy: Tensor | Tensor[], saved: Tensor[]) =>
        Object.fromEntries(
          inputs.map((name, i) => [name, () => zeros((saved[i] as Tensor).shape, 'float32')]),
        ),
    });
    added.push(kernelName);
  }
  if (getGradient('Conv2DBackpropFilter') === undefined) {
    registerGradient({
      kernelName: 'Conv2DBackpropFilter',
      inputsToSave: ['x', 'dy'],
      gradFunc: (ddw: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
        const [x, dy] = saved as [Tensor4D, Tensor4D];
        const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as BackpropFilterAttrs;
        if (dataFormat !== 'NHWC') {
          throw new Error(`Conv2DBackpropFilter gradient: only NHWC is supported, got ${dataFormat}`);
        }
        const g = ddw as Tensor4D;
        return {
          x: () => conv2dTranspose(dy, g, x.shape, strides, pad, dimRoundingMode),
          dy: () => conv2d(x, g, strides, pad, 'NHWC', 1, dimRoundingMode),
        };
      },
    });
    added.push('Conv2DBackpropFilter');
  }
  for (const config of FROM_INPUT) {
    if (getGradient(config.kernelName) === config) continue;
    registerGradient(config);
    added.push(config.kernelName);
  }
  return added;
}

/** Whether {@link registerHigherOrderGradients} has been called in this process. */
let higherOrderRequested = false;

/**
 * Registers the higher-order gradients again if {@link registerHigherOrderGradients} was called
 * before: loading a second copy of tfjs (a tfjs-node outside the application brings its own)
 * re-registers tfjs's stock gradients over them. Called by the backend picker after loading
 * tfjs-node. Returns what it re-registered.
 */
export function reapplyHigherOrderGradients(): string[] {
  return higherOrderRequested ? registerHigherOrderGradients() : [];
}
