/** Registration of this package's plugin kinds and plugins in the process-wide registry. */
import { registerHigherOrderGradients } from '@tsvae/backend';
import { getRegistry, type PluginDefinition } from '@tsvae/core';
import { registerGanKinds } from './kinds';
import { ganRunGenerator } from './load-gan';
import { lossPlugins } from './losses';
import { infoganAutoencoderPlugin, infoganDiscriminatorPlugin, infoganGeneratorPlugin } from './networks';
import { vaeFlowStage1Plugin, waeMmdStage1Plugin } from './vae-baselines';

/**
 * Every plugin of this package: the `infogan` generator, the `infogan` and `infogan-autoencoder`
 * discriminators, the seven `gan-loss` plugins, the `gan-run` generator and the `wae-mmd` and
 * `vae-flow` stage-1 models.
 */
export const baselinesPlugins: readonly PluginDefinition[] = [
  infoganGeneratorPlugin,
  infoganDiscriminatorPlugin,
  infoganAutoencoderPlugin,
  ...lossPlugins,
  ganRunGenerator,
  waeMmdStage1Plugin,
  vaeFlowStage1Plugin,
] as unknown as readonly PluginDefinition[];

/**
 * Registers the `gan-generator`, `gan-discriminator` and `gan-loss` kinds, {@link baselinesPlugins}
 * and `@tsvae/backend`'s higher-order gradients (for the gradient penalties). Idempotent. Runs on
 * import of `@tsvae/baselines`.
 */
export function registerBaselinesPlugins(): void {
  registerGanKinds();
  registerHigherOrderGradients();
  const registry = getRegistry();
  for (const p of baselinesPlugins) if (!registry.has(p.kind, p.name)) registry.register(p);
}
