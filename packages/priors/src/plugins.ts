/** Registration of the second-stage plugins of this package in the process-wide registry. */
import { getRegistry, type PluginDefinition } from '@tsvae/core';
import { flowSecondStagePlugin } from './flow';
import { gmmSecondStagePlugin } from './gmm';

/** Every plugin of this package: the `gmm` and `flow` second stages. */
export const priorsPlugins: readonly PluginDefinition[] = [
  gmmSecondStagePlugin,
  flowSecondStagePlugin,
] as unknown as readonly PluginDefinition[];

/**
 * Registers {@link priorsPlugins} in the process-wide registry. Idempotent (a plugin already
 * registered under the same kind and name is skipped). Runs on import of `@tsvae/priors`.
 */
export function registerPriorsPlugins(): void {
  const registry = getRegistry();
  for (const p of priorsPlugins) if (!registry.has(p.kind, p.name)) registry.register(p);
}

/** The plugins under the name `tsvae --plugins @tsvae/priors` loads. */
export const plugins: readonly PluginDefinition[] = priorsPlugins;
