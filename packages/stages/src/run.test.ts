import '@tensorflow/tfjs-backend-cpu';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type Decoder, definePlugin, getRegistry, type TrainingCallback, z } from '@tsvae/core';
import { setBeforeRenameHook } from '@tsvae/core/testing';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { listCheckpoints, loadCheckpoint, loadLatestCheckpoint } from './checkpoint';
import { NonFiniteLossError } from './errors';
import { loadRun, readMetrics, trainTwoStage } from './run';
import { sampleTwoStage, VaeGenerator } from './sample';
import { tempDir, tinyRunConfig } from './test-helpers';
import { registerTinyPlugins, tinyDenseDecoder } from './tiny';
import { builtinStage1Factory } from './vae';

const createStage1 = builtinStage1Factory;

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
});

function finalWeights(runDir: string): Map<string, Float32Array | Int32Array | Uint8Array> {
  const ckpt = loadLatestCheckpoint(runDir);
  if (!ckpt) throw new Error('no checkpoint');
  expect(ckpt.manifest.position.stage).toBe('done');
  const out = new Map<string, Float32Array | Int32Array | Uint8Array>();
  for (const [name, t] of Object.entries(ckpt.weights)) {
    if (name.startsWith('stage1/') || name.startsWith('stage2/')) out.set(name, t.dataSync());
  }
  ckpt.dispose();
  return out;
}

/** Aborts at the given (stage, epoch, step). */
function abortAt(
  stage: string,
  epoch: number,
  step: number,
): { controller: AbortController; callback: TrainingCallback } {
  const controller = new AbortController();
  return {
    controller,
    callback: {
      onBatchEnd(s, _logs, info) {
        if (info.stage === stage && info.epoch === epoch && s === step) controller.abort();
      },
    },
  };
}

const lossesOf = (runDir: string) =>
  readMetrics(runDir).map((m) => [m.stage, m.epoch, m.loss, m.reconstruction, m.kl, m.gamma, m.activeDims]);

describe('trainTwoStage', () => {
  let reference: string;
  beforeAll(async () => {
    reference = tempDir();
    const r = await trainTwoStage({ runDir: reference, config: tinyRunConfig(), createStage1 });
    expect(r.status).toBe('completed');
  });

  it('writes config.json, metrics.jsonl, checkpoints and sample grids', () => {
    const record = JSON.parse(readFileSync(join(reference, 'config.json'), 'utf8'));
    expect(record.config.seed).toBe(3);
    expect(record.components.encoder.plugin).toBe('tiny-dense');
    expect(record.components.encoder.config).toMatchObject({
      hidden: 16,
      latentDim: 4,
      imageShape: [4, 4, 1],
    });
    expect(record.components.secondStage.plugin).toBe('tiny-mlp');
    expect(record.versions['@tsvae/stages']).toMatch(/\d+\.\d+\.\d+/);
    expect(record.tfBackend).toBe('cpu');
    const metrics = readMetrics(reference);
    expect(metrics.map((m) => `${m.stage}:${m.epoch}`)).toEqual([
      'stage1:1',
      'stage1:2',
      'stage1:3',
      'stage2:1',
      'stage2:2',
      'stage2:3',
    ]);
    for (const m of metrics) {
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(m.loss).toBeCloseTo(m.reconstruction + m.kl, 3);
      expect(m.gamma).toBeGreaterThan(0);
      expect(m.steps).toBe(4);
    }
    // lr halves every 2 epochs
    expect(metrics.map((m) => m.lr)).toEqual([1e-2, 1e-2, 5e-3, 1e-2, 1e-2, 5e-3]);
    expect(metrics[0]?.activeDims).toBeTypeOf('number');
    expect(metrics[0]?.reconMse).toBeTypeOf('number');
    for (const f of ['one-stage.png', 'two-stage.png', 'reconstructions.png', 'one-stage-after-stage1.png']) {
      const png = PNG.sync.read(readFileSync(join(reference, 'samples', f)));
      expect(png.width).toBeGreaterThan(4);
    }
    const png = PNG.sync.read(readFileSync(join(reference, 'samples', 'two-stage.png')));
    expect(png.width).toBe(4 * 5 + 1); // 16 samples: 4 columns of 4 px + 1 px gaps
  });

  it('resumes to exactly the weights of an uninterrupted run (interrupted in both stages)', async () => {
    const dir = tempDir();
    const a = abortAt('stage1', 1, 1);
    const r1 = await trainTwoStage({
      runDir: dir,
      config: tinyRunConfig(),
      createStage1,
      signal: a.controller.signal,
      callbacks: [a.callback],
    });
    expect(r1.status).toBe('aborted');
    expect(loadLatestCheckpoint(dir)?.manifest.position).toEqual({ stage: 'stage1', epoch: 1, step: 2 });
    const b = abortAt('stage2', 0, 2);
    const r2 = await trainTwoStage({
      runDir: dir,
      resume: true,
      createStage1,
      signal: b.controller.signal,
      callbacks: [b.callback],
    });
    expect(r2.status).toBe('aborted');
    const r3 = await trainTwoStage({ runDir: dir, resume: true, createStage1 });
    expect(r3.status).toBe('completed');
    const want = finalWeights(reference);
    const got = finalWeights(dir);
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [name, w] of want) expect(Array.from(got.get(name) ?? []), name).toEqual(Array.from(w));
    expect(lossesOf(dir)).toEqual(lossesOf(reference));
  });

  it('a crash between writing a checkpoint and renaming it leaves the last one loadable; resume still matches', async () => {
    const dir = tempDir();
    let renames = 0;
    setBeforeRenameHook((tmp) => {
      if (tmp.includes('ckpt-') && ++renames === 3) throw new Error('simulated crash');
    });
    try {
      await expect(trainTwoStage({ runDir: dir, config: tinyRunConfig(), createStage1 })).rejects.toThrow(
        'simulated crash',
      );
    } finally {
      setBeforeRenameHook(undefined);
    }
    expect(listCheckpoints(dir).map((c) => c.sequence)).toEqual([1, 2]);
    // leftovers of a process killed mid-write: a temp directory and a truncated temp file
    mkdirSync(join(dir, 'checkpoints', '.ckpt-000003.123-abcd.tmp'));
    writeFileSync(join(dir, 'checkpoints', '.ckpt-000003.123-abcd.tmp', 'weights.bin'), 'partial');
    writeFileSync(join(dir, '.metrics.jsonl.123-abcd.tmp'), '{"trunc');
    const latest = loadLatestCheckpoint(dir);
    expect(latest?.manifest.position).toEqual({ stage: 'stage1', epoch: 2, step: 0 });
    latest?.dispose();
    const r = await trainTwoStage({ runDir: dir, resume: true, createStage1 });
    expect(r.status).toBe('completed');
    const want = finalWeights(reference);
    const got = finalWeights(dir);
    for (const [name, w] of want) expect(Array.from(got.get(name) ?? []), name).toEqual(Array.from(w));
  });

  it('skips a damaged newest checkpoint and loads the previous one', async () => {
    const dir = tempDir();
    await trainTwoStage({ runDir: dir, config: tinyRunConfig({ stage2: { epochs: 1 } }), createStage1 });
    const all = listCheckpoints(dir);
    const newest = all.at(-1)?.path as string;
    truncateSync(join(newest, 'weights.bin'), 10);
    expect(() => loadCheckpoint(newest)).toThrow(/bytes/);
    const c = loadLatestCheckpoint(dir);
    expect(c?.path).toBe(all.at(-2)?.path);
    c?.dispose();
  });

  it('resumes a run killed before its first checkpoint from the beginning', async () => {
    const dir = tempDir();
    let n = 0;
    setBeforeRenameHook((tmp) => {
      if (tmp.includes('ckpt-') && ++n === 1) throw new Error('simulated crash');
    });
    try {
      await expect(trainTwoStage({ runDir: dir, config: tinyRunConfig(), createStage1 })).rejects.toThrow(
        'simulated crash',
      );
    } finally {
      setBeforeRenameHook(undefined);
    }
    expect(listCheckpoints(dir)).toEqual([]);
    expect((await trainTwoStage({ runDir: dir, resume: true, createStage1 })).status).toBe('completed');
    const want = finalWeights(reference);
    const got = finalWeights(dir);
    for (const [name, w] of want) expect(Array.from(got.get(name) ?? []), name).toEqual(Array.from(w));
    expect(lossesOf(dir)).toEqual(lossesOf(reference));
  });

  it('refuses to start a new run over an existing one, and to resume an empty directory', async () => {
    await expect(trainTwoStage({ runDir: reference, config: tinyRunConfig(), createStage1 })).rejects.toThrow(
      /already holds a run/,
    );
    await expect(trainTwoStage({ runDir: tempDir(), resume: true, createStage1 })).rejects.toThrow(
      /config\.json does not exist/,
    );
  });

  it('loads a finished run for sampling, as one- and two-stage Generators', async () => {
    const run = await loadRun(reference, { createStage1 });
    try {
      expect(run.position.stage).toBe('done');
      const g2 = new VaeGenerator(run.stage1, run.secondStage, 'two-stage');
      const x = await g2.generate(10, { seed: 1, batchSize: 4 });
      expect(x.shape).toEqual([10, 4, 4, 1]);
      const again = sampleTwoStage(run.stage1, run.secondStage, 10, { seed: 1, batchSize: 4 });
      expect(Array.from(again.dataSync())).toEqual(Array.from(x.dataSync()));
      const lo = tf.min(x).dataSync()[0] as number;
      const hi = tf.max(x).dataSync()[0] as number;
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
      tf.dispose([x, again]);
      const g1 = new VaeGenerator(run.stage1, null, 'one-stage');
      expect(g1.name).toBe('one-stage-vae');
      const y = await g1.generate(3);
      expect(y.shape).toEqual([3, 4, 4, 1]);
      y.dispose();
    } finally {
      run.dispose();
    }
  });
});

describe('NaN guard', () => {
  it('stops with the epoch and step, without writing a bad checkpoint', async () => {
    const reg = getRegistry();
    if (!reg.has('decoder', 'nan-after')) {
      reg.register(
        definePlugin({
          kind: 'decoder',
          name: 'nan-after',
          configSchema: z.object({
            latentDim: z.number(),
            imageShape: z.tuple([z.number(), z.number(), z.number()]),
            after: z.number(),
          }),
          create(config): Decoder {
            const inner = tinyDenseDecoder.create(
              { latentDim: config.latentDim, imageShape: config.imageShape, hidden: 8, output: 'sigmoid' },
              {
                logger: console,
              },
            ) as Decoder;
            let calls = 0;
            return {
              ...inner,
              outputShape: inner.outputShape,
              latentDim: inner.latentDim,
              decode(zz, opts) {
                if (opts.training && ++calls > config.after) {
                  return tf.tidy(() => ({
                    mean: tf.mul(inner.decode(zz, opts).mean, Number.NaN) as tf.Tensor4D,
                  }));
                }
                return inner.decode(zz, opts);
              },
            };
          },
        }),
      );
    }
    const dir = tempDir();
    const config = tinyRunConfig({ stage1: { decoder: { name: 'nan-after', config: { after: 6 } } } });
    const err = await trainTwoStage({ runDir: dir, config, createStage1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    const e = err as NonFiniteLossError;
    expect([e.stage, e.epoch, e.step]).toEqual(['stage1', 1, 2]);
    expect(e.message).toMatch(/stage1 at epoch 2, step 3/);
    expect(e.lastCheckpoint).toBe(listCheckpoints(dir).at(-1)?.path);
    const ckpt = loadLatestCheckpoint(dir);
    expect(ckpt?.manifest.position).toEqual({ stage: 'stage1', epoch: 1, step: 0 });
    for (const t of Object.values(ckpt?.weights ?? {}))
      expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    ckpt?.dispose();
  });
});

describe('memory', () => {
  it('keeps the live tensor count stable across epochs and frees everything at the end', async () => {
    const before = tf.memory().numTensors;
    const counts: Record<string, number[]> = { stage1: [], stage2: [] };
    await trainTwoStage({
      runDir: tempDir(),
      config: tinyRunConfig({ stage1: { epochs: 4 }, stage2: { epochs: 4 } }),
      createStage1,
      callbacks: [{ onEpochEnd: (_e, _l, info) => void counts[info.stage]?.push(tf.memory().numTensors) }],
    });
    for (const c of Object.values(counts)) {
      expect(c).toHaveLength(4);
      // the first epoch creates the optimizer's slots; after that nothing may accumulate
      expect(new Set(c.slice(1)).size).toBe(1);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('run directory', () => {
  it('contains no temporary files after a run', async () => {
    const dir = tempDir();
    await trainTwoStage({
      runDir: dir,
      config: tinyRunConfig({ stage1: { epochs: 1 }, stage2: { epochs: 1 } }),
      createStage1,
    });
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(d, e.name)) : [e.name],
      );
    expect(walk(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(join(dir, 'metrics.jsonl'))).toBe(true);
  });
});
