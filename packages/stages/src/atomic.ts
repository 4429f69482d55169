import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Test hook: called after temporary files are written and synced, just before the rename. */
export type BeforeRenameHook = (tempPath: string, finalPath: string) => void;

let beforeRename: BeforeRenameHook | undefined;

/**
 * Installs (or clears) a hook called between writing a temporary file/directory and renaming it
 * into place. Meant for tests that simulate a crash at that moment (the hook throws).
 * @internal
 */
export function setBeforeRenameHook(hook: BeforeRenameHook | undefined): void {
  beforeRename = hook;
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

/** A unique temporary sibling name for `path` (starts with `.`, ends with `.tmp`). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

function writeAndSync(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file atomically: the data goes to a temporary name in the same directory, is fsynced,
 * then renamed over `path` (and the directory is fsynced). Readers see the old file or the new
 * one, never a partial one.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  try {
    writeAndSync(tmp, data);
    beforeRename?.(tmp, path);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDirectory(dirname(path));
}

/** {@link writeFileAtomic} of `JSON.stringify(value, null, 2)`. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Creates directory `finalDir` atomically: `files` are written into a temporary sibling
 * directory, each fsynced, and the directory is renamed into place. `finalDir` must not exist.
 * A crash leaves either no `finalDir` or a complete one (plus, at worst, a `.tmp` directory that
 * readers ignore).
 */
export function writeDirectoryAtomic(
  finalDir: string,
  files: Readonly<Record<string, string | Uint8Array>>,
): void {
  const parent = dirname(finalDir);
  mkdirSync(parent, { recursive: true });
  const tmp = tempNameFor(finalDir);
  mkdirSync(tmp);
  try {
    for (const [name, data] of Object.entries(files)) writeAndSync(join(tmp, name), data);
    fsyncDirectory(tmp);
    beforeRename?.(tmp, finalDir);
    renameSync(tmp, finalDir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncDirectory(parent);
}
