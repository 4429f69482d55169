import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsError } from './errors';

/** Data for an atomic write: text, bytes, or chunks written in order. */
export type FileData = string | Uint8Array | readonly Uint8Array[];

/** Fault-injection hook: called after temporary files are written and synced, before the rename. */
export type BeforeRenameHook = (tempPath: string, finalPath: string) => void;

/**
 * Where `@tsvae/core/testing`'s `setBeforeRenameHook` puts the hook: on `globalThis`, so the hook
 * reaches this module in every build (ESM, CJS, each entry point bundled on its own).
 */
export const BEFORE_RENAME_HOOK: unique symbol = Symbol.for('@tsvae/core/before-rename-hook') as never;

function beforeRename(tmp: string, final: string): void {
  (globalThis as { [BEFORE_RENAME_HOOK]?: BeforeRenameHook })[BEFORE_RENAME_HOOK]?.(tmp, final);
}

/** Flushes a directory entry to disk (best effort: some filesystems refuse directory fsync). */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // not supported here (e.g. some network filesystems); rename is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const TEMP_RE = /^\.(.+)\.(\d+)-[0-9a-f]{8}\.tmp$/;

/** A unique temporary sibling name for `path`: `.<name>.<pid>-<8 hex>.tmp`. */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes the temporary files and directories that {@link writeFileAtomic} /
 * {@link writeDirectoryAtomic} left in `dir` when their process died mid-write. By default only
 * those of processes that are no longer running; `all: true` removes every one but this process's
 * (for a caller that holds a lock on `dir`). Returns the removed paths.
 */
export function removeStaleTemps(dir: string, options: { readonly all?: boolean } = {}): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || (!options.all && pidAlive(pid))) continue;
    const path = join(dir, name);
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // left for the next start
    }
  }
  return removed;
}

/**
 * Checks, before long work, that `path` can be written later: its directory is created if needed
 * and a temporary file is written and removed there. Throws an `FsError` naming `path` and the
 * real cause (EROFS, EACCES, ENOSPC, ...).
 */
export function assertWritable(path: string): void {
  ensureDir(dirname(path));
  const tmp = tempNameFor(path);
  try {
    writeAndSync(tmp, '');
  } catch (e) {
    throw fsError('write', path, e);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Creates a directory and its parents; errors name the directory and the real cause. */
export function ensureDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fsError('create directory', dir, e);
  }
}

function writeAndSync(path: string, data: FileData): void {
  const fd = openSync(path, 'w');
  try {
    const chunks =
      typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const buf of chunks) {
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `tmp` with `write`, then renames it to `final`; on any failure `tmp` is removed. Errors of
 * the filesystem become an `FsError` naming `final`; an error thrown by the test hook passes as is.
 */
function commit(tmp: string, final: string, write: () => void): void {
  const step = (fn: () => void, wrap: boolean) => {
    try {
      fn();
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw wrap ? fsError('write', final, e) : e;
    }
  };
  step(write, true);
  step(() => beforeRename(tmp, final), false);
  step(() => renameSync(tmp, final), true);
}

/**
 * Writes a file atomically: the data goes to a temporary name in the same directory, is fsynced,
 * then renamed over `path` (and the directory is fsynced). Readers see the old file or the new
 * one, never a partial one; on failure the temporary file is removed and an `FsError` names
 * `path` and the real cause (ENOSPC, EROFS, ...).
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from '@tsvae/core/node';
 * writeFileAtomic('runs/a/notes.txt', 'hello\n');
 * ```
 */
export function writeFileAtomic(path: string, data: FileData): void {
  ensureDir(dirname(path));
  const tmp = tempNameFor(path);
  commit(tmp, path, () => writeAndSync(tmp, data));
  fsyncDirectory(dirname(path));
}

/** {@link writeFileAtomic} of `JSON.stringify(value, null, 2)` and a newline. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Creates directory `finalDir` atomically: `files` are written into a temporary sibling
 * directory, each fsynced, and the directory is renamed into place. `finalDir` must not exist.
 * A crash leaves either no `finalDir` or a complete one, plus at worst a temporary directory that
 * {@link removeStaleTemps} clears.
 */
export function writeDirectoryAtomic(finalDir: string, files: Readonly<Record<string, FileData>>): void {
  const parent = dirname(finalDir);
  ensureDir(parent);
  const tmp = tempNameFor(finalDir);
  commit(tmp, finalDir, () => {
    mkdirSync(tmp);
    for (const [name, data] of Object.entries(files)) writeAndSync(join(tmp, name), data);
    fsyncDirectory(tmp);
  });
  fsyncDirectory(parent);
}
