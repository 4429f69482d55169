import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { fsError } from './errors';

/** Digests tsvae checks files with. */
export type HashAlgorithm = 'sha256' | 'md5';

/** The hex digest of a file, streamed (errors name the file). */
export async function hashFile(file: string, algorithm: HashAlgorithm = 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  try {
    await pipeline(createReadStream(file), h);
  } catch (e) {
    throw fsError('read', file, e);
  }
  return h.digest('hex');
}

/** {@link hashFile}, synchronously (for files that fit in memory). */
export function hashFileSync(file: string, algorithm: HashAlgorithm = 'sha256'): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw fsError('read', file, e);
  }
  return hashBytes(bytes, algorithm);
}

/** The hex digest of bytes. */
export function hashBytes(bytes: string | Uint8Array, algorithm: HashAlgorithm = 'sha256'): string {
  return createHash(algorithm).update(bytes).digest('hex');
}

/**
 * Whether a hex digest matches what was expected: the full digest, or a prefix of at least 8 hex
 * digits (torch.hub names files by such a prefix). Case-insensitive.
 */
export function digestMatches(actual: string, expected: string): boolean {
  const e = expected.toLowerCase();
  if (!/^[0-9a-f]{8,}$/.test(e))
    throw new RangeError(`expected digest must be >= 8 hex digits, got "${expected}"`);
  return actual.toLowerCase().startsWith(e);
}
