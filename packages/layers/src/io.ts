/**
 * Save / load of stage-1 VAEs and second stages as tfjs model artifacts (JSON topology + binary
 * weights from `tf.io.encodeWeights`), through any tfjs `IOHandler` (see {@link memoryIO}).
 * Writing files belongs to `@tsvae/stages`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedWeight, SecondStage, Stage1Model } from '@tsvae/core';
import { createSync } from '@tsvae/core';
import { MlpSecondStage } from './mlp';
import { LayersModule } from './module';
import type { PluginRef } from './types';
import { createStage1Vae, Stage1VaeModel, type VaeConfig } from './vae';

/** Topology JSON of a saved stage-1 VAE. */
export interface Stage1Topology {
  readonly format: 'tsvae-stage1';
  readonly version: 1;
  /** How to rebuild it through the registry: the `vae` plugin config. */
  readonly config: VaeConfig;
  /** tfjs-layers topology of the encoder / decoder (null for components that are not tfjs-layers models). */
  readonly layers: {
    readonly encoder: unknown;
    readonly decoder: unknown;
    readonly gamma: unknown;
  };
}

/** Topology JSON of a saved second stage. */
export interface SecondStageTopology {
  readonly format: 'tsvae-second-stage';
  readonly version: 1;
  /** The registry plugin (kind `second-stage`) and its config. */
  readonly plugin: { readonly name: string; readonly config: Readonly<Record<string, unknown>> };
  /** tfjs-layers topology of its models, when it has any. */
  readonly layers: unknown;
}

/**
 * An in-memory `IOHandler`: `save` keeps the artifacts (readable as `handler.artifacts`), `load`
 * returns them. Pass initial artifacts to load from them.
 */
export interface MemoryIOHandler extends tf.io.IOHandler {
  artifacts: tf.io.ModelArtifacts | undefined;
  save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult>;
  load(): Promise<tf.io.ModelArtifacts>;
}

/** Creates a {@link MemoryIOHandler}. */
export function memoryIO(initial?: tf.io.ModelArtifacts): MemoryIOHandler {
  const handler: MemoryIOHandler = {
    artifacts: initial,
    async save(artifacts) {
      handler.artifacts = artifacts;
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology ?? null).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: byteLength(artifacts.weightData),
        },
      };
    },
    async load() {
      if (!handler.artifacts) throw new Error('memoryIO: nothing saved yet');
      return handler.artifacts;
    },
  };
  return handler;
}

function byteLength(data: tf.io.ModelArtifacts['weightData']): number {
  if (!data) return 0;
  return Array.isArray(data) ? data.reduce((s, b) => s + b.byteLength, 0) : data.byteLength;
}

async function encode(
  weights: readonly NamedWeight[],
): Promise<{ data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] }> {
  const seen = new Set<string>();
  for (const w of weights) {
    if (seen.has(w.name)) throw new Error(`save: duplicate weight name "${w.name}"`);
    seen.add(w.name);
  }
  return tf.io.encodeWeights(weights.map((w) => ({ name: w.name, tensor: w.tensor })));
}

function decode(artifacts: tf.io.ModelArtifacts): NamedWeight[] {
  if (!artifacts.weightSpecs || !artifacts.weightData) throw new Error('load: the artifacts have no weights');
  const map = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  return Object.entries(map).map(([name, tensor]) => ({ name, tensor }));
}

function layersTopology(m: unknown): unknown {
  if (m instanceof LayersModule) {
    const t = m.topology();
    const keys = Object.keys(t);
    return keys.length === 1 && keys[0] === '' ? t[''] : t;
  }
  return null;
}

/**
 * Serialises a stage-1 VAE built by the `vae` plugin (or `createStage1Vae`) to tfjs artifacts:
 * `modelTopology` is a {@link Stage1Topology} (its plugin config + each tfjs-layers component's
 * topology JSON), the weights every named weight (`getWeights()`). Saves through `handler` when
 * given.
 */
export async function saveStage1Vae(
  vae: Stage1Model,
  handler?: tf.io.IOHandler,
): Promise<tf.io.ModelArtifacts> {
  const config = vae instanceof Stage1VaeModel ? vae.config : undefined;
  if (!config) throw new Error('saveStage1Vae: the VAE was not built by the `vae` plugin (it has no config)');
  const gammaLayer = vae instanceof Stage1VaeModel ? vae.gammaLayer : null;
  const topology: Stage1Topology = {
    format: 'tsvae-stage1',
    version: 1,
    config,
    layers: {
      encoder: layersTopology(vae.encoder),
      decoder: layersTopology(vae.decoder),
      gamma: gammaLayer ? { className: 'LearnedGamma', config: gammaLayer.getConfig() } : null,
    },
  };
  const { data, specs } = await encode(vae.getWeights());
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: topology as unknown as object,
    format: 'tsvae-stage1',
    generatedBy: '@tsvae/layers',
    weightSpecs: specs,
    weightData: data,
  };
  if (handler?.save) await handler.save(artifacts);
  return artifacts;
}

async function artifactsOf(source: tf.io.IOHandler | tf.io.ModelArtifacts): Promise<tf.io.ModelArtifacts> {
  if ('load' in source && typeof source.load === 'function') return source.load();
  return source as tf.io.ModelArtifacts;
}

/**
 * Loads a stage-1 VAE saved by {@link saveStage1Vae}: rebuilds it through the registry from the
 * stored config (the plugins must be registered) and restores every weight.
 */
export async function loadStage1Vae(source: tf.io.IOHandler | tf.io.ModelArtifacts): Promise<Stage1VaeModel> {
  const artifacts = await artifactsOf(source);
  const topo = artifacts.modelTopology as unknown as Stage1Topology | undefined;
  if (!topo || topo.format !== 'tsvae-stage1') throw new Error('loadStage1Vae: not a tsvae-stage1 artifact');
  const vae = createStage1Vae(topo.config);
  const weights = decode(artifacts);
  try {
    vae.setWeights(weights);
  } catch (e) {
    vae.dispose();
    throw e;
  } finally {
    tf.dispose(weights.map((w) => w.tensor));
  }
  return vae;
}

/**
 * Serialises a second stage: `plugin` names its registry plugin and config (the `mlp` second stage
 * supplies its own when omitted); `modelTopology` is a {@link SecondStageTopology}.
 */
export async function saveSecondStage(
  stage: SecondStage,
  handler?: tf.io.IOHandler,
  plugin?: PluginRef,
): Promise<tf.io.ModelArtifacts> {
  const ref =
    plugin ?? (stage instanceof MlpSecondStage ? { name: 'mlp', config: { ...stage.config } } : undefined);
  if (!ref)
    throw new Error('saveSecondStage: pass the plugin reference ({ name, config }) of this second stage');
  const topology: SecondStageTopology = {
    format: 'tsvae-second-stage',
    version: 1,
    plugin: { name: ref.name, config: { ...ref.config } },
    layers: layersTopology(stage),
  };
  const { data, specs } = await encode(stage.getWeights());
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: topology as unknown as object,
    format: 'tsvae-second-stage',
    generatedBy: '@tsvae/layers',
    weightSpecs: specs,
    weightData: data,
  };
  if (handler?.save) await handler.save(artifacts);
  return artifacts;
}

/** Loads a second stage saved by {@link saveSecondStage} (rebuilt through the registry). */
export async function loadSecondStage(source: tf.io.IOHandler | tf.io.ModelArtifacts): Promise<SecondStage> {
  const artifacts = await artifactsOf(source);
  const topo = artifacts.modelTopology as unknown as SecondStageTopology | undefined;
  if (!topo || topo.format !== 'tsvae-second-stage')
    throw new Error('loadSecondStage: not a tsvae-second-stage artifact');
  const stage = createSync('second-stage', topo.plugin.name, topo.plugin.config);
  const weights = decode(artifacts);
  try {
    stage.setWeights(weights);
  } catch (e) {
    stage.dispose();
    throw e;
  } finally {
    tf.dispose(weights.map((w) => w.tensor));
  }
  return stage;
}
