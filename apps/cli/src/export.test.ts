import '@tensorflow/tfjs-backend-cpu';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import { loadGanRun, sampleGanCodes, trainGan } from '@tsvae/baselines';
import { registerToyPlugins, smallGanRunConfig, toyGanRunConfig } from '@tsvae/baselines/testing';
import { hashFileSync } from '@tsvae/core/node';
import { listCheckpoints, loadRun, sampleOneStage, sampleTwoStage } from '@tsvae/stages';
import { registerTinyPlugins } from '@tsvae/stages/testing';
import { type ExportManifest, loadExport, modelArtifactsFromFiles } from '@tsvae/web';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from './index';
import { captureIO, SMALL_NETWORKS } from './testing';

const root = mkdtempSync(join(tmpdir(), 'tsvae-export-'));
const runDir = join(root, 'small-run');

const readManifest = (dir: string): ExportManifest =>
  JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ExportManifest;

/** An export folder read from disk, as a page reads a dropped folder. */
const diskReader = (dir: string) => async (path: string) => new Uint8Array(readFileSync(join(dir, path)));

const f32 = (file: string): number[] => {
  const b = readFileSync(file);
  return Array.from(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4));
};

beforeAll(async () => {
  registerTinyPlugins();
  await tf.setBackend('cpu');
  const t = captureIO();
  const code = await main(['train', '--dataset', 'tiny-manifold', ...SMALL_NETWORKS, '--run-dir', runDir], t);
  if (code !== 0) throw new Error(`training failed: ${t.stderr.text}`);
}, 120_000);

describe('tsvae export', () => {
  it('writes the models in the tfjs format, references that `tsvae sample` and a reload reproduce, and a manifest with every sha256', async () => {
    const out = join(root, 'export');
    const t = captureIO();
    expect(await main(['export', runDir, '--out', out, '--count', '4', '--backend', 'cpu'], t)).toBe(0);
    expect(t.stderr.text).toBe('');
    expect(t.stdout.text).toContain(
      `exported small-run (two-stage and one-stage sampling; finished) to ${out}`,
    );
    expect(t.stdout.text).toMatch(/reloaded and checked: two-stage max \|diff\| 0, one-stage max \|diff\| 0/);

    const m = readManifest(out);
    expect(m.modes).toEqual(['two-stage', 'one-stage']);
    expect(m.notes).toEqual([]);
    expect(m.run).toMatchObject({ id: 'small-run', trainer: 'two-stage-vae', position: { stage: 'done' } });
    expect(m.run.epochs).toEqual({ stage1: 2, stage2: 2 });
    expect(m.imageShape).toEqual([8, 8, 1]);
    expect(m.latentDim).toBe(4);
    expect(m.stage1?.decoder).toMatchObject({
      plugin: 'infogan',
      models: [{ prefix: '', path: 'stage1-decoder.json' }],
    });
    expect(m.secondStage?.models).toEqual([
      { prefix: 'encoder/', path: 'stage2-encoder.json' },
      { prefix: 'decoder/', path: 'stage2-decoder.json' },
    ]);
    expect(m.backend).toBe('cpu');
    expect(m.eval).toBeNull();
    // every file but the manifest is listed, with its size and sha256
    expect(readdirSync(out).sort()).toEqual([...Object.keys(m.files), 'manifest.json'].sort());
    for (const [name, f] of Object.entries(m.files)) {
      expect(hashFileSync(join(out, name)), name).toBe(f.sha256);
      expect(readFileSync(join(out, name)).byteLength).toBe(f.bytes);
    }
    const modelJson = JSON.parse(readFileSync(join(out, 'stage1-decoder.json'), 'utf8'));
    expect(modelJson.format).toBe('layers-model');
    expect(JSON.stringify(modelJson.modelTopology)).toContain('TsvaeBatchNorm');

    // the references are the run's own samples: same values as sampling the run, same PNG as `tsvae sample`
    const run = await loadRun(runDir);
    try {
      const two = sampleTwoStage(run.stage1, run.secondStage, 4, { seed: 0 });
      const one = sampleOneStage(run.stage1, 4, { seed: 0 });
      expect(f32(join(out, 'two-stage-seed0.f32'))).toEqual(Array.from(two.dataSync()));
      expect(f32(join(out, 'one-stage-seed0.f32'))).toEqual(Array.from(one.dataSync()));
      expect(m.gamma).toBeCloseTo(run.stage1.gamma(), 10);
      tf.dispose([two, one]);
    } finally {
      run.dispose();
    }
    const png = join(root, 'sample.png');
    expect(
      await main(
        ['sample', '--run', runDir, '-n', '4', '--seed', '0', '--out', png, '--backend', 'cpu'],
        captureIO(),
      ),
    ).toBe(0);
    expect(readFileSync(join(out, 'two-stage-seed0.png')).equals(readFileSync(png))).toBe(true);

    // what a page loads from the folder draws the same images, for other seeds too
    const loaded = await loadExport(diskReader(out));
    const run2 = await loadRun(runDir);
    try {
      for (const seed of [0, 7]) {
        const a = loaded.sample('two-stage', 5, { seed });
        const b = sampleTwoStage(run2.stage1, run2.secondStage, 5, { seed });
        expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
        tf.dispose([a, b]);
      }
    } finally {
      loaded.dispose();
      run2.dispose();
    }
  });

  it('refuses to overwrite an export without --force, replaces it with --force', async () => {
    const out = join(root, 'twice');
    expect(
      await main(['export', runDir, '--out', out, '--count', '2', '--backend', 'cpu'], captureIO()),
    ).toBe(0);
    const t = captureIO();
    expect(await main(['export', runDir, '--out', out, '--count', '3', '--backend', 'cpu'], t)).toBe(1);
    expect(t.stderr.text).toBe(`error: ${out} exists; pass --force to replace it\n`);
    expect(readManifest(out).references[0]?.count).toBe(2);
    expect(
      await main(
        ['export', runDir, '--out', out, '--count', '3', '--force', '--backend', 'cpu'],
        captureIO(),
      ),
    ).toBe(0);
    expect(readManifest(out).references[0]?.count).toBe(3);
    expect(readdirSync(root).filter((n) => n.includes('twice') && n !== 'twice')).toEqual([]);
  });

  it('names the path of an unknown run directory and of an output that cannot be written', async () => {
    const missing = join(root, 'no-such-run');
    const t = captureIO();
    expect(await main(['export', missing, '--backend', 'cpu'], t)).toBe(1);
    expect(t.stderr.text).toContain(`${join(missing, 'config.json')} does not exist`);

    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const t2 = captureIO();
    expect(await main(['export', runDir, '--out', join(file, 'export'), '--backend', 'cpu'], t2)).toBe(1);
    expect(t2.stderr.text).toBe(`error: cannot create directory ${file}: already exists (EEXIST)\n`);

    const t3 = captureIO();
    expect(await main(['export', '--backend', 'cpu'], t3)).toBe(2);
    expect(t3.stderr.text).toContain('tsvae export needs a run directory');
  });

  it('a run whose stage 2 is not finished exports one-stage only and says so', async () => {
    const partial = join(root, 'partial-run');
    cpSync(runDir, partial, { recursive: true });
    // drop the final checkpoint: the newest left is one inside stage 2
    const ckpts = listCheckpoints(join(partial, 'checkpoints'));
    rmSync((ckpts.at(-1) as { path: string }).path, { recursive: true });
    const out = join(root, 'partial-export');
    const t = captureIO();
    expect(await main(['export', partial, '--out', out, '--count', '2', '--backend', 'cpu'], t)).toBe(0);
    const m = readManifest(out);
    expect(m.run.position.stage).toBe('stage2');
    expect(m.modes).toEqual(['one-stage']);
    expect(m.secondStage).toBeNull();
    expect(m.notes).toEqual([
      expect.stringMatching(
        /^stage 2 is not finished \(checkpoint after \d+ of 2 epochs\): two-stage sampling is not exported, one-stage only$/,
      ),
    ]);
    expect(t.stderr.text).toContain('warning: stage 2 is not finished');
    expect(t.stdout.text).toContain('note: stage 2 is not finished');
    expect(existsSync(join(out, 'stage2-decoder.json'))).toBe(false);
    expect(existsSync(join(out, 'two-stage-seed0.png'))).toBe(false);
  });

  it("copies the run's eval.json and its FID per generator", async () => {
    const evaluated = join(root, 'evaluated-run');
    cpSync(runDir, evaluated, { recursive: true });
    const ckpt = (listCheckpoints(join(evaluated, 'checkpoints')).at(-1) as { path: string }).path;
    const report = {
      format: 'tsvae-eval/1',
      checkpoint: ckpt,
      results: [
        {
          generator: 'two-stage-vae',
          extractor: 'classifier',
          fid: { mean: 12.5, std: 0.5 },
          kid: { mean: 0.01 },
          count: 100,
          referenceCount: 50,
        },
        {
          generator: 'one-stage-vae',
          extractor: 'classifier',
          fid: { mean: 20, std: 0 },
          count: 100,
          referenceCount: 50,
        },
        { generator: 'broken' },
      ],
    };
    writeFileSync(join(evaluated, 'eval.json'), JSON.stringify(report));
    const out = join(root, 'evaluated-export');
    expect(
      await main(['export', evaluated, '--out', out, '--count', '2', '--backend', 'cpu'], captureIO()),
    ).toBe(0);
    const m = readManifest(out);
    expect(m.eval).toEqual({
      file: 'eval.json',
      sameCheckpoint: true,
      results: [
        {
          generator: 'two-stage-vae',
          extractor: 'classifier',
          fid: 12.5,
          fidStd: 0.5,
          kid: 0.01,
          count: 100,
          referenceCount: 50,
        },
        {
          generator: 'one-stage-vae',
          extractor: 'classifier',
          fid: 20,
          fidStd: 0,
          kid: null,
          count: 100,
          referenceCount: 50,
        },
      ],
    });
    expect(readFileSync(join(out, 'eval.json'), 'utf8')).toBe(JSON.stringify(report));
  });
});

describe('tsvae export of a GAN run', () => {
  const ganDir = join(root, 'small-gan');

  beforeAll(async () => {
    registerToyPlugins();
    // compare_gan's InfoGAN networks at test size, normal codes (the default prior is uniform)
    const r = await trainGan({ runDir: ganDir, config: smallGanRunConfig('ns-gan', { prior: 'normal' }) });
    if (r.status !== 'completed') throw new Error(`GAN training ended ${r.status}`);
  }, 120_000);

  it('writes the generator in the tfjs format, gan references that `tsvae sample` and a reload reproduce, and a manifest with every sha256', async () => {
    const out = join(root, 'gan-export');
    const t = captureIO();
    expect(await main(['export', ganDir, '--out', out, '--count', '4', '--backend', 'cpu'], t)).toBe(0);
    expect(t.stderr.text).toBe('');
    expect(t.stdout.text).toContain(`exported small-gan (gan sampling; finished) to ${out}`);
    expect(t.stdout.text).toContain('reloaded and checked: gan max |diff| 0');

    const m = readManifest(out);
    expect(m.version).toBe(2);
    expect(m.modes).toEqual(['gan']);
    expect(m.notes).toEqual([]);
    expect(m.run).toMatchObject({ id: 'small-gan', trainer: 'gan', seed: 3, position: { stage: 'done' } });
    expect(m.run.epochs).toEqual({ stage1: 2, stage2: 0 });
    expect([m.imageShape, m.latentDim, m.gamma, m.gammaZ, m.stage1, m.secondStage]).toEqual([
      [8, 8, 1],
      4,
      null,
      null,
      null,
      null,
    ]);
    expect(m.generator).toMatchObject({
      plugin: 'infogan',
      prior: 'normal',
      config: { zDim: 4, imageShape: [8, 8, 1], convDims: [4, 8], fcDim: 16 },
      models: [{ prefix: '', path: 'gan-generator.json' }],
    });
    expect(m.references.map((r) => [r.mode, r.seed, r.count, r.png])).toEqual([
      ['gan', 0, 4, 'gan-seed0.png'],
    ]);
    expect(m.eval).toBeNull();
    expect(readdirSync(out).sort()).toEqual([...Object.keys(m.files), 'manifest.json'].sort());
    for (const [name, f] of Object.entries(m.files)) {
      expect(hashFileSync(join(out, name)), name).toBe(f.sha256);
      expect(readFileSync(join(out, name)).byteLength).toBe(f.bytes);
    }

    // the references are the run's own samples (loadGanRun's sampler), and `tsvae sample`'s PNG
    const run = await loadGanRun(ganDir);
    try {
      const x = await run.sampler.generate(4, { seed: 0 });
      expect(f32(join(out, 'gan-seed0.f32'))).toEqual(Array.from(x.dataSync()));
      x.dispose();

      // plain tf.loadLayersModel on the files + the documented seed -> codes mapping = the run's samples
      const modelJson = JSON.parse(readFileSync(join(out, 'gan-generator.json'), 'utf8')) as tf.io.ModelJSON;
      expect(JSON.stringify(modelJson.modelTopology)).toContain('TsvaeBatchNorm');
      const model = await loadLayersModel(
        tf.io.fromMemory(await modelArtifactsFromFiles(modelJson, diskReader(out))),
      );
      const z = sampleGanCodes(4, 6, { seed: 11, prior: 'normal' });
      const viaTfjs = model.predict(z) as tf.Tensor;
      const viaRun = await run.sampler.generate(6, { seed: 11 });
      expect(Array.from(viaTfjs.dataSync())).toEqual(Array.from(viaRun.dataSync()));
      tf.dispose([z, viaTfjs, viaRun]);
      model.dispose();

      // what a page loads from the folder draws the run's images, for other seeds and batch sizes too
      const loaded = await loadExport(diskReader(out));
      expect(loaded.verified).toBe('sha256');
      for (const [seed, batchSize] of [
        [0, 256],
        [7, 256],
        [7, 2],
      ] as const) {
        const a = loaded.sample('gan', 5, { seed, batchSize });
        const b = await run.sampler.generate(5, { seed, batchSize });
        expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
        tf.dispose([a, b]);
      }
      loaded.dispose();
    } finally {
      run.dispose();
    }
    const png = join(root, 'gan-sample.png');
    expect(
      await main(
        ['sample', '--run', ganDir, '-n', '4', '--seed', '0', '--out', png, '--backend', 'cpu'],
        captureIO(),
      ),
    ).toBe(0);
    expect(readFileSync(join(out, 'gan-seed0.png')).equals(readFileSync(png))).toBe(true);
  });

  it("copies the run's eval.json and its FID; an unfinished run says so", async () => {
    const evaluated = join(root, 'evaluated-gan');
    cpSync(ganDir, evaluated, { recursive: true });
    const ckpt = (listCheckpoints(join(evaluated, 'checkpoints')).at(-1) as { path: string }).path;
    const report = {
      format: 'tsvae-eval/1',
      checkpoint: ckpt,
      results: [
        {
          generator: 'gan-ns-gan',
          extractor: 'classifier',
          fid: { mean: 30.5, std: 1.5 },
          count: 64,
          referenceCount: 64,
        },
      ],
    };
    writeFileSync(join(evaluated, 'eval.json'), JSON.stringify(report));
    const out = join(root, 'evaluated-gan-export');
    expect(
      await main(['export', evaluated, '--out', out, '--count', '2', '--backend', 'cpu'], captureIO()),
    ).toBe(0);
    const m = readManifest(out);
    expect(m.eval).toEqual({
      file: 'eval.json',
      sameCheckpoint: true,
      results: [
        {
          generator: 'gan-ns-gan',
          extractor: 'classifier',
          fid: 30.5,
          fidStd: 1.5,
          kid: null,
          count: 64,
          referenceCount: 64,
        },
      ],
    });
    expect(readFileSync(join(out, 'eval.json'), 'utf8')).toBe(JSON.stringify(report));

    // without the final checkpoint: the newest left is after epoch 1 of 2 (and the eval is of a later one)
    rmSync(ckpt, { recursive: true });
    const t = captureIO();
    expect(
      await main(
        ['export', evaluated, '--out', join(root, 'partial-gan-export'), '--count', '2', '--backend', 'cpu'],
        t,
      ),
    ).toBe(0);
    const p = readManifest(join(root, 'partial-gan-export'));
    expect(p.run.position).toEqual({ stage: 'stage1', epoch: 1, step: 0 });
    expect(p.run.epochs).toEqual({ stage1: 1, stage2: 0 });
    expect(p.modes).toEqual(['gan']);
    expect(p.eval?.sameCheckpoint).toBe(false);
    expect(p.notes).toEqual([
      'training is not finished (checkpoint after 1 of 2 epochs): samples from a generator in mid-training',
    ]);
    expect(t.stderr.text).toContain('warning: training is not finished');
  });

  it('errors name the path: an existing output, a generator that is not a tfjs-layers model', async () => {
    const out = join(root, 'gan-twice');
    expect(
      await main(['export', ganDir, '--out', out, '--count', '2', '--backend', 'cpu'], captureIO()),
    ).toBe(0);
    const t = captureIO();
    expect(await main(['export', ganDir, '--out', out, '--backend', 'cpu'], t)).toBe(1);
    expect(t.stderr.text).toBe(`error: ${out} exists; pass --force to replace it\n`);

    // the 2-D toy's mlp generator is plain variables, not a tfjs-layers model
    const toyDir = join(root, 'toy-gan');
    const r = await trainGan({ runDir: toyDir, config: toyGanRunConfig('ns-gan', { epochs: 1 }) });
    expect(r.status).toBe('completed');
    const toyOut = join(root, 'toy-export');
    const t2 = captureIO();
    expect(await main(['export', toyDir, '--out', toyOut, '--backend', 'cpu'], t2)).toBe(1);
    expect(t2.stderr.text).toBe(
      `error: ${join(toyDir, 'config.json')}: the generator (plugin "mlp") cannot be exported: it is not a tfjs-layers model (a @tsvae/layers LayersModule)\n`,
    );
    expect(existsSync(toyOut)).toBe(false);
  });
});
