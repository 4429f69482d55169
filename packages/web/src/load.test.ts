import * as tf from '@tensorflow/tfjs-core';
import { decoderMean, sampleOneStage, sampleTwoStage } from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff } from './compare';
import { ExportLoadError, folderReader, loadExport, memoryReader, urlReader } from './load';
import { ExportFormatError } from './manifest';
import { smallExport, smallInput, smallModels } from './test-helpers';
import { buildExport, checkExport } from './write';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('an export round trip (build in memory, load as a page does)', () => {
  it('samples exactly what the trained models sample, for every seed and mode', async () => {
    const models = await smallModels();
    const { files, manifest } = await buildExport(smallInput(models));
    expect(manifest.modes).toEqual(['two-stage', 'one-stage']);
    expect(Object.keys(manifest.files).sort()).toEqual(
      [...files.keys()].filter((f) => f !== 'manifest.json').sort(),
    );
    const before = tf.memory().numTensors;
    const loaded = await loadExport(memoryReader(files));
    expect(loaded.verified).toBe('sha256');
    const sampler = decoderMean(models.decoder);
    for (const seed of [0, 1, 12345]) {
      for (const batchSize of [256, 2]) {
        const a = loaded.sample('two-stage', 5, { seed, batchSize });
        const b = sampleTwoStage(sampler, models.secondStage, 5, { seed, batchSize });
        expect(values(a)).toEqual(values(b));
        const c = loaded.sample('one-stage', 5, { seed, batchSize });
        const d = sampleOneStage(sampler, 5, { seed, batchSize });
        expect(values(c)).toEqual(values(d));
        tf.dispose([a, b, c, d]);
      }
    }
    // the stored references are what the models drew
    for (const ref of loaded.manifest.references) {
      const x = loaded.sample(ref.mode, ref.count, { seed: ref.seed });
      expect(Array.from(await loaded.referenceValues(ref))).toEqual(values(x));
      x.dispose();
    }
    expect(await checkExport(files)).toEqual([
      { mode: 'two-stage', seed: 0, maxAbsDiff: 0 },
      { mode: 'one-stage', seed: 0, maxAbsDiff: 0 },
    ]);
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
    models.decoder.dispose();
    models.secondStage.dispose();
  });

  it('interpolates between two grid samples: the ends are those samples', async () => {
    const ex = await smallExport();
    const loaded = await loadExport(memoryReader(ex.files));
    for (const mode of ['two-stage', 'one-stage'] as const) {
      const grid = loaded.sample(mode, 6, { seed: 4 });
      const path = loaded.interpolate(mode, 6, { from: 1, to: 4, steps: 5 }, { seed: 4 });
      expect(path.shape).toEqual([5, 8, 8, 1]);
      const g = grid.arraySync();
      const p = path.arraySync();
      for (const [k, i] of [
        [0, 1],
        [4, 4],
      ] as const) {
        const diff = Math.max(
          ...(p[k]?.flat(2) ?? []).map((v, j) => Math.abs(v - ((g[i]?.flat(2) ?? [])[j] ?? Number.NaN))),
        );
        expect(diff).toBeLessThan(1e-5);
      }
      expect(() => loaded.interpolate(mode, 6, { from: 0, to: 6, steps: 3 })).toThrow(/to 6/);
      tf.dispose([grid, path]);
    }
    loaded.dispose();
    ex.dispose();
  });

  it('exports one-stage only without a second stage, and says so when asked for two-stage', async () => {
    const models = await smallModels();
    const { files, manifest } = await buildExport(
      smallInput({ decoder: models.decoder, secondStage: null }, { notes: ['stage 2 is not finished'] }),
    );
    expect(manifest.modes).toEqual(['one-stage']);
    expect(manifest.secondStage).toBeNull();
    expect(manifest.references.map((r) => r.mode)).toEqual(['one-stage']);
    const loaded = await loadExport(memoryReader(files));
    expect(loaded.secondStage).toBeNull();
    expect(() => loaded.sample('two-stage', 2)).toThrow(/one-stage sampling only.*stage 2 is not finished/);
    loaded.dispose();
    models.decoder.dispose();
    models.secondStage.dispose();
  });

  it('refuses a component that is not a tfjs-layers model, naming it', async () => {
    const models = await smallModels();
    const fake = { ...models.decoder } as unknown as typeof models.decoder;
    await expect(buildExport(smallInput({ decoder: fake, secondStage: null }))).rejects.toThrow(
      /stage-1 decoder \(plugin "infogan"\): it is not a tfjs-layers model/,
    );
    models.decoder.dispose();
    models.secondStage.dispose();
  });
});

describe('damaged or foreign exports', () => {
  it('a changed byte, a short file and a missing file are errors naming the file', async () => {
    const ex = await smallExport();
    const shard = [...ex.files.keys()].find(
      (f) => f.startsWith('stage2-decoder') && f.endsWith('.bin'),
    ) as string;
    const flipped = new Map(ex.files);
    const bytes = (ex.files.get(shard) as Uint8Array).slice();
    bytes[3] = (bytes[3] as number) ^ 1;
    flipped.set(shard, bytes);
    await expect(loadExport(memoryReader(flipped))).rejects.toThrow(
      new RegExp(`${shard}: sha256 .* damaged copy`),
    );

    const short = new Map(ex.files);
    short.set(shard, bytes.subarray(1));
    await expect(loadExport(memoryReader(short))).rejects.toThrow(/bytes, manifest.json says/);

    const missing = new Map(ex.files);
    missing.delete('stage1-decoder.json');
    await expect(loadExport(memoryReader(missing))).rejects.toThrow(/stage1-decoder.json: no such file/);

    // without verification the flipped byte goes through (it only changes a weight)
    const unverified = await loadExport(memoryReader(flipped), { verify: false });
    expect(unverified.verified).toBe('none');
    unverified.dispose();
    ex.dispose();
  });

  it('weights that do not fit the recorded plugin config are an error naming the plugin', async () => {
    const ex = await smallExport();
    const manifest = JSON.parse(new TextDecoder().decode(ex.files.get('manifest.json')));
    manifest.stage1.decoder.config.fcDim = 32;
    const files = new Map(ex.files);
    files.set('manifest.json', new TextEncoder().encode(JSON.stringify(manifest)));
    await expect(loadExport(memoryReader(files))).rejects.toThrow(
      /stage1-decoder.json: the weights do not fit the decoder plugin "infogan": .*shape/,
    );
    ex.dispose();
  });

  it('a manifest of another format or version, or with a bad field, is an ExportFormatError', async () => {
    const ex = await smallExport();
    const edit = (f: (m: Record<string, unknown>) => void) => {
      const m = JSON.parse(new TextDecoder().decode(ex.files.get('manifest.json')));
      f(m);
      return memoryReader(
        new Map([...ex.files, ['manifest.json', new TextEncoder().encode(JSON.stringify(m))]]),
      );
    };
    await expect(
      loadExport(
        edit((m) => {
          m.format = 'other';
        }),
      ),
    ).rejects.toThrow(ExportFormatError);
    await expect(
      loadExport(
        edit((m) => {
          m.version = 3;
        }),
      ),
    ).rejects.toThrow(/version 3; this @tsvae\/web reads versions 1 and 2 \(update @tsvae\/web to read it\)/);
    await expect(
      loadExport(
        edit((m) => {
          m.version = 0;
        }),
      ),
    ).rejects.toThrow(/version 0; this @tsvae\/web reads versions 1 and 2 \(export the run again\)/);
    await expect(
      loadExport(
        edit((m) => {
          const refs = m.references as { png: string }[];
          refs[0] = { ...(refs[0] as { png: string }), png: '../x.png' };
        }),
      ),
    ).rejects.toThrow(/field references.0.png/);
    await expect(
      loadExport(memoryReader(new Map([['manifest.json', new Uint8Array([123])]]))),
    ).rejects.toThrow(/manifest.json: not JSON/);
    ex.dispose();
  });
});

describe('readers', () => {
  it('folderReader finds the export folder inside a dropped tree', async () => {
    const ex = await smallExport();
    const dropped = [...ex.files].map(([name, bytes]) => ({
      path: `exports/my-run/${name}`,
      arrayBuffer: async () => bytes.slice().buffer as ArrayBuffer,
    }));
    dropped.push({ path: 'exports/notes.txt', arrayBuffer: async () => new ArrayBuffer(1) });
    const loaded = await loadExport(folderReader(dropped));
    expect(loaded.manifest.run.id).toBe('test-run');
    loaded.dispose();
    expect(() => folderReader([{ path: 'a/b.txt', arrayBuffer: async () => new ArrayBuffer(0) }])).toThrow(
      /no manifest.json/,
    );
    ex.dispose();
  });

  it('urlReader resolves files against the folder URL and names the URL of a failed request', async () => {
    const asked: string[] = [];
    const fetchFn = (async (url: string) => {
      asked.push(url);
      return url.endsWith('/ok.bin')
        ? new Response(new Uint8Array([1, 2]))
        : new Response('no', { status: 404, statusText: 'Not Found' });
    }) as unknown as typeof fetch;
    const read = urlReader('http://host/exports/run', fetchFn);
    expect(Array.from(await read('ok.bin'))).toEqual([1, 2]);
    await expect(read('gone.json')).rejects.toThrow(ExportLoadError);
    await expect(read('gone.json')).rejects.toThrow('http://host/exports/run/gone.json: HTTP 404 Not Found');
    expect(asked[0]).toBe('http://host/exports/run/ok.bin');
  });
});

describe('maxAbsDiff', () => {
  it('is the largest absolute difference; NaN and a length mismatch never pass', () => {
    expect(maxAbsDiff([1, 2, 3], [1, 2.5, 2])).toBe(1);
    expect(maxAbsDiff([], [])).toBe(0);
    expect(maxAbsDiff([0, Number.NaN], [0, 0])).toBe(Number.POSITIVE_INFINITY);
    expect(maxAbsDiff([0], [0, 0])).toBe(Number.POSITIVE_INFINITY);
  });
});
