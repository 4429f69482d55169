/**
 * The components of a run (dataset, stage-1 model, second stage) as `{ plugin, config }` records,
 * resolved and validated through the registry, and rebuilt from those records.
 */
import {
  create,
  deriveSeed,
  getRegistry,
  type ImageShape,
  type Logger,
  type PluginKind,
  type SecondStage,
  type Stage1Model,
  silentLogger,
} from '@tsvae/core';
import type { ComponentRecord } from './checkpoint';
import { parseRunConfig, type RunConfig } from './config';
import type { RunDirectory, RunRecord } from './run-dir';

/** The `trainer` of two-stage VAE runs in `config.json`. */
export const VAE_TRAINER = 'two-stage-vae';

/** The components of a run, as recorded in `config.json`. */
export type RunComponents = {
  readonly dataset: ComponentRecord;
  readonly stage1: ComponentRecord;
  readonly secondStage: ComponentRecord;
};

/** The `config.json` of a two-stage VAE run. */
export type VaeRunRecord = RunRecord<RunConfig> & { readonly components: RunComponents };

/** Reads a two-stage VAE run's `config.json` (config parsed, components checked; errors name the file). */
export function readVaeRecord(dir: RunDirectory): VaeRunRecord {
  return dir.readRecordOf(VAE_TRAINER, parseRunConfig, ['dataset', 'stage1', 'secondStage']) as VaeRunRecord;
}

function record(kind: PluginKind, plugin: string, config: Record<string, unknown>): ComponentRecord {
  return { plugin, config, resolved: getRegistry().resolveConfig(kind, plugin, config) };
}

/** `values` restricted to the keys a plugin's config declares (all of them when it declares none). */
function declared(
  kind: PluginKind,
  plugin: string,
  values: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const keys = getRegistry().configKeys(kind, plugin);
  return keys ? Object.fromEntries(Object.entries(values).filter(([k]) => keys.includes(k))) : { ...values };
}

/**
 * The stage-1 config: the run's stage-1 settings (encoder, decoder, likelihood, gamma convention,
 * fixed gamma) that the plugin declares, then `stage1.model.config`, then `latentDim` and
 * `imageShape`, which the run fixes.
 */
function stage1Config(config: RunConfig, imageShape: ImageShape): Record<string, unknown> {
  const s1 = config.stage1;
  const fixed = { latentDim: config.latentDim, imageShape: [...imageShape] };
  const settings = {
    encoder: s1.encoder,
    decoder: s1.decoder,
    likelihood: s1.likelihood,
    gammaConvention: s1.gammaConvention,
    fixedGamma: s1.fixedGamma,
    gammaFloor: s1.gammaFloor,
    ...fixed,
  };
  return {
    ...declared('stage1', s1.model.name, settings),
    ...s1.model.config,
    ...declared('stage1', s1.model.name, fixed),
  };
}

/**
 * A second stage's config: the run's `gammaConvention` when the plugin declares it, then the
 * plugin's own config (`stage2.model.config` by default), then `latentDim` (fixed by the run).
 */
function secondStageConfig(
  config: RunConfig,
  ref: { readonly name: string; readonly config?: Readonly<Record<string, unknown>> } = config.stage2.model,
): Record<string, unknown> {
  return {
    ...declared('second-stage', ref.name, { gammaConvention: config.stage1.gammaConvention }),
    ...ref.config,
    latentDim: config.latentDim,
  };
}

/**
 * The component record of second stage `ref` (plugin name and config) on a run's stage 1, as
 * {@link resolveComponents} makes the run's own: validated through the registry (unknown plugin
 * or config keys throw, naming them), `latentDim` fixed by the run.
 */
export function resolveSecondStage(
  config: RunConfig,
  ref: { readonly name: string; readonly config?: Readonly<Record<string, unknown>> },
): ComponentRecord {
  return record('second-stage', ref.name, secondStageConfig(config, ref));
}

/**
 * Resolves and validates every component of a run through the registry: unknown plugin names and
 * unknown or invalid config keys (also inside the stage-1 encoder and decoder configs) throw
 * errors naming the plugin and the field. Creates nothing.
 */
export function resolveComponents(config: RunConfig, imageShape: ImageShape): RunComponents {
  const reg = getRegistry();
  const stage1 = record('stage1', config.stage1.model.name, stage1Config(config, imageShape));
  // The encoder and decoder references of a `vae`-like stage 1: validate their configs as the
  // model will pass them (with latentDim and imageShape).
  for (const part of ['encoder', 'decoder'] as const) {
    const ref = stage1.resolved?.[part] as { name?: unknown; config?: unknown } | undefined;
    if (ref && typeof ref.name === 'string') {
      reg.resolveConfig(part, ref.name, {
        ...(ref.config as Record<string, unknown> | undefined),
        latentDim: config.latentDim,
        imageShape: [...imageShape],
      });
    }
  }
  return {
    dataset: record('dataset', config.dataset.name, { ...config.dataset.config }),
    stage1,
    secondStage: record('second-stage', config.stage2.model.name, secondStageConfig(config)),
  };
}

/** The models of a run. */
export interface RunModels {
  readonly stage1: Stage1Model;
  readonly secondStage: SecondStage;
  dispose(): void;
}

/**
 * Creates the stage-1 model and the second stage from their records, their initial weights seeded
 * with `deriveSeed(seed, 'stage1-init')` and `deriveSeed(seed, 'stage2-init')`.
 */
export async function createModels(
  components: Pick<RunComponents, 'stage1' | 'secondStage'>,
  seed: number,
  logger: Logger = silentLogger,
): Promise<RunModels> {
  const stage1 = await create('stage1', components.stage1.plugin, components.stage1.config, {
    context: { logger, seed: deriveSeed(seed, 'stage1-init') },
  });
  let secondStage: SecondStage;
  try {
    secondStage = await create('second-stage', components.secondStage.plugin, components.secondStage.config, {
      context: { logger, seed: deriveSeed(seed, 'stage2-init') },
    });
  } catch (e) {
    stage1.dispose();
    throw e;
  }
  return {
    stage1,
    secondStage,
    dispose: () => {
      safeDispose(stage1, 'stage-1 model', logger);
      safeDispose(secondStage, 'second stage', logger);
    },
  };
}

/** Disposes a model; a failing dispose is logged, never thrown (it must not hide the real outcome). */
function safeDispose(m: { dispose(): void }, what: string, logger: Logger): void {
  try {
    m.dispose();
  } catch (e) {
    logger.warn(`disposing the ${what} failed`, { error: e instanceof Error ? e.message : String(e) });
  }
}
