/**
 * @packageDocumentation
 * Test helpers of `@tsvae/core` (not part of the main API): fault injection for the atomic writes
 * of `@tsvae/core/node`.
 */
import { BEFORE_RENAME_HOOK, type BeforeRenameHook } from './node/atomic';

export type { BeforeRenameHook } from './node/atomic';

/**
 * Installs (or clears, with `undefined`) a hook that every atomic write of `@tsvae/core/node`
 * calls after its temporary file or directory is complete and synced, just before the rename that
 * publishes it: a test throws there, or kills the process, to simulate a crash at that moment.
 */
export function setBeforeRenameHook(hook: BeforeRenameHook | undefined): void {
  const g = globalThis as { [BEFORE_RENAME_HOOK]?: BeforeRenameHook };
  if (hook) g[BEFORE_RENAME_HOOK] = hook;
  else delete g[BEFORE_RENAME_HOOK];
}
