import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * tsvae's cache directory, the one rule every package uses: an explicit `override`, else
 * `$TSVAE_CACHE`, else `$XDG_CACHE_HOME/tsvae`, else `~/.cache/tsvae`.
 *
 * @example
 * ```ts
 * import { cacheDir } from '@tsvae/core/node';
 * const file = join(cacheDir(), 'mnist', 'train-images-idx3-ubyte.gz');
 * ```
 */
export function cacheDir(override?: string): string {
  if (override) return override;
  const env = process.env['TSVAE_CACHE'];
  if (env) return env;
  const xdg = process.env['XDG_CACHE_HOME'];
  if (xdg) return join(xdg, 'tsvae');
  return join(homedir(), '.cache', 'tsvae');
}
