/** Test helpers shared by the compare tests (not part of the public API). */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIO, StopSignal } from '@tsvae/cli';
import { resolveTsvaeCli } from './executor';
import type { StudyInput } from './study';

/** The test feature extractor plugin module (`test-flat`: the pixels as features). */
export const TEST_EXTRACTOR = fileURLToPath(new URL('../test/fixtures/test-extractor.mjs', import.meta.url));

/** The built `tsvae` CLI the cells run, or null with the reason when it is not built. */
export function builtCli(): { path: string } | { reason: string } {
  let path: string;
  try {
    path = resolveTsvaeCli();
  } catch (e) {
    return { reason: `@tsvae/cli cannot be resolved: ${(e as Error).message}` };
  }
  return existsSync(path) ? { path } : { reason: `${path} is missing (npm run build)` };
}

const net = { convDims: [4, 8], fcDim: 16 };

/**
 * A study of two cheap models (the Two-Stage VAE and ns-gan, production networks at test size) on
 * 128 tiny-manifold images of 8x8, two seeds, evaluated with `test-flat` (N 64 vs 64, 2 trials):
 * seconds per cell on the cpu backend.
 */
export function tinyStudy(overrides: Partial<StudyInput> = {}): StudyInput {
  return {
    name: 'tiny',
    description: 'two cheap models on tiny-manifold (tests)',
    dataset: { name: 'tiny-manifold', config: { size: 128, side: 8 } },
    preset: 'quick',
    models: [
      {
        name: 'two-stage-vae',
        stage1Epochs: 3,
        stage2Epochs: 3,
        config: {
          latentDim: 4,
          batchSize: 32,
          stage1: { encoder: { name: 'infogan', config: net }, decoder: { name: 'infogan', config: net } },
          stage2: { model: { name: 'mlp', config: { width: 16, depth: 2 } } },
          samples: { count: 16 },
        },
      },
      {
        name: 'ns-gan',
        epochs: 4,
        config: {
          zDim: 4,
          batchSize: 32,
          generator: { name: 'infogan', config: net },
          discriminator: { name: 'infogan', config: net },
          samples: { count: 16 },
        },
      },
    ],
    seeds: [0, 1],
    evaluation: {
      extractors: ['test-flat'],
      count: 64,
      referenceCount: 64,
      trials: 2,
      kid: { subsets: 4, subsetSize: 32 },
      batchSize: 32,
      // beside the study file: the reference-feature cache of this study alone
      cacheDir: 'cache',
    },
    plugins: ['@tsvae/stages/testing', TEST_EXTRACTOR],
    backend: 'cpu',
    ...overrides,
  };
}

/** Writes a study file into `dir` and returns its path. */
export function writeStudy(dir: string, study: unknown, name = 'study.json'): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, typeof study === 'string' ? study : `${JSON.stringify(study, null, 2)}\n`);
  return file;
}

/** An output stream that keeps what is written. */
export class Capture {
  text = '';
  constructor(readonly isTTY = false) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
  /** The JSON lines written so far. */
  events(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** Captured stdout / stderr, and `interrupt(signal)` to send a stop request to the running command. */
export function captureIO(cwd?: string): CliIO & {
  stdout: Capture;
  stderr: Capture;
  interrupt(signal: StopSignal): void;
} {
  const handlers = new Set<(s: StopSignal) => void>();
  return {
    stdout: new Capture(),
    stderr: new Capture(),
    ...(cwd ? { cwd } : {}),
    onInterrupt(h) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    interrupt(signal) {
      for (const h of handlers) h(signal);
    },
  };
}
