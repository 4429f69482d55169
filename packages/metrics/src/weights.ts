import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { type Logger, silentLogger } from '@tsvae/core';
import { cacheDir, digestMatches, download, hashFile, writeDirectoryAtomic } from '@tsvae/core/node';
import { EvaluationError } from './errors';
import {
  type InceptionParams,
  inceptionConvSpecs,
  LOGITS_DIM,
  POOL3_DIM,
  paramsFromStateDict,
} from './inception';
import { readTorchCheckpoint } from './torch-checkpoint';

/** Canonical location of pytorch-fid's FID Inception weights. */
export const FID_WEIGHTS_URL =
  'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth';
/** First hex digits of the sha256 of the canonical file (torch.hub's `check_hash` convention). */
export const FID_WEIGHTS_SHA256_PREFIX = '6726825d';
/** File name of the canonical weights, as downloaded into the cache directory. */
export const FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth';

/**
 * A weights file that fails its checksum. Downloads themselves fail with `@tsvae/core/node`'s
 * `DownloadError` (which names the URL, the expected and the actual digest).
 */
export class WeightsDownloadError extends Error {
  override readonly name = 'WeightsDownloadError';
}

/**
 * The FID Inception weights already on disk, if any, without downloading: `path` when given,
 * else `$TSVAE_FID_WEIGHTS`, else `<cacheDir>/pt_inception-2015-12-05-6726825d.pth`. A `path` or
 * `$TSVAE_FID_WEIGHTS` that names a missing file is an error (it was meant to be used), naming it.
 */
export function localInceptionWeights(
  options: { readonly path?: string | undefined; readonly cacheDir?: string | undefined } = {},
): string | undefined {
  if (options.path !== undefined) {
    const p = resolve(options.path);
    if (!existsSync(p)) {
      throw new EvaluationError({
        field: 'inceptionWeights',
        subject: `inceptionWeights ${options.path}`,
        problem: `no such file (${p})`,
      });
    }
    return p;
  }
  const env = process.env['TSVAE_FID_WEIGHTS'];
  if (env) {
    const p = resolve(env);
    if (!existsSync(p)) {
      throw new EvaluationError({
        field: 'TSVAE_FID_WEIGHTS',
        subject: `TSVAE_FID_WEIGHTS=${env}`,
        problem: `no such file (${p})`,
      });
    }
    return p;
  }
  const cached = join(cacheDir(options.cacheDir), FID_WEIGHTS_FILE);
  return existsSync(cached) ? cached : undefined;
}

/** Options of {@link loadInceptionParams}. */
export interface LoadWeightsOptions {
  /** A local `.pth` (pytorch-fid layout). Without it the canonical file is downloaded. */
  readonly path?: string;
  /** Download URL (default {@link FID_WEIGHTS_URL}). */
  readonly url?: string;
  /** Expected sha256 (prefix) of the `.pth`; default {@link FID_WEIGHTS_SHA256_PREFIX} for downloads, none for local paths. */
  readonly sha256?: string;
  /** Cache directory (default: `@tsvae/core/node`'s `cacheDir()`: `$TSVAE_CACHE`, ...). */
  readonly cacheDir?: string;
  /** Skip writing / reading the converted copy. */
  readonly noConvertedCache?: boolean;
  /** Download progress in bytes (`total` is 0 when the server sends no length). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Receives the downloader's warnings (interrupted transfers, an invalid existing file). */
  readonly logger?: Logger;
}

interface ManifestEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32';
}

interface ConvertedManifest {
  readonly format: 'tsvae-fid-inception/1';
  readonly sourceSha256: string;
  /** tf.io weights-manifest layout (`paths` + `weights`), BatchNorm already folded. */
  readonly weightsManifest: readonly [
    { readonly paths: readonly [string]; readonly weights: readonly ManifestEntry[] },
  ];
}

function manifestEntries(): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  for (const s of inceptionConvSpecs()) {
    out.push({ name: `${s.name}/filter`, shape: [s.kh, s.kw, s.inC, s.outC], dtype: 'float32' });
    out.push({ name: `${s.name}/bias`, shape: [s.outC], dtype: 'float32' });
  }
  out.push({ name: 'fc/weight', shape: [POOL3_DIM, LOGITS_DIM], dtype: 'float32' });
  out.push({ name: 'fc/bias', shape: [LOGITS_DIM], dtype: 'float32' });
  return out;
}

/**
 * Writes {@link InceptionParams} as directory `dir` holding `manifest.json` + `weights.bin`
 * (tf.io weights layout), atomically (`@tsvae/core/node`'s `writeDirectoryAtomic`): a reader sees
 * no directory or a complete one. An existing `dir` is replaced.
 */
export async function saveConvertedParams(
  dir: string,
  params: InceptionParams,
  sourceSha256: string,
): Promise<void> {
  const entries = manifestEntries();
  const arrays = entries.map((e) => {
    const [conv, part] = e.name.split('/') as [string, string];
    if (conv === 'fc') return part === 'weight' ? params.fcWeight : params.fcBias;
    const p = params.convs.get(conv);
    if (!p) throw new Error(`missing ${conv}`);
    return part === 'filter' ? p.filter : p.bias;
  });
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const bin = new Float32Array(total);
  let o = 0;
  for (const a of arrays) {
    bin.set(a, o);
    o += a.length;
  }
  const manifest: ConvertedManifest = {
    format: 'tsvae-fid-inception/1',
    sourceSha256,
    weightsManifest: [{ paths: ['weights.bin'], weights: entries }],
  };
  // writeDirectoryAtomic publishes a new directory; an old (or incomplete) copy goes first.
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  writeDirectoryAtomic(dir, {
    'weights.bin': new Uint8Array(bin.buffer),
    'manifest.json': `${JSON.stringify(manifest)}\n`,
  });
}

/** Reads a converted copy written by {@link saveConvertedParams}. */
export async function loadConvertedParams(dir: string): Promise<InceptionParams> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ConvertedManifest;
  if (manifest.format !== 'tsvae-fid-inception/1') throw new Error(`unknown converted format in ${dir}`);
  const buf = await readFile(join(dir, 'weights.bin'));
  const bin = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const convs = new Map<string, { filter: Float32Array; bias: Float32Array }>();
  let fcWeight = new Float32Array(0);
  let fcBias = new Float32Array(0);
  let o = 0;
  for (const e of manifest.weightsManifest[0].weights) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (o + n > bin.length) throw new Error(`converted weights in ${dir} are truncated at ${e.name}`);
    const a = bin.slice(o, o + n);
    o += n;
    const [conv, part] = e.name.split('/') as [string, string];
    if (conv === 'fc') {
      if (part === 'weight') fcWeight = a;
      else fcBias = a;
    } else {
      const c = convs.get(conv) ?? { filter: new Float32Array(0), bias: new Float32Array(0) };
      if (part === 'filter') c.filter = a;
      else c.bias = a;
      convs.set(conv, c);
    }
  }
  return { convs, fcWeight, fcBias };
}

/**
 * The FID Inception parameters: from the converted cache when present, else from a local
 * `.pth` or the canonical download (sha256-checked), converting and caching for next time.
 * The converted copy is keyed by the first 16 hex digits of the `.pth`'s sha256.
 */
export async function loadInceptionParams(options: LoadWeightsOptions = {}): Promise<InceptionParams> {
  const cache = cacheDir(options.cacheDir);
  let pth = options.path;
  let expected = options.sha256;
  if (!pth) {
    const url = options.url ?? FID_WEIGHTS_URL;
    expected ??= FID_WEIGHTS_SHA256_PREFIX;
    pth = join(cache, basename(new URL(url).pathname));
    // Reuses a copy that verifies; replaces a corrupt one (resumable, sha256-checked).
    await download({
      url,
      dest: pth,
      sha256: expected,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      logger: options.logger ?? silentLogger,
    });
  }
  const digest = await hashFile(pth);
  if (expected && !digestMatches(digest, expected)) {
    throw new WeightsDownloadError(
      `checksum mismatch for ${pth}: sha256 ${digest} does not start with ${expected}`,
    );
  }
  const convertedDir = join(cache, `fid-inception-${digest.slice(0, 16)}`);
  if (!options.noConvertedCache && existsSync(join(convertedDir, 'manifest.json'))) {
    return loadConvertedParams(convertedDir);
  }
  const params = paramsFromStateDict(readTorchCheckpoint(new Uint8Array(await readFile(pth))));
  if (!options.noConvertedCache) {
    try {
      await saveConvertedParams(convertedDir, params, digest);
    } catch (e) {
      // Another process may have published the same copy first; anything else is a real error.
      if (!existsSync(join(convertedDir, 'manifest.json'))) throw e;
    }
  }
  return params;
}
