import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetFormatError } from './errors';

/** A decoded image, uint8 row-major HWC. */
export interface RawImage {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly data: Uint8Array;
}

/** Image file formats the loaders decode. */
export type ImageFormat = 'jpeg' | 'png';

/** The format of image bytes by their magic number, or `undefined`. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (
    bytes.length >= 8 &&
    bytes[0] === 0x89 &&
    bytes[1] === 0x50 &&
    bytes[2] === 0x4e &&
    bytes[3] === 0x47 &&
    bytes[4] === 0x0d &&
    bytes[5] === 0x0a
  )
    return 'png';
  return undefined;
}

/** Whether a file name has an image extension the loaders read (.jpg, .jpeg, .png). */
export function isImageFileName(name: string): boolean {
  return /\.(jpe?g|png)$/i.test(name);
}

/**
 * Decodes JPEG (baseline / progressive, strict: corrupt data is an error, not a grey patch) or PNG
 * bytes to RGB (JPEG) or RGBA (PNG) uint8. Throws {@link DatasetFormatError} naming `file`.
 */
export function decodeImage(bytes: Uint8Array, file: string): RawImage {
  const format = sniffImageFormat(bytes);
  if (format === 'jpeg') {
    try {
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        tolerantDecoding: false,
        maxMemoryUsageInMB: 1024,
      });
      if (!img.width || !img.height) throw new Error('zero-sized image');
      return { width: img.width, height: img.height, channels: 3, data: img.data };
    } catch (cause) {
      throw new DatasetFormatError(file, `corrupt JPEG (${(cause as Error).message ?? String(cause)})`, {
        cause,
      });
    }
  }
  if (format === 'png') {
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return {
        width: png.width,
        height: png.height,
        channels: 4,
        data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
      };
    } catch (cause) {
      throw new DatasetFormatError(file, `corrupt PNG (${(cause as Error).message ?? String(cause)})`, {
        cause,
      });
    }
  }
  throw new DatasetFormatError(file, 'not a JPEG or PNG image (unrecognised magic bytes)');
}

/** Whether every pixel of an RGB(A) image has R = G = B. */
export function isGrayscale(img: RawImage): boolean {
  if (img.channels < 3) return true;
  const { data, channels } = img;
  for (let i = 0; i < data.length; i += channels) {
    if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) return false;
  }
  return true;
}

/**
 * Converts to 1 (luma, ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, rounded) or 3 (RGB) channels;
 * alpha is dropped. Returns the input when it already has `channels` channels.
 */
export function toChannels(img: RawImage, channels: 1 | 3): RawImage {
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * channels);
  const src = img.data;
  const c = img.channels;
  if (channels === 3) {
    if (c === 1) {
      for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = src[i]!;
    } else {
      for (let i = 0; i < n; i++) {
        out[3 * i] = src[c * i]!;
        out[3 * i + 1] = src[c * i + 1]!;
        out[3 * i + 2] = src[c * i + 2]!;
      }
    }
  } else if (c === 1 || c === 2) {
    for (let i = 0; i < n; i++) out[i] = src[c * i]!;
  } else {
    for (let i = 0; i < n; i++) {
      out[i] = Math.round(0.299 * src[c * i]! + 0.587 * src[c * i + 1]! + 0.114 * src[c * i + 2]!);
    }
  }
  return { width: img.width, height: img.height, channels, data: out };
}

/** A crop box: rows `[top, top + height)`, columns `[left, left + width)`. */
export interface CropBox {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

/** Crops an image; throws naming `file` when the box does not fit. */
export function crop(img: RawImage, box: CropBox, file = '<image>'): RawImage {
  const { top, left, height, width } = box;
  if (
    top < 0 ||
    left < 0 ||
    top + height > img.height ||
    left + width > img.width ||
    height <= 0 ||
    width <= 0
  ) {
    throw new DatasetFormatError(
      file,
      `crop rows ${top}:${top + height}, cols ${left}:${left + width} does not fit a ${img.height}x${img.width} image`,
    );
  }
  const c = img.channels;
  const out = new Uint8Array(height * width * c);
  const rowLen = width * c;
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * c;
    out.set(img.data.subarray(s, s + rowLen), y * rowLen);
  }
  return { width, height, channels: c, data: out };
}

/** A centred square crop of side `size` (compare_gan's CelebA crop uses 160). */
export function centerCropBox(height: number, width: number, size: number): CropBox {
  return {
    top: Math.floor((height - size) / 2),
    left: Math.floor((width - size) / 2),
    height: size,
    width: size,
  };
}

/**
 * Resampling filters for {@link resize}:
 * - `area`: exact box / pixel-area average (OpenCV `INTER_AREA`; for integer factors such as
 *   128 -> 64 the plain mean of each 2x2 block). The default for downsampling.
 * - `bilinear`: 2-tap bilinear interpolation with half-pixel centres and no antialiasing (TF2
 *   `tf.image.resize(..., 'bilinear')`, PyTorch `align_corners=False`).
 * - `bilinear-antialias`: triangle filter widened by the scale factor when downsampling (Pillow's
 *   `Image.BILINEAR`, TF2 `antialias=True`).
 * - `nearest`: nearest neighbour (half-pixel centres).
 */
export type ResizeFilter = 'area' | 'bilinear' | 'bilinear-antialias' | 'nearest';

/** The resize filters, for config schemas. */
export const RESIZE_FILTERS = ['area', 'bilinear', 'bilinear-antialias', 'nearest'] as const;

interface Taps {
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

function taps(inSize: number, outSize: number, filter: ResizeFilter): Taps {
  const scale = inSize / outSize;
  const lists: Array<Array<[number, number]>> = [];
  for (let i = 0; i < outSize; i++) {
    const list: Array<[number, number]> = [];
    if (filter === 'area') {
      const a = i * scale;
      const b = (i + 1) * scale;
      for (let j = Math.floor(a); j < Math.ceil(b - 1e-9); j++) {
        const w = Math.min(b, j + 1) - Math.max(a, j);
        if (w > 1e-12) list.push([Math.min(j, inSize - 1), w]);
      }
    } else if (filter === 'nearest') {
      list.push([Math.min(inSize - 1, Math.floor((i + 0.5) * scale)), 1]);
    } else if (filter === 'bilinear') {
      const x = Math.max(0, (i + 0.5) * scale - 0.5);
      const x0 = Math.min(inSize - 1, Math.floor(x));
      const x1 = Math.min(inSize - 1, x0 + 1);
      const f = x - x0;
      list.push([x0, 1 - f]);
      if (f > 0 && x1 !== x0) list.push([x1, f]);
    } else {
      const support = Math.max(scale, 1);
      const centre = (i + 0.5) * scale;
      const lo = Math.max(0, Math.floor(centre - support));
      const hi = Math.min(inSize, Math.ceil(centre + support));
      for (let j = lo; j < hi; j++) {
        const w = Math.max(0, 1 - Math.abs((j + 0.5 - centre) / support));
        if (w > 0) list.push([j, w]);
      }
    }
    const total = list.reduce((s, [, w]) => s + w, 0);
    lists.push(list.map(([j, w]) => [j, w / total]));
  }
  const n = lists.reduce((s, l) => s + l.length, 0);
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const index = new Int32Array(n);
  const weight = new Float64Array(n);
  let k = 0;
  lists.forEach((l, i) => {
    start[i] = k;
    count[i] = l.length;
    for (const [j, w] of l) {
      index[k] = j;
      weight[k++] = w;
    }
  });
  return { start, count, index, weight };
}

const tapCache = new Map<string, Taps>();
function cachedTaps(inSize: number, outSize: number, filter: ResizeFilter): Taps {
  const key = `${inSize}:${outSize}:${filter}`;
  let t = tapCache.get(key);
  if (!t) {
    t = taps(inSize, outSize, filter);
    if (tapCache.size > 64) tapCache.clear();
    tapCache.set(key, t);
  }
  return t;
}

/**
 * Resizes a uint8 image with a separable filter (rows, then columns, in float64; the result is
 * rounded to the nearest integer). See {@link ResizeFilter}.
 */
export function resize(
  img: RawImage,
  height: number,
  width: number,
  filter: ResizeFilter = 'area',
): RawImage {
  if (img.height === height && img.width === width) return img;
  const c = img.channels;
  const tx = cachedTaps(img.width, width, filter);
  const ty = cachedTaps(img.height, height, filter);
  // Horizontal pass: [img.height, width, c].
  const mid = new Float64Array(img.height * width * c);
  const src = img.data;
  for (let y = 0; y < img.height; y++) {
    const rowIn = y * img.width * c;
    const rowOut = y * width * c;
    for (let x = 0; x < width; x++) {
      const s = tx.start[x]!;
      const e = s + tx.count[x]!;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = s; k < e; k++) acc += tx.weight[k]! * src[rowIn + tx.index[k]! * c + ch]!;
        mid[rowOut + x * c + ch] = acc;
      }
    }
  }
  const out = new Uint8Array(height * width * c);
  const rowLen = width * c;
  for (let y = 0; y < height; y++) {
    const s = ty.start[y]!;
    const e = s + ty.count[y]!;
    for (let i = 0; i < rowLen; i++) {
      let acc = 0;
      for (let k = s; k < e; k++) acc += ty.weight[k]! * mid[ty.index[k]! * rowLen + i]!;
      out[y * rowLen + i] = acc <= 0 ? 0 : acc >= 255 ? 255 : Math.round(acc);
    }
  }
  return { width, height, channels: c, data: out };
}
