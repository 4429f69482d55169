import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RealDataRequirement } from '../../../test/real-data';
import { type NpyArray, readNpy } from './npy';

/** Directory of committed fixtures (written by tools/fid_oracle.py). Test helper, not exported. */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export function fixtureBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, ...parts)));
}

export function fixtureNpy(...parts: string[]): NpyArray {
  return readNpy(fixtureBytes(...parts));
}

export function fixtureJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(join(FIXTURES, ...parts), 'utf8')) as T;
}

/** The 32-bit LCG shared with tools/fid_oracle.py (`lcg_uniform`). */
export function lcgUniform(seed: number, n: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) % 4294967296;
    out[i] = s / 4294967296;
  }
  return out;
}

/** `x[i, j] = u[i, j] + 0.5 u[i, (j + 1) % d]^2`, as `lcg_features` in the oracle. */
export function lcgFeatures(seed: number, n: number, d: number, scale = 1): Float64Array {
  const u = lcgUniform(seed, n * d);
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const w = u[i * d + ((j + 1) % d)] as number;
      x[i * d + j] = ((u[i * d + j] as number) + 0.5 * w * w) * scale;
    }
  }
  return x;
}

/** Max |a - b| / max |b|. */
export function relMaxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs((a[i] as number) - (b[i] as number)));
    den = Math.max(den, Math.abs(b[i] as number));
  }
  return num / den;
}

/**
 * The seeded FID Inception checkpoint made by `tools/fid_oracle.py weights` (not committed:
 * about 95 MB), or undefined when it has not been generated.
 */
export function seededWeightsPath(): string | undefined {
  const p = seededWeightsFile();
  return existsSync(p) ? p : undefined;
}

/** Where {@link seededWeightsPath} looks: `<TSVAE_CACHE or <repo>/.cache>/metrics/pt_inception-seeded.pth`. */
function seededWeightsFile(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const cache = process.env.TSVAE_CACHE ?? join(root, '.cache');
  return join(cache, 'metrics', 'pt_inception-seeded.pth');
}

/** The seeded FID weights, for `describeRealData` (test/real-data.ts). */
export function seededWeightsRequirement(): RealDataRequirement {
  return {
    available: seededWeightsPath() !== undefined,
    reason: `seeded FID weights missing: no ${seededWeightsFile()}; make them with \`npm run fid:weights\` (tools/make-fid-test-weights.sh: Debian python3-torch + pytorch-fid 0.3.0)`,
  };
}
