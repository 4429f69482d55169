import type { ManagedLookup } from './tensorflow/managed';

/** Backend names as tfjs-core registers them. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgpu';

/** What `TSVAE_BACKEND` (or the `backend` option) may say. */
export type BackendRequest = BackendName | 'auto';

/** One way of getting a backend, in the automatic order (webgpu only when asked for). */
export type BackendCandidate = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu' | 'webgpu';

/** Why a candidate was not used. */
export type RejectionKind =
  /** the npm package is not installed */
  | 'module-absent'
  /** the package is installed but its native addon (tfjs_binding.node) or libtensorflow is missing */
  | 'addon-missing'
  /** tfjs-node-gpu without a usable NVIDIA driver / CUDA runtime */
  | 'no-cuda'
  /** anything else: the module threw, or its backend failed to initialise */
  | 'init-failed';

/** A candidate that was tried (or skipped) and not used. */
export interface BackendRejection {
  /** the candidate */
  readonly backend: BackendCandidate;
  /** the npm package that provides it */
  readonly module: string;
  readonly kind: RejectionKind;
  /** a one-line human-readable reason */
  readonly reason: string;
}

/** What was chosen and why. */
export interface BackendInfo {
  /** the active tfjs backend (`tf.getBackend()`) */
  readonly backend: BackendName;
  /** which candidate provides it */
  readonly candidate: BackendCandidate;
  /** the npm package that provides it */
  readonly module: string;
  /** `@tensorflow/tfjs-core` version */
  readonly tfjsVersion: string;
  /** version of the backend package, when it says */
  readonly backendVersion: string | null;
  /** threads the backend computes with */
  readonly threads: number;
  /** whether the backend uses SIMD instructions (null: not known, e.g. native TensorFlow) */
  readonly simd: boolean | null;
  /** whether computation runs on a GPU */
  readonly gpu: boolean;
  /** what was asked for, and where the request came from */
  readonly requested: BackendRequest;
  readonly requestSource: 'default' | 'env' | 'option';
  /** every better candidate that was not used, in order */
  readonly rejected: readonly BackendRejection[];
  /** kernels this package registered on the chosen backend */
  readonly trainingKernels: readonly string[];
  /** non-fatal notes (e.g. why the threaded wasm build was not used) */
  readonly notes: readonly string[];
  /** for the `tensorflow` backend: the native library, where it came from, oneDNN */
  readonly native?: NativeTensorflowInfo;
}

/** Where a tfjs-node package came from. */
export type TfjsNodeSource =
  /** `@tensorflow/tfjs-node` resolvable from the application (installed by the user) */
  | 'project'
  /** the install of `tsvae setup tensorflow` under the cache directory */
  | 'setup'
  /** a directory named by `TSVAE_TFJS_NODE` / the `tfjsNode` option */
  | 'path';

/** The native side of the `tensorflow` backend. */
export interface NativeTensorflowInfo {
  /** `TF_Version()` of the loaded TensorFlow C library (null when the binding does not say) */
  readonly library: string | null;
  readonly source: TfjsNodeSource;
  /** the tfjs-node package directory (null for `project`: resolved by Node) */
  readonly location: string | null;
  /**
   * Whether TensorFlow's oneDNN custom operations were requested (`TF_ENABLE_ONEDNN_OPTS=1` when
   * the library loaded). On by default: measured 15-25% faster stage-1 training, 1.6x faster
   * generation and 600 MB less memory, outputs within 2.3e-6 relative.
   */
  readonly onednn: boolean;
  /** `default` (tsvae turned it on), `env` (the user's TF_ENABLE_ONEDNN_OPTS), `option` (`onednn`) */
  readonly onednnSource: 'default' | 'env' | 'option';
}

/** Structural logger; `@tsvae/core`'s `Logger` fits. Nothing is printed without one. */
export interface BackendLogger {
  debug?(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link initBackend} / {@link selectBackend}. */
export interface InitBackendOptions {
  /** overrides `TSVAE_BACKEND` (`auto` = the automatic order) */
  readonly backend?: BackendRequest;
  /** environment to read `TSVAE_BACKEND` / `TSVAE_WASM_THREADS` from (default `process.env`) */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * wasm threads; default `TSVAE_WASM_THREADS` or `os.availableParallelism()`. 1 uses the stock
   * single-threaded build.
   */
  readonly threads?: number;
  /**
   * register tsvae's kernels on the chosen backend (default true): the wasm training kernels, or the
   * `tensorflow` backend's faster BatchMatMul and ReLU gradients
   */
  readonly trainingKernels?: boolean;
  /**
   * TensorFlow's oneDNN custom operations for the `tensorflow` backend (default true): sets
   * `TF_ENABLE_ONEDNN_OPTS` in `process.env` before the library loads, unless the user set it
   * (which wins). It takes effect only when the library is first loaded in the process.
   */
  readonly onednn?: boolean;
  /**
   * a tfjs-node package directory to load instead of looking for one (default
   * `TSVAE_TFJS_NODE`); e.g. one provisioned by hand
   */
  readonly tfjsNode?: string;
  /**
   * finds the install of `tsvae setup tensorflow` (default: under the cache directory); injectable
   * for tests (`() => null`: none)
   */
  readonly tensorflowInstall?: () => ManagedLookup | null;
  /** silence tfjs's console output (sets tfjs's `PROD` flag and `TF_CPP_MIN_LOG_LEVEL=2`); default true */
  readonly quiet?: boolean;
  /** receives debug records about each candidate */
  readonly logger?: BackendLogger;
  /** loads an optional module (default: dynamic `import()`); injectable for tests */
  readonly loadModule?: (specifier: string) => Promise<unknown>;
  /** whether a module is installed, without loading it (default: `require.resolve`) */
  readonly resolveModule?: (specifier: string) => boolean;
  /** null when CUDA looks usable, else why not (default: looks for the NVIDIA driver) */
  readonly probeCuda?: () => string | null;
}
