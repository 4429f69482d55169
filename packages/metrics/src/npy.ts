import { unzipSync, zipSync } from 'fflate';

/** Element types supported by the `.npy` reader / writer. */
export type NpyDtype = 'float64' | 'float32' | 'uint8' | 'int32' | 'int64';

/** Typed array matching an {@link NpyDtype} (`int64` is read into a `Float64Array`). */
export type NpyData = Float64Array | Float32Array | Uint8Array | Int32Array;

/** One array read from / written to a `.npy` file (C order). */
export interface NpyArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  readonly data: NpyData;
}

const DESCR: Record<NpyDtype, string> = {
  float64: '<f8',
  float32: '<f4',
  uint8: '|u1',
  int32: '<i4',
  int64: '<i8',
};

/** Error for malformed `.npy` / `.npz` content. */
export class NpyError extends Error {
  override readonly name = 'NpyError';
}

function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`bad .npy header: ${text.trim()}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number.parseInt(s, 10));
  return { descr, fortran: fortran === 'True', shape };
}

/** Parses a `.npy` file (format versions 1-3, little-endian, C order). */
export function readNpy(bytes: Uint8Array): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) throw new NpyError('not a .npy file');
  const major = bytes[6] ?? 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major >= 2 ? view.getUint32(8, true) : view.getUint16(8, true);
  const start = major >= 2 ? 12 : 10;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const { descr, fortran, shape } = parseHeader(header);
  if (fortran) throw new NpyError('fortran_order arrays are not supported');
  const size = shape.reduce((a, b) => a * b, 1);
  const off = start + headerLen;
  const body = bytes.slice(off); // copy: aligned
  const need = (bytesPer: number): void => {
    if (body.byteLength < size * bytesPer)
      throw new NpyError(`truncated .npy: need ${size * bytesPer} bytes`);
  };
  switch (descr) {
    case '<f8':
      need(8);
      return { dtype: 'float64', shape, data: new Float64Array(body.buffer, 0, size) };
    case '<f4':
      need(4);
      return { dtype: 'float32', shape, data: new Float32Array(body.buffer, 0, size) };
    case '|u1':
    case '<u1':
      need(1);
      return { dtype: 'uint8', shape, data: new Uint8Array(body.buffer, 0, size) };
    case '<i4':
      need(4);
      return { dtype: 'int32', shape, data: new Int32Array(body.buffer, 0, size) };
    case '<i8': {
      need(8);
      const big = new BigInt64Array(body.buffer, 0, size);
      return { dtype: 'int64', shape, data: Float64Array.from(big, (v) => Number(v)) };
    }
    default:
      throw new NpyError(`unsupported .npy dtype ${descr}`);
  }
}

/** Serialises an array as a `.npy` (version 1.0) file. */
export function writeNpy(array: NpyArray): Uint8Array {
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${DESCR[array.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += `${' '.repeat((64 - (total % 64)) % 64)}\n`;
  const headerBytes = new TextEncoder().encode(header);
  let body: Uint8Array;
  if (array.dtype === 'int64') {
    body = new Uint8Array(BigInt64Array.from(array.data, (v) => BigInt(Math.round(v))).buffer);
  } else {
    body = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  }
  const out = new Uint8Array(10 + headerBytes.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, headerBytes.length, true);
  out.set(headerBytes, 10);
  out.set(body, 10 + headerBytes.length);
  return out;
}

/** Reads every array of a `.npz` archive (numpy's `savez` / `savez_compressed`). */
export function readNpz(bytes: Uint8Array): Map<string, NpyArray> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new NpyError(`not a .npz (zip) file: ${(e as Error).message}`);
  }
  const out = new Map<string, NpyArray>();
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('.npy')) out.set(name.slice(0, -4), readNpy(content));
  }
  return out;
}

/** Writes arrays as a `.npz` archive (stored, like `numpy.savez`). */
export function writeNpz(arrays: Readonly<Record<string, NpyArray>>): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 }]> = {};
  for (const [name, array] of Object.entries(arrays)) files[`${name}.npy`] = [writeNpy(array), { level: 0 }];
  return zipSync(files);
}
