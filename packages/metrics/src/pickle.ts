/**
 * A safe subset of Python's pickle (protocols 2-4): enough for PyTorch state dicts. Nothing is
 * ever executed: globals become {@link PyGlobal} descriptors and calls of known constructors
 * are interpreted by a caller-supplied `reduce` hook.
 */

/** A reference to a Python global (`module.name`). */
export interface PyGlobal {
  readonly kind: 'global';
  readonly module: string;
  readonly name: string;
}

/** An unknown object built by `REDUCE`/`NEWOBJ`, kept for inspection. */
export interface PyOpaque {
  readonly kind: 'opaque';
  readonly callable: PyValue;
  readonly args: PyValue;
  state?: PyValue;
}

/** A Python dict (string or number keys in practice). */
export class PyDict {
  readonly kind = 'dict' as const;
  readonly entries = new Map<PyKey, PyValue>();
  /** Attributes set by `BUILD` (e.g. a state dict's `_metadata`). */
  state: PyValue = null;
}

/** Key of a {@link PyDict}. */
export type PyKey = string | number | bigint | boolean | null;

/** Any value the unpickler can produce. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | PyOpaque
  | { readonly kind: 'custom'; readonly value: unknown };

/** A Python tuple (distinguished from lists). */
export class PyTuple {
  readonly kind = 'tuple' as const;
  constructor(readonly items: PyValue[]) {}
}

/** Error for unsupported or malformed pickles. */
export class PickleError extends Error {
  override readonly name = 'PickleError';
}

/** Hooks of {@link unpickle}. */
export interface UnpickleHooks {
  /** `BINPERSID`: resolve a persistent id (torch storages). */
  persistentLoad?(pid: PyValue): PyValue;
  /** `REDUCE` of a global: return a value, or `undefined` for an opaque object. */
  reduce?(fn: PyGlobal, args: PyValue[]): PyValue | undefined;
}

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/** Unpickles one pickle starting at `offset`; returns the value and the offset after `STOP`. */
export function unpickle(
  bytes: Uint8Array,
  hooks: UnpickleHooks = {},
  offset = 0,
): { value: PyValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const td = new TextDecoder();
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  let p = offset;
  const u8 = (): number => {
    if (p >= bytes.length) throw new PickleError('unexpected end of pickle');
    return bytes[p++] as number;
  };
  const u16 = (): number => {
    const v = view.getUint16(p, true);
    p += 2;
    return v;
  };
  const u32 = (): number => {
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const take = (n: number): Uint8Array => {
    if (p + n > bytes.length) throw new PickleError('unexpected end of pickle');
    const s = bytes.subarray(p, p + n);
    p += n;
    return s;
  };
  const line = (): string => {
    const start = p;
    while (p < bytes.length && bytes[p] !== 0x0a) p++;
    const s = td.decode(bytes.subarray(start, p));
    p++;
    return s;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new PickleError('pickle stack underflow');
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new PickleError('pickle stack underflow');
    return v;
  };
  const popMark = (): PyValue[] => {
    const items: PyValue[] = [];
    for (;;) {
      const v = stack.pop();
      if (v === undefined) throw new PickleError('pickle MARK not found');
      if (v === MARK) break;
      items.push(v);
    }
    return items.reverse();
  };
  const asKey = (k: PyValue): PyKey => {
    if (
      k === null ||
      typeof k === 'string' ||
      typeof k === 'number' ||
      typeof k === 'bigint' ||
      typeof k === 'boolean'
    ) {
      return k;
    }
    if (k instanceof PyTuple)
      return JSON.stringify(k.items.map((x) => (typeof x === 'bigint' ? x.toString() : x)));
    throw new PickleError('unsupported dict key type');
  };
  const setItems = (dict: PyValue, kv: PyValue[]): void => {
    if (!(dict instanceof PyDict)) throw new PickleError('SETITEM(S) on a non-dict');
    for (let i = 0; i + 1 < kv.length; i += 2)
      dict.entries.set(asKey(kv[i] as PyValue), kv[i + 1] as PyValue);
  };
  const longFrom = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
    if (((b[b.length - 1] as number) & 0x80) !== 0) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const call = (fn: PyValue, args: PyValue): PyValue => {
    const list = args instanceof PyTuple ? args.items : [];
    if (fn !== null && typeof fn === 'object' && 'kind' in fn && fn.kind === 'global') {
      if (fn.module === 'collections' && fn.name === 'OrderedDict') return new PyDict();
      const r = hooks.reduce?.(fn, list);
      if (r !== undefined) return r;
    }
    return { kind: 'opaque', callable: fn, args };
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), end: p };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(p, true));
        p += 4;
        break;
      case 0x8a: // LONG1
        stack.push(longFrom(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(longFrom(take(u32())));
        break;
      case 0x47: // BINFLOAT
        stack.push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x49: {
        // INT (text)
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(td.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(td.decode(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(td.decode(take(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(td.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const idx = op === 0x68 ? u8() : u32();
        if (!memo.has(idx)) throw new PickleError(`memo ${idx} missing`);
        stack.push(memo.get(idx) as PyValue);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push({ kind: 'global', module, name });
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') throw new PickleError('bad STACK_GLOBAL');
        stack.push({ kind: 'global', module, name });
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw new PickleError('APPEND on a non-list');
        l.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw new PickleError('APPENDS on a non-list');
        l.push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.state = state;
        else if (obj !== null && typeof obj === 'object' && 'kind' in obj && obj.kind === 'opaque')
          obj.state = state;
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!hooks.persistentLoad) throw new PickleError('persistent id without a persistentLoad hook');
        stack.push(hooks.persistentLoad(pid));
        break;
      }
      default:
        throw new PickleError(`unsupported pickle opcode 0x${op.toString(16)} at byte ${p - 1}`);
    }
  }
}
