/** Registration of the built-in network plugins in the process-wide registry. */
import { getRegistry, type PluginDefinition } from '@tsvae/core';
import { registerCustomLayers } from './custom-layers';
import { denseDecoderPlugin, denseEncoderPlugin } from './dense';
import { infoganDecoderPlugin, infoganEncoderPlugin } from './infogan';
import { mlpSecondStagePlugin } from './mlp';
import { resnetDecoderPlugin, resnetEncoderPlugin } from './resnet';
import { vaeStage1Plugin } from './vae';
import { waeDecoderPlugin, waeEncoderPlugin } from './wae';

/**
 * Every plugin of this package: `infogan`, `wae`, `resnet`, `dense` encoders and decoders, the `vae` stage-1
 * model, the `mlp` second stage.
 */
export const layersPlugins: readonly PluginDefinition[] = [
  infoganEncoderPlugin,
  infoganDecoderPlugin,
  waeEncoderPlugin,
  waeDecoderPlugin,
  resnetEncoderPlugin,
  resnetDecoderPlugin,
  denseEncoderPlugin,
  denseDecoderPlugin,
  vaeStage1Plugin,
  mlpSecondStagePlugin,
] as unknown as readonly PluginDefinition[];

/**
 * Registers {@link layersPlugins} (and the custom tfjs layers) in the process-wide registry.
 * Idempotent: a plugin already registered under the same kind and name is skipped. Runs on import
 * of `@tsvae/layers`.
 */
export function registerLayersPlugins(): void {
  registerCustomLayers();
  const registry = getRegistry();
  for (const p of layersPlugins) {
    if (!registry.has(p.kind, p.name)) registry.register(p);
  }
}
