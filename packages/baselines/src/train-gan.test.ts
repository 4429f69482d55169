/**
 * trainGan on the production networks (compare_gan's InfoGAN generator and discriminators at test
 * size): files, exact resume from any interrupt point, loading through `gan-run`, seeds, the NaN
 * guard, validation before writing, WGAN's clipping and BEGAN's k in a real run, memory.
 */
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { create, definePlugin, getRegistry, InvalidConfigError, type TrainingCallback, z } from '@tsvae/core';
import { setBeforeRenameHook } from '@tsvae/core/testing';
import {
  listCheckpoints,
  loadLatestCheckpoint,
  NonFiniteLossError,
  RunConfigError,
  RunDirectory,
  RunDirectoryError,
  trainTwoStage,
} from '@tsvae/stages';
import { registerTinyPlugins, smallRunConfig, tempDir } from '@tsvae/stages/testing';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readGanRecord } from './components';
import type { GanLoss } from './kinds';
import { loadGanRun } from './load-gan';
import { registerToyPlugins, smallGanRunConfig } from './testing';
import { ganEpochMetricsSchema, trainGan } from './train-gan';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
  registerToyPlugins();
});

/** WGAN-GP with a generator step after every 2nd critic step: 2 steps an epoch, 2 epochs. */
const sweepConfig = (overrides: Record<string, unknown> = {}) =>
  smallGanRunConfig('wgan-gp', { loss: { config: { discriminatorSteps: 2 } }, ...overrides });

function finalWeights(runDir: string): Map<string, Uint8Array> {
  const { checkpoint } = loadLatestCheckpoint(new RunDirectory(runDir).checkpointsDir);
  if (!checkpoint) throw new Error('no checkpoint');
  expect(checkpoint.manifest.position.stage).toBe('done');
  const out = new Map<string, Uint8Array>();
  for (const [name, t] of Object.entries(checkpoint.weights)) {
    const d = t.dataSync();
    out.set(name, new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice());
  }
  checkpoint.dispose();
  return out;
}

/** Every weight of the final checkpoint, optimizer moments and loss state included, byte for byte. */
function expectSameWeights(dir: string, reference: string): void {
  const want = finalWeights(reference);
  const got = finalWeights(dir);
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [name, w] of want) {
    expect(Buffer.compare(Buffer.from(got.get(name) as Uint8Array), Buffer.from(w)), name).toBe(0);
  }
}

const metricsOf = (runDir: string) =>
  new RunDirectory(runDir).readMetricsWith(ganEpochMetricsSchema).map(({ seconds: _s, ...m }) => m);

function abortWhen(when: (event: string, epoch: number, step: number) => boolean): {
  controller: AbortController;
  callback: TrainingCallback;
} {
  const controller = new AbortController();
  const check = (event: string, epoch: number, step: number) => {
    if (when(event, epoch, step)) controller.abort();
  };
  return {
    controller,
    callback: {
      onBatchEnd: (step, _l, info) => check('batch', info.epoch, step),
      onEpochEnd: (epoch) => check('epoch-end', epoch, -1),
      onCheckpoint: (_p, info) => check('checkpoint', info.epoch, -1),
    },
  };
}

async function runWithResumes(dir: string, first: Parameters<typeof trainGan>[0]): Promise<number> {
  let aborts = 0;
  let r = await trainGan(first);
  while (r.status === 'aborted') {
    aborts++;
    r = await trainGan({ runDir: dir, resume: true });
  }
  return aborts;
}

let reference: string;
beforeAll(async () => {
  reference = tempDir('tsvae-gan-');
  const r = await trainGan({ runDir: reference, config: sweepConfig() });
  expect(r.status).toBe('completed');
});

describe('trainGan', () => {
  it('writes config.json (trainer gan, components as {plugin, config}), metrics.jsonl, checkpoints and the grid', () => {
    const dir = new RunDirectory(reference);
    const record = readGanRecord(dir);
    expect(record.trainer).toBe('gan');
    expect(record.components.generator).toMatchObject({
      plugin: 'infogan',
      config: { convDims: [4, 8], fcDim: 16, zDim: 4, imageShape: [8, 8, 1] },
      resolved: { activation: 'lrelu', bnEpsilon: 1e-3 },
    });
    expect(record.components.discriminator).toMatchObject({
      plugin: 'infogan',
      config: { imageShape: [8, 8, 1] },
    });
    expect(record.components.loss).toMatchObject({
      plugin: 'wgan-gp',
      config: { discriminatorSteps: 2 },
      resolved: { lambda: 10 },
    });
    expect(record.components.dataset.plugin).toBe('tiny-manifold');
    expect(record.versions['@tsvae/baselines']).toMatch(/\d+\.\d+\.\d+/);
    const metrics = dir.readMetricsWith(ganEpochMetricsSchema);
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    for (const m of metrics) {
      expect(m.steps).toBe(2);
      expect(m.generatorSteps).toBe(1);
      expect(Number.isFinite(m.extra['criticEstimate'])).toBe(true);
      expect(m.extra['penalty']).toBeGreaterThanOrEqual(0);
    }
    const grid = PNG.sync.read(readFileSync(join(reference, 'samples', 'gan.png')));
    expect(grid.width).toBe(4 * 9 + 1);
    expect(existsSync(dir.lockFile)).toBe(false);
    // the checkpoint holds both networks and both optimizers' full state
    const { checkpoint } = loadLatestCheckpoint(dir.checkpointsDir);
    const names = Object.keys(checkpoint?.weights ?? {});
    for (const prefix of [
      'generator/',
      'discriminator/',
      'optimizer/generator/',
      'optimizer/discriminator/',
    ]) {
      expect(
        names.some((n) => n.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
    expect(Object.keys(checkpoint?.manifest.optimizer?.state ?? {})).toEqual(['generator', 'discriminator']);
    checkpoint?.dispose();
  });

  it('the same config trains to the same weights (every draw seeded, no Math.random)', async () => {
    const dir = tempDir('tsvae-gan-');
    const realRandom = Math.random;
    Math.random = () => {
      throw new Error('Math.random was called during training');
    };
    try {
      await trainGan({ runDir: dir, config: sweepConfig() });
    } finally {
      Math.random = realRandom;
    }
    expectSameWeights(dir, reference);
    expect(metricsOf(dir)).toEqual(metricsOf(reference));
  });

  const points: [string, number, number][] = [];
  for (let epoch = 0; epoch < 2; epoch++) {
    for (let step = 0; step < 2; step++) points.push(['batch', epoch, step]);
    points.push(['epoch-end', epoch, -1], ['checkpoint', epoch, -1]);
  }
  it.each(
    points,
  )('interrupted at %s epoch %i step %i, resumed: byte-identical to the straight run', async (event, epoch, step) => {
    const dir = tempDir('tsvae-gan-');
    const a = abortWhen((e, ep, st) => e === event && ep === epoch && st === step);
    const aborts = await runWithResumes(dir, {
      runDir: dir,
      config: sweepConfig(),
      signal: a.controller.signal,
      callbacks: [a.callback],
    });
    const afterLastStep = epoch === 1 && (step === 1 || step === -1);
    expect(aborts).toBe(afterLastStep ? 0 : 1);
    expectSameWeights(dir, reference);
    expect(metricsOf(dir)).toEqual(metricsOf(reference));
  });

  it('interrupted inside every checkpoint write (the signal arrives mid-write), resumed: byte-identical', async () => {
    for (let n = 1; n <= 2; n++) {
      const dir = tempDir('tsvae-gan-');
      const controller = new AbortController();
      let writes = 0;
      setBeforeRenameHook((tmp) => {
        if (basename(tmp).startsWith('.ckpt-') && ++writes === n) controller.abort();
      });
      let aborts: number;
      try {
        aborts = await runWithResumes(dir, { runDir: dir, config: sweepConfig(), signal: controller.signal });
      } finally {
        setBeforeRenameHook(undefined);
      }
      expect(aborts, `write ${n}`).toBeLessThanOrEqual(1);
      expectSameWeights(dir, reference);
      expect(metricsOf(dir)).toEqual(metricsOf(reference));
    }
  });

  it('a crash inside a checkpoint write leaves the last one loadable; resume matches', async () => {
    const dir = tempDir('tsvae-gan-');
    let renames = 0;
    setBeforeRenameHook((tmp) => {
      if (basename(tmp).startsWith('.ckpt-') && ++renames === 2) throw new Error('simulated crash');
    });
    try {
      await expect(trainGan({ runDir: dir, config: sweepConfig() })).rejects.toThrow('simulated crash');
    } finally {
      setBeforeRenameHook(undefined);
    }
    const run = new RunDirectory(dir);
    expect(listCheckpoints(run.checkpointsDir).map((c) => c.sequence)).toEqual([1]);
    expect(existsSync(run.lockFile)).toBe(false);
    expect((await trainGan({ runDir: dir, resume: true })).status).toBe('completed');
    expectSameWeights(dir, reference);
    expect(metricsOf(dir)).toEqual(metricsOf(reference));
  });

  it.each([
    ['began', {}],
    ['wgan', { loss: { config: { discriminatorSteps: 2 } } }],
    ['dragan', {}],
  ] as const)('%s: interrupted mid-epoch and resumed, byte-identical (loss state included)', async (loss, extra) => {
    const config = smallGanRunConfig(loss, { ...extra, epochs: 3 });
    const straight = tempDir('tsvae-gan-');
    await trainGan({ runDir: straight, config });
    const dir = tempDir('tsvae-gan-');
    const a = abortWhen((e, ep, st) => e === 'batch' && ep === 1 && st === 0);
    expect(
      await runWithResumes(dir, {
        runDir: dir,
        config,
        signal: a.controller.signal,
        callbacks: [a.callback],
      }),
    ).toBe(1);
    expectSameWeights(dir, straight);
    expect(metricsOf(dir)).toEqual(metricsOf(straight));
  });
});

describe('what the losses keep in a real run', () => {
  it('wgan: every critic weight stays in [-0.01, 0.01]', async () => {
    const dir = tempDir('tsvae-gan-');
    await trainGan({
      runDir: dir,
      config: smallGanRunConfig('wgan', { loss: { config: { discriminatorSteps: 2 } } }),
    });
    const run = await loadGanRun(dir);
    try {
      for (const v of run.discriminator.trainableVariables()) {
        const max = Math.max(...Array.from(v.dataSync(), Math.abs));
        expect(max, v.name).toBeLessThanOrEqual(0.01);
      }
      const metrics = run.dir.readMetricsWith(ganEpochMetricsSchema);
      expect(metrics.every((m) => Number.isFinite(m.extra['criticEstimate']))).toBe(true);
    } finally {
      run.dispose();
    }
  });

  it('began: k stays in [0, 1]; the metrics report k and the convergence measure M', async () => {
    const dir = tempDir('tsvae-gan-');
    await trainGan({
      runDir: dir,
      // a large lambda_k, so k moves visibly in 4 steps
      config: smallGanRunConfig('began', { loss: { config: { lambdaK: 0.5, discriminatorSteps: 1 } } }),
    });
    const metrics = new RunDirectory(dir).readMetricsWith(ganEpochMetricsSchema);
    for (const m of metrics) {
      expect(m.extra['k']).toBeGreaterThanOrEqual(0);
      expect(m.extra['k']).toBeLessThanOrEqual(1);
      expect(m.extra['convergence']).toBeGreaterThan(0);
    }
    const run = await loadGanRun(dir);
    expect(run.loss.diagnostics?.()['k']).toBe(metrics.at(-1)?.extra['k']);
    run.dispose();
  });
});

describe('loading a run', () => {
  it('through the gan-run generator plugin: seed 0 reproduces, other seeds differ, samples in [0, 1]', async () => {
    const dir = tempDir('tsvae-gan-');
    await trainGan({ runDir: dir, config: sweepConfig({ seed: 0 }) });
    const before = tf.memory().numTensors;
    const g = await create('generator', 'gan-run', { runDir: dir });
    try {
      expect(g.name).toBe('gan-wgan-gp');
      expect(g.outputShape).toEqual([8, 8, 1]);
      const a = await g.generate(10, { seed: 0, batchSize: 4 });
      const b = await g.generate(10, { seed: 0, batchSize: 4 });
      const c = await g.generate(10, { seed: 1, batchSize: 4 });
      expect(a.shape).toEqual([10, 8, 8, 1]);
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
      expect(Array.from(a.dataSync()).every((v) => v >= 0 && v <= 1)).toBe(true);
      tf.dispose([a, b, c]);
    } finally {
      g.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    // a second run with seed 0 trains to the same weights
    const again = tempDir('tsvae-gan-');
    await trainGan({ runDir: again, config: sweepConfig({ seed: 0 }) });
    expectSameWeights(again, dir);
  });

  it('refuses a run of another trainer, naming it', async () => {
    const dir = tempDir('tsvae-gan-');
    await trainTwoStage({
      runDir: dir,
      config: smallRunConfig({ stage1: { epochs: 0 }, stage2: { epochs: 0 } }),
    });
    await expect(loadGanRun(dir)).rejects.toThrow(/trained by "two-stage-vae", not "gan"/);
    await expect(trainGan({ runDir: dir, resume: true })).rejects.toThrow(/trained by "two-stage-vae"/);
  });
});

describe('validation before anything is written', () => {
  it('an unknown loss key, a discriminator that does not fit the loss, a batch larger than the data: nothing created', async () => {
    const root = tempDir('tsvae-gan-');
    const dir = join(root, 'run');
    const err = await trainGan({
      runDir: dir,
      config: sweepConfig({ loss: { config: { lamda: 1 } } }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as Error).message).toMatch(/gan-loss plugin "wgan-gp".*"lamda": unknown key/);
    const misfit = await trainGan({
      runDir: dir,
      config: {
        ...smallGanRunConfig('began'),
        discriminator: { name: 'infogan', config: { convDims: [4, 8] } },
      },
    }).catch((e: unknown) => e);
    expect(misfit).toBeInstanceOf(RunConfigError);
    expect((misfit as Error).message).toMatch(/began loss needs a discriminator of output "autoencoder"/);
    await expect(trainGan({ runDir: dir, config: sweepConfig({ batchSize: 1000 }) })).rejects.toThrow(
      /batchSize 1000 is larger than the 64 training examples/,
    );
    await expect(trainGan({ runDir: dir, config: sweepConfig({ epochz: 3 }) })).rejects.toThrow(/epochz/);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses to start over an existing run and to resume a directory without one', async () => {
    await expect(trainGan({ runDir: reference, config: sweepConfig() })).rejects.toThrow(
      /already holds a run/,
    );
    await expect(trainGan({ runDir: tempDir('tsvae-gan-'), resume: true })).rejects.toThrow(
      /config\.json does not exist/,
    );
  });

  it('resume refuses when every checkpoint is damaged, naming them', async () => {
    const dir = tempDir('tsvae-gan-');
    const a = abortWhen((e, ep) => e === 'checkpoint' && ep === 0);
    await trainGan({
      runDir: dir,
      config: sweepConfig(),
      signal: a.controller.signal,
      callbacks: [a.callback],
    });
    const [only] = listCheckpoints(new RunDirectory(dir).checkpointsDir);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(only?.path as string, 'weights.bin'), 'broken');
    const err = await trainGan({ runDir: dir, resume: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunDirectoryError);
    expect((err as Error).message).toMatch(/no checkpoint can be loaded[\s\S]*weights\.bin has 6 bytes/);
  });
});

describe('NaN guard', () => {
  it('stops with the epoch and step, before the update, leaving the last good checkpoint', async () => {
    const reg = getRegistry();
    if (!reg.has('gan-loss', 'nan-after')) {
      reg.register(
        definePlugin({
          kind: 'gan-loss',
          name: 'nan-after',
          configSchema: z.object({ after: z.number().int() }),
          async create(config): Promise<GanLoss> {
            const inner = await create('gan-loss', 'ns-gan', {});
            let calls = 0;
            return {
              ...inner,
              name: 'nan-after',
              discriminatorLoss(input) {
                const t = inner.discriminatorLoss(input);
                if (++calls <= config.after) return t;
                return { ...t, loss: tf.tidy(() => tf.mul(t.loss, Number.NaN) as tf.Scalar) };
              },
            };
          },
        }),
      );
    }
    const dir = tempDir('tsvae-gan-');
    const config = smallGanRunConfig('ns-gan', { loss: { name: 'nan-after', config: { after: 3 } } });
    const err = await trainGan({ runDir: dir, config }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    const e = err as NonFiniteLossError;
    expect([e.stage, e.epoch, e.step]).toEqual(['gan', 1, 1]);
    expect(e.message).toMatch(/Non-finite discriminatorLoss \(NaN\).* in gan at epoch 2, step 2/);
    const run = new RunDirectory(dir);
    expect(e.lastCheckpoint).toBe(listCheckpoints(run.checkpointsDir).at(-1)?.path);
    const { checkpoint } = loadLatestCheckpoint(run.checkpointsDir);
    expect(checkpoint?.manifest.position).toEqual({ stage: 'stage1', epoch: 1, step: 0 });
    for (const t of Object.values(checkpoint?.weights ?? {})) {
      expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    }
    checkpoint?.dispose();
    expect(existsSync(run.lockFile)).toBe(false);
  });
});

describe('memory', () => {
  it('keeps the live tensor count stable across epochs and frees everything at the end', async () => {
    for (const loss of ['wgan-gp', 'began']) {
      const before = tf.memory().numTensors;
      const counts: number[] = [];
      await trainGan({
        runDir: tempDir('tsvae-gan-'),
        config: smallGanRunConfig(loss, { epochs: 4, loss: { config: { discriminatorSteps: 1 } } }),
        callbacks: [{ onEpochEnd: () => void counts.push(tf.memory().numTensors) }],
      });
      expect(counts).toHaveLength(4);
      // the first epoch creates the optimizers' slots; after that nothing may accumulate
      expect(new Set(counts.slice(1)).size, loss).toBe(1);
      expect(tf.memory().numTensors, loss).toBe(before);
    }
  });
});
