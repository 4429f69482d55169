import { unzipSync } from 'fflate';
import { PickleError, PyDict, type PyGlobal, PyTuple, type PyValue, unpickle } from './pickle';

/** Element type of a tensor read from a PyTorch checkpoint. */
export type TorchDtype = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

/** One tensor of a checkpoint, materialised contiguous (C order). */
export interface TorchTensor {
  readonly dtype: TorchDtype;
  readonly shape: readonly number[];
  /** Values as float32 for floating dtypes, float64 for integer dtypes (exact up to 2^53). */
  readonly data: Float32Array | Float64Array;
}

/** Error for files that are not (supported) PyTorch checkpoints. */
export class TorchCheckpointError extends Error {
  override readonly name = 'TorchCheckpointError';
}

const STORAGE_DTYPES: Record<string, [TorchDtype, number]> = {
  FloatStorage: ['float32', 4],
  DoubleStorage: ['float64', 8],
  HalfStorage: ['float16', 2],
  LongStorage: ['int64', 8],
  IntStorage: ['int32', 4],
  ByteStorage: ['uint8', 1],
  BoolStorage: ['bool', 1],
};

interface StorageRef {
  readonly dtype: TorchDtype;
  readonly elementSize: number;
  readonly key: string;
}

interface TensorRef {
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
}

const isGlobal = (v: PyValue | undefined): v is PyGlobal =>
  v !== undefined &&
  v !== null &&
  typeof v === 'object' &&
  'kind' in v &&
  (v as { kind: string }).kind === 'global';

function num(v: PyValue | undefined, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new TorchCheckpointError(`expected an integer for ${what}`);
}

function ints(v: PyValue | undefined, what: string): number[] {
  if (!(v instanceof PyTuple)) throw new TorchCheckpointError(`expected a tuple for ${what}`);
  return v.items.map((x) => num(x, what));
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function readElement(view: DataView, dtype: TorchDtype, byteOffset: number): number {
  switch (dtype) {
    case 'float32':
      return view.getFloat32(byteOffset, true);
    case 'float64':
      return view.getFloat64(byteOffset, true);
    case 'float16':
      return half(view.getUint16(byteOffset, true));
    case 'int64':
      return Number(view.getBigInt64(byteOffset, true));
    case 'int32':
      return view.getInt32(byteOffset, true);
    default:
      return view.getUint8(byteOffset);
  }
}

function materialise(ref: TensorRef, bytes: Uint8Array, name: string): TorchTensor {
  const { dtype, elementSize } = ref.storage;
  const size = ref.shape.reduce((a, b) => a * b, 1);
  const isFloat = dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
  const out = isFloat ? new Float32Array(size) : new Float64Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Highest element index touched, to reject truncated storages with a clear message.
  let maxIndex = ref.offset;
  ref.shape.forEach((s, i) => {
    if (s > 0) maxIndex += (s - 1) * (ref.stride[i] ?? 0);
  });
  if (size > 0 && (maxIndex + 1) * elementSize > bytes.byteLength) {
    throw new TorchCheckpointError(`tensor '${name}': storage ${ref.storage.key} is too short`);
  }
  const rank = ref.shape.length;
  let contiguous = true;
  let expect = 1;
  for (let i = rank - 1; i >= 0; i--) {
    if ((ref.shape[i] as number) !== 1 && ref.stride[i] !== expect) contiguous = false;
    expect *= ref.shape[i] as number;
  }
  if (contiguous && dtype === 'float32' && (bytes.byteOffset + ref.offset * 4) % 4 === 0) {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset + ref.offset * 4, size));
    return { dtype, shape: ref.shape, data: out };
  }
  const idx = new Array<number>(rank).fill(0);
  for (let k = 0; k < size; k++) {
    let e = ref.offset;
    for (let i = 0; i < rank; i++) e += (idx[i] as number) * (ref.stride[i] as number);
    out[k] = readElement(view, dtype, e * elementSize);
    for (let i = rank - 1; i >= 0; i--) {
      idx[i] = (idx[i] as number) + 1;
      if ((idx[i] as number) < (ref.shape[i] as number)) break;
      idx[i] = 0;
    }
  }
  return { dtype, shape: ref.shape, data: out };
}

function storageFromPid(pid: PyValue): StorageRef {
  // ('storage', torch.FloatStorage, key, location, numel[, view_metadata])
  if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') {
    throw new TorchCheckpointError('unsupported persistent id (expected a torch storage)');
  }
  const type = pid.items[1];
  const key = pid.items[2];
  if (!isGlobal(type) || typeof key !== 'string')
    throw new TorchCheckpointError('malformed storage persistent id');
  const info = STORAGE_DTYPES[type.name];
  if (!info) throw new TorchCheckpointError(`unsupported storage type torch.${type.name}`);
  return { dtype: info[0], elementSize: info[1], key };
}

function reduceTorch(fn: PyGlobal, args: PyValue[]): PyValue | undefined {
  if (fn.module === 'torch._utils' && (fn.name === '_rebuild_tensor_v2' || fn.name === '_rebuild_tensor')) {
    const storage = args[0];
    if (
      storage === null ||
      typeof storage !== 'object' ||
      !('kind' in storage) ||
      storage.kind !== 'custom'
    ) {
      throw new TorchCheckpointError('tensor without a storage');
    }
    const ref: TensorRef = {
      storage: storage.value as StorageRef,
      offset: num(args[1], 'storage offset'),
      shape: ints(args[2], 'size'),
      stride: ints(args[3], 'stride'),
    };
    return { kind: 'custom', value: ref };
  }
  if (fn.module === 'torch._utils' && fn.name === '_rebuild_parameter') return args[0] ?? null;
  return undefined;
}

function collect(root: PyValue, storages: (key: string) => Uint8Array): Map<string, TorchTensor> {
  let dict: PyValue = root;
  // Checkpoints that wrap the weights: {'state_dict': {...}} or {'model': {...}}.
  if (dict instanceof PyDict && !hasTensors(dict)) {
    for (const k of ['state_dict', 'model', 'net']) {
      const inner = dict.entries.get(k);
      if (inner instanceof PyDict) {
        dict = inner;
        break;
      }
    }
  }
  if (!(dict instanceof PyDict)) throw new TorchCheckpointError('checkpoint is not a state dict');
  const out = new Map<string, TorchTensor>();
  for (const [k, v] of dict.entries) {
    if (typeof k !== 'string' || v === null || typeof v !== 'object' || !('kind' in v) || v.kind !== 'custom')
      continue;
    const ref = v.value as TensorRef;
    out.set(k, materialise(ref, storages(ref.storage.key), k));
  }
  return out;
}

function hasTensors(d: PyDict): boolean {
  for (const v of d.entries.values()) {
    if (v !== null && typeof v === 'object' && 'kind' in v && v.kind === 'custom') return true;
  }
  return false;
}

const hooks = {
  persistentLoad: (pid: PyValue): PyValue => ({ kind: 'custom', value: storageFromPid(pid) }),
  reduce: reduceTorch,
};

function readZip(bytes: Uint8Array): Map<string, TorchTensor> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new TorchCheckpointError(`corrupt PyTorch zip checkpoint: ${(e as Error).message}`);
  }
  const pkl = Object.keys(files).find((n) => n.endsWith('data.pkl'));
  if (!pkl) throw new TorchCheckpointError('zip checkpoint without data.pkl');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = files[`${prefix}byteorder`];
  if (order && new TextDecoder().decode(order).trim() !== 'little') {
    throw new TorchCheckpointError('big-endian checkpoints are not supported');
  }
  const { value } = unpickle(files[pkl] as Uint8Array, hooks);
  return collect(value, (key) => {
    const data = files[`${prefix}data/${key}`];
    if (!data) throw new TorchCheckpointError(`storage data/${key} missing from the checkpoint`);
    return data;
  });
}

function readLegacy(bytes: Uint8Array): Map<string, TorchTensor> {
  // magic number, protocol version, sys info, the object, the sorted storage keys, raw storages.
  let p = 0;
  const magic = unpickle(bytes, {}, p);
  if (magic.value !== 0x1950a86a20f9469cfc6cn)
    throw new TorchCheckpointError('not a PyTorch checkpoint (bad magic)');
  p = magic.end;
  p = unpickle(bytes, {}, p).end; // protocol version
  p = unpickle(bytes, {}, p).end; // sys info
  const refs = new Map<string, StorageRef>();
  const main = unpickle(
    bytes,
    {
      persistentLoad: (pid) => {
        const s = storageFromPid(pid);
        refs.set(s.key, s);
        return { kind: 'custom', value: s };
      },
      reduce: reduceTorch,
    },
    p,
  );
  const keys = unpickle(bytes, {}, main.end);
  if (!Array.isArray(keys.value)) throw new TorchCheckpointError('legacy checkpoint without storage keys');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Map<string, Uint8Array>();
  p = keys.end;
  for (const key of keys.value) {
    if (typeof key !== 'string') throw new TorchCheckpointError('bad storage key');
    const ref = refs.get(key);
    if (!ref) throw new TorchCheckpointError(`storage ${key} listed but never referenced`);
    const numel = Number(view.getBigInt64(p, true));
    p += 8;
    const len = numel * ref.elementSize;
    if (p + len > bytes.length) throw new TorchCheckpointError(`storage ${key} truncated`);
    data.set(key, bytes.subarray(p, p + len));
    p += len;
  }
  return collect(main.value, (key) => {
    const d = data.get(key);
    if (!d) throw new TorchCheckpointError(`storage ${key} missing`);
    return d;
  });
}

/**
 * Reads the tensors of a PyTorch checkpoint (`torch.save` of a state dict): the zip format
 * (PyTorch >= 1.6) or the legacy pickle-stream format. Nothing in the file is executed.
 */
export function readTorchCheckpoint(bytes: Uint8Array): Map<string, TorchTensor> {
  try {
    if (bytes[0] === 0x50 && bytes[1] === 0x4b) return readZip(bytes);
    if (bytes[0] === 0x80) return readLegacy(bytes);
  } catch (e) {
    if (e instanceof PickleError) throw new TorchCheckpointError(`malformed checkpoint pickle: ${e.message}`);
    throw e;
  }
  throw new TorchCheckpointError('not a PyTorch checkpoint (neither a zip archive nor a pickle)');
}
