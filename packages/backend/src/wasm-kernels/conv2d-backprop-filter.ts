/**
 * Conv2DBackpropFilter for the wasm backend, which has none: the filter gradient of a convolution
 * is itself a convolution, run on XNNPACK through the wasm Conv2D kernel.
 *
 * dW[fh, fw, ci, co] = sum_{b, oh, ow} x[b, oh*s + fh - pt, ow*s + fw - pl, ci] * dy[b, oh, ow, co]
 * is a convolution of x^T = transpose(x, [3, 1, 2, 0]) (batch ci, channels b) with the filter
 * dy^T = transpose(dy, [1, 2, 0, 3]) ([oh, ow, b, co]) at dilation s, stride 1, padding (pt, pl)
 * and enough bottom/right padding to reach fh x fw outputs; then a crop and a transpose back.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  backend_util,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { free, runWasmKernel, transposeInfo, WASM } from './util';

interface Args {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}

function conv2DBackpropFilter({ inputs, backend, attrs }: Args): TensorInfo {
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== 'channelsLast') {
    throw new Error(`@tsvae/backend: wasm Conv2DBackpropFilter supports NHWC only, got ${dataFormat}`);
  }
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const { inHeight, inWidth, outHeight, outWidth, inChannels, outChannels, padInfo } = info;
  const pt = padInfo.top;
  const pl = padInfo.left;
  const pb = Math.max(0, fh + (outHeight - 1) * sh - inHeight - pt);
  const pr = Math.max(0, fw + (outWidth - 1) * sw - inWidth - pl);

  const xT = transposeInfo(backend, x, [3, 1, 2, 0]);
  const dyT = transposeInfo(backend, dy, [1, 2, 0, 3]);
  const conv = runWasmKernel(
    'Conv2D',
    backend,
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [sh, sw],
    },
  );
  free(backend, xT, dyT);
  // conv: [ci, >= fh, >= fw, co]
  let cropped = conv;
  if (conv.shape[1] !== fh || conv.shape[2] !== fw) {
    cropped = runWasmKernel(
      'Slice',
      backend,
      { x: conv },
      { begin: [0, 0, 0, 0], size: [inChannels, fh, fw, outChannels] },
    );
    free(backend, conv);
  }
  const out = transposeInfo(backend, cropped, [1, 2, 0, 3]);
  free(backend, cropped);
  return out;
}

/** Kernel config: Conv2DBackpropFilter on wasm through XNNPACK convolutions. */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: WASM,
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
