import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';

/** Plain words for the errno codes a user meets when files cannot be written or read. */
const CAUSES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  ENOTEMPTY: 'directory not empty',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
  EBUSY: 'resource busy',
  ENAMETOOLONG: 'file name too long',
};

/** The errno code of an error (`ENOSPC`, ...), if it has one. */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A filesystem operation that failed: the message names the operation, the path and the real
 * cause in plain words with its code (`cannot write /runs/a/config.json: read-only file system
 * (EROFS)`). `cause` is the original error.
 */
export class FsError extends Error {
  override readonly name = 'FsError';
  constructor(
    /** What was being done: `write`, `read`, `create directory`, ... */
    readonly operation: string,
    /** The path involved. */
    readonly path: string,
    /** The errno code (`ENOSPC`, `EROFS`, ...), when known. */
    readonly code: string | undefined,
    cause: unknown,
    /** Appended to the message (e.g. which checkpoint is still good). */
    detail?: string,
  ) {
    const why = code
      ? `${CAUSES[code] ?? (cause instanceof Error ? cause.message : String(cause))} (${code})`
      : cause instanceof Error
        ? cause.message
        : String(cause);
    super(`cannot ${operation} ${path}: ${why}${detail ? `; ${detail}` : ''}`, { cause });
  }
}

/**
 * The real reason a path cannot be created: the nearest existing ancestor is tested for write
 * access, so a read-only or unwritable parent is reported as EROFS / EACCES rather than the
 * ENOENT that a recursive mkdir may raise.
 */
export function realCause(path: string, e: unknown): { code: string | undefined; path: string } {
  const code = errnoCode(e);
  if (code !== 'ENOENT') return { code, path };
  let dir = dirname(path);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    accessSync(dir, constants.W_OK);
  } catch (inner) {
    const c = errnoCode(inner);
    if (c && c !== 'ENOENT') return { code: c, path: dir };
  }
  return { code, path };
}

/**
 * Wraps an error from a filesystem call as an {@link FsError} naming `path` and the real cause
 * (an `FsError` passes through unchanged).
 */
export function fsError(operation: string, path: string, e: unknown, detail?: string): FsError {
  if (e instanceof FsError) return e;
  const real = realCause(path, e);
  return new FsError(
    operation,
    real.path === path ? path : `${path} (in ${real.path})`,
    real.code,
    e,
    detail,
  );
}
