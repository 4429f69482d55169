import * as tf from '@tensorflow/tfjs-core';
import type { TorchTensor } from './torch-checkpoint';

/**
 * How images are resized to 299x299 and scaled for the network.
 * - `tf1-legacy`: TF1 `resize_bilinear` (align_corners=false, no half-pixel centres) on 0-255
 *   values, then `(x - 128) / 128`: the original TTUR / TensorFlow FID graph.
 * - `pytorch-fid`: half-pixel-centre bilinear (`F.interpolate(mode='bilinear',
 *   align_corners=False)`) on [0, 1] values, then `2x - 1`.
 */
export type ResizeMode = 'tf1-legacy' | 'pytorch-fid';

/**
 * Input preprocessing of {@link FidInception}: the resize protocol only. Quantising generated
 * images to uint8 levels and the reference code's min-max normalisation happen once, before any
 * extractor sees them, in `prepareGenerated` (`evaluateGenerators`' `quantize` /
 * `minMaxNormalize`); the network takes its input as it comes.
 */
export interface PreprocessOptions {
  /** Default `tf1-legacy`. */
  readonly resize?: ResizeMode;
}

/** Which outputs {@link FidInception.extract} returns. */
export interface ExtractOptions extends PreprocessOptions {
  /** Images per forward pass (bounds memory; default 16). */
  readonly batchSize?: number;
  /** Also compute the 1008 logits (default false). */
  readonly logits?: boolean;
  /** Called after every batch. */
  readonly onProgress?: (progress: { readonly done: number; readonly total: number }) => void;
}

/** Features of a set of images: row-major `[count, 2048]` pool3 and optionally `[count, 1008]` logits. */
export interface InceptionFeatures {
  readonly count: number;
  readonly pool3: Float32Array;
  readonly logits?: Float32Array;
}

/** Error for checkpoints that do not hold the FID Inception weights. */
export class InceptionWeightsError extends Error {
  override readonly name = 'InceptionWeightsError';
}

/** One BasicConv2d (conv without bias + BatchNorm(eps 0.001) + ReLU). */
interface ConvSpec {
  readonly name: string;
  readonly inC: number;
  readonly outC: number;
  readonly kh: number;
  readonly kw: number;
  readonly stride: 1 | 2;
  readonly pad: 'same' | 'valid';
}

const BN_EPS = 0.001;
/** pool3 width. */
export const POOL3_DIM = 2048;
/** Number of logits (1008 classes: the 2015 graph's 1000 + 8 unused). */
export const LOGITS_DIM = 1008;

function conv(name: string, inC: number, outC: number, kh: number, kw = kh, stride: 1 | 2 = 1): ConvSpec {
  return { name, inC, outC, kh, kw, stride, pad: stride === 2 ? 'valid' : 'same' };
}

/** Every BasicConv2d of the FID InceptionV3, in pytorch-fid's state-dict naming. */
export function inceptionConvSpecs(): ConvSpec[] {
  const s: ConvSpec[] = [
    { name: 'Conv2d_1a_3x3', inC: 3, outC: 32, kh: 3, kw: 3, stride: 2, pad: 'valid' },
    { name: 'Conv2d_2a_3x3', inC: 32, outC: 32, kh: 3, kw: 3, stride: 1, pad: 'valid' },
    { name: 'Conv2d_2b_3x3', inC: 32, outC: 64, kh: 3, kw: 3, stride: 1, pad: 'same' },
    { name: 'Conv2d_3b_1x1', inC: 64, outC: 80, kh: 1, kw: 1, stride: 1, pad: 'valid' },
    { name: 'Conv2d_4a_3x3', inC: 80, outC: 192, kh: 3, kw: 3, stride: 1, pad: 'valid' },
  ];
  const a = (m: string, inC: number, pf: number): void => {
    s.push(
      conv(`${m}.branch1x1`, inC, 64, 1),
      conv(`${m}.branch5x5_1`, inC, 48, 1),
      conv(`${m}.branch5x5_2`, 48, 64, 5),
      conv(`${m}.branch3x3dbl_1`, inC, 64, 1),
      conv(`${m}.branch3x3dbl_2`, 64, 96, 3),
      conv(`${m}.branch3x3dbl_3`, 96, 96, 3),
      conv(`${m}.branch_pool`, inC, pf, 1),
    );
  };
  const c = (m: string, c7: number): void => {
    s.push(
      conv(`${m}.branch1x1`, 768, 192, 1),
      conv(`${m}.branch7x7_1`, 768, c7, 1),
      conv(`${m}.branch7x7_2`, c7, c7, 1, 7),
      conv(`${m}.branch7x7_3`, c7, 192, 7, 1),
      conv(`${m}.branch7x7dbl_1`, 768, c7, 1),
      conv(`${m}.branch7x7dbl_2`, c7, c7, 7, 1),
      conv(`${m}.branch7x7dbl_3`, c7, c7, 1, 7),
      conv(`${m}.branch7x7dbl_4`, c7, c7, 7, 1),
      conv(`${m}.branch7x7dbl_5`, c7, 192, 1, 7),
      conv(`${m}.branch_pool`, 768, 192, 1),
    );
  };
  const e = (m: string, inC: number): void => {
    s.push(
      conv(`${m}.branch1x1`, inC, 320, 1),
      conv(`${m}.branch3x3_1`, inC, 384, 1),
      conv(`${m}.branch3x3_2a`, 384, 384, 1, 3),
      conv(`${m}.branch3x3_2b`, 384, 384, 3, 1),
      conv(`${m}.branch3x3dbl_1`, inC, 448, 1),
      conv(`${m}.branch3x3dbl_2`, 448, 384, 3),
      conv(`${m}.branch3x3dbl_3a`, 384, 384, 1, 3),
      conv(`${m}.branch3x3dbl_3b`, 384, 384, 3, 1),
      conv(`${m}.branch_pool`, inC, 192, 1),
    );
  };
  a('Mixed_5b', 192, 32);
  a('Mixed_5c', 256, 64);
  a('Mixed_5d', 288, 64);
  s.push(
    conv('Mixed_6a.branch3x3', 288, 384, 3, 3, 2),
    conv('Mixed_6a.branch3x3dbl_1', 288, 64, 1),
    conv('Mixed_6a.branch3x3dbl_2', 64, 96, 3),
    conv('Mixed_6a.branch3x3dbl_3', 96, 96, 3, 3, 2),
  );
  c('Mixed_6b', 128);
  c('Mixed_6c', 160);
  c('Mixed_6d', 160);
  c('Mixed_6e', 192);
  s.push(
    conv('Mixed_7a.branch3x3_1', 768, 192, 1),
    conv('Mixed_7a.branch3x3_2', 192, 320, 3, 3, 2),
    conv('Mixed_7a.branch7x7x3_1', 768, 192, 1),
    conv('Mixed_7a.branch7x7x3_2', 192, 192, 1, 7),
    conv('Mixed_7a.branch7x7x3_3', 192, 192, 7, 1),
    conv('Mixed_7a.branch7x7x3_4', 192, 192, 3, 3, 2),
  );
  e('Mixed_7b', 1280);
  e('Mixed_7c', 2048);
  return s;
}

interface FoldedConv {
  readonly spec: ConvSpec;
  /** `[kh, kw, in, out]`, BatchNorm scale folded in. */
  readonly filter: tf.Tensor4D;
  readonly bias: tf.Tensor1D;
}

/** Plain float32 parameters of the network (BatchNorm folded), the converted-cache format. */
export interface InceptionParams {
  /** Per conv name: filter `[kh, kw, in, out]` then bias `[out]`, float32. */
  readonly convs: ReadonlyMap<string, { readonly filter: Float32Array; readonly bias: Float32Array }>;
  /** `[2048, 1008]` (transposed from PyTorch's `[1008, 2048]`). */
  readonly fcWeight: Float32Array;
  readonly fcBias: Float32Array;
}

function expectTensor(
  sd: ReadonlyMap<string, TorchTensor>,
  name: string,
  shape: readonly number[],
): Float32Array {
  const t = sd.get(name);
  if (!t) throw new InceptionWeightsError(`missing tensor '${name}' (expected shape [${shape.join(', ')}])`);
  if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
    throw new InceptionWeightsError(
      `tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
    );
  }
  if (!(t.data instanceof Float32Array))
    throw new InceptionWeightsError(`tensor '${name}' is not floating point`);
  return t.data;
}

/**
 * Converts pytorch-fid's state dict (`pt_inception-2015-12-05-6726825d.pth` layout) into
 * {@link InceptionParams}: BatchNorm folded into the convolutions (in float64), filters to
 * tfjs layout. Errors name the tensor and the expected shape.
 */
export function paramsFromStateDict(sd: ReadonlyMap<string, TorchTensor>): InceptionParams {
  const convs = new Map<string, { filter: Float32Array; bias: Float32Array }>();
  for (const spec of inceptionConvSpecs()) {
    const { name, inC, outC, kh, kw } = spec;
    const w = expectTensor(sd, `${name}.conv.weight`, [outC, inC, kh, kw]);
    const gamma = expectTensor(sd, `${name}.bn.weight`, [outC]);
    const beta = expectTensor(sd, `${name}.bn.bias`, [outC]);
    const mean = expectTensor(sd, `${name}.bn.running_mean`, [outC]);
    const variance = expectTensor(sd, `${name}.bn.running_var`, [outC]);
    const filter = new Float32Array(kh * kw * inC * outC);
    const bias = new Float32Array(outC);
    for (let o = 0; o < outC; o++) {
      const scale = (gamma[o] as number) / Math.sqrt((variance[o] as number) + BN_EPS);
      bias[o] = (beta[o] as number) - (mean[o] as number) * scale;
      for (let i = 0; i < inC; i++) {
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            const src = ((o * inC + i) * kh + y) * kw + x;
            filter[((y * kw + x) * inC + i) * outC + o] = (w[src] as number) * scale;
          }
        }
      }
    }
    convs.set(name, { filter, bias });
  }
  const fw = expectTensor(sd, 'fc.weight', [LOGITS_DIM, POOL3_DIM]);
  const fcBias = Float32Array.from(expectTensor(sd, 'fc.bias', [LOGITS_DIM]));
  const fcWeight = new Float32Array(POOL3_DIM * LOGITS_DIM);
  for (let o = 0; o < LOGITS_DIM; o++) {
    for (let i = 0; i < POOL3_DIM; i++) fcWeight[i * LOGITS_DIM + o] = fw[o * POOL3_DIM + i] as number;
  }
  return { convs, fcWeight, fcBias };
}

/**
 * pytorch-fid's FID InceptionV3 (the inception-2015-12-05 graph) in tfjs ops, NHWC. Differs from
 * torchvision's InceptionV3: the pool branches of Mixed_5b-5d, 6b-6e and 7b average without
 * counting padding, Mixed_7c max-pools; 1008 logits; no aux head.
 */
export class FidInception {
  readonly #convs = new Map<string, FoldedConv>();
  readonly #fcW: tf.Tensor2D;
  readonly #fcB: tf.Tensor1D;
  readonly #poolCorrection = new Map<string, tf.Tensor4D>();
  #disposed = false;

  constructor(params: InceptionParams) {
    for (const spec of inceptionConvSpecs()) {
      const p = params.convs.get(spec.name);
      if (!p) throw new InceptionWeightsError(`missing parameters for '${spec.name}'`);
      if (p.filter.length !== spec.kh * spec.kw * spec.inC * spec.outC || p.bias.length !== spec.outC) {
        throw new InceptionWeightsError(
          `parameters of '${spec.name}' do not match [${spec.kh}, ${spec.kw}, ${spec.inC}, ${spec.outC}]`,
        );
      }
      this.#convs.set(spec.name, {
        spec,
        filter: tf.tensor4d(p.filter, [spec.kh, spec.kw, spec.inC, spec.outC]),
        bias: tf.tensor1d(p.bias),
      });
    }
    if (params.fcWeight.length !== POOL3_DIM * LOGITS_DIM || params.fcBias.length !== LOGITS_DIM) {
      throw new InceptionWeightsError(`fc parameters do not match [${POOL3_DIM}, ${LOGITS_DIM}]`);
    }
    this.#fcW = tf.tensor2d(params.fcWeight, [POOL3_DIM, LOGITS_DIM]);
    this.#fcB = tf.tensor1d(params.fcBias);
    for (const size of [35, 17, 8]) this.#correction(size, size);
  }

  /** Frees the weights. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const c of this.#convs.values()) {
      c.filter.dispose();
      c.bias.dispose();
    }
    for (const t of this.#poolCorrection.values()) t.dispose();
    this.#fcW.dispose();
    this.#fcB.dispose();
  }

  #conv(name: string, x: tf.Tensor4D): tf.Tensor4D {
    const c = this.#convs.get(name);
    if (!c) throw new InceptionWeightsError(`no conv '${name}'`);
    return tf.fused.conv2d({
      x,
      filter: c.filter,
      strides: c.spec.stride,
      pad: c.spec.pad,
      bias: c.bias,
      activation: 'relu',
    });
  }

  /** `9 / (number of non-padding cells)` per position, kept for the network's lifetime. */
  #correction(h: number, w: number): tf.Tensor4D {
    const key = `${h}x${w}`;
    let corr = this.#poolCorrection.get(key);
    if (!corr) {
      const v = new Float32Array(h * w);
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const rows = Math.min(i + 1, h - 1) - Math.max(i - 1, 0) + 1;
          const cols = Math.min(j + 1, w - 1) - Math.max(j - 1, 0) + 1;
          v[i * w + j] = 9 / (rows * cols);
        }
      }
      corr = tf.keep(tf.tensor4d(v, [1, h, w, 1]));
      this.#poolCorrection.set(key, corr);
    }
    return corr;
  }

  /** 3x3 stride-1 average pool with padding 1 that does not count the padding (TF semantics). */
  #avgPoolExcludePad(x: tf.Tensor4D): tf.Tensor4D {
    const [, h, w] = x.shape;
    const corr = this.#correction(h, w);
    const padded = tf.pad(
      x,
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      0,
    );
    return tf.mul(tf.avgPool(padded, 3, 1, 'valid'), corr);
  }

  #blockA(m: string, x: tf.Tensor4D): tf.Tensor4D {
    const b1 = this.#conv(`${m}.branch1x1`, x);
    const b5 = this.#conv(`${m}.branch5x5_2`, this.#conv(`${m}.branch5x5_1`, x));
    const b3 = this.#conv(
      `${m}.branch3x3dbl_3`,
      this.#conv(`${m}.branch3x3dbl_2`, this.#conv(`${m}.branch3x3dbl_1`, x)),
    );
    const bp = this.#conv(`${m}.branch_pool`, this.#avgPoolExcludePad(x));
    return tf.concat([b1, b5, b3, bp], 3);
  }

  #blockB(x: tf.Tensor4D): tf.Tensor4D {
    const m = 'Mixed_6a';
    const b3 = this.#conv(`${m}.branch3x3`, x);
    const bd = this.#conv(
      `${m}.branch3x3dbl_3`,
      this.#conv(`${m}.branch3x3dbl_2`, this.#conv(`${m}.branch3x3dbl_1`, x)),
    );
    return tf.concat([b3, bd, tf.maxPool(x, 3, 2, 'valid')], 3);
  }

  #blockC(m: string, x: tf.Tensor4D): tf.Tensor4D {
    const b1 = this.#conv(`${m}.branch1x1`, x);
    let b7 = this.#conv(`${m}.branch7x7_1`, x);
    b7 = this.#conv(`${m}.branch7x7_3`, this.#conv(`${m}.branch7x7_2`, b7));
    let bd = this.#conv(`${m}.branch7x7dbl_1`, x);
    for (const k of [2, 3, 4, 5]) bd = this.#conv(`${m}.branch7x7dbl_${k}`, bd);
    const bp = this.#conv(`${m}.branch_pool`, this.#avgPoolExcludePad(x));
    return tf.concat([b1, b7, bd, bp], 3);
  }

  #blockD(x: tf.Tensor4D): tf.Tensor4D {
    const m = 'Mixed_7a';
    const b3 = this.#conv(`${m}.branch3x3_2`, this.#conv(`${m}.branch3x3_1`, x));
    let b7 = this.#conv(`${m}.branch7x7x3_1`, x);
    for (const k of [2, 3, 4]) b7 = this.#conv(`${m}.branch7x7x3_${k}`, b7);
    return tf.concat([b3, b7, tf.maxPool(x, 3, 2, 'valid')], 3);
  }

  #blockE(m: string, x: tf.Tensor4D, maxPoolBranch: boolean): tf.Tensor4D {
    const b1 = this.#conv(`${m}.branch1x1`, x);
    const t = this.#conv(`${m}.branch3x3_1`, x);
    const b3 = tf.concat([this.#conv(`${m}.branch3x3_2a`, t), this.#conv(`${m}.branch3x3_2b`, t)], 3);
    const u = this.#conv(`${m}.branch3x3dbl_2`, this.#conv(`${m}.branch3x3dbl_1`, x));
    const bd = tf.concat([this.#conv(`${m}.branch3x3dbl_3a`, u), this.#conv(`${m}.branch3x3dbl_3b`, u)], 3);
    // Mixed_7c: max pool (the inputs are post-ReLU, so padding never wins the max).
    const pooled = maxPoolBranch ? tf.maxPool(x, 3, 1, 'same') : this.#avgPoolExcludePad(x);
    const bp = this.#conv(`${m}.branch_pool`, pooled);
    return tf.concat([b1, b3, bd, bp], 3);
  }

  /**
   * The network on already preprocessed input `[B, 299, 299, 3]` (scaled to [-1, 1]); returns
   * pool3 `[B, 2048]` and, when asked, logits `[B, 1008]`.
   */
  forward(x: tf.Tensor4D, withLogits = false): { pool3: tf.Tensor2D; logits?: tf.Tensor2D } {
    if (this.#disposed) throw new Error('FidInception was disposed');
    return tf.tidy(() => {
      let h = this.#conv('Conv2d_1a_3x3', x);
      h = this.#conv('Conv2d_2a_3x3', h);
      h = this.#conv('Conv2d_2b_3x3', h);
      h = tf.maxPool(h, 3, 2, 'valid');
      h = this.#conv('Conv2d_3b_1x1', h);
      h = this.#conv('Conv2d_4a_3x3', h);
      h = tf.maxPool(h, 3, 2, 'valid');
      h = this.#blockA('Mixed_5b', h);
      h = this.#blockA('Mixed_5c', h);
      h = this.#blockA('Mixed_5d', h);
      h = this.#blockB(h);
      for (const m of ['Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e']) h = this.#blockC(m, h);
      h = this.#blockD(h);
      h = this.#blockE('Mixed_7b', h, false);
      h = this.#blockE('Mixed_7c', h, true);
      const pool3 = tf.mean(h, [1, 2]) as tf.Tensor2D;
      if (!withLogits) return { pool3 };
      return { pool3, logits: tf.add(tf.matMul(pool3, this.#fcW), this.#fcB) as tf.Tensor2D };
    });
  }

  /** Features of `images` (`[N, H, W, C]`, see {@link preprocessImages}) in batches. */
  async extract(images: tf.Tensor4D, options: ExtractOptions = {}): Promise<InceptionFeatures> {
    const n = images.shape[0];
    const bs = Math.max(1, options.batchSize ?? 16);
    const pool3 = new Float32Array(n * POOL3_DIM);
    const logits = options.logits ? new Float32Array(n * LOGITS_DIM) : undefined;
    for (let start = 0; start < n; start += bs) {
      const size = Math.min(bs, n - start);
      const out = tf.tidy(() => {
        const batch = tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]);
        return this.forward(preprocessImages(batch, options), logits !== undefined);
      });
      pool3.set(await out.pool3.data(), start * POOL3_DIM);
      if (logits && out.logits) logits.set(await out.logits.data(), start * LOGITS_DIM);
      out.pool3.dispose();
      out.logits?.dispose();
      options.onProgress?.({ done: start + size, total: n });
    }
    return logits ? { count: n, pool3, logits } : { count: n, pool3 };
  }
}

/**
 * Turns images `[B, H, W, C]` (C = 1 or 3; float32 in [0, 1], or int32 0-255 from uint8 data)
 * into the network input `[B, 299, 299, 3]` following the chosen resize protocol. Values are
 * used as they are (no rounding: see {@link PreprocessOptions}).
 */
export function preprocessImages(images: tf.Tensor4D, options: PreprocessOptions = {}): tf.Tensor4D {
  const mode = options.resize ?? 'tf1-legacy';
  return tf.tidy(() => {
    const c = images.shape[3];
    if (c !== 1 && c !== 3) throw new RangeError(`images need 1 or 3 channels, got ${c}`);
    let x: tf.Tensor4D = c === 1 ? tf.tile(images, [1, 1, 1, 3]) : images;
    // int32 input holds 0-255 values; float input [0, 1] values.
    const bytes = x.dtype === 'int32';
    if (x.dtype !== 'float32') x = tf.cast(x, 'float32');
    if (mode === 'tf1-legacy') {
      const v: tf.Tensor4D = bytes ? x : tf.mul(x, 255);
      const r = tf.image.resizeBilinear(v, [299, 299], false, false);
      return tf.div(tf.sub(r, 128), 128);
    }
    const u: tf.Tensor4D = bytes ? tf.div(x, 255) : x;
    const r = tf.image.resizeBilinear(u, [299, 299], false, true);
    return tf.sub(tf.mul(r, 2), 1);
  });
}
