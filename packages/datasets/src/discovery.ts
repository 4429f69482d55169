import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This module's file, in both the ESM and the CJS build. */
function thisFile(): string | undefined {
  if (typeof __filename === 'string') return __filename;
  try {
    return fileURLToPath(import.meta.url);
  } catch {
    return undefined;
  }
}

/**
 * Resolves an installed npm package's directory (via `createRequire`, from this module and from
 * the working directory), or `undefined` when it is not installed.
 */
export function resolvePackageDir(name: string): string | undefined {
  const bases = [thisFile(), join(process.cwd(), 'noop.js')].filter((b): b is string => b !== undefined);
  for (const base of bases) {
    try {
      return dirname(createRequire(base).resolve(`${name}/package.json`));
    } catch {
      // not resolvable from here
    }
  }
  return undefined;
}

/** Whether a path is an existing directory. */
export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Whether a path is an existing file. */
export function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
