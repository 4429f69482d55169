/**
 * Gating for tests that need data a fresh checkout may not have (Debian's Fashion-MNIST, the
 * CIFAR-10 JPEG copy, the seeded FID weights). Test-only; tests import it with a relative path.
 *
 * - data present: the suite runs;
 * - data missing, `TSVAE_REAL_DATA` unset: the suite is skipped and one line says what is
 *   missing and how to get it;
 * - data missing, `TSVAE_REAL_DATA=1` (CI): the suite fails with that line.
 */
import { describe, it } from 'vitest';

/** Whether data a suite needs is present, and if not what is missing and how to get it. */
export interface RealDataRequirement {
  /** Whether the data is present. */
  readonly available: boolean;
  /** One line: what is missing and how to get it. */
  readonly reason: string;
}

/** `TSVAE_REAL_DATA=1`: missing data fails the suite instead of skipping it. */
export const REAL_DATA_REQUIRED = process.env['TSVAE_REAL_DATA'] === '1';

const warned = new Set<string>();

/**
 * `describe(name, fn)` when the requirement is met; otherwise `describe.skip` with the reason
 * printed once (console.warn), or, under `TSVAE_REAL_DATA=1`, a suite whose one test fails with
 * the reason.
 */
export function describeRealData(name: string, requirement: RealDataRequirement, fn: () => void): void {
  if (requirement.available) {
    describe(name, fn);
    return;
  }
  if (REAL_DATA_REQUIRED) {
    describe(name, () => {
      it('has its data (TSVAE_REAL_DATA=1)', () => {
        throw new Error(`TSVAE_REAL_DATA=1 but ${requirement.reason}`);
      });
    });
    return;
  }
  if (!warned.has(requirement.reason)) {
    warned.add(requirement.reason);
    console.warn(`SKIPPED (real data) ${name}: ${requirement.reason} [TSVAE_REAL_DATA=1 makes this fail]`);
  }
  describe.skip(name, fn);
}
