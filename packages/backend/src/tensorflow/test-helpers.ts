/**
 * For this package's tests of the `tensorflow` backend (not exported): whether tfjs-node can be
 * loaded here (`tsvae setup tensorflow` ran, or the project has a working tfjs-node), and whether
 * it must (`TSVAE_TEST_TENSORFLOW=1`, which CI sets after running the setup).
 */
import { selectBackend } from '../select';
import type { BackendInfo } from '../types';

/** `TSVAE_TEST_TENSORFLOW=1`: the tensorflow tests must run (a missing backend fails them). */
export const TENSORFLOW_REQUIRED = process.env['TSVAE_TEST_TENSORFLOW'] === '1';

/** The outcome of loading the tensorflow backend in this test process. */
export type TensorflowProbe = { ok: true; info: BackendInfo } | { ok: false; reason: string };

/** Loads and activates the tensorflow backend if it can. */
export async function probeTensorflow(): Promise<TensorflowProbe> {
  try {
    return { ok: true, info: await selectBackend({ backend: 'tensorflow', threads: 1 }) };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** The title of a skipped block: what was skipped and how to run it. */
export function skipTitle(what: string, probe: TensorflowProbe): string {
  return probe.ok
    ? what
    : `${what} (skipped: no tensorflow backend here: ${probe.reason.slice(0, 200)}; run \`tsvae setup tensorflow\`, and TSVAE_TEST_TENSORFLOW=1 to require it)`;
}
