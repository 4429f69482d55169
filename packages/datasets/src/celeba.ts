import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataSplit, Logger, SplitName } from '@tsvae/core';
import { silentLogger } from '@tsvae/core';
import { cacheDir } from '@tsvae/core/node';
import { loadSplit, saveSplit } from './cache';
import { isDir, isFile } from './discovery';
import { DatasetFormatError, DatasetNotFoundError } from './errors';
import {
  type CropBox,
  centerCropBox,
  crop,
  decodeImage,
  type RawImage,
  type ResizeFilter,
  resize,
  toChannels,
} from './image';

/**
 * CelebA crops:
 * - `celeba64` (default, the Two-Stage VAE / WAE recipe): rows 45:173, cols 25:153 (128x128);
 * - `celeba140`: rows 39:179, cols 19:159 (140x140);
 * - `center160`: compare_gan's centred 160x160 crop (rows 29:189, cols 9:169 of 218x178);
 * - `none`: the whole 218x178 aligned image.
 * The crop is then resized to `size` x `size` (unless `none` with no size change).
 */
export type CelebaCrop = 'celeba64' | 'celeba140' | 'center160' | 'none';

/** The crops, for config schemas. */
export const CELEBA_CROPS = ['celeba64', 'celeba140', 'center160', 'none'] as const;

/** The crop box of a {@link CelebaCrop} for an image of `height` x `width`. */
export function celebaCropBox(kind: CelebaCrop, height = 218, width = 178): CropBox {
  switch (kind) {
    case 'celeba64':
      return { top: 45, left: 25, height: 128, width: 128 };
    case 'celeba140':
      return { top: 39, left: 19, height: 140, width: 140 };
    case 'center160':
      return centerCropBox(height, width, 160);
    case 'none':
      return { top: 0, left: 0, height, width };
  }
}

/** What the official partition file's numbers mean. */
export const CELEBA_PARTITIONS = { train: 0, validation: 1, test: 2 } as const;

/** Options for {@link loadCeleba}. */
export interface CelebaOptions {
  /**
   * The CelebA root, holding `img_align_celeba/` (or Kaggle's nested
   * `img_align_celeba/img_align_celeba/`) and `list_eval_partition.txt` (or `.csv`). Default
   * `TSVAE_CELEBA_DIR`.
   */
  readonly path?: string;
  /** The crop. Default `celeba64`. */
  readonly crop?: CelebaCrop;
  /** Output side. Default 64. */
  readonly size?: number;
  /** Resize filter. Default `area` (the mean of each 2x2 block for 128 -> 64). */
  readonly filter?: ResizeFilter;
  /** Where the official validation part (partition 1) goes. Default `exclude`. */
  readonly validation?: 'exclude' | 'train' | 'test';
  /** Read only the first `limit` images of the split. */
  readonly limit?: number;
  /** Keep the decoded split in the cache. Default true. */
  readonly cacheDecoded?: boolean;
  readonly cacheDir?: string;
  readonly logger?: Logger;
  readonly onProgress?: (done: number, total: number) => void;
}

const HOW_TO_GET =
  'CelebA cannot be downloaded automatically (Google Drive). Get img_align_celeba.zip and list_eval_partition.txt from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (or Kaggle "jessicali9530/celeba-dataset"), unzip them into one folder and pass it as `path` or TSVAE_CELEBA_DIR.';

/** Parses `list_eval_partition.txt` (`000001.jpg 0`) or Kaggle's CSV (`image_id,partition`). */
export function parseCelebaPartition(text: string, file: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const t = line.trim();
    if (!t || (i === 0 && /image_id/i.test(t))) return;
    const m = /^(\S+?)[\s,]+([012])$/.exec(t);
    if (!m)
      throw new DatasetFormatError(
        file,
        `line ${i + 1}: expected "<image> <0|1|2>", got "${t.slice(0, 60)}"`,
      );
    out.set(m[1]!, Number(m[2]));
  });
  if (out.size === 0) throw new DatasetFormatError(file, 'empty partition file');
  return out;
}

function locate(root: string): { images: string; partition: string } {
  let images: string | undefined;
  for (const d of [join(root, 'img_align_celeba', 'img_align_celeba'), join(root, 'img_align_celeba')]) {
    if (isDir(d)) {
      images = d;
      break;
    }
  }
  const partition = [
    join(root, 'list_eval_partition.txt'),
    join(root, 'list_eval_partition.csv'),
    join(root, 'Eval', 'list_eval_partition.txt'),
  ].find(isFile);
  if (!images) throw new DatasetFormatError(root, `no img_align_celeba/ folder. ${HOW_TO_GET}`);
  if (!partition)
    throw new DatasetFormatError(root, `no list_eval_partition.txt (the official split). ${HOW_TO_GET}`);
  return { images, partition };
}

/** Crops, resizes and converts one decoded CelebA image as configured. */
export function preprocessCeleba(
  img: RawImage,
  options: Pick<CelebaOptions, 'crop' | 'size' | 'filter'> = {},
  file = '<image>',
): RawImage {
  const box = celebaCropBox(options.crop ?? 'celeba64', img.height, img.width);
  const cropped = crop(toChannels(img, 3), box, file);
  const size = options.size ?? 64;
  return resize(cropped, size, size, options.filter ?? 'area');
}

/**
 * Loads a CelebA split from `img_align_celeba` and the official partition file: crops and resizes
 * each image ({@link CelebaCrop}, `filter`), stores uint8 `[n, size, size, 3]`, no labels. The
 * decoded split is cached (keyed by the folder, the partition file and the options) because
 * decoding ~160k JPEGs takes minutes. Errors name the file (missing image, corrupt JPEG, bad
 * partition line).
 */
export function loadCeleba(split: SplitName, options: CelebaOptions = {}): DataSplit {
  const root = options.path ?? process.env['TSVAE_CELEBA_DIR'];
  if (!root) throw new DatasetNotFoundError('celeba', ['option `path`', 'TSVAE_CELEBA_DIR'], HOW_TO_GET);
  if (!isDir(root)) throw new DatasetNotFoundError('celeba', [root], HOW_TO_GET);
  const logger = options.logger ?? silentLogger;
  const { images, partition } = locate(root);
  const parts = parseCelebaPartition(readFileSync(partition, 'utf8'), partition);
  const validation = options.validation ?? 'exclude';
  const wanted = new Set<number>([split === 'train' ? 0 : 2]);
  if (validation === split) wanted.add(1);
  let names = [...parts.entries()]
    .filter(([, p]) => wanted.has(p))
    .map(([n]) => n)
    .sort();
  if (options.limit !== undefined) names = names.slice(0, Math.max(0, options.limit));
  if (names.length === 0) throw new DatasetFormatError(partition, `no images in the ${split} split`);
  const size = options.size ?? 64;
  const crop = options.crop ?? 'celeba64';
  const filter = options.filter ?? 'area';

  let cachePath: string | undefined;
  if (options.cacheDecoded ?? true) {
    const st = statSync(partition);
    const key = createHash('sha256')
      .update(
        `${resolve(images)}|${st.size}|${st.mtimeMs}|${split}|${validation}|${crop}|${size}|${filter}|${names.length}|v1`,
      )
      .digest('hex')
      .slice(0, 16);
    cachePath = join(cacheDir(options.cacheDir), 'celeba', `${split}-${crop}-${size}-${filter}-${key}.u8`);
    if (isFile(cachePath)) {
      try {
        const c = loadSplit(cachePath);
        return { size: c.size, shape: c.shape, data: c.data };
      } catch (e) {
        logger.warn(`celeba: ignoring unreadable cache ${cachePath} (${(e as Error).message})`);
      }
    }
  }
  const e = size * size * 3;
  const data = new Uint8Array(names.length * e);
  names.forEach((name, i) => {
    const file = join(images, name);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (cause) {
      throw new DatasetFormatError(
        file,
        `listed in ${partition} but cannot be read (${(cause as Error).message})`,
        { cause },
      );
    }
    const img = preprocessCeleba(decodeImage(bytes, file), { crop, size, filter }, file);
    data.set(img.data, i * e);
    if (options.onProgress && ((i + 1) % 1000 === 0 || i + 1 === names.length))
      options.onProgress(i + 1, names.length);
  });
  const out: DataSplit & { data: Uint8Array } = { size: names.length, shape: [size, size, 3], data };
  if (cachePath) {
    try {
      saveSplit(cachePath, out, { split, crop, size, filter });
    } catch (err) {
      logger.warn(`celeba: cannot write cache ${cachePath} (${(err as Error).message})`);
    }
  }
  return out;
}
