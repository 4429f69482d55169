/**
 * Conv2DBackpropInput (also conv2dTranspose's forward pass) for the wasm backend by output phases.
 *
 * The stock kernel is a naive loop. For stride s, the rows of dx with the same index modulo s (a
 * "phase") only see the filter taps fh = r, r + s, r + 2s, ...: each phase is a stride-1
 * correlation of dy with a flipped, sub-sampled, channel-swapped filter, which runs on XNNPACK
 * through the wasm Conv2D kernel. The s_h * s_w phase outputs are then interleaved into dx.
 * Falls back to the stock kernel when H or W is not a multiple of the stride, or for NCHW.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  backend_util,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { free, heapF32, runWasmKernel, WASM } from './util';

interface Args {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropInputAttrs;
}

/** One dimension of one phase: which taps, which padding of dy. */
interface PhaseDim {
  /** first filter tap of the phase */
  r: number;
  /** number of taps (0: the phase output is zero) */
  taps: number;
  /** rows cropped from the start of dy (when the padding would be negative) */
  cropStart: number;
  /** rows kept from dy */
  keep: number;
  padStart: number;
  padEnd: number;
}

/**
 * Plans one spatial dimension: output positions i*s + q (i < outLen / s) read dy rows
 * i + c - (taps - 1) + t for t < taps with filter taps r + (taps - 1 - t) * s.
 */
export function planPhaseDim(
  q: number,
  s: number,
  pad: number,
  filter: number,
  dyLen: number,
  dxLen: number,
): PhaseDim {
  const r = (q + pad) % s;
  const c = Math.floor((q + pad) / s);
  const taps = r >= filter ? 0 : Math.ceil((filter - r) / s);
  const n = dxLen / s;
  let padStart = taps - 1 - c;
  let padEnd = n + taps - 1 - padStart - dyLen;
  let cropStart = 0;
  let keep = dyLen;
  if (padStart < 0) {
    cropStart = -padStart;
    keep -= cropStart;
    padStart = 0;
  }
  if (padEnd < 0) {
    keep += padEnd;
    padEnd = 0;
  }
  return { r, taps, cropStart, keep, padStart, padEnd };
}

/** Kernel config: Conv2DBackpropInput by output phases, with the stock kernel as fallback. */
export function makeConv2DBackpropInputConfig(stock: KernelConfig): KernelConfig {
  const stockFunc = stock.kernelFunc as unknown as (args: Args) => TensorInfo;
  function conv2DBackpropInput(args: Args): TensorInfo {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      backend_util.convertConv2DDataFormat(dataFormat),
    );
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
    const { batchSize, inHeight, inWidth, inChannels: ci, outHeight, outWidth, outChannels: co } = info;
    if (
      info.dataFormat !== 'channelsLast' ||
      inHeight % sh !== 0 ||
      inWidth % sw !== 0 ||
      dy.dtype !== 'float32' ||
      filter.dtype !== 'float32'
    ) {
      return stockFunc(args);
    }
    const hs = inHeight / sh;
    const ws = inWidth / sw;
    const phases: { qh: number; qw: number; out: TensorInfo | null }[] = [];
    for (let qh = 0; qh < sh; qh++) {
      const ph = planPhaseDim(qh, sh, info.padInfo.top, fh, outHeight, inHeight);
      for (let qw = 0; qw < sw; qw++) {
        const pw = planPhaseDim(qw, sw, info.padInfo.left, fw, outWidth, inWidth);
        if (ph.taps === 0 || pw.taps === 0 || ph.keep <= 0 || pw.keep <= 0) {
          phases.push({ qh, qw, out: null });
          continue;
        }
        // sub-filter G[th, tw, co, ci] = W[r_h + (Th-1-th) s_h, r_w + (Tw-1-tw) s_w, ci, co]
        const g = backend.makeOutput([ph.taps, pw.taps, co, ci], 'float32');
        const gv = heapF32(backend, g);
        const wv = heapF32(backend, filter);
        for (let th = 0; th < ph.taps; th++) {
          const kh = ph.r + (ph.taps - 1 - th) * sh;
          for (let tw = 0; tw < pw.taps; tw++) {
            const kw = pw.r + (pw.taps - 1 - tw) * sw;
            const src = (kh * fw + kw) * ci * co;
            const dst = (th * pw.taps + tw) * co * ci;
            for (let i = 0; i < ci; i++) {
              for (let o = 0; o < co; o++) gv[dst + o * ci + i] = wv[src + i * co + o]!;
            }
          }
        }
        let src = dy;
        const cropped = ph.cropStart > 0 || pw.cropStart > 0 || ph.keep < outHeight || pw.keep < outWidth;
        if (cropped) {
          src = runWasmKernel(
            'Slice',
            backend,
            { x: dy },
            { begin: [0, ph.cropStart, pw.cropStart, 0], size: [batchSize, ph.keep, pw.keep, co] },
          );
        }
        const out = runWasmKernel(
          'Conv2D',
          backend,
          { x: src, filter: g },
          {
            strides: [1, 1],
            pad: [
              [0, 0],
              [ph.padStart, ph.padEnd],
              [pw.padStart, pw.padEnd],
              [0, 0],
            ],
            dataFormat: 'NHWC',
            dilations: [1, 1],
          },
        );
        free(backend, g);
        if (cropped) free(backend, src);
        phases.push({ qh, qw, out });
      }
    }
    if (phases.length === 1 && phases[0]!.out !== null) {
      return { ...phases[0]!.out, shape: [batchSize, inHeight, inWidth, ci] };
    }
    const dx = backend.makeOutput([batchSize, inHeight, inWidth, ci], 'float32');
    const dxv = heapF32(backend, dx);
    dxv.fill(0);
    for (const { qh, qw, out } of phases) {
      if (out === null) continue;
      const pv = heapF32(backend, out);
      let p = 0;
      for (let b = 0; b < batchSize; b++) {
        for (let i = 0; i < hs; i++) {
          let d = ((b * inHeight + i * sh + qh) * inWidth + qw) * ci;
          const step = sw * ci;
          if (ci === 1) {
            for (let j = 0; j < ws; j++, d += step) dxv[d] = pv[p++]!;
          } else {
            for (let j = 0; j < ws; j++, d += step, p += ci) dxv.set(pv.subarray(p, p + ci), d);
          }
        }
      }
      free(backend, out);
    }
    return dx;
  }
  return {
    kernelName: 'Conv2DBackpropInput',
    backendName: WASM,
    kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
    ...(stock.setupFunc === undefined ? {} : { setupFunc: stock.setupFunc }),
    ...(stock.disposeFunc === undefined ? {} : { disposeFunc: stock.disposeFunc }),
  };
}
