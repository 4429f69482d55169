/**
 * The components of a GAN run (dataset, generator, discriminator, loss) as `{ plugin, config }`
 * records, resolved and validated through the registry, and the models rebuilt from them.
 */
import {
  create,
  deriveSeed,
  getRegistry,
  type ImageShape,
  type Logger,
  type PluginKind,
  silentLogger,
} from '@tsvae/core';
import { type ComponentRecord, RunConfigError, type RunDirectory, type RunRecord } from '@tsvae/stages';
import { type GanRunConfig, parseGanRunConfig } from './config';
import type { GanDiscriminator, GanGenerator, GanLoss } from './kinds';

/** The `trainer` of GAN runs in `config.json`. */
export const GAN_TRAINER = 'gan';

/** The components of a GAN run, as recorded in `config.json`. */
export type GanRunComponents = {
  readonly dataset: ComponentRecord;
  readonly generator: ComponentRecord;
  readonly discriminator: ComponentRecord;
  readonly loss: ComponentRecord;
};

/** The `config.json` of a GAN run. */
export type GanRunRecord = RunRecord<GanRunConfig> & { readonly components: GanRunComponents };

/** Reads a GAN run's `config.json` (config parsed, components checked; errors name the file). */
export function readGanRecord(dir: RunDirectory): GanRunRecord {
  return dir.readRecordOf(GAN_TRAINER, parseGanRunConfig, [
    'dataset',
    'generator',
    'discriminator',
    'loss',
  ]) as GanRunRecord;
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
 * Resolves and validates every component of a GAN run through the registry (unknown plugins and
 * unknown or invalid config keys throw errors naming the plugin and the field); creates nothing.
 * The run fixes the generator's `zDim` and both networks' `imageShape` (passed to plugins that
 * declare them).
 */
export function resolveGanComponents(config: GanRunConfig, imageShape: ImageShape): GanRunComponents {
  const shape = { imageShape: [...imageShape] };
  const g = config.generator.name;
  const d = config.discriminator.name;
  return {
    dataset: record('dataset', config.dataset.name, { ...config.dataset.config }),
    generator: record('gan-generator', g, {
      ...config.generator.config,
      ...declared('gan-generator', g, { zDim: config.zDim, ...shape }),
    }),
    discriminator: record('gan-discriminator', d, {
      ...config.discriminator.config,
      ...declared('gan-discriminator', d, shape),
    }),
    loss: record('gan-loss', config.loss.name, { ...config.loss.config }),
  };
}

/** The networks and the objective of a GAN run. */
export interface GanModels {
  readonly generator: GanGenerator;
  readonly discriminator: GanDiscriminator;
  readonly loss: GanLoss;
  dispose(): void;
}

/**
 * Creates the generator, the discriminator and the loss from their records (initial weights seeded
 * with `deriveSeed(seed, 'generator-init')` and `deriveSeed(seed, 'discriminator-init')`) and checks
 * that they fit together: the generator's `zDim`, the discriminator's output kind (logits for every
 * loss but BEGAN, an autoencoder for BEGAN) and, when `imageShape` is given, the generator's output
 * and the discriminator's input shapes. A mismatch is a `RunConfigError` naming the field.
 */
export async function createGanModels(
  components: Pick<GanRunComponents, 'generator' | 'discriminator' | 'loss'>,
  expected: { readonly seed: number; readonly zDim: number; readonly imageShape?: ImageShape },
  logger: Logger = silentLogger,
): Promise<GanModels> {
  const made: { dispose(): void }[] = [];
  try {
    const generator = await create(
      'gan-generator',
      components.generator.plugin,
      components.generator.config,
      {
        context: { logger, seed: deriveSeed(expected.seed, 'generator-init') },
      },
    );
    made.push(generator);
    const discriminator = await create(
      'gan-discriminator',
      components.discriminator.plugin,
      components.discriminator.config,
      { context: { logger, seed: deriveSeed(expected.seed, 'discriminator-init') } },
    );
    made.push(discriminator);
    const loss = await create('gan-loss', components.loss.plugin, components.loss.config, {
      context: { logger, seed: deriveSeed(expected.seed, 'loss-init') },
    });
    made.push(loss);
    const shape = expected.imageShape;
    const same = (a: readonly number[]) =>
      shape === undefined || (a.length === shape.length && a.every((v, i) => v === shape[i]));
    const issues = [
      ...(generator.zDim === expected.zDim
        ? []
        : [
            {
              field: 'generator',
              message: `the generator takes zDim ${generator.zDim}, the run has ${expected.zDim}`,
            },
          ]),
      ...(same(generator.outputShape)
        ? []
        : [
            {
              field: 'generator',
              message: `the generator makes [${generator.outputShape}], the data is [${shape}]`,
            },
          ]),
      ...(same(discriminator.inputShape)
        ? []
        : [
            {
              field: 'discriminator',
              message: `the discriminator takes [${discriminator.inputShape}], the data is [${shape}]`,
            },
          ]),
      ...(discriminator.output === loss.discriminatorOutput
        ? []
        : [
            {
              field: 'discriminator',
              message: `the ${loss.name} loss needs a discriminator of output "${loss.discriminatorOutput}" (${
                loss.discriminatorOutput === 'autoencoder' ? 'e.g. infogan-autoencoder' : 'e.g. infogan'
              }); "${components.discriminator.plugin}" gives "${discriminator.output}"`,
            },
          ]),
    ];
    if (issues.length) throw new RunConfigError(issues);
    return {
      generator,
      discriminator,
      loss,
      dispose: () => {
        for (const m of made) safeDispose(m, logger);
      },
    };
  } catch (e) {
    for (const m of made) safeDispose(m, logger);
    throw e;
  }
}

/** Disposes a model; a failing dispose is logged, never thrown (it must not hide the real outcome). */
function safeDispose(m: { dispose(): void }, logger: Logger): void {
  try {
    m.dispose();
  } catch (e) {
    logger.warn('disposing a model failed', { error: e instanceof Error ? e.message : String(e) });
  }
}
