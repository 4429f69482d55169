/**
 * tfjs-layers models as files in the tfjs model format: a `model.json` (topology + weights
 * manifest) and weight shards beside it, as `tfjs-converter` writes them and `tf.loadLayersModel`
 * reads them. Bytes only: writing them to disk is the caller's (the CLI's) job.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Default shard size: 4 MiB, tfjs-converter's. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** A model in the tfjs model format, as named files. */
export interface ModelFiles {
  /** `<name>.json`: the model.json. */
  readonly modelJsonName: string;
  /** The model.json content. */
  readonly modelJson: tf.io.ModelJSON;
  /** Weight shards, in order: `<name>.group1-shard<i>of<n>.bin`. */
  readonly shards: readonly { readonly name: string; readonly data: Uint8Array }[];
}

function concatenate(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.concatenateArrayBuffers(Array.isArray(data) ? data : [data]));
}

/**
 * Encodes a tfjs-layers model as `<name>.json` plus weight shards of at most `shardBytes` bytes
 * (custom layers serialise by their registered class names). `generatedBy` is recorded in the
 * model.json's `convertedBy`.
 */
export async function encodeLayersModel(
  model: LayersModel,
  name: string,
  options: { readonly shardBytes?: number; readonly generatedBy?: string } = {},
): Promise<ModelFiles> {
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isInteger(shardBytes) || shardBytes < 1) {
    throw new Error(`encodeLayersModel: shardBytes must be a positive integer, got ${shardBytes}`);
  }
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!saved?.modelTopology) throw new Error(`encodeLayersModel: ${name}: the model saved no topology`);
  const bytes = concatenate(saved.weightData);
  const count = Math.max(1, Math.ceil(bytes.byteLength / shardBytes));
  const shards = Array.from({ length: count }, (_, i) => ({
    name: `${name}.group1-shard${i + 1}of${count}.bin`,
    data: bytes.slice(i * shardBytes, Math.min(bytes.byteLength, (i + 1) * shardBytes)),
  }));
  const modelJson: tf.io.ModelJSON = {
    modelTopology: saved.modelTopology as object,
    format: saved.format ?? 'layers-model',
    generatedBy: saved.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_core}`,
    convertedBy: options.generatedBy ?? null,
    weightsManifest: [{ paths: shards.map((s) => s.name), weights: saved.weightSpecs ?? [] }],
  };
  return { modelJsonName: `${name}.json`, modelJson, shards };
}

/**
 * The model artifacts of a model.json whose shards `read` returns (paths relative to the
 * model.json, as `tf.loadLayersModel` resolves them): load them with
 * `tf.loadLayersModel(tf.io.fromMemory(artifacts))`.
 */
export async function modelArtifactsFromFiles(
  modelJson: tf.io.ModelJSON,
  read: (path: string) => Promise<Uint8Array>,
): Promise<tf.io.ModelArtifacts> {
  return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const path of group.paths) {
        const bytes = await read(path);
        buffers.push(
          bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        );
      }
    }
    return [specs, tf.io.concatenateArrayBuffers(buffers)];
  });
}
