/**
 * The threaded (pthreads + SIMD) build of tfjs-backend-wasm, in Node.
 *
 * tfjs-backend-wasm hard-codes threads off in Node: its loader hands Emscripten blob: URLs for the
 * pthread worker and the main script, which Node's worker_threads refuse (ERR_WORKER_PATH). Here
 * the same Emscripten factory is instantiated with file paths instead: the worker source (shipped
 * as a string) is written to a file in the OS temp directory and the main script is the package's
 * own file. XNNPACK sizes its thread pool from `os.cpus().length / 2` (it assumes two hyperthreads
 * per core), so `os.cpus` is widened for the duration of the call to get the requested count.
 * The pool's workers are unref'd so they never keep the process alive, and the idle workers
 * Emscripten pre-starts are terminated (about 50 MB RSS).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { hashBytes, writeFileAtomic } from '@tsvae/core/node';

interface NodeWorkerLike {
  unref?: () => void;
  terminate?: () => Promise<number>;
  loaded?: boolean;
}

interface EmscriptenModule {
  cwrap: (name: string, ret: string | null, args: string[]) => (...args: number[]) => number;
  PThread?: { unusedWorkers: NodeWorkerLike[]; runningWorkers: NodeWorkerLike[] };
  tfjs?: unknown;
}

type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

function nodeRequire(): NodeJS.Require {
  return createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
}

/** The directory holding tfjs-backend-wasm's Emscripten outputs (`wasm-out`). */
export function wasmOutDir(): string {
  const main = nodeRequire().resolve('@tensorflow/tfjs-backend-wasm');
  return path.join(path.dirname(main), '..', 'wasm-out');
}

function writeWorker(contents: string): string {
  const dir = path.join(os.tmpdir(), `tsvae-wasm-${process.getuid?.() ?? 'user'}`);
  // The Blob path in tfjs escapes newlines the template literal had turned into real ones.
  const source = contents.replace(/\n/g, '\\n');
  // one file per worker source (shared by every process), written atomically
  const file = path.join(dir, `tfjs-backend-wasm-threaded-simd.worker.${hashBytes(source).slice(0, 16)}.cjs`);
  if (!existsSync(file)) writeFileAtomic(file, source);
  return file;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/**
 * Instantiates the threaded SIMD wasm module with `threads` XNNPACK threads and wraps it in a
 * `BackendWasm`. Rejects when the module cannot start its workers.
 */
export async function createThreadedWasmBackend(threads: number): Promise<BackendWasm> {
  const req = nodeRequire();
  const dir = wasmOutDir();
  const factory = req(path.join(dir, 'tfjs-backend-wasm-threaded-simd.js')) as Factory;
  const { wasmWorkerContents } = req(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const workerFile = writeWorker(wasmWorkerContents);
  const mainScript = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const osMutable = os as { cpus: typeof os.cpus };
  const cpus = osMutable.cpus;
  osMutable.cpus = () => {
    const real = cpus();
    return Array.from({ length: 2 * threads }, (_, i) => real[i % Math.max(real.length, 1)]!);
  };
  try {
    let aborted: string | null = null;
    const module = await factory({
      locateFile: (p: string, prefix: string) => {
        if (p.endsWith('.worker.js')) return workerFile;
        if (p.endsWith('.wasm')) return path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm');
        return prefix + p;
      },
      mainScriptUrlOrBlob: mainScript,
      onAbort: (what: unknown) => {
        aborted = String(what);
      },
      print: () => {},
      printErr: () => {},
    });
    if (aborted !== null) throw new Error(`threaded wasm module aborted: ${aborted}`);
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    setThreadsCount(threads);
    const backend = new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]);
    const pool = module.PThread;
    if (pool !== undefined) {
      // Workers load asynchronously; XNNPACK runs everything on the calling thread until they have.
      // (a worker is 'loaded' once the main thread has processed its message and sent it its thread).
      const ready = await waitFor(
        () =>
          pool.runningWorkers.length >= threads - 1 && pool.runningWorkers.every((w) => w.loaded === true),
        10_000,
      );
      for (const w of pool.runningWorkers) w.unref?.();
      // Emscripten pre-starts 8 workers; XNNPACK's pool holds threads - 1 of them. Each idle one
      // is a V8 isolate with its own wasm instance (~7 MB RSS each here): let them go. Emscripten
      // starts a new worker if a thread is ever created later.
      for (const w of pool.unusedWorkers.splice(0)) void w.terminate?.();
      if (!ready)
        throw new Error(`threaded wasm: ${pool.runningWorkers.length} of ${threads - 1} workers started`);
    }
    return backend;
  } finally {
    osMutable.cpus = cpus;
  }
}
