import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataSplit, Logger, SplitName } from '@tsvae/core';
import { silentLogger } from '@tsvae/core';
import { cacheDir, download, writeFileAtomic } from '@tsvae/core/node';
import { loadSplit, saveSplit } from './cache';
import { isDir, isFile } from './discovery';
import { DatasetFormatError, DatasetNotFoundError } from './errors';
import { loadImageFolder } from './image-folder';
import type { SourcedSplit } from './mnist';
import { openTar, type TarArchive } from './tar';

/** CIFAR-10's classes, index = label. */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

/** The canonical CIFAR-10 binary archive and its published md5. */
export const CIFAR10_BINARY_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
/** md5 of {@link CIFAR10_BINARY_URL} as published with the dataset (170052171 bytes). */
export const CIFAR10_BINARY_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
/** sha256 of {@link CIFAR10_BINARY_URL}. */
export const CIFAR10_BINARY_SHA256 = 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd';

const RECORD = 1 + 32 * 32 * 3;
const TRAIN_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
];
const TEST_FILES = ['test_batch.bin'];

function checkBatchSize(file: string, length: number): number {
  if (length === 0 || length % RECORD !== 0) {
    throw new DatasetFormatError(
      file,
      `truncated or corrupt CIFAR-10 batch: ${length} bytes is not a whole number of ${RECORD}-byte records`,
    );
  }
  return length / RECORD;
}

function fillBatch(
  file: string,
  bytes: Uint8Array,
  data: Uint8Array,
  labels: Int32Array,
  first: number,
): void {
  const m = checkBatchSize(file, bytes.length);
  for (let r = 0; r < m; r++) {
    const i = first + r;
    const off = r * RECORD;
    const label = bytes[off]!;
    if (label > 9) throw new DatasetFormatError(file, `label ${label} of record ${r} is outside [0, 10)`);
    labels[i] = label;
    const dst = i * 3072;
    for (let p = 0; p < 1024; p++) {
      data[dst + 3 * p] = bytes[off + 1 + p]!;
      data[dst + 3 * p + 1] = bytes[off + 1 + 1024 + p]!;
      data[dst + 3 * p + 2] = bytes[off + 1 + 2048 + p]!;
    }
  }
}

/** A CIFAR-10 binary batch to read lazily: its name (for errors), its size and a reader. */
export interface Cifar10BatchSource {
  readonly file: string;
  readonly length: number;
  read(): Uint8Array;
}

/**
 * Parses CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes, channel-planar)
 * into one uint8 NHWC split, reading one batch at a time. A size that is not a multiple of 3073
 * is reported as a truncated file; a label above 9 as corrupt data (naming the file).
 */
export function parseCifar10Batches(batches: ReadonlyArray<Cifar10BatchSource>): DataSplit {
  let n = 0;
  for (const b of batches) n += checkBatchSize(b.file, b.length);
  const data = new Uint8Array(n * 3072);
  const labels = new Int32Array(n);
  let first = 0;
  for (const b of batches) {
    const bytes = b.read();
    if (bytes.length !== b.length) {
      throw new DatasetFormatError(b.file, `read ${bytes.length} bytes, expected ${b.length}`);
    }
    fillBatch(b.file, bytes, data, labels, first);
    first += bytes.length / RECORD;
  }
  return { size: n, shape: [32, 32, 3], data, labels };
}

function batchDir(dir: string): string | undefined {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) {
    if (isFile(join(d, 'test_batch.bin')) && isFile(join(d, 'data_batch_1.bin'))) return d;
  }
  return undefined;
}

function loadBinaryDir(dir: string, split: SplitName): DataSplit {
  const names = split === 'train' ? TRAIN_FILES : TEST_FILES;
  return parseCifar10Batches(
    names.map((f) => {
      const file = join(dir, f);
      return { file, length: statSync(file).size, read: () => readFileSync(file) };
    }),
  );
}

function loadBinaryTar(file: string, split: SplitName): DataSplit {
  const names = split === 'train' ? TRAIN_FILES : TEST_FILES;
  const tar: TarArchive = openTar(file);
  try {
    return parseCifar10Batches(
      names.map((name) => {
        const e = tar.entries.find((x) => x.name.endsWith(`/${name}`) || x.name === name);
        if (!e) throw new DatasetFormatError(file, `archive has no ${name}`);
        return { file: `${file}:${e.name}`, length: e.size, read: () => tar.read(e) };
      }),
    );
  } finally {
    tar.close();
  }
}

/** Where the JPEG copy of a split is: `<dir>/<split>.tar` or `<dir>/<split>/`. */
function jpegSource(dir: string, split: SplitName): string | undefined {
  if (isFile(join(dir, `${split}.tar`))) return join(dir, `${split}.tar`);
  if (isDir(join(dir, split))) return join(dir, split);
  return undefined;
}

/** Options for {@link loadCifar10}. */
export interface Cifar10LoadOptions {
  /**
   * A local copy: a directory of binary batches (or its parent holding `cifar-10-batches-bin`),
   * the `cifar-10-binary.tar.gz` archive, or a directory with the JPEG copy (`train.tar` /
   * `test.tar` or `train/` / `test/` class folders). When given, only it is used.
   */
  readonly path?: string;
  /** Download the binary archive when nothing local is found. Default true. */
  readonly download?: boolean;
  /** Cache directory (default {@link cacheDir}). */
  readonly cacheDir?: string;
  /** Keep decoded JPEGs as a compact uint8 file in the cache for fast reloads. Default true. */
  readonly cacheDecoded?: boolean;
  /** Override the download URL (tests). */
  readonly url?: string;
  /** Override the expected sha256 of the download (tests); `null` skips the check. */
  readonly sha256?: string | null;
  /** Override the expected md5 of the download (tests); `null` skips the check. */
  readonly md5?: string | null;
  readonly logger?: Logger;
}

function howToGet(): string {
  return `Get it by allowing the download (download: true, ${CIFAR10_BINARY_URL}), or point \`path\` / TSVAE_CIFAR10_DIR at the binary batches (cifar-10-batches-bin) or TSVAE_CIFAR10_JPEG_DIR at a JPEG copy (train.tar / test.tar with <class>/NNNN.jpg).`;
}

function decodedCachePath(source: string, split: SplitName, options: Cifar10LoadOptions): string {
  const st = statSync(source);
  const key = createHash('sha256')
    .update(`${resolve(source)}|${st.size}|${st.mtimeMs}|v1`)
    .digest('hex')
    .slice(0, 16);
  return join(cacheDir(options.cacheDir), 'cifar10', `jpeg-${split}-${key}.u8`);
}

/** Loads a JPEG copy of a CIFAR-10 split (checks the class folders), via the decoded cache. */
export function loadCifar10Jpeg(
  source: string,
  split: SplitName,
  options: Cifar10LoadOptions = {},
): DataSplit {
  const logger = options.logger ?? silentLogger;
  const useCache = options.cacheDecoded ?? true;
  let cachePath: string | undefined;
  if (useCache) {
    try {
      cachePath = decodedCachePath(source, split, options);
      if (isFile(cachePath)) {
        const cached = loadSplit(cachePath);
        logger.info(`cifar10 ${split}: decoded cache ${cachePath}`);
        return {
          size: cached.size,
          shape: cached.shape,
          data: cached.data,
          ...(cached.labels ? { labels: cached.labels } : {}),
        };
      }
    } catch (e) {
      logger.warn(`cifar10: ignoring unreadable cache (${(e as Error).message})`);
    }
  }
  const split0 = loadImageFolder(source, {
    channels: 3,
    size: [32, 32],
    labels: 'subfolder',
    classNames: CIFAR10_CLASSES,
  });
  const out: DataSplit = {
    size: split0.size,
    shape: split0.shape,
    data: split0.data,
    ...(split0.labels ? { labels: split0.labels } : {}),
  };
  if (cachePath) {
    try {
      saveSplit(cachePath, split0, { source: resolve(source), split });
    } catch (e) {
      logger.warn(`cifar10: cannot write the decoded cache ${cachePath} (${(e as Error).message})`);
    }
  }
  return out;
}

function fromLocal(p: string, split: SplitName, options: Cifar10LoadOptions): DataSplit | undefined {
  if (isFile(p) && /\.(tar\.gz|tgz|tar)$/i.test(p)) return loadBinaryTar(p, split);
  const bd = isDir(p) ? batchDir(p) : undefined;
  if (bd) return loadBinaryDir(bd, split);
  const js = isDir(p) ? jpegSource(p, split) : undefined;
  if (js) return loadCifar10Jpeg(js, split, options);
  return undefined;
}

/**
 * The places searched for CIFAR-10, in order: `path` (alone, when given); `TSVAE_CIFAR10_DIR`
 * (binary); `TSVAE_CIFAR10_JPEG_DIR` (JPEG copy); the cache (`<cache>/cifar10`, binary batches or
 * the downloaded archive). Nothing outside these is searched.
 */
export function cifar10Candidates(options: Cifar10LoadOptions = {}): string[] {
  if (options.path) return [options.path];
  const out: string[] = [];
  const bin = process.env['TSVAE_CIFAR10_DIR'];
  if (bin) out.push(bin);
  const jpg = process.env['TSVAE_CIFAR10_JPEG_DIR'];
  if (jpg) out.push(jpg);
  const cache = join(cacheDir(options.cacheDir), 'cifar10');
  out.push(cache, join(cache, 'cifar-10-binary.tar.gz'));
  return out;
}

/**
 * Loads one CIFAR-10 split (50000 train / 10000 test, 32x32x3 uint8, labels 0-9 in
 * {@link CIFAR10_CLASSES} order) from the first source of {@link cifar10Candidates} that has it,
 * else downloads the binary archive ({@link CIFAR10_BINARY_URL}, sha256- and md5-checked) into the cache.
 * A JPEG copy is decoded once and kept in the cache as uint8 (see `cacheDecoded`).
 */
export async function loadCifar10(split: SplitName, options: Cifar10LoadOptions = {}): Promise<SourcedSplit> {
  const searched: string[] = [];
  for (const p of cifar10Candidates(options)) {
    searched.push(p);
    const s = fromLocal(p, split, options);
    if (s) return { split: s, source: p };
  }
  if (options.path || options.download === false) {
    throw new DatasetNotFoundError('cifar10', searched, howToGet());
  }
  const dest = join(cacheDir(options.cacheDir), 'cifar10', 'cifar-10-binary.tar.gz');
  const md5 = options.md5 === undefined ? CIFAR10_BINARY_MD5 : options.md5;
  const sha256 = options.sha256 === undefined ? CIFAR10_BINARY_SHA256 : options.sha256;
  try {
    await download({
      url: options.url ?? CIFAR10_BINARY_URL,
      dest,
      ...(sha256 ? { sha256 } : {}),
      ...(md5 ? { md5 } : {}),
      logger: options.logger ?? silentLogger,
    });
  } catch (e) {
    throw new DatasetNotFoundError(
      'cifar10',
      [...searched, `${options.url ?? CIFAR10_BINARY_URL} (${(e as Error).message})`],
      howToGet(),
      {
        cause: e,
      },
    );
  }
  const dir = extractBatches(dest);
  return { split: loadBinaryDir(dir, split), source: dir };
}

/** Extracts the batches of the binary archive next to it (atomically), once; returns their folder. */
function extractBatches(archive: string): string {
  const parent = join(archive, '..');
  const final = join(parent, 'cifar-10-batches-bin');
  if (batchDir(final)) return final;
  const tmp = `${final}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const tar = openTar(archive);
  try {
    for (const e of tar.entries) {
      const base = e.name.split('/').pop() ?? '';
      if (!base.endsWith('.bin') && !base.endsWith('.txt')) continue;
      writeFileAtomic(join(tmp, base), tar.read(e));
    }
  } finally {
    tar.close();
  }
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  return final;
}
