import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
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

/** Ancestors of a directory, itself first. */
export function ancestors(dir: string): string[] {
  const out: string[] = [];
  let d = resolve(dir);
  for (;;) {
    out.push(d);
    const up = dirname(d);
    if (up === d) return out;
    d = up;
  }
}

/**
 * Finds `<ancestor>/<relative>` for the ancestors of the working directory and of this module
 * (so `../shared/data/...` beside a checkout is found from anywhere inside it).
 */
export function findInAncestors(relative: string): string | undefined {
  const starts = [process.cwd()];
  const f = thisFile();
  if (f) starts.push(dirname(f));
  const seen = new Set<string>();
  for (const s of starts) {
    for (const a of ancestors(s)) {
      if (seen.has(a)) continue;
      seen.add(a);
      const p = join(a, relative);
      if (existsSync(p)) return p;
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
