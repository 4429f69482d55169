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
import { loadLatestCheckpoint, type TrainingPosition } from './checkpoint';
import { createModels, readVaeRecord, type VaeRunRecord } from './components';
import type { RunConfig } from './config';
import { RunDirectoryError } from './errors';
import { RunDirectory } from './run-dir';
import { VaeGenerator } from './sample';

/** A trained run loaded for sampling or encoding; `dispose` frees the models. */
export interface LoadedRun {
  readonly runDir: string;
  /** The run directory (its paths and files). */
  readonly dir: RunDirectory;
  readonly record: VaeRunRecord;
  readonly config: RunConfig;
  readonly stage1: Stage1Model;
  readonly secondStage: SecondStage;
  /** Where the loaded checkpoint stands (`done` for a finished run). */
  readonly position: TrainingPosition;
  readonly checkpoint: string;
  dispose(): void;
}

/**
 * Loads the models of a run from its newest good checkpoint, rebuilt through the registry from
 * the components recorded in `config.json` (their plugins must be registered). Damaged checkpoints
 * are skipped with a warning; a run with none that loads is an error naming each one.
 */
export async function loadRun(
  runDir: string,
  options: { readonly logger?: Logger } = {},
): Promise<LoadedRun> {
  const logger = options.logger ?? silentLogger;
  const dir = new RunDirectory(runDir);
  const record = readVaeRecord(dir);
  const { checkpoint, damaged } = loadLatestCheckpoint(dir.checkpointsDir);
  for (const d of damaged) logger.warn('ignoring a damaged checkpoint', { path: d.path, problem: d.problem });
  if (!checkpoint) {
    throw new RunDirectoryError(
      `${dir.path} holds no checkpoint that loads${
        damaged.length
          ? `:\n${damaged.map((d) => `  - ${d.problem}`).join('\n')}`
          : ' (training has not written one yet)'
      }`,
      dir.checkpointsDir,
    );
  }
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
      dispose: () => models.dispose(),
    };
  } finally {
    checkpoint.dispose();
  }
}

const runGeneratorConfig = z.object({
  /** A finished (or checkpointed) run directory. */
  runDir: z.string().min(1),
  mode: z.enum(['two-stage', 'one-stage']).default('two-stage'),
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
    const run = await loadRun(config.runDir, { logger: context.logger });
    const g = new VaeGenerator(run.stage1, run.secondStage, config.mode);
    return {
      name: g.name,
      outputShape: g.outputShape,
      generate: (n, opts) => g.generate(n, opts),
      dispose: () => run.dispose(),
    };
  },
});
