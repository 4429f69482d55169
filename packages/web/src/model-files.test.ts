import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { LayersModule } from '@tsvae/layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeLayersModel, type ModelFiles, modelArtifactsFromFiles } from './model-files';
import { smallModels } from './test-helpers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Serves encoded files over a fake `fetch`, as a static server would. */
function serve(files: ModelFiles): typeof fetch {
  const byName = new Map<string, Uint8Array>([
    [files.modelJsonName, new TextEncoder().encode(JSON.stringify(files.modelJson))],
    ...files.shards.map((s) => [s.name, s.data] as const),
  ]);
  return (async (input: string | URL) => {
    const name = String(input).split('/').pop() as string;
    const bytes = byName.get(name);
    return bytes ? new Response(bytes.slice()) : new Response('missing', { status: 404 });
  }) as typeof fetch;
}

const layersModel = (m: unknown): LayersModel => (m as LayersModule).models.get('') as LayersModel;

describe('encodeLayersModel', () => {
  it('writes a model.json + shards that tf.loadLayersModel loads over HTTP, custom layers by class name', async () => {
    const { decoder, secondStage } = await smallModels();
    const model = layersModel(decoder);
    const files = await encodeLayersModel(model, 'stage1-decoder', { shardBytes: 1000 });
    const total = files.shards.reduce((s, x) => s + x.data.byteLength, 0);
    expect(files.shards.length).toBe(Math.ceil(total / 1000));
    expect(files.shards.map((s) => s.name)).toEqual(
      files.shards.map((_, i) => `stage1-decoder.group1-shard${i + 1}of${files.shards.length}.bin`),
    );
    expect(files.modelJson.weightsManifest[0]?.paths).toEqual(files.shards.map((s) => s.name));
    expect(JSON.stringify(files.modelJson.modelTopology)).toContain('"class_name":"TsvaeBatchNorm"');

    const loaded = await loadLayersModel(
      tf.io.http(`http://host/exports/run/${files.modelJsonName}`, { fetchFunc: serve(files) }),
    );
    const z = tf.randomNormal([3, 4], 0, 1, 'float32', 9);
    const a = model.predict(z) as tf.Tensor;
    const b = loaded.predict(z) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    // every weight, BatchNorm moving statistics included, by the stable names
    const original = new LayersModule({ '': model }).getWeights();
    const back = new LayersModule({ '': loaded }).getWeights();
    expect(back.map((w) => w.name)).toEqual(original.map((w) => w.name));
    for (const [i, w] of original.entries()) {
      expect(Array.from(back[i]?.tensor.dataSync() ?? [])).toEqual(Array.from(w.tensor.dataSync()));
    }
    tf.dispose([z, a, b]);
    loaded.dispose();

    // the mlp decoder's LearnedGamma too
    const mlp = (secondStage as unknown as LayersModule).models.get('decoder/') as LayersModel;
    const mlpFiles = await encodeLayersModel(mlp, 'stage2-decoder');
    expect(mlpFiles.shards).toHaveLength(1);
    expect(JSON.stringify(mlpFiles.modelJson.modelTopology)).toContain('"class_name":"LearnedGamma"');
    const viaMemory = await loadLayersModel(
      tf.io.fromMemory(
        await modelArtifactsFromFiles(
          mlpFiles.modelJson,
          async (p) => mlpFiles.shards.find((s) => s.name === p)?.data as Uint8Array,
        ),
      ),
    );
    const u = tf.randomNormal([2, 4], 0, 1, 'float32', 3);
    const [c] = mlp.predict(u) as tf.Tensor[];
    const [d] = viaMemory.predict(u) as tf.Tensor[];
    expect(Array.from(d?.dataSync() ?? [])).toEqual(Array.from(c?.dataSync() ?? []));
    tf.dispose([u, c as tf.Tensor, d as tf.Tensor]);
    viaMemory.dispose();
    decoder.dispose();
    secondStage.dispose();
  });

  it('rejects a shard size that is not a positive integer', async () => {
    const { decoder, secondStage } = await smallModels();
    await expect(encodeLayersModel(layersModel(decoder), 'x', { shardBytes: 0 })).rejects.toThrow(
      /shardBytes/,
    );
    decoder.dispose();
    secondStage.dispose();
  });
});
