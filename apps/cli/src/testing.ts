/** Test helpers shared by the CLI's test files (not part of the public API). */
import type { CliIO } from './common';

/** An output stream that keeps what is written. */
export class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

/** Captured stdout / stderr; `interrupt` fires the interrupt handler as soon as it is installed. */
export function captureIO(
  options: { interrupt?: boolean; tty?: boolean } = {},
): CliIO & { stdout: Capture; stderr: Capture } {
  return {
    stdout: new Capture(options.tty ?? false),
    stderr: new Capture(),
    ...(options.interrupt
      ? {
          onInterrupt: (h: () => void) => {
            h();
            return () => {};
          },
        }
      : {}),
  };
}

/** `train` options of a run in about a second: the tiny plugins of @tsvae/stages on the cpu backend. */
export const TINY_MODEL: readonly string[] = [
  '--encoder',
  'tiny-dense',
  '--decoder',
  'tiny-dense',
  '--second-stage',
  'tiny-mlp',
  '--latent-dim',
  '4',
  '--batch-size',
  '32',
  '--stage1-epochs',
  '2',
  '--stage2-epochs',
  '2',
  '--set',
  'dataset.config={"size":128}',
  '--set',
  'stage2.model.config.width=16',
  '--set',
  'samples.count=16',
  '--backend',
  'cpu',
];
