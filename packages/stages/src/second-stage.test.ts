/**
 * Second stages fitted directly (`SecondStage.fit`) inside `trainTwoStage`, and further second
 * stages of a run (`fitSecondStage`, `loadRun(run, { stage2 })`), on the production stage 1 at
 * test size.
 */
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  definePlugin,
  getRegistry,
  InvalidConfigError,
  type NamedWeight,
  type SecondStage,
  silentLogger,
  type TrainingCallback,
  z,
} from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadLatestCheckpoint } from './checkpoint';
import './index';
import { RunDirectoryError, RunInUseError } from './errors';
import { loadRun } from './load-run';
import { RunDirectory } from './run-dir';
import { fitSecondStage, readSecondStageRecord } from './second-stage';
import { registerTinyPlugins, smallRunConfig, tempDir } from './testing';
import { encodeDataset } from './train';
import { loadTrainingData, trainTwoStage } from './train-run';

const fitConfig = z.object({
  latentDim: z.number().int().positive(),
  iterations: z.number().int().positive().default(3),
});

/**
 * `test-moments`: a diagonal Gaussian fitted by `fit`: iteration t averages the moments of one
 * draw `mu + sigma * eps` of every code (seeded from the fit seed), so its result depends on the
 * seed, like a real fit's initialisation.
 */
const momentsPlugin = definePlugin({
  kind: 'second-stage',
  name: 'test-moments',
  configSchema: fitConfig,
  create(config): SecondStage {
    const d = config.latentDim;
    let mean = tf.zeros([d]) as tf.Tensor1D;
    let std = tf.ones([d]) as tf.Tensor1D;
    const set = (m: Float32Array, s: Float32Array) => {
      tf.dispose([mean, std]);
      mean = tf.tensor1d(m);
      std = tf.tensor1d(s);
    };
    return {
      latentDim: d,
      trainableVariables: () => [],
      getWeights: (): NamedWeight[] => [
        { name: 'mean', tensor: mean },
        { name: 'std', tensor: std },
      ],
      setWeights(w) {
        const m = w.find((x) => x.name === 'mean');
        const s = w.find((x) => x.name === 'std');
        if (!m || !s) throw new Error('setWeights: missing weight');
        set(m.tensor.dataSync() as Float32Array, s.tensor.dataSync() as Float32Array);
      },
      countParams: () => 2 * d,
      dispose: () => tf.dispose([mean, std]),
      loss: (zz) =>
        tf.tidy(() => {
          const y = tf.div(tf.sub(zz, mean), std);
          const nll = tf.mean(
            tf.sum(tf.add(tf.add(tf.mul(tf.square(y), 0.5), tf.log(std)), 0.5 * Math.log(2 * Math.PI)), 1),
          ) as tf.Scalar;
          return { loss: nll, reconstruction: tf.clone(nll), kl: tf.scalar(0) };
        }),
      sample: (n, opts) =>
        tf.tidy(
          () =>
            tf.add(tf.mul(tf.randomNormal([n, d], 0, 1, 'float32', opts?.seed), std), mean) as tf.Tensor2D,
        ),
      async fit(codes, options) {
        const rng = createRng(options.seed);
        const m = new Float64Array(d);
        const m2 = new Float64Array(d);
        for (let t = 1; t <= config.iterations; t++) {
          options.signal?.throwIfAborted();
          for (let i = 0; i < codes.size; i++) {
            for (let j = 0; j < d; j++) {
              const v = (codes.mu[i * d + j] as number) + (codes.sigma[i * d + j] as number) * rng.normal();
              m[j] = (m[j] as number) + v;
              m2[j] = (m2[j] as number) + v * v;
            }
          }
          const count = t * codes.size;
          const mean64 = Array.from(m, (v) => v / count);
          const var64 = Array.from(m2, (v, j) => v / count - (mean64[j] as number) ** 2);
          set(Float32Array.from(mean64), Float32Array.from(var64, Math.sqrt));
          const nll = var64.reduce((s, v) => s + 0.5 * Math.log(2 * Math.PI * Math.E * v), 0);
          await options.onProgress?.({
            iteration: t,
            maxIterations: config.iterations,
            loss: nll,
            logs: { dims: d },
          });
        }
      },
    };
  },
});

/** A small run config with the second stage `name` (its config replaces the mlp's). */
function configWith(name: string, config: Record<string, unknown> = {}) {
  return smallRunConfig({ stage2: { model: { name, config } } });
}

function stage2Bytes(checkpointsDir: string): Map<string, string> {
  const { checkpoint } = loadLatestCheckpoint(checkpointsDir);
  if (!checkpoint) throw new Error(`no checkpoint in ${checkpointsDir}`);
  expect(checkpoint.manifest.position.stage).toBe('done');
  const out = new Map<string, string>();
  for (const w of checkpoint.group('stage2/')) {
    const d = w.tensor.dataSync();
    out.set(w.name, Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64'));
  }
  checkpoint.dispose();
  return out;
}

function abortOn(when: (stage: string, epoch: number) => boolean): {
  controller: AbortController;
  callback: TrainingCallback;
} {
  const controller = new AbortController();
  return {
    controller,
    callback: {
      onEpochEnd: (epoch, _l, info) => {
        if (when(info.stage, epoch)) controller.abort();
      },
    },
  };
}

let run: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
  if (!getRegistry().has('second-stage', 'test-moments')) getRegistry().register(momentsPlugin);
  run = join(tempDir(), 'run');
  expect((await trainTwoStage({ runDir: run, config: smallRunConfig() })).status).toBe('completed');
});

describe('a second stage with fit() inside trainTwoStage', () => {
  it('is fitted instead of trained: one stage-2 record per iteration, then the done checkpoint', async () => {
    const dir = join(tempDir(), 'run');
    const r = await trainTwoStage({ runDir: dir, config: configWith('test-moments', { iterations: 4 }) });
    expect(r.status).toBe('completed');
    const stage2 = new RunDirectory(dir).readMetrics().filter((m) => m.stage === 'stage2');
    expect(stage2.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    for (const m of stage2) {
      expect(m).toMatchObject({ kl: 0, lr: 0, steps: 1, gamma: null, extra: { dims: 4 } });
      expect(m.reconstruction).toBe(m.loss);
    }
    // the fitted moments are those of the encoded training codes
    const loaded = await loadRun(dir);
    const data = await loadTrainingData(loaded.record.components, loaded.config, silentLogger);
    const codes = encodeDataset(loaded.stage1, data, { batchSize: 256 });
    const mean = loaded.secondStage
      .getWeights()
      .find((w) => w.name === 'mean')
      ?.tensor.dataSync() as Float32Array;
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let i = 0; i < codes.size; i++) s += codes.mu[i * 4 + j] as number;
      expect(Math.abs((mean[j] as number) - s / codes.size)).toBeLessThan(0.2);
    }
    loaded.dispose();
  });

  it('an interrupt during the fit keeps nothing of it; the resumed run fits again, identically', async () => {
    const straight = join(tempDir(), 'run');
    await trainTwoStage({ runDir: straight, config: configWith('test-moments') });
    const dir = join(tempDir(), 'run');
    const { controller, callback } = abortOn((stage, epoch) => stage === 'stage2' && epoch === 1);
    const r = await trainTwoStage({
      runDir: dir,
      config: configWith('test-moments'),
      callbacks: [callback],
      signal: controller.signal,
    });
    expect(r.status).toBe('aborted');
    expect(new RunDirectory(dir).readMetrics().filter((m) => m.stage === 'stage2')).toEqual([]);
    const { checkpoint } = loadLatestCheckpoint(new RunDirectory(dir).checkpointsDir);
    expect(checkpoint?.manifest.position).toEqual({ stage: 'stage2', epoch: 0, step: 0 });
    checkpoint?.dispose();
    expect((await trainTwoStage({ runDir: dir, resume: true })).status).toBe('completed');
    expect(stage2Bytes(new RunDirectory(dir).checkpointsDir)).toEqual(
      stage2Bytes(new RunDirectory(straight).checkpointsDir),
    );
    const strip = (d: string) => new RunDirectory(d).readMetrics().map(({ seconds: _s, ...m }) => m);
    expect(strip(dir)).toEqual(strip(straight));
  });
});

describe('fitSecondStage', () => {
  it("refitting the run's own mlp with its settings reproduces its second stage bit for bit", async () => {
    const record = new RunDirectory(run).readRecord();
    const own = (record.config as { stage2: { model: { name: string; config: Record<string, unknown> } } })
      .stage2.model;
    const r = await fitSecondStage({ runDir: run, secondStage: own, name: 'mlp-again' });
    expect(r.status).toBe('completed');
    expect(r.dir).toBe(join(run, 'stage2-mlp-again'));
    expect(stage2Bytes(join(r.dir, 'checkpoints'))).toEqual(
      stage2Bytes(new RunDirectory(run).checkpointsDir),
    );
    const sub = readSecondStageRecord(new RunDirectory(r.dir));
    expect(sub.components.secondStage).toMatchObject({
      plugin: 'mlp',
      config: { width: 16, depth: 2, latentDim: 4 },
    });
    expect(sub.config).toMatchObject({ name: 'mlp-again', epochs: 2, lr: 1e-2, batchSize: 32, seed: 3 });
    expect(sub.config.stage1.digest).toMatch(/^[0-9a-f]{64}$/);
    // loadRun with it: the same models, and its own position
    const a = await loadRun(run);
    const b = await loadRun(run, { stage2: 'mlp-again' });
    expect(b.stage2).toMatchObject({ name: 'mlp-again', position: { stage: 'done' } });
    expect(a.stage2).toBeNull();
    const sa = a.secondStage.sample(8, { seed: 1 });
    const sb = b.secondStage.sample(8, { seed: 1 });
    expect(Array.from(sb.dataSync())).toEqual(Array.from(sa.dataSync()));
    tf.dispose([sa, sb]);
    a.dispose();
    b.dispose();
    // the run itself is untouched
    expect(existsSync(join(run, 'run.lock'))).toBe(false);
  });

  it('fits a second stage with fit() and resumes gradient training exactly after an interrupt', async () => {
    const fitted = await fitSecondStage({
      runDir: run,
      secondStage: { name: 'test-moments', config: { iterations: 2 } },
    });
    expect(fitted.status).toBe('completed');
    expect(fitted.metrics.map((m) => m.epoch)).toEqual([1, 2]);
    const loaded = await loadRun(run, { stage2: 'test-moments' });
    expect(loaded.secondStage.getWeights().map((w) => w.name)).toEqual(['mean', 'std']);
    loaded.dispose();

    const opts = { runDir: run, secondStage: { name: 'tiny-mlp', config: { width: 8 } }, epochs: 3 } as const;
    const straight = await fitSecondStage({ ...opts, name: 'tiny-straight' });
    expect(straight.metrics.map((m) => `${m.stage}:${m.epoch}`)).toEqual([
      'stage2:1',
      'stage2:2',
      'stage2:3',
    ]);
    const { controller, callback } = abortOn((_s, epoch) => epoch === 0);
    const cut = await fitSecondStage({
      ...opts,
      name: 'tiny-cut',
      callbacks: [callback],
      signal: controller.signal,
    });
    expect(cut.status).toBe('aborted');
    await expect(fitSecondStage({ ...opts, name: 'tiny-cut' })).rejects.toThrow(
      /already holds a second stage/,
    );
    const resumed = await fitSecondStage({ runDir: run, name: 'tiny-cut', resume: true });
    expect(resumed.status).toBe('completed');
    expect(stage2Bytes(join(resumed.dir, 'checkpoints'))).toEqual(
      stage2Bytes(join(straight.dir, 'checkpoints')),
    );
    expect(resumed.metrics.map(({ seconds: _s, ...m }) => m)).toEqual(
      straight.metrics.map(({ seconds: _s, ...m }) => m),
    );
  });

  it('validates before writing anything, locks, and checks the stage 1 it was fitted on', async () => {
    const parent = new RunDirectory(run);
    await expect(
      fitSecondStage({ runDir: run, secondStage: { name: 'mlp', config: { widht: 8 } }, name: 'bad' }),
    ).rejects.toThrow(InvalidConfigError);
    await expect(fitSecondStage({ runDir: run, secondStage: { name: 'nope' }, name: 'bad' })).rejects.toThrow(
      /nope/,
    );
    await expect(
      fitSecondStage({ runDir: run, secondStage: { name: 'tiny-mlp' }, name: 'bad', batchSize: 4096 }),
    ).rejects.toThrow(/no batch/);
    expect(existsSync(join(run, 'stage2-bad'))).toBe(false);
    expect(() => parent.secondStageDir('../x')).toThrow(/invalid second-stage name/);
    await expect(loadRun(run, { stage2: 'missing' })).rejects.toThrow(/no second stage named "missing"/);
    await expect(fitSecondStage({ runDir: run, name: 'missing', resume: true })).rejects.toThrow(
      RunDirectoryError,
    );

    // a live lock
    const sub = new RunDirectory(parent.secondStageDir('test-moments'));
    const lock = sub.lock();
    await expect(fitSecondStage({ runDir: run, name: 'test-moments', resume: true })).rejects.toThrow(
      RunInUseError,
    );
    lock.release();

    // another stage 1 (a changed digest) is refused
    const file = sub.configFile;
    const text = readFileSync(file, 'utf8');
    const json = JSON.parse(text) as { config: { stage1: { digest: string } } };
    json.config.stage1.digest = '0'.repeat(64);
    writeFileSync(file, JSON.stringify(json));
    await expect(loadRun(run, { stage2: 'test-moments' })).rejects.toThrow(/fitted on another stage 1/);
    writeFileSync(file, text);

    // a run whose stage 1 has not finished
    const early = join(tempDir(), 'run');
    const { controller, callback } = abortOn((stage) => stage === 'stage1');
    await trainTwoStage({
      runDir: early,
      config: smallRunConfig(),
      callbacks: [callback],
      signal: controller.signal,
    });
    await expect(fitSecondStage({ runDir: early, secondStage: { name: 'tiny-mlp' } })).rejects.toThrow(
      /stage 1 of .* has not finished/,
    );
  });
});
