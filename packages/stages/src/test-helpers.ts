import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeConfig, type RunConfigInput } from './config';

/** A fresh temporary directory. @internal */
export function tempDir(prefix = 'tsvae-stages-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A tiny run config on the tiny plugins (seconds on a CPU). @internal */
export function tinyRunConfig(overrides: Record<string, unknown> = {}): RunConfigInput {
  return mergeConfig<RunConfigInput>(
    {
      preset: 'test',
      dataset: { name: 'tiny-manifold', config: { size: 128, intrinsicDim: 2, side: 4 } },
      seed: 3,
      batchSize: 32,
      latentDim: 4,
      stage1: {
        encoder: { name: 'tiny-dense', config: { hidden: 16 } },
        decoder: { name: 'tiny-dense', config: { hidden: 16 } },
        epochs: 3,
        lr: 1e-2,
        lrEpochs: 2,
      },
      stage2: { model: { name: 'tiny-mlp', config: { width: 16 } }, epochs: 3, lr: 1e-2, lrEpochs: 2 },
      diagnostics: { samples: 64, activeThreshold: 0.05 },
      checkpoint: { everyEpochs: 1, keep: 3 },
      samples: { count: 16, seed: 5 },
    },
    overrides,
  );
}
