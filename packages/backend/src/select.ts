/**
 * Picks the fastest working TensorFlow.js backend: tfjs-node-gpu, tfjs-node, wasm, cpu, unless
 * `TSVAE_BACKEND` names one, and records why each better one was rejected.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { reapplyHigherOrderGradients } from './gradients';
import { nodeBackend } from './tensorflow/binding';
import { registerTensorflowKernels, unregisterTensorflowKernels } from './tensorflow/kernels';
import { findManagedInstall, type ManagedLookup } from './tensorflow/managed';
import type {
  BackendCandidate,
  BackendInfo,
  BackendName,
  BackendRejection,
  BackendRequest,
  InitBackendOptions,
  NativeTensorflowInfo,
  RejectionKind,
  TfjsNodeSource,
} from './types';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from './wasm-kernels/index';
import { createThreadedWasmBackend } from './wasm-threads';

/** The automatic order. */
export const BACKEND_ORDER: readonly BackendCandidate[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

const REQUESTS: readonly BackendRequest[] = ['auto', 'tensorflow', 'wasm', 'cpu', 'webgpu'];

const CANDIDATES: Record<BackendRequest, readonly BackendCandidate[]> = {
  auto: BACKEND_ORDER,
  tensorflow: ['tfjs-node-gpu', 'tfjs-node'],
  wasm: ['wasm'],
  cpu: ['cpu'],
  webgpu: ['webgpu'],
};

const MODULES: Record<BackendCandidate, string> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
};

/** Thrown when the requested backend (or every candidate) is unavailable; nothing falls back. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
  constructor(
    message: string,
    readonly requested: BackendRequest,
    readonly rejected: readonly BackendRejection[],
  ) {
    super(message);
  }
}

interface Chosen {
  backend: BackendName;
  backendVersion: string | null;
  threads: number;
  simd: boolean | null;
  gpu: boolean;
  trainingKernels: readonly string[];
  notes: string[];
  native?: NativeTensorflowInfo;
}

type Attempt = { ok: true; chosen: Chosen } | { ok: false; kind: RejectionKind; reason: string };

function nodeRequire(): NodeJS.Require {
  return createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
}

const defaultLoad = (specifier: string): Promise<unknown> => import(specifier);

function defaultResolve(specifier: string): boolean {
  try {
    nodeRequire().resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

function defaultProbeCuda(): string | null {
  if (process.platform !== 'linux') return null;
  if (existsSync('/proc/driver/nvidia/version') || existsSync('/dev/nvidiactl')) return null;
  return 'no NVIDIA driver (/proc/driver/nvidia/version and /dev/nvidiactl are absent)';
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return (text.split('\n')[0] ?? '').slice(0, 300);
}

/** Classifies the error thrown while importing an optional backend module. */
export function classifyLoadError(specifier: string, e: unknown): { kind: RejectionKind; reason: string } {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  if (/tfjs_binding\.node/.test(message)) {
    return { kind: 'addon-missing', reason: `native addon missing: ${firstLine(e)}` };
  }
  if (/libcud|cudnn|cuda/i.test(message))
    return { kind: 'no-cuda', reason: `CUDA unavailable: ${firstLine(e)}` };
  if (/libtensorflow/.test(message))
    return { kind: 'addon-missing', reason: `libtensorflow missing: ${firstLine(e)}` };
  if (
    ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(specifier)) ||
    message.includes(`Could not resolve "${specifier}"`) // vite's resolver (tests)
  ) {
    return { kind: 'module-absent', reason: `${specifier} is not installed` };
  }
  return { kind: 'init-failed', reason: `${specifier} failed to load: ${firstLine(e)}` };
}

function parseRequest(value: string | undefined): BackendRequest {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return 'auto';
  if ((REQUESTS as readonly string[]).includes(v)) return v as BackendRequest;
  throw new BackendUnavailableError(
    `TSVAE_BACKEND=${value} is not one of ${REQUESTS.filter((r) => r !== 'auto').join(', ')} (or unset)`,
    'auto',
    [],
  );
}

function positiveInt(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

async function setBackendQuietly(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

/** The oneDNN setting of the first TensorFlow library load in this process (it cannot change after). */
let onednnLoaded: { onednn: boolean; onednnSource: NativeTensorflowInfo['onednnSource'] } | null = null;

/**
 * Sets `TF_ENABLE_ONEDNN_OPTS` for the library about to load: the user's value wins; else on,
 * unless `onednn: false`.
 */
function applyOnednn(o: Resolved): { onednn: boolean; onednnSource: NativeTensorflowInfo['onednnSource'] } {
  if (onednnLoaded !== null) return onednnLoaded;
  const user = process.env['TF_ENABLE_ONEDNN_OPTS'];
  if (user !== undefined && user !== '')
    return { onednn: /^(1|true)$/i.test(user.trim()), onednnSource: 'env' };
  const on = o.onednn ?? true;
  process.env['TF_ENABLE_ONEDNN_OPTS'] = on ? '1' : '0';
  return { onednn: on, onednnSource: o.onednn === undefined ? 'default' : 'option' };
}

const SETUP_HINT = 'tsvae setup tensorflow installs it';

/** Loads one tfjs-node (by package name or from a directory) and activates its backend. */
async function loadTensorflow(
  candidate: 'tfjs-node-gpu' | 'tfjs-node',
  from: { specifier: string; source: TfjsNodeSource; location: string | null },
  o: Resolved,
): Promise<Attempt> {
  const before = process.env['TF_ENABLE_ONEDNN_OPTS'];
  const onednn = applyOnednn(o);
  let mod: unknown;
  // tfjs-node finds its addon through node-pre-gyp, which parses process.argv with abbreviations:
  // an application's `--dir X` reads as its `--directory X` and the addon is looked up under X
  const argv = process.argv;
  process.argv = argv.slice(0, 2);
  try {
    mod = await o.loadModule(from.specifier);
  } catch (e) {
    // nothing loaded: leave the environment as it was
    if (before === undefined && onednnLoaded === null) delete process.env['TF_ENABLE_ONEDNN_OPTS'];
    return { ok: false, ...classifyLoadError(from.specifier, e) };
  } finally {
    process.argv = argv;
  }
  if (tf.findBackendFactory('tensorflow') === null || !(await setBackendQuietly('tensorflow'))) {
    return {
      ok: false,
      kind: 'init-failed',
      reason: `${from.location ?? from.specifier} loaded but no 'tensorflow' backend initialised in this copy of @tensorflow/tfjs-core ${tf.version_core} (version mismatch or duplicate tfjs-core?)`,
    };
  }
  // the library reads TF_ENABLE_ONEDNN_OPTS once, when it loads
  if (onednnLoaded === null && nodeBackend() !== null) onednnLoaded = onednn;
  // a tfjs-node outside the application brings its own copy of tfjs, whose loading re-registered
  // tfjs's stock gradients over the ones this package had put in place
  reapplyHigherOrderGradients();
  const kernels = o.trainingKernels
    ? registerTensorflowKernels({ onednn: (onednnLoaded ?? onednn).onednn })
    : [];
  if (!o.trainingKernels) unregisterTensorflowKernels();
  const version = (mod as { version?: Record<string, string | undefined> } | null)?.version;
  const library = nodeBackend()?.binding.TF_Version ?? null;
  const notes: string[] = [];
  if (onednn.onednnSource !== 'env' && o.onednn !== undefined && o.onednn !== onednn.onednn)
    notes.push(`oneDNN stays ${onednn.onednn ? 'on' : 'off'}: TensorFlow was already loaded in this process`);
  return {
    ok: true,
    chosen: {
      backend: 'tensorflow',
      backendVersion: version?.[candidate] ?? version?.['tfjs-node'] ?? null,
      threads: os.availableParallelism(),
      simd: null,
      gpu: candidate === 'tfjs-node-gpu',
      trainingKernels: kernels,
      notes,
      native: { library, source: from.source, location: from.location, ...onednn },
    },
  };
}

/** A tfjs-node package directory as something to import. */
function fromDirectory(dir: string, source: TfjsNodeSource) {
  return { specifier: pathToFileURL(join(dir, 'dist', 'index.js')).href, source, location: dir };
}

async function tryTensorflow(candidate: 'tfjs-node-gpu' | 'tfjs-node', o: Resolved): Promise<Attempt> {
  const specifier = MODULES[candidate];
  if (candidate === 'tfjs-node-gpu') {
    const noCuda = o.probeCuda();
    if (noCuda !== null) {
      if (!o.resolveModule(specifier))
        return { ok: false, kind: 'module-absent', reason: `${specifier} is not installed` };
      return { ok: false, kind: 'no-cuda', reason: noCuda };
    }
    return loadTensorflow(candidate, { specifier, source: 'project', location: null }, o);
  }
  if (o.tfjsNode !== undefined) {
    if (!existsSync(join(o.tfjsNode, 'dist', 'index.js')))
      return {
        ok: false,
        kind: 'module-absent',
        reason: `no tfjs-node package at ${o.tfjsNode} (TSVAE_TFJS_NODE)`,
      };
    return loadTensorflow(candidate, fromDirectory(o.tfjsNode, 'path'), o);
  }
  // the application's own tfjs-node first (installed by the user; its failure, e.g. an addon its
  // install script could not download, is reported if nothing else works)
  const project = await loadTensorflow(candidate, { specifier, source: 'project', location: null }, o);
  if (project.ok) return project;
  const projectFailure: Attempt | null = project.kind === 'module-absent' ? null : project;
  const managed = o.tensorflowInstall();
  if (managed?.ok) {
    const attempt = await loadTensorflow(candidate, fromDirectory(managed.install.packageDir, 'setup'), o);
    if (attempt.ok && projectFailure !== null && !projectFailure.ok)
      attempt.chosen.notes.push(
        `the project's ${specifier} was not used (${projectFailure.reason}); loaded tsvae setup's`,
      );
    if (!attempt.ok)
      return {
        ...attempt,
        reason: `tsvae setup tensorflow's install failed: ${attempt.reason} (run tsvae setup tensorflow --force)`,
      };
    return attempt;
  }
  const broken =
    managed !== null && !managed.ok
      ? `; tsvae setup tensorflow's install is unusable: ${managed.problem}`
      : '';
  if (projectFailure !== null && !projectFailure.ok)
    return { ...projectFailure, reason: `${projectFailure.reason}${broken || ` (${SETUP_HINT})`}` };
  if (broken)
    return {
      ok: false,
      kind: 'addon-missing',
      reason: `${specifier} is not installed${broken} (run it again)`,
    };
  return { ok: false, kind: 'module-absent', reason: `${specifier} is not installed (${SETUP_HINT})` };
}

/** Threads of the wasm backend this module registered, or null for the stock registration. */
let wasmThreads: number | null = null;
let stockWasmFactory: ReturnType<typeof tf.findBackendFactory> | null = null;

async function tryWasm(o: Resolved): Promise<Attempt> {
  const notes: string[] = [];
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const wanted = simd ? o.threads : 1;
  if (stockWasmFactory === null) stockWasmFactory = tf.findBackendFactory('wasm');
  const kernels = o.trainingKernels ? registerWasmTrainingKernels() : [];
  if (!o.trainingKernels) unregisterWasmTrainingKernels();
  const current = tf.findBackend('wasm') !== null ? (wasmThreads ?? 1) : null;
  if (current !== wanted) {
    if (tf.findBackendFactory('wasm') !== null) tf.removeBackend('wasm');
    if (wanted > 1) {
      tf.registerBackend('wasm', () => createThreadedWasmBackend(wanted), 2);
      if (await setBackendQuietly('wasm')) {
        wasmThreads = wanted;
      } else {
        notes.push(`threaded wasm (${wanted} threads) failed to start; using the single-threaded build`);
        o.logger?.warn?.('threaded wasm failed; single-threaded wasm instead', { threads: wanted });
        tf.removeBackend('wasm');
      }
    }
    if (wasmThreads !== wanted || wanted === 1) {
      if (stockWasmFactory === null)
        return { ok: false, kind: 'init-failed', reason: 'wasm backend factory missing' };
      tf.registerBackend('wasm', stockWasmFactory, 2);
      wasmThreads = null;
    }
  }
  if (!(await setBackendQuietly('wasm'))) {
    return { ok: false, kind: 'init-failed', reason: 'the wasm module failed to initialise' };
  }
  return {
    ok: true,
    chosen: {
      backend: 'wasm',
      backendVersion: version_wasm,
      threads: getThreadsCount(),
      simd,
      gpu: false,
      trainingKernels: kernels,
      notes,
    },
  };
}

async function tryCpu(): Promise<Attempt> {
  if (!(await setBackendQuietly('cpu')))
    return { ok: false, kind: 'init-failed', reason: 'cpu backend failed' };
  return {
    ok: true,
    chosen: {
      backend: 'cpu',
      backendVersion: version_cpu,
      threads: 1,
      simd: false,
      gpu: false,
      trainingKernels: [],
      notes: [],
    },
  };
}

async function tryWebgpu(o: Resolved): Promise<Attempt> {
  const specifier = MODULES.webgpu;
  try {
    await o.loadModule(specifier);
  } catch (e) {
    return { ok: false, ...classifyLoadError(specifier, e) };
  }
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu === undefined) {
    // Dawn's Node bindings (npm `webgpu`) provide navigator.gpu outside browsers.
    try {
      const dawn = (await o.loadModule('webgpu')) as {
        create?: (flags: string[]) => unknown;
        globals?: object;
      };
      if (dawn.globals !== undefined) Object.assign(globalThis, dawn.globals);
      const gpu = dawn.create?.([]);
      if (gpu === undefined) throw new Error('the webgpu module has no create()');
      Object.defineProperty(globalThis, 'navigator', {
        value: { ...(g.navigator ?? {}), gpu },
        configurable: true,
      });
    } catch (e) {
      return {
        ok: false,
        kind: 'init-failed',
        reason: `no navigator.gpu and Dawn's Node bindings (webgpu) failed: ${firstLine(e)}`,
      };
    }
  }
  if (!(await setBackendQuietly('webgpu')))
    return { ok: false, kind: 'init-failed', reason: 'no WebGPU adapter' };
  return {
    ok: true,
    chosen: {
      backend: 'webgpu',
      backendVersion: null,
      threads: 1,
      simd: null,
      gpu: true,
      trainingKernels: [],
      notes: [],
    },
  };
}

interface Resolved {
  threads: number;
  trainingKernels: boolean;
  onednn: boolean | undefined;
  tfjsNode: string | undefined;
  tensorflowInstall: () => ManagedLookup | null;
  logger: InitBackendOptions['logger'];
  loadModule: (specifier: string) => Promise<unknown>;
  resolveModule: (specifier: string) => boolean;
  probeCuda: () => string | null;
}

let lastInfo: BackendInfo | undefined;

/**
 * Selects and activates a backend now, every time it is called (see {@link initBackend} for the
 * once-per-process entry point).
 *
 * @throws BackendUnavailableError when `TSVAE_BACKEND` / `backend` names an unknown or unavailable
 *   backend; there is no silent fallback from an explicit request.
 */
export async function selectBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const env = options.env ?? process.env;
  if (options.quiet !== false) {
    tf.env().set('PROD', true);
    if (process.env['TF_CPP_MIN_LOG_LEVEL'] === undefined) process.env['TF_CPP_MIN_LOG_LEVEL'] = '2';
  }
  const requestSource = options.backend !== undefined ? 'option' : env['TSVAE_BACKEND'] ? 'env' : 'default';
  const requested = parseRequest(options.backend ?? env['TSVAE_BACKEND']);
  const o: Resolved = {
    threads:
      positiveInt(options.threads) ?? positiveInt(env['TSVAE_WASM_THREADS']) ?? os.availableParallelism(),
    trainingKernels: options.trainingKernels !== false,
    onednn: options.onednn,
    tfjsNode: options.tfjsNode ?? (env['TSVAE_TFJS_NODE'] || undefined),
    tensorflowInstall: options.tensorflowInstall ?? (() => findManagedInstall()),
    logger: options.logger,
    loadModule: options.loadModule ?? defaultLoad,
    resolveModule: options.resolveModule ?? defaultResolve,
    probeCuda: options.probeCuda ?? defaultProbeCuda,
  };
  const rejected: BackendRejection[] = [];
  for (const candidate of CANDIDATES[requested]) {
    const attempt =
      candidate === 'tfjs-node-gpu' || candidate === 'tfjs-node'
        ? await tryTensorflow(candidate, o)
        : candidate === 'wasm'
          ? await tryWasm(o)
          : candidate === 'cpu'
            ? await tryCpu()
            : await tryWebgpu(o);
    if (attempt.ok) {
      const c = attempt.chosen;
      const info: BackendInfo = {
        backend: c.backend,
        candidate,
        module: MODULES[candidate],
        tfjsVersion: tf.version_core,
        backendVersion: c.backendVersion,
        threads: c.threads,
        simd: c.simd,
        gpu: c.gpu,
        requested,
        requestSource,
        rejected,
        trainingKernels: c.trainingKernels,
        notes: c.notes,
        ...(c.native ? { native: c.native } : {}),
      };
      options.logger?.debug?.('backend chosen', { backend: info.backend, candidate, threads: info.threads });
      lastInfo = info;
      return info;
    }
    const rejection: BackendRejection = {
      backend: candidate,
      module: MODULES[candidate],
      kind: attempt.kind,
      reason: attempt.reason,
    };
    options.logger?.debug?.('backend rejected', { ...rejection });
    rejected.push(rejection);
  }
  const why = rejected.map((r) => `${r.backend}: ${r.reason}`).join('; ');
  throw new BackendUnavailableError(
    requested === 'auto'
      ? `no TensorFlow.js backend could start (${why})`
      : `${requestSource === 'env' ? `TSVAE_BACKEND=${requested}` : `backend '${requested}'`} is unavailable: ${why}. Unset it to pick automatically.`,
    requested,
    rejected,
  );
}

let pending: Promise<BackendInfo> | undefined;

/**
 * Initialises the TensorFlow.js backend once per process and returns what was chosen. The first
 * call picks (in order tfjs-node-gpu, tfjs-node, wasm, cpu unless `TSVAE_BACKEND` names one);
 * later calls return the same result whatever their options. A failed first call can be retried.
 *
 * @example
 * ```ts
 * import { initBackend } from '@tsvae/backend';
 * const info = await initBackend();
 * // info.backend === 'wasm', info.threads === 2, info.rejected[0].reason === '@tensorflow/tfjs-node-gpu is not installed'
 * ```
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (pending === undefined) {
    pending = selectBackend(options).catch((e: unknown) => {
      pending = undefined;
      throw e;
    });
  }
  return pending;
}

/** What the last successful {@link initBackend} / {@link selectBackend} chose, if any. */
export function getBackendInfo(): BackendInfo | undefined {
  return lastInfo;
}

/** A one-line summary of a {@link BackendInfo}, for a CLI to print. */
export function describeBackend(info: BackendInfo): string {
  const n = info.native;
  const native = n
    ? `${n.source === 'setup' ? ' from tsvae setup' : n.source === 'path' ? ` from ${n.location}` : ''}, TensorFlow ${n.library ?? '?'}, oneDNN ${n.onednn ? 'on' : 'off'}`
    : '';
  const parts = [
    `${info.backend} (${info.module}${info.backendVersion ? ` ${info.backendVersion}` : ''}${native}, tfjs-core ${info.tfjsVersion})`,
    `${info.threads} thread${info.threads === 1 ? '' : 's'}`,
    info.simd === null ? null : info.simd ? 'SIMD' : 'no SIMD',
    info.gpu ? 'GPU' : null,
  ].filter((p): p is string => p !== null);
  const rejected = info.rejected.map((r) => `${r.backend}: ${r.reason}`);
  return `${parts.join(', ')}${rejected.length > 0 ? `; not used: ${rejected.join('; ')}` : ''}`;
}
