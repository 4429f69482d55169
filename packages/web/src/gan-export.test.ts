import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import { sampleGan, sampleGanCodes } from '@tsvae/baselines/browser';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadExport, memoryReader } from './load';
import { ExportFormatError, parseExportManifest } from './manifest';
import { modelArtifactsFromFiles } from './model-files';
import { smallExport, smallGanExport, smallGanInput, smallGenerator } from './test-helpers';
import { buildGanExport, checkExport } from './write';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());
const json = (bytes: Uint8Array | undefined): Record<string, unknown> =>
  JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;

describe('a GAN export round trip (build in memory, load as a page does)', () => {
  it('writes the generator, its prior and a gan reference grid; the reload samples what the generator samples', async () => {
    for (const prior of ['uniform', 'normal'] as const) {
      const ex = await smallGanExport(prior);
      const m = ex.manifest;
      expect(m.version).toBe(2);
      expect(m.modes).toEqual(['gan']);
      expect([m.stage1, m.secondStage, m.gamma, m.gammaZ]).toEqual([null, null, null, null]);
      expect(m.latentDim).toBe(3);
      expect(m.generator).toMatchObject({
        plugin: 'infogan',
        prior,
        models: [{ prefix: '', path: 'gan-generator.json' }],
      });
      expect(m.references).toEqual([
        expect.objectContaining({
          mode: 'gan',
          seed: 0,
          count: 6,
          shape: [6, 8, 8, 1],
          values: 'gan-seed0.f32',
        }),
      ]);
      expect(Object.keys(m.files).sort()).toEqual(
        [...ex.files.keys()].filter((f) => f !== 'manifest.json').sort(),
      );

      const before = tf.memory().numTensors;
      const loaded = await loadExport(memoryReader(ex.files));
      expect(loaded.verified).toBe('sha256');
      expect(loaded.generator?.zDim).toBe(3);
      expect(loaded.secondStage).toBeNull();
      for (const seed of [0, 1, 12345]) {
        for (const batchSize of [256, 2]) {
          const a = loaded.sample('gan', 5, { seed, batchSize });
          const b = sampleGan(ex.generator, 5, { seed, batchSize, prior });
          expect(values(a)).toEqual(values(b));
          // the codes behind the grid, decoded, are the grid
          const z = loaded.latents('gan', 5, { seed, batchSize });
          const codes = sampleGanCodes(3, 5, { seed, batchSize, prior });
          expect(values(z)).toEqual(values(codes));
          const x = loaded.decode(z);
          expect(values(x)).toEqual(values(a));
          tf.dispose([a, b, z, codes, x]);
        }
      }
      const ref = m.references[0] as (typeof m.references)[number];
      const x = sampleGan(ex.generator, ref.count, { seed: ref.seed, prior });
      expect(Array.from(await loaded.referenceValues(ref))).toEqual(values(x));
      x.dispose();
      expect(await checkExport(ex.files)).toEqual([{ mode: 'gan', seed: 0, maxAbsDiff: 0 }]);
      expect(() => loaded.sample('two-stage', 2)).toThrow(/this export has gan sampling only, not two-stage/);
      loaded.dispose();
      expect(tf.memory().numTensors).toBe(before);
      ex.dispose();
    }
  });

  it('the prior matters: a uniform and a normal export of one generator draw different images', async () => {
    const g = await smallGenerator();
    const u = await loadExport(memoryReader((await buildGanExport(smallGanInput(g, 'uniform'))).files));
    const n = await loadExport(memoryReader((await buildGanExport(smallGanInput(g, 'normal'))).files));
    const [a, b] = [u.sample('gan', 4, { seed: 3 }), n.sample('gan', 4, { seed: 3 })];
    expect(values(a)).not.toEqual(values(b));
    tf.dispose([a, b]);
    u.dispose();
    n.dispose();
    g.dispose();
  });

  it('interpolates between two grid samples: the ends are those samples', async () => {
    const ex = await smallGanExport();
    const loaded = await loadExport(memoryReader(ex.files));
    const grid = values(loaded.sample('gan', 6, { seed: 4 }));
    for (const method of ['linear', 'slerp'] as const) {
      const path = loaded.interpolate('gan', 6, { from: 1, to: 4, steps: 5, method }, { seed: 4 });
      expect(path.shape).toEqual([5, 8, 8, 1]);
      const p = values(path);
      const size = 64;
      const diff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number))));
      expect(diff(p.slice(0, size), grid.slice(size, 2 * size))).toBeLessThan(1e-5);
      expect(diff(p.slice(4 * size), grid.slice(4 * size, 5 * size))).toBeLessThan(1e-5);
      expect(diff(p.slice(2 * size, 3 * size), grid.slice(size, 2 * size))).toBeGreaterThan(0);
      path.dispose();
    }
    expect(() => loaded.interpolate('gan', 6, { from: 0, to: 6, steps: 3 })).toThrow(/to 6/);
    loaded.dispose();
    ex.dispose();
  });

  it('the generator files load with plain tf.loadLayersModel (custom layers by their class names) and compute G(z)', async () => {
    const ex = await smallGanExport();
    const modelJson = json(ex.files.get('gan-generator.json')) as unknown as tf.io.ModelJSON;
    expect(JSON.stringify(modelJson.modelTopology)).toContain('TsvaeBatchNorm');
    const artifacts = await modelArtifactsFromFiles(modelJson, async (p) => ex.files.get(p) as Uint8Array);
    const model = await loadLayersModel(tf.io.fromMemory(artifacts));
    const z = sampleGanCodes(3, 4, { seed: 8 });
    const a = model.predict(z) as tf.Tensor;
    const b = ex.generator.forward(z, { training: false });
    expect(values(a)).toEqual(values(b));
    tf.dispose([z, a, b]);
    model.dispose();
    ex.dispose();
  });

  it('refuses a generator that is not a tfjs-layers model, naming its plugin', async () => {
    const g = await smallGenerator();
    const fake = { zDim: g.zDim, outputShape: g.outputShape, forward: g.forward.bind(g) };
    await expect(
      buildGanExport(
        smallGanInput(g, 'uniform', {
          generator: { plugin: 'mlp', config: {}, module: fake as unknown as typeof g, prior: 'normal' },
        }),
      ),
    ).rejects.toThrow(/cannot export the generator \(plugin "mlp"\): it is not a tfjs-layers model/);
    g.dispose();
  });
});

describe('the manifest of a GAN export', () => {
  const edited = async (f: (m: Record<string, unknown>) => void) => {
    const ex = await smallGanExport();
    const m = json(ex.files.get('manifest.json'));
    f(m);
    ex.dispose();
    return m;
  };

  it('must be consistent: gan alone, a generator, no stage 1, format version 2', async () => {
    const cases: [(m: Record<string, unknown>) => void, RegExp][] = [
      [
        (m) => {
          m.modes = ['gan', 'one-stage'];
        },
        /field modes: a GAN export has the mode gan only/,
      ],
      [
        (m) => {
          m.generator = null;
        },
        /field generator: missing, but modes lists gan/,
      ],
      [
        (m) => {
          m.stage1 = { decoder: m.generator };
        },
        /field stage1: must be null in a GAN export/,
      ],
      [
        (m) => {
          m.version = 1;
        },
        /field modes: the mode gan needs format version 2/,
      ],
      [
        (m) => {
          (m.generator as Record<string, unknown>).prior = 'cauchy';
        },
        /field generator.prior/,
      ],
      [
        (m) => {
          const refs = m.references as Record<string, unknown>[];
          refs[0] = { ...refs[0], mode: 'two-stage' };
        },
        /field references.0.mode: two-stage is not a mode of this export/,
      ],
    ];
    for (const [edit, message] of cases) {
      const m = await edited(edit);
      expect(() => parseExportManifest(m)).toThrow(ExportFormatError);
      expect(() => parseExportManifest(m)).toThrow(message);
    }
    expect(parseExportManifest(await edited(() => {})).modes).toEqual(['gan']);
  });

  it('a VAE export must not carry a generator; a version-1 VAE manifest (no generator field) still loads', async () => {
    const ex = await smallExport();
    const m = json(ex.files.get('manifest.json'));
    expect(m.version).toBe(2);
    expect(m.generator).toBeNull();
    expect(() =>
      parseExportManifest({
        ...m,
        generator: {
          plugin: 'infogan',
          config: {},
          models: [{ prefix: '', path: 'g.json' }],
          prior: 'uniform',
        },
      }),
    ).toThrow(/field generator: must be null in a VAE export/);
    expect(() => parseExportManifest({ ...m, stage1: null })).toThrow(/field stage1: missing/);
    const { generator: _g, ...rest } = m;
    const v1 = { ...rest, version: 1 };
    const files = new Map([...ex.files, ['manifest.json', new TextEncoder().encode(JSON.stringify(v1))]]);
    const loaded = await loadExport(memoryReader(files));
    expect([loaded.manifest.version, loaded.manifest.generator, loaded.generator]).toEqual([1, null, null]);
    const a = loaded.sample('two-stage', 3, { seed: 1 });
    expect(a.shape).toEqual([3, 8, 8, 1]);
    a.dispose();
    loaded.dispose();
    ex.dispose();
  });

  it('a latentDim that does not fit the generator is an error naming the field', async () => {
    const ex = await smallGanExport();
    const m = json(ex.files.get('manifest.json'));
    m.latentDim = 5;
    const files = new Map([...ex.files, ['manifest.json', new TextEncoder().encode(JSON.stringify(m))]]);
    await expect(loadExport(memoryReader(files))).rejects.toThrow(
      /manifest.json: field latentDim: 5, but the generator takes codes of 3/,
    );
    ex.dispose();
  });

  it('a damaged generator shard is an error naming it', async () => {
    const ex = await smallGanExport();
    const shard = [...ex.files.keys()].find(
      (f) => f.startsWith('gan-generator') && f.endsWith('.bin'),
    ) as string;
    const bytes = (ex.files.get(shard) as Uint8Array).slice();
    bytes[5] = (bytes[5] as number) ^ 1;
    await expect(loadExport(memoryReader(new Map([...ex.files, [shard, bytes]])))).rejects.toThrow(
      new RegExp(`${shard}: sha256 .* damaged copy`),
    );
    ex.dispose();
  });
});
