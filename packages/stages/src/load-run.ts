/** A trained run loaded for sampling, encoding and evaluation; the `vae-run` generator plugin. */
import {
  definePlugin,
  type Generator,
  type Logger,
  type PluginDefinition,
  type SecondStage,
  type Stage1Model,
  silentLogger,
  z,
} from '@tsvae/core';
import type { LoadedCheckpoint, TrainingPosition } from './checkpoint';
import { createModels, readVaeRecord, type VaeRunRecord } from './components';
import type { RunConfig } from './config';
import { RunDirectoryError } from './errors';
import { RunDirectory } from './run-dir';
import { VaeGenerator } from './sample';
import {
  checkStage1,
  loadStage1Checkpoint,
  readSecondStageRecord,
  type SecondStageRunRecord,
} from './second-stage';
import { loadNewestCheckpoint } from './session';

/** A further second stage loaded with its run (`loadRun(run, { stage2: name })`). */
export interface LoadedSecondStage {
  readonly name: string;
  /** `<run>/stage2-<name>/`. */
  readonly dir: RunDirectory;
  readonly record: SecondStageRunRecord;
  /** Where its loaded checkpoint stands (`done` when finished). */
  readonly position: TrainingPosition;
  readonly checkpoint: string;
}

/** A trained run loaded for sampling or encoding; `dispose` frees the models. */
export interface LoadedRun {
  readonly runDir: string;
  /** The run directory (its paths and files). */
  readonly dir: RunDirectory;
  readonly record: VaeRunRecord;
  readonly config: RunConfig;
  readonly stage1: Stage1Model;
  /** The run's own second stage, or the one named by `loadRun`'s `stage2` option. */
  readonly secondStage: SecondStage;
  /** Where the run's loaded checkpoint stands (`done` for a finished run). */
  readonly position: TrainingPosition;
  readonly checkpoint: string;
  /** The further second stage loaded instead of the run's own (`stage2` option); null without. */
  readonly stage2: LoadedSecondStage | null;
  dispose(): void;
}

/** Options of {@link loadRun}. */
export interface LoadRunOptions {
  readonly logger?: Logger;
  /**
   * Load the further second stage `<run>/stage2-<name>/` (fitted by `fitSecondStage`) instead of
   * the run's own; its stage-1 digest must match the run's stage 1.
   */
  readonly stage2?: string;
}

/**
 * Loads the models of a run from its newest good checkpoint, rebuilt through the registry from
 * the components recorded in `config.json` (their plugins must be registered). Damaged checkpoints
 * are skipped with a warning; a run with none that loads is an error naming each one. With
 * `stage2`, the second stage is the named one from `<run>/stage2-<name>/`.
 */
export async function loadRun(runDir: string, options: LoadRunOptions = {}): Promise<LoadedRun> {
  const logger = options.logger ?? silentLogger;
  const dir = new RunDirectory(runDir);
  const record = readVaeRecord(dir);
  if (options.stage2 !== undefined) return loadWithSecondStage(dir, record, options.stage2, logger);
  const checkpoint = loadNewestCheckpoint(dir, logger);
  try {
    const models = await createModels(record.components, record.seed, logger);
    try {
      models.stage1.setWeights(checkpoint.group('stage1/'));
      models.secondStage.setWeights(checkpoint.group('stage2/'));
    } catch (e) {
      models.dispose();
      throw new RunDirectoryError(
        `${checkpoint.path} does not fit the models recorded in ${dir.configFile}: ${(e as Error).message}`,
        checkpoint.path,
      );
    }
    return {
      runDir: dir.path,
      dir,
      record,
      config: record.config,
      stage1: models.stage1,
      secondStage: models.secondStage,
      position: checkpoint.manifest.position,
      checkpoint: checkpoint.path,
      stage2: null,
      dispose: () => models.dispose(),
    };
  } finally {
    checkpoint.dispose();
  }
}

async function loadWithSecondStage(
  dir: RunDirectory,
  record: VaeRunRecord,
  name: string,
  logger: Logger,
): Promise<LoadedRun> {
  const sub = new RunDirectory(dir.secondStageDir(name));
  if (!sub.holdsRun()) {
    throw new RunDirectoryError(
      `${dir.path} has no second stage named "${name}" (${sub.configFile} does not exist); fit one with \`tsvae fit-stage2 ${dir.path} --second-stage <plugin> --name ${name}\``,
      sub.path,
    );
  }
  const subRecord = readSecondStageRecord(sub);
  const stage1 = loadStage1Checkpoint(dir, logger);
  let latest: LoadedCheckpoint | null = null;
  try {
    checkStage1(subRecord, stage1, sub.path);
    latest = loadNewestCheckpoint(sub, logger);
    const models = await createModels(
      { stage1: record.components.stage1, secondStage: subRecord.components.secondStage },
      record.seed,
      logger,
    );
    try {
      models.stage1.setWeights(stage1.group('stage1/'));
      models.secondStage.setWeights(latest.group('stage2/'));
    } catch (e) {
      models.dispose();
      throw new RunDirectoryError(
        `${latest.path} does not fit the second stage recorded in ${sub.configFile}: ${(e as Error).message}`,
        latest.path,
      );
    }
    return {
      runDir: dir.path,
      dir,
      record,
      config: record.config,
      stage1: models.stage1,
      secondStage: models.secondStage,
      position: stage1.manifest.position,
      checkpoint: stage1.path,
      stage2: {
        name,
        dir: sub,
        record: subRecord,
        position: latest.manifest.position,
        checkpoint: latest.path,
      },
      dispose: () => models.dispose(),
    };
  } finally {
    latest?.dispose();
    stage1.dispose();
  }
}

const runGeneratorConfig = z.object({
  /** A finished (or checkpointed) run directory. */
  runDir: z.string().min(1),
  mode: z.enum(['two-stage', 'one-stage']).default('two-stage'),
  /** A further second stage of the run (`<runDir>/stage2-<name>/`) instead of its own. */
  stage2: z.string().min(1).optional(),
});

/**
 * `vae-run` generator plugin: a trained run directory as a {@link Generator} (two-stage or
 * one-stage sampling), for apps that compare generators through the registry. Its `dispose` frees
 * the models. Not registered on import: `register(vaeRunGenerator)`.
 */
export const vaeRunGenerator: PluginDefinition<'generator', typeof runGeneratorConfig> = definePlugin({
  kind: 'generator',
  name: 'vae-run',
  description: 'Samples from a tsvae run directory (two-stage or one-stage).',
  configSchema: runGeneratorConfig,
  async create(config, context): Promise<Generator> {
    const run = await loadRun(config.runDir, {
      logger: context.logger,
      ...(config.stage2 !== undefined ? { stage2: config.stage2 } : {}),
    });
    const g = new VaeGenerator(run.stage1, run.secondStage, config.mode);
    return {
      name: g.name,
      outputShape: g.outputShape,
      generate: (n, opts) => g.generate(n, opts),
      dispose: () => run.dispose(),
    };
  },
});
