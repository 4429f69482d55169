/**
 * trainTwoStage on the production models (the `vae` stage 1 over small `infogan` networks, the
 * `mlp` second stage): files, exact resume from any interrupt point, crashes, damaged
 * checkpoints, the lock, validation before writing, NaN guard, memory.
 */
import '@tensorflow/tfjs-backend-cpu';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  type Decoder,
  definePlugin,
  getRegistry,
  InvalidConfigError,
  type TrainingCallback,
  z,
} from '@tsvae/core';
import { setBeforeRenameHook } from '@tsvae/core/testing';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { listCheckpoints, loadCheckpoint, loadLatestCheckpoint } from './checkpoint';
import { NonFiniteLossError, RunDirectoryError, RunInUseError } from './errors';
import { loadRun, readVaeRecord } from './index';
import { RunDirectory } from './run-dir';
import { sampleTwoStage, VaeGenerator } from './sample';
import { registerTinyPlugins, smallRunConfig, tempDir } from './testing';
import { trainTwoStage } from './train-run';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
});

/** 64 images, batch 32: 2 steps an epoch, 2 epochs a stage. */
const sweepConfig = () => smallRunConfig({ dataset: { config: { size: 64 } } });

function finalWeights(runDir: string): Map<string, Uint8Array> {
  const { checkpoint } = loadLatestCheckpoint(new RunDirectory(runDir).checkpointsDir);
  if (!checkpoint) throw new Error('no checkpoint');
  expect(checkpoint.manifest.position.stage).toBe('done');
  const out = new Map<string, Uint8Array>();
  for (const [name, t] of Object.entries(checkpoint.weights)) {
    if (name.startsWith('stage1/') || name.startsWith('stage2/')) {
      const d = t.dataSync();
      out.set(name, new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice());
    }
  }
  checkpoint.dispose();
  return out;
}

function expectSameWeights(dir: string, reference: string): void {
  const want = finalWeights(reference);
  const got = finalWeights(dir);
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [name, w] of want) {
    expect(Buffer.compare(Buffer.from(got.get(name) as Uint8Array), Buffer.from(w)), name).toBe(0);
  }
}

/** Everything of metrics.jsonl but the wall time. */
const lossesOf = (runDir: string) => new RunDirectory(runDir).readMetrics().map(({ seconds: _s, ...m }) => m);

/** Aborts when `when` says so. */
function abortWhen(when: (event: string, stage: string, epoch: number, step: number) => boolean): {
  controller: AbortController;
  callback: TrainingCallback;
} {
  const controller = new AbortController();
  const check = (event: string, stage: string, epoch: number, step: number) => {
    if (when(event, stage, epoch, step)) controller.abort();
  };
  return {
    controller,
    callback: {
      onBatchEnd: (step, _l, info) => check('batch', info.stage, info.epoch, step),
      onEpochEnd: (epoch, _l, info) => check('epoch-end', info.stage, epoch, -1),
      onCheckpoint: (_p, info) => check('checkpoint', info.stage, info.epoch, -1),
      onTrainEnd: (_l, info) => check('train-end', info.stage, -1, -1),
    },
  };
}

/** Runs to completion, resuming after every abort. */
async function runWithResumes(dir: string, first: Parameters<typeof trainTwoStage>[0]): Promise<number> {
  let aborts = 0;
  let r = await trainTwoStage(first);
  while (r.status === 'aborted') {
    aborts++;
    r = await trainTwoStage({ runDir: dir, resume: true });
  }
  return aborts;
}

/** The straight run every interrupted one must equal. */
let reference: string;
beforeAll(async () => {
  reference = tempDir();
  const r = await trainTwoStage({ runDir: reference, config: sweepConfig() });
  expect(r.status).toBe('completed');
});

describe('trainTwoStage', () => {
  it('writes config.json with every component as {plugin, config}, metrics.jsonl, checkpoints and grids', () => {
    const record = readVaeRecord(new RunDirectory(reference));
    expect(record.config.seed).toBe(3);
    expect(record.components.stage1.plugin).toBe('vae');
    expect(record.components.stage1.config).toMatchObject({
      encoder: { name: 'infogan', config: { convDims: [4, 8], fcDim: 16 } },
      latentDim: 4,
      imageShape: [8, 8, 1],
      likelihood: 'learned-gamma',
    });
    expect(record.components.secondStage).toMatchObject({
      plugin: 'mlp',
      config: { width: 16, depth: 2, latentDim: 4, gammaConvention: 'std' },
      resolved: { secondLatentDim: 4, kernelInit: 'glorot-uniform' },
    });
    expect(record.components.dataset.plugin).toBe('tiny-manifold');
    expect(record.versions['@tsvae/stages']).toMatch(/\d+\.\d+\.\d+/);
    expect(record.tfBackend).toBe('cpu');
    const metrics = new RunDirectory(reference).readMetrics();
    expect(metrics.map((m) => `${m.stage}:${m.epoch}`)).toEqual([
      'stage1:1',
      'stage1:2',
      'stage2:1',
      'stage2:2',
    ]);
    for (const m of metrics) {
      expect(m.loss).toBeCloseTo(m.reconstruction + m.kl, 3);
      expect(m.gamma).toBeGreaterThan(0);
      expect(m.steps).toBe(2);
    }
    // stage 2 halves its learning rate every epoch here
    expect(metrics.map((m) => m.lr)).toEqual([1e-2, 1e-2, 1e-2, 5e-3]);
    expect(metrics[0]?.activeDims).toBeTypeOf('number');
    for (const f of ['one-stage.png', 'two-stage.png', 'reconstructions.png', 'one-stage-after-stage1.png']) {
      expect(PNG.sync.read(readFileSync(join(reference, 'samples', f))).width).toBeGreaterThan(8);
    }
    expect(PNG.sync.read(readFileSync(join(reference, 'samples', 'two-stage.png'))).width).toBe(4 * 9 + 1);
    expect(existsSync(join(reference, 'run.lock'))).toBe(false);
  });

  it('the same config trains to the same weights (seeded, no Math.random)', async () => {
    const dir = tempDir();
    const realRandom = Math.random;
    Math.random = () => {
      throw new Error('Math.random was called during training');
    };
    try {
      await trainTwoStage({ runDir: dir, config: sweepConfig() });
    } finally {
      Math.random = realRandom;
    }
    expectSameWeights(dir, reference);
    expect(lossesOf(dir)).toEqual(lossesOf(reference));
  });

  // Every interrupt point of the run: after each step, at each epoch end (before its checkpoint),
  // after each checkpoint (the stage boundary included), and at the end of each stage.
  const points: [string, string, number, number][] = [];
  for (const stage of ['stage1', 'stage2']) {
    for (let epoch = 0; epoch < 2; epoch++) {
      for (let step = 0; step < 2; step++) points.push(['batch', stage, epoch, step]);
      points.push(['epoch-end', stage, epoch, -1], ['checkpoint', stage, epoch, -1]);
    }
    points.push(['train-end', stage, -1, -1]);
  }
  it.each(
    points,
  )('interrupted at %s %s epoch %i step %i, resumed: byte-identical to the straight run', async (event, stage, epoch, step) => {
    const dir = tempDir();
    const a = abortWhen((e, s, ep, st) => e === event && s === stage && ep === epoch && st === step);
    const aborts = await runWithResumes(dir, {
      runDir: dir,
      config: sweepConfig(),
      signal: a.controller.signal,
      callbacks: [a.callback],
    });
    // a signal after stage 2's last step finds nothing left to interrupt: the run completes
    const afterLastStep =
      stage === 'stage2' && (epoch === 1 || event === 'train-end') && (step === 1 || step === -1);
    expect(aborts).toBe(afterLastStep ? 0 : 1);
    expectSameWeights(dir, reference);
    expect(lossesOf(dir)).toEqual(lossesOf(reference));
  });

  it('interrupted inside every checkpoint write (the signal arrives mid-write), resumed: byte-identical', async () => {
    for (let n = 1; n <= 6; n++) {
      const dir = tempDir();
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
      expect(lossesOf(dir)).toEqual(lossesOf(reference));
    }
  });

  it('a crash inside a checkpoint write leaves the last one loadable; the next start clears the leftovers; resume matches', async () => {
    const dir = tempDir();
    let renames = 0;
    setBeforeRenameHook((tmp) => {
      if (basename(tmp).startsWith('.ckpt-') && ++renames === 2) throw new Error('simulated crash');
    });
    try {
      await expect(trainTwoStage({ runDir: dir, config: sweepConfig() })).rejects.toThrow('simulated crash');
    } finally {
      setBeforeRenameHook(undefined);
    }
    const run = new RunDirectory(dir);
    expect(listCheckpoints(run.checkpointsDir).map((c) => c.sequence)).toEqual([1]);
    expect(existsSync(run.lockFile)).toBe(false);
    // leftovers of a process killed mid-write (pid 999999 is not running)
    const stale = join(run.checkpointsDir, '.ckpt-000002.999999-0123abcd.tmp');
    mkdirSync(stale);
    writeFileSync(join(stale, 'weights.bin'), 'partial');
    writeFileSync(join(dir, '.metrics.jsonl.999999-0123abcd.tmp'), '{"trunc');
    expect((await trainTwoStage({ runDir: dir, resume: true })).status).toBe('completed');
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(join(dir, '.metrics.jsonl.999999-0123abcd.tmp'))).toBe(false);
    expectSameWeights(dir, reference);
  });

  it('resumes a run killed before its first checkpoint from the beginning', async () => {
    const dir = tempDir();
    setBeforeRenameHook((tmp) => {
      if (basename(tmp).startsWith('.ckpt-')) throw new Error('simulated crash');
    });
    try {
      await expect(trainTwoStage({ runDir: dir, config: sweepConfig() })).rejects.toThrow('simulated crash');
    } finally {
      setBeforeRenameHook(undefined);
    }
    expect(listCheckpoints(join(dir, 'checkpoints'))).toEqual([]);
    expect((await trainTwoStage({ runDir: dir, resume: true })).status).toBe('completed');
    expectSameWeights(dir, reference);
    expect(lossesOf(dir)).toEqual(lossesOf(reference));
  });
});

describe('damaged checkpoints', () => {
  /**
   * A run interrupted after stage 1's last epoch: checkpoint 1 (stage 1 epoch 1), 2 (its end) and
   * 3 (the stage boundary); keep 3.
   */
  async function interrupted(): Promise<RunDirectory> {
    const dir = tempDir();
    const a = abortWhen((e, s, ep) => e === 'checkpoint' && s === 'stage1' && ep === 1);
    const r = await trainTwoStage({
      runDir: dir,
      config: sweepConfig(),
      signal: a.controller.signal,
      callbacks: [a.callback],
    });
    expect(r.status).toBe('aborted');
    const run = new RunDirectory(dir);
    expect(listCheckpoints(run.checkpointsDir).map((c) => c.sequence)).toEqual([1, 2, 3]);
    return run;
  }

  function snapshot(dir: string): string[] {
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? walk(join(d, e.name))
          : [`${join(d, e.name)} ${statSync(join(d, e.name)).size} ${statSync(join(d, e.name)).mtimeMs}`],
      );
    return walk(dir).sort();
  }

  it('a damaged newest checkpoint is skipped for the previous one, kept, and never counted toward keep', async () => {
    const run = await interrupted();
    const [, second, third] = listCheckpoints(run.checkpointsDir);
    truncateSync(join(third?.path as string, 'weights.bin'), 10);
    expect(() => loadCheckpoint(third?.path as string)).toThrow(
      /has 10 bytes, its manifest says \d+ \(truncated/,
    );
    const latest = loadLatestCheckpoint(run.checkpointsDir);
    expect(latest.checkpoint?.path).toBe(second?.path);
    expect(latest.damaged.map((d) => d.path)).toEqual([third?.path]);
    latest.checkpoint?.dispose();
    // keep 1: pruning deletes good older checkpoints only
    const cfg = JSON.parse(readFileSync(run.configFile, 'utf8'));
    cfg.config.checkpoint.keep = 1;
    writeFileSync(run.configFile, JSON.stringify(cfg));
    expect((await trainTwoStage({ runDir: run.path, resume: true })).status).toBe('completed');
    const left = listCheckpoints(run.checkpointsDir);
    expect(left.map((c) => c.path)).toContain(third?.path);
    expect(left).toHaveLength(2); // the damaged one and the newest good one
    expectSameWeights(run.path, reference);
  });

  it('with every checkpoint damaged, resume refuses naming each file and why, and changes nothing', async () => {
    const run = await interrupted();
    const [first, second, third] = listCheckpoints(run.checkpointsDir);
    writeFileSync(join(first?.path as string, 'manifest.json'), '{"format": "tsvae-checkpoint", "ver');
    rmSync(join(third?.path as string, 'weights.bin'));
    const bin = join(second?.path as string, 'weights.bin');
    const bytes = readFileSync(bin);
    bytes[100] = (bytes[100] as number) ^ 1;
    writeFileSync(bin, bytes);
    const before = snapshot(run.path);
    const err = await trainTwoStage({ runDir: run.path, resume: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunDirectoryError);
    const msg = (err as Error).message;
    expect(msg).toContain('no checkpoint can be loaded, and nothing was changed');
    expect(msg).toMatch(/ckpt-000001[/\\]manifest\.json: line 1, column \d+: truncated JSON/);
    expect(msg).toMatch(/ckpt-000002[/\\]weights\.bin fails its SHA-256 check/);
    expect(msg).toMatch(/ckpt-000003[/\\]weights\.bin cannot be read \(missing\)/);
    expect(snapshot(run.path)).toEqual(before);
    await expect(loadRun(run.path)).rejects.toThrow(/holds no checkpoint that loads/);
  });

  it('a manifest with missing fields is reported by field', async () => {
    const run = await interrupted();
    const [, , third] = listCheckpoints(run.checkpointsDir);
    const file = join(third?.path as string, 'manifest.json');
    const m = JSON.parse(readFileSync(file, 'utf8'));
    delete m.position;
    m.weightsFile = 42;
    writeFileSync(file, JSON.stringify(m));
    expect(() => loadCheckpoint(third?.path as string)).toThrow(
      /manifest\.json is not a valid checkpoint manifest: field position: .*; field weightsFile/,
    );
  });
});

describe('the run directory', () => {
  it('is locked while a run writes it: a second writer gets "run in use by pid N"; a dead owner\'s lock is taken over', async () => {
    const dir = tempDir();
    const slow: TrainingCallback = { onBatchEnd: () => new Promise((r) => setTimeout(r, 5)) };
    const first = trainTwoStage({ runDir: dir, config: sweepConfig(), callbacks: [slow] });
    await new Promise((r) => setTimeout(r, 200));
    const second = await trainTwoStage({ runDir: dir, resume: true }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(RunInUseError);
    expect((second as Error).message).toContain(`run in use by pid ${process.pid}`);
    expect((await first).status).toBe('completed');
    // a lock left by a process that died
    writeFileSync(
      join(dir, 'run.lock'),
      JSON.stringify({ pid: 999999, host: (await import('node:os')).hostname(), startedAt: '' }),
    );
    const lock = new RunDirectory(dir).lock();
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid);
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
  });

  it('a validation failure creates nothing: batch larger than the data, an unknown key in the encoder config', async () => {
    const root = tempDir();
    const dir = join(root, 'run');
    await expect(trainTwoStage({ runDir: dir, config: smallRunConfig({ batchSize: 1000 }) })).rejects.toThrow(
      /batchSize 1000 is larger than the 128 training examples/,
    );
    const err = await trainTwoStage({
      runDir: dir,
      config: smallRunConfig({ stage1: { encoder: { config: { fcdim: 16 } } } }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as Error).message).toMatch(/encoder plugin "infogan".*field "fcdim": unknown key/);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses to start a new run over an existing one, and to resume a directory without a run', async () => {
    const dir = tempDir();
    await trainTwoStage({
      runDir: dir,
      config: smallRunConfig({ stage1: { epochs: 0 }, stage2: { epochs: 0 } }),
    });
    await expect(trainTwoStage({ runDir: dir, config: sweepConfig() })).rejects.toThrow(
      /already holds a run/,
    );
    await expect(trainTwoStage({ runDir: tempDir(), resume: true })).rejects.toThrow(
      /config\.json does not exist/,
    );
  });

  it('a truncated metrics.jsonl or config.json is an error naming the file and the line', async () => {
    const dir = tempDir();
    await trainTwoStage({ runDir: dir, config: sweepConfig() });
    const run = new RunDirectory(dir);
    const text = readFileSync(run.metricsFile, 'utf8');
    writeFileSync(run.metricsFile, text.slice(0, text.length - 30));
    expect(() => run.readMetrics()).toThrow(/metrics\.jsonl: line 4, column \d+: truncated JSON/);
    await expect(trainTwoStage({ runDir: dir, resume: true })).rejects.toThrow(/metrics\.jsonl: line 4/);
    writeFileSync(run.configFile, '{"format": "tsvae-run", "version": 2}');
    expect(() => run.readRecord()).toThrow(/config\.json: not a tsvae run record: field trainer/);
  });

  it('contains no temporary files after a run', () => {
    const dir = tempDir();
    return trainTwoStage({
      runDir: dir,
      config: smallRunConfig({ stage1: { epochs: 1 }, stage2: { epochs: 1 } }),
    }).then(() => {
      const walk = (d: string): string[] =>
        readdirSync(d, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? walk(join(d, e.name)) : [e.name],
        );
      expect(walk(dir).filter((f) => f.endsWith('.tmp') || f === 'run.lock')).toEqual([]);
    });
  });
});

describe('loading a run', () => {
  it('gives one- and two-stage Generators; seed 0 reproduces', async () => {
    const dir = tempDir();
    await trainTwoStage({ runDir: dir, config: sweepConfig() });
    const run = await loadRun(dir);
    try {
      expect(run.position.stage).toBe('done');
      const g2 = new VaeGenerator(run.stage1, run.secondStage, 'two-stage');
      for (const seed of [0, 1]) {
        const x = await g2.generate(10, { seed, batchSize: 4 });
        expect(x.shape).toEqual([10, 8, 8, 1]);
        const again = sampleTwoStage(run.stage1, run.secondStage, 10, { seed, batchSize: 4 });
        expect(Array.from(again.dataSync())).toEqual(Array.from(x.dataSync()));
        tf.dispose([x, again]);
      }
      const a = await g2.generate(4, { seed: 0 });
      const b = await g2.generate(4, { seed: 1 });
      expect(Array.from(a.dataSync())).not.toEqual(Array.from(b.dataSync()));
      tf.dispose([a, b]);
      const g1 = new VaeGenerator(run.stage1, null, 'one-stage');
      expect(g1.name).toBe('one-stage-vae');
      const y = await g1.generate(3, { seed: 0 });
      const y2 = await g1.generate(3, { seed: 0 });
      expect(Array.from(y.dataSync())).toEqual(Array.from(y2.dataSync()));
      tf.dispose([y, y2]);
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
          async create(config, context): Promise<Decoder> {
            const inner = await reg.create(
              'decoder',
              'infogan',
              { latentDim: config.latentDim, imageShape: config.imageShape, convDims: [4, 8], fcDim: 16 },
              { context },
            );
            let calls = 0;
            return {
              ...inner,
              getWeights: () => inner.getWeights(),
              setWeights: (w) => inner.setWeights(w),
              trainableVariables: () => inner.trainableVariables(),
              countParams: () => inner.countParams(),
              dispose: () => inner.dispose(),
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
    const config = sweepConfig();
    (config as { stage1: { decoder: unknown } }).stage1.decoder = { name: 'nan-after', config: { after: 3 } };
    const err = await trainTwoStage({ runDir: dir, config }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    const e = err as NonFiniteLossError;
    expect([e.stage, e.epoch, e.step]).toEqual(['stage1', 1, 1]);
    expect(e.message).toMatch(/stage1 at epoch 2, step 2/);
    const run = new RunDirectory(dir);
    expect(e.lastCheckpoint).toBe(listCheckpoints(run.checkpointsDir).at(-1)?.path);
    const { checkpoint } = loadLatestCheckpoint(run.checkpointsDir);
    expect(checkpoint?.manifest.position).toEqual({ stage: 'stage1', epoch: 1, step: 0 });
    for (const t of Object.values(checkpoint?.weights ?? {}))
      expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    checkpoint?.dispose();
    expect(existsSync(run.lockFile)).toBe(false);
  });
});

describe('memory', () => {
  it('keeps the live tensor count stable across epochs and frees everything at the end', async () => {
    const before = tf.memory().numTensors;
    const counts: Record<string, number[]> = { stage1: [], stage2: [] };
    await trainTwoStage({
      runDir: tempDir(),
      config: smallRunConfig({ stage1: { epochs: 4 }, stage2: { epochs: 4 } }),
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
