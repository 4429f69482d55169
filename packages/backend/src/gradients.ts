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
 * The registry is tfjs-core's, so the gradients hold on every backend (cpu, wasm, tfjs-node).
 */
import {
  conv2d,
  conv2dTranspose,
  getGradient,
  type NamedAttrMap,
  registerGradient,
  type Tensor,
  type Tensor4D,
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

/** The kernels whose gradients {@link registerHigherOrderGradients} registers (when tfjs has none). */
export const HIGHER_ORDER_GRADIENTS: readonly string[] = [
  ...Object.keys(PIECEWISE_CONSTANT),
  'Conv2DBackpropFilter',
];

/**
 * Registers the gradients tfjs-core 4.22 lacks for differentiating a gradient through dense, conv
 * and leaky-ReLU networks (see the module documentation): zero gradients for the comparison and
 * logical kernels, and the gradient of `Conv2DBackpropFilter`. Kernels that already have a
 * gradient (registered by tfjs or by anyone else) are left alone, so the call is idempotent and
 * never overrides. Returns the kernels it registered now.
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
  return added;
}
