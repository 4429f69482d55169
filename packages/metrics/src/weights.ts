import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
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

/** Error for downloads and cache problems. */
export class WeightsDownloadError extends Error {
  override readonly name = 'WeightsDownloadError';
}

/** Progress of a download, in bytes (`total` is 0 when the server sends no length). */
export interface DownloadProgress {
  readonly loaded: number;
  readonly total: number;
}

/** The cache directory: `$TSVAE_CACHE`, else `~/.cache/tsvae`. */
export function defaultCacheDir(): string {
  return process.env.TSVAE_CACHE ?? join(homedir(), '.cache', 'tsvae');
}

/** Hex sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Options of {@link downloadVerified}. */
export interface DownloadOptions {
  /** Expected sha256 (full hex or a prefix of it); mismatch deletes the file and throws. */
  readonly sha256?: string;
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** Injected fetch (defaults to the global one). */
  readonly fetch?: typeof fetch;
}

/**
 * Downloads `url` to `dest` atomically (temporary file, then rename), hashing on the fly and
 * verifying `sha256` when given. Returns the hex sha256.
 */
export async function downloadVerified(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<string> {
  const doFetch = options.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url);
  } catch (e) {
    throw new WeightsDownloadError(`cannot download ${url}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new WeightsDownloadError(`cannot download ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  await mkdir(join(dest, '..'), { recursive: true });
  const tmp = `${dest}.${process.pid}.part`;
  const out = createWriteStream(tmp);
  const hash = createHash('sha256');
  let loaded = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      loaded += value.byteLength;
      if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
      options.onProgress?.({ loaded, total });
    }
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw new WeightsDownloadError(`download of ${url} failed: ${(e as Error).message}`);
  }
  const digest = hash.digest('hex');
  if (options.sha256 && !digest.startsWith(options.sha256.toLowerCase())) {
    await rm(tmp, { force: true });
    throw new WeightsDownloadError(
      `checksum mismatch for ${url}: sha256 ${digest} does not start with ${options.sha256}`,
    );
  }
  await rename(tmp, dest);
  return digest;
}

/** Options of {@link loadInceptionParams}. */
export interface LoadWeightsOptions {
  /** A local `.pth` (pytorch-fid layout). Without it the canonical file is downloaded. */
  readonly path?: string;
  /** Download URL (default {@link FID_WEIGHTS_URL}). */
  readonly url?: string;
  /** Expected sha256 (prefix) of the `.pth`; default {@link FID_WEIGHTS_SHA256_PREFIX} for downloads, none for local paths. */
  readonly sha256?: string;
  /** Cache directory (default {@link defaultCacheDir}). */
  readonly cacheDir?: string;
  /** Skip writing / reading the converted copy. */
  readonly noConvertedCache?: boolean;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly fetch?: typeof fetch;
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

/** Writes {@link InceptionParams} as `manifest.json` + `weights.bin` (tf.io weights layout). */
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
  await mkdir(dir, { recursive: true });
  const tmp = `${dir}/weights.bin.${process.pid}.part`;
  await writeFile(tmp, new Uint8Array(bin.buffer));
  await rename(tmp, join(dir, 'weights.bin'));
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
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
  const cache = options.cacheDir ?? defaultCacheDir();
  let pth = options.path;
  let expected = options.sha256;
  if (!pth) {
    const url = options.url ?? FID_WEIGHTS_URL;
    expected ??= FID_WEIGHTS_SHA256_PREFIX;
    pth = join(cache, basename(new URL(url).pathname));
    if (!existsSync(pth)) {
      await downloadVerified(url, pth, {
        sha256: expected,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
    }
  }
  const digest = await sha256File(pth);
  if (expected && !digest.startsWith(expected.toLowerCase())) {
    throw new WeightsDownloadError(
      `checksum mismatch for ${pth}: sha256 ${digest} does not start with ${expected}`,
    );
  }
  const convertedDir = join(cache, `fid-inception-${digest.slice(0, 16)}`);
  if (!options.noConvertedCache && existsSync(join(convertedDir, 'manifest.json'))) {
    return loadConvertedParams(convertedDir);
  }
  const params = paramsFromStateDict(readTorchCheckpoint(new Uint8Array(await readFile(pth))));
  if (!options.noConvertedCache) await saveConvertedParams(convertedDir, params, digest);
  return params;
}
