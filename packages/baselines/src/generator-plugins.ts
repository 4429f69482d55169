/**
 * The GAN generators on their own: the `gan-generator` kind and the `infogan` generator plugin,
 * registered without the rest of the package (no trainers, no run directories, no
 * `@tsvae/stages` / `@tsvae/backend`), so a page can rebuild an exported generator.
 */
import { getRegistry, type PluginDefinition } from '@tsvae/core';
import { registerGanKinds } from './kinds';
import { infoganGeneratorPlugin } from './networks';

/** The generator plugins a browser export can rebuild: compare_gan's `infogan` generator. */
export const ganGeneratorPlugins: readonly PluginDefinition[] = [
  infoganGeneratorPlugin,
] as unknown as readonly PluginDefinition[];

/**
 * Registers the `gan-generator`, `gan-discriminator` and `gan-loss` kinds and
 * {@link ganGeneratorPlugins} (idempotent; `registerBaselinesPlugins` registers them too).
 * `@tsvae/web`'s `loadExport` calls it.
 */
export function registerGanGeneratorPlugins(): void {
  registerGanKinds();
  const registry = getRegistry();
  for (const p of ganGeneratorPlugins) if (!registry.has(p.kind, p.name)) registry.register(p);
}
