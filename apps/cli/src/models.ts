/**
 * The models `tsvae train --model <name>` trains (every row of the paper's Table 1), which trainer
 * runs each, and how a trained run of either trainer is loaded for sampling and evaluation.
 */
import {
  BASELINE_MODELS,
  baselineRunConfig,
  GAN_TRAINER,
  loadGanRun,
  trainGan,
  validateGanRun,
} from '@tsvae/baselines';
import type { Generator, Logger, TrainingCallback } from '@tsvae/core';
import {
  type LoadedRun,
  loadRun,
  type ModelInfo,
  type PresetName,
  RunDirectory,
  type RunEnvironment,
  type TrainingPosition,
  trainTwoStage,
  VAE_MODELS,
  VAE_TRAINER,
  VaeGenerator,
  vaeModelConfig,
  vaeSamplingModes,
  validateRun,
} from '@tsvae/stages';
import { usageError } from './common';

/** Every model of `--model`, in Table 1's order (the Two-Stage VAE first). */
export const MODELS: readonly ModelInfo[] = [
  ...VAE_MODELS,
  ...BASELINE_MODELS.filter((m) => m.trainer !== VAE_TRAINER),
  ...BASELINE_MODELS.filter((m) => m.trainer === VAE_TRAINER),
];

/** A model by name; an unknown name is a usage error listing the known ones. */
export function modelInfo(name: string): ModelInfo {
  const m = MODELS.find((x) => x.name === name);
  if (!m) throw usageError(`--model must be one of ${MODELS.map((x) => x.name).join(', ')}; got "${name}"`);
  return m;
}

/**
 * Which `train` options a model takes: `two-stage` (the Two-Stage VAE), `one-stage` (the VAE
 * rows sampled from the prior, whose likelihood is the model), `wae-mmd`, `vae-flow`, `gan`.
 */
export type ModelFamily = 'two-stage' | 'one-stage' | 'wae-mmd' | 'vae-flow' | 'gan';

/** The family of a model (see {@link ModelFamily}). */
export function modelFamily(m: ModelInfo): ModelFamily {
  if (m.trainer === GAN_TRAINER) return 'gan';
  if (m.name === 'two-stage-vae') return 'two-stage';
  if (m.name === 'wae-mmd' || m.name === 'vae-flow') return m.name;
  return 'one-stage';
}

/** The run config of a model for a preset and dataset, with overrides; and its trainer. */
export function modelConfig(
  m: ModelInfo,
  preset: PresetName,
  dataset: string,
  overrides: Record<string, unknown>,
): { trainer: string; config: unknown } {
  if (VAE_MODELS.some((x) => x.name === m.name)) {
    return { trainer: VAE_TRAINER, config: vaeModelConfig(m.name, preset, dataset, overrides) };
  }
  const b = baselineRunConfig(m.name as Parameters<typeof baselineRunConfig>[0], preset, dataset, overrides);
  return { trainer: b.trainer, config: b.config };
}

/** Options of a trainer's `train`. */
export interface TrainerOptions {
  readonly runDir: string;
  readonly config?: unknown;
  readonly resume?: boolean;
  readonly logger?: Logger;
  readonly callbacks?: readonly TrainingCallback[];
  readonly signal?: AbortSignal;
  readonly environment?: RunEnvironment;
}

/** What a trainer's `train` resolves to. */
export interface TrainerResult {
  readonly status: 'completed' | 'aborted';
  readonly runDir: string;
  readonly lastCheckpoint: string | null;
  readonly samples: readonly string[];
}

/** A trainer: validate a config, train (or resume) a run. */
export interface Trainer {
  validate(config: unknown, logger: Logger): Promise<unknown>;
  train(options: TrainerOptions): Promise<TrainerResult>;
}

/** The trainers, by the name runs record in `config.json`. */
export const TRAINERS: Readonly<Record<string, Trainer>> = {
  [VAE_TRAINER]: { validate: (c, logger) => validateRun(c, logger), train: (o) => trainTwoStage(o) },
  [GAN_TRAINER]: { validate: async (c) => validateGanRun(c), train: (o) => trainGan(o) },
};

/** The trainer a run was trained with (from its `config.json`); an unknown one is an error naming it. */
export function trainerOfRun(runDir: string): { name: string; trainer: Trainer } {
  const record = new RunDirectory(runDir).readRecord();
  const trainer = TRAINERS[record.trainer];
  if (!trainer) {
    throw usageError(
      `${runDir} was trained by "${record.trainer}", which tsvae train cannot resume (known: ${Object.keys(TRAINERS).join(', ')})`,
    );
  }
  return { name: record.trainer, trainer };
}

/** A trained run's sampling modes as Generators, whatever trained it. */
export interface RunSamplers {
  readonly runDir: string;
  readonly trainer: string;
  /** The Table 1 model the run trained. */
  readonly model: string;
  /** Sampling mode -> generator: `two-stage` / `one-stage` for VAE runs, `gan` for GAN runs. */
  readonly modes: Readonly<Record<string, Generator>>;
  /** The mode used when none is asked for: the model's own (two-stage for the Two-Stage VAE). */
  readonly defaultMode: string;
  /** Where the loaded checkpoint stands; `done` for a finished run. */
  readonly position: TrainingPosition;
  readonly checkpoint: string;
  /** Where its outputs go (a further second stage's own directory for `stage2`). */
  readonly outputDir: RunDirectory;
  /** The dataset the run trained on (its recorded component). */
  readonly dataset: { readonly name: string; readonly config: Readonly<Record<string, unknown>> };
  /** The loaded VAE run (stage 1, second stages) of a VAE run; null for other trainers. */
  readonly vae: LoadedRun | null;
  dispose(): void;
}

/**
 * Loads a run of either trainer for sampling and evaluation. `stage2` picks a further second stage
 * of a VAE run (`<run>/stage2-<name>/`, from `tsvae fit-stage2`).
 */
export async function loadSamplers(
  runDir: string,
  options: { readonly logger?: Logger; readonly stage2?: string } = {},
): Promise<RunSamplers> {
  const record = new RunDirectory(runDir).readRecord();
  if (record.trainer === GAN_TRAINER) {
    if (options.stage2 !== undefined)
      throw usageError(`--stage2 applies to VAE runs; ${runDir} is a GAN run`);
    const run = await loadGanRun(runDir, options.logger ? { logger: options.logger } : {});
    return {
      runDir: run.runDir,
      trainer: GAN_TRAINER,
      model: (run.config as { model?: string }).model ?? run.record.components['loss']?.plugin ?? 'gan',
      modes: { gan: run.sampler },
      defaultMode: 'gan',
      position: run.position,
      checkpoint: run.checkpoint,
      outputDir: run.dir,
      dataset: datasetOf(run.record.components),
      vae: null,
      dispose: () => run.dispose(),
    };
  }
  const run = await loadRun(runDir, {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.stage2 !== undefined ? { stage2: options.stage2 } : {}),
  });
  const modes =
    options.stage2 !== undefined ? (['two-stage', 'one-stage'] as const) : vaeSamplingModes(run.config);
  return {
    runDir: run.runDir,
    trainer: VAE_TRAINER,
    model: run.config.model,
    modes: Object.fromEntries(modes.map((m) => [m, new VaeGenerator(run.stage1, run.secondStage, m)])),
    defaultMode: modes.includes('two-stage') ? 'two-stage' : 'one-stage',
    position: run.stage2?.position ?? run.position,
    checkpoint: run.stage2?.checkpoint ?? run.checkpoint,
    outputDir: run.stage2?.dir ?? run.dir,
    dataset: datasetOf(run.record.components),
    vae: run,
    dispose: () => run.dispose(),
  };
}

function datasetOf(
  components: Readonly<Record<string, { plugin: string; config: Readonly<Record<string, unknown>> }>>,
): {
  name: string;
  config: Readonly<Record<string, unknown>>;
} {
  const ds = components['dataset'];
  if (!ds) throw new Error('the run records no dataset component');
  return { name: ds.plugin, config: ds.config };
}
