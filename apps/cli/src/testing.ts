/** Test helpers shared by the CLI's test files (not part of the public API). */
import type { CliIO, StopSignal } from './common';

/** An output stream that keeps what is written. */
export class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** Captured stdout / stderr; `interrupt` sends that signal (true: SIGINT) as soon as the handler is installed. */
export function captureIO(
  options: { interrupt?: boolean | StopSignal; tty?: boolean } = {},
): CliIO & { stdout: Capture; stderr: Capture } {
  const signal: StopSignal | null =
    options.interrupt === true ? 'SIGINT' : options.interrupt ? options.interrupt : null;
  return {
    stdout: new Capture(options.tty ?? false),
    stderr: new Capture(),
    ...(signal
      ? {
          onInterrupt: (h: (s: StopSignal) => void) => {
            h(signal);
            return () => {};
          },
        }
      : {}),
  };
}

/**
 * `train` options (all but `--dataset`) of a run of the production models at test size, in seconds
 * on the cpu backend: the `vae` stage 1 over small `infogan` networks and the `mlp` second stage,
 * on 128 images of 8x8.
 */
export const SMALL_NETWORKS: readonly string[] = [
  '--set',
  'dataset.config={"size":128,"side":8}',
  '--set',
  'stage1.encoder.config={"convDims":[4,8],"fcDim":16}',
  '--set',
  'stage1.decoder.config={"convDims":[4,8],"fcDim":16}',
  '--set',
  'stage2.model.config={"width":16,"depth":2}',
  '--latent-dim',
  '4',
  '--batch-size',
  '32',
  '--stage1-epochs',
  '2',
  '--stage2-epochs',
  '2',
  '--set',
  'samples.count=16',
  '--backend',
  'cpu',
];

/**
 * {@link SMALL_NETWORKS} on `tiny-manifold` (from `@tsvae/stages/testing`, which the caller
 * registers or loads with `--plugins`).
 */
export const SMALL_MODEL: readonly string[] = ['--dataset', 'tiny-manifold', ...SMALL_NETWORKS];
