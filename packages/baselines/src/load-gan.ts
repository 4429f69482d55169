/** A trained GAN run loaded for sampling and evaluation; the `gan-run` generator plugin. */
import {
  definePlugin,
  type Generator,
  type Logger,
  type PluginDefinition,
  silentLogger,
  z,
} from '@tsvae/core';
import { loadNewestCheckpoint, RunDirectory, RunDirectoryError, type TrainingPosition } from '@tsvae/stages';
import { createGanModels, type GanRunRecord, readGanRecord } from './components';
import type { GanRunConfig } from './config';
import type { GanDiscriminator, GanGenerator, GanLoss } from './kinds';
import { GanSampler } from './sample';

/** A GAN run loaded from its newest good checkpoint; `dispose` frees the models. */
export interface LoadedGanRun {
  readonly runDir: string;
  readonly dir: RunDirectory;
  readonly record: GanRunRecord;
  readonly config: GanRunConfig;
  readonly generator: GanGenerator;
  readonly discriminator: GanDiscriminator;
  readonly loss: GanLoss;
  /** The generator as a core `Generator` (codes from the run's prior, inference mode). */
  readonly sampler: Generator;
  /** Where the loaded checkpoint stands (`done` for a finished run). */
  readonly position: TrainingPosition;
  readonly checkpoint: string;
  dispose(): void;
}

/**
 * Loads a GAN run (written by `trainGan`) from its newest good checkpoint, its models rebuilt
 * through the registry from the components in `config.json` (their plugins must be registered).
 * Damaged checkpoints are skipped with a warning; a run with none that loads is an error naming
 * each one; a run of another trainer is an error naming it.
 */
export async function loadGanRun(
  runDir: string,
  options: { readonly logger?: Logger } = {},
): Promise<LoadedGanRun> {
  const logger = options.logger ?? silentLogger;
  const dir = new RunDirectory(runDir);
  const record = readGanRecord(dir);
  const checkpoint = loadNewestCheckpoint(dir, logger);
  try {
    const models = await createGanModels(
      record.components,
      { seed: record.seed, zDim: record.config.zDim },
      logger,
    );
    try {
      models.generator.setWeights(checkpoint.group('generator/'));
      models.discriminator.setWeights(checkpoint.group('discriminator/'));
      models.loss.setWeights(checkpoint.group('loss/'));
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
      generator: models.generator,
      discriminator: models.discriminator,
      loss: models.loss,
      sampler: new GanSampler(models.generator, record.config.prior, `gan-${record.components.loss.plugin}`),
      position: checkpoint.manifest.position,
      checkpoint: checkpoint.path,
      dispose: () => models.dispose(),
    };
  } finally {
    checkpoint.dispose();
  }
}

const ganRunConfig = z.object({
  /** A GAN run directory (finished or checkpointed). */
  runDir: z.string().min(1),
});

/**
 * `gan-run` generator plugin: a GAN run directory as a core `Generator` (named `gan-<loss>`), for
 * `evaluate` / `evaluateGenerators` and apps that compare generators through the registry. Its
 * `dispose` frees the models. Registered on import of `@tsvae/baselines`.
 */
export const ganRunGenerator: PluginDefinition<'generator', typeof ganRunConfig> = definePlugin({
  kind: 'generator',
  name: 'gan-run',
  description: 'Samples from a GAN run directory written by @tsvae/baselines (trainGan).',
  configSchema: ganRunConfig,
  async create(config, context): Promise<Generator> {
    const run = await loadGanRun(config.runDir, { logger: context.logger });
    const s = run.sampler;
    return {
      name: s.name,
      outputShape: s.outputShape,
      generate: (n, opts) => s.generate(n, opts),
      dispose: () => run.dispose(),
    };
  },
});
