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
  /** register the wasm training kernels when wasm is chosen (default true) */
  readonly trainingKernels?: boolean;
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
