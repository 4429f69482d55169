import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { DataSplit, ImageShape } from '@tsvae/core';
import { DatasetFormatError } from './errors';
import {
  decodeImage,
  isGrayscale,
  isImageFileName,
  type RawImage,
  type ResizeFilter,
  resize,
  toChannels,
} from './image';
import { openTar } from './tar';

/** A {@link DataSplit} read from image files, with where each example came from. */
export interface ImageFolderSplit extends DataSplit {
  readonly data: Uint8Array;
  /** Class names (subfolder names, sorted), index = label; empty for a flat folder. */
  readonly classNames: readonly string[];
  /** The source of each example (a path, or `archive.tar:member`), in example order. */
  readonly files: readonly string[];
}

/** How labels are assigned. */
export type LabelMode = 'auto' | 'subfolder' | 'none';

/** Options for {@link loadImageFolder}. */
export interface ImageFolderOptions {
  /**
   * Output channels: 1 (luma), 3 (RGB) or `'auto'` (1 when the first image is grey, else 3).
   * Default `'auto'`.
   */
  readonly channels?: 1 | 3 | 'auto';
  /**
   * Labels: `'subfolder'` (class = first folder below the root), `'none'`, or `'auto'` (the
   * default: subfolders when every image is in one, none when every image is at the root; a mix
   * is an error).
   */
  readonly labels?: LabelMode;
  /** Class names to use (e.g. the train split's for the test split); unknown folders are errors. */
  readonly classNames?: readonly string[];
  /**
   * Expected `[height, width]` of every image (after `transform`). Default: the first image's.
   * An image of another size is an error unless `resizeTo` is set.
   */
  readonly size?: readonly [height: number, width: number];
  /** Resize every image to `[height, width]` with `filter` (default `'area'`) instead of rejecting. */
  readonly resizeTo?: readonly [height: number, width: number];
  /** Filter for `resizeTo`. */
  readonly filter?: ResizeFilter;
  /** Applied to each decoded image before the size check (e.g. a crop). */
  readonly transform?: (image: RawImage, file: string) => RawImage;
  /** Read only the first `limit` images (in sorted order). */
  readonly limit?: number;
  /**
   * For a tar archive: strip one top-level folder that holds everything (`train/cat/1.jpg` ->
   * `cat/1.jpg`). Default true.
   */
  readonly stripTopFolder?: boolean;
  /** Called every 1000 images and at the end. */
  readonly onProgress?: (done: number, total: number) => void;
}

interface Source {
  readonly rel: string;
  readonly display: string;
  read(): Uint8Array;
}

function walk(root: string, dir: string, out: Source[]): void {
  let names: import('node:fs').Dirent[];
  try {
    names = readdirSync(dir, { withFileTypes: true });
  } catch (cause) {
    throw new DatasetFormatError(dir, `cannot read directory (${(cause as Error).message})`, { cause });
  }
  for (const d of names) {
    if (d.name.startsWith('.')) continue;
    const full = join(dir, d.name);
    let isDirectory = d.isDirectory();
    let isFile = d.isFile();
    if (d.isSymbolicLink()) {
      try {
        const st = statSync(full);
        isDirectory = st.isDirectory();
        isFile = st.isFile();
      } catch {
        throw new DatasetFormatError(full, 'broken symbolic link');
      }
    }
    if (isDirectory) walk(root, full, out);
    else if (isFile && isImageFileName(d.name)) {
      out.push({
        rel: relative(root, full).split(sep).join('/'),
        display: full,
        read: () => readFileSync(full),
      });
    }
  }
}

const collator = new Intl.Collator('en', { numeric: true });

function compareRel(a: Source, b: Source): number {
  const pa = a.rel.split('/');
  const pb = b.rel.split('/');
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = collator.compare(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

/** Whether `path` names a tar archive (by extension). */
export function isTarPath(path: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(path);
}

/**
 * Loads every JPEG / PNG image under a directory or inside a tar archive (`.tar`, `.tar.gz`,
 * `.tgz`) into a uint8 NHWC {@link ImageFolderSplit}. Images are ordered by class, then by file
 * name (numeric-aware); labels come from the first folder below the root (sorted class names).
 * Every image must have the same size (or `resizeTo` is given).
 *
 * Errors (all {@link DatasetFormatError}, naming the file): no images, a corrupt image, an image
 * of another size, a folder outside `classNames`, images both at the root and in subfolders.
 *
 * @example
 * ```ts
 * const train = loadImageFolder('../shared/data/cifar10-jpeg/train.tar', { channels: 3 });
 * train.size; // 50000
 * train.classNames; // ['airplane', 'automobile', ...]
 * ```
 */
export function loadImageFolder(path: string, options: ImageFolderOptions = {}): ImageFolderSplit {
  let sources: Source[] = [];
  let close = (): void => {};
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (cause) {
    throw new DatasetFormatError(path, `does not exist or cannot be read (${(cause as Error).message})`, {
      cause,
    });
  }
  if (isDir) {
    walk(path, path, sources);
  } else {
    const tar = openTar(path);
    close = () => tar.close();
    for (const e of tar.entries) {
      const base = e.name.split('/').pop() ?? '';
      if (!isImageFileName(e.name) || base.startsWith('.')) continue;
      sources.push({
        rel: e.name.replace(/^\.\//, ''),
        display: `${path}:${e.name}`,
        read: () => tar.read(e),
      });
    }
    if ((options.stripTopFolder ?? true) && sources.length > 0) {
      const tops = new Set(sources.map((s) => (s.rel.includes('/') ? s.rel.split('/')[0] : '')));
      const top = [...tops][0];
      if (tops.size === 1 && top) sources = sources.map((s) => ({ ...s, rel: s.rel.slice(top.length + 1) }));
    }
  }
  try {
    return buildSplit(path, sources, options);
  } finally {
    close();
  }
}

function buildSplit(path: string, all: Source[], options: ImageFolderOptions): ImageFolderSplit {
  if (all.length === 0) {
    throw new DatasetFormatError(path, 'no JPEG or PNG images found (empty folder or archive)');
  }
  all.sort(compareRel);
  const mode = options.labels ?? 'auto';
  const nested = all.filter((s) => s.rel.includes('/')).length;
  let labelled: boolean;
  if (mode === 'none') labelled = false;
  else if (mode === 'subfolder') {
    const flat = all.find((s) => !s.rel.includes('/'));
    if (flat) throw new DatasetFormatError(flat.display, 'image is not inside a class subfolder');
    labelled = true;
  } else if (nested === 0) labelled = false;
  else if (nested === all.length) labelled = true;
  else {
    const flat = all.find((s) => !s.rel.includes('/'))!;
    throw new DatasetFormatError(
      path,
      `images both at the root (e.g. ${flat.display}) and in subfolders: use class subfolders only, or labels: 'none'`,
    );
  }
  const sources = options.limit !== undefined ? all.slice(0, Math.max(0, options.limit)) : all;
  const classOf = (s: Source): string => s.rel.split('/')[0]!;
  let classNames: string[] = [];
  if (labelled) {
    classNames = options.classNames
      ? [...options.classNames]
      : [...new Set(all.map(classOf))].sort(collator.compare);
  }
  const classIndex = new Map(classNames.map((c, i) => [c, i]));

  const n = sources.length;
  let data: Uint8Array | undefined;
  let h = 0;
  let w = 0;
  let c = 0;
  let firstFile = '';
  const labels = labelled ? new Int32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const src = sources[i]!;
    let img = decodeImage(src.read(), src.display);
    if (options.transform) img = options.transform(img, src.display);
    if (options.resizeTo)
      img = resize(img, options.resizeTo[0], options.resizeTo[1], options.filter ?? 'area');
    if (i === 0) {
      const want = options.channels ?? 'auto';
      c = want === 'auto' ? (isGrayscale(img) ? 1 : 3) : want;
      h = options.size?.[0] ?? img.height;
      w = options.size?.[1] ?? img.width;
      firstFile = src.display;
      data = new Uint8Array(n * h * w * c);
    }
    if (img.height !== h || img.width !== w) {
      throw new DatasetFormatError(
        src.display,
        `wrong image size ${img.height}x${img.width} (height x width), expected ${h}x${w}${
          options.size ? '' : ` like ${firstFile}`
        }; pass resizeTo to resize`,
      );
    }
    const px = toChannels(img, c as 1 | 3);
    data!.set(px.data, i * h * w * c);
    if (labels) {
      const cls = classOf(src);
      const k = classIndex.get(cls);
      if (k === undefined) {
        throw new DatasetFormatError(
          src.display,
          `class folder "${cls}" is not one of ${classNames.join(', ')}`,
        );
      }
      labels[i] = k;
    }
    if (options.onProgress && ((i + 1) % 1000 === 0 || i + 1 === n)) options.onProgress(i + 1, n);
  }
  const shape: ImageShape = [h, w, c];
  const split: ImageFolderSplit = {
    size: n,
    shape,
    data: data ?? new Uint8Array(0),
    classNames,
    files: sources.map((s) => s.display),
    ...(labels ? { labels } : {}),
  };
  return split;
}
