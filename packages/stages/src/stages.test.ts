import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  type DataSplit,
  definePlugin,
  getRegistry,
  type SecondStage,
  toTensor,
  z,
} from '@tsvae/core';
import { createStage1Vae } from '@tsvae/layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRun, vaeRunGenerator } from './load-run';
import { createStageOptimizer, optimizerCheckpoint, restoreOptimizer } from './optimizer';
import { RunDirectory } from './run-dir';
import { imageGridPng, sampleTwoStage } from './sample';
import { registerTinyPlugins, smallRunConfig, tempDir } from './testing';
import { encodeDataset, stage1Diagnostics, trainStage1 } from './train';
import { trainTwoStage } from './train-run';

/** The production stage-1 VAE over the small dense test networks. */
function denseVae(latentDim: number, imageShape: [number, number, number], hidden: number, seed = 1) {
  const part = { name: 'tiny-dense', config: { hidden } };
  return createStage1Vae({ encoder: part, decoder: part, latentDim, imageShape }, { seed });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
});

/** A user's own second stage: a diagonal Gaussian fitted by maximum likelihood (no KL term). */
const diagGaussian = definePlugin({
  kind: 'second-stage',
  name: 'test-diag-gaussian',
  configSchema: z.object({ latentDim: z.number().int().positive() }),
  create({ latentDim }): SecondStage {
    const mean = tf.variable(tf.zeros([latentDim]), true);
    const logStd = tf.variable(tf.zeros([latentDim]), true);
    return {
      latentDim,
      trainableVariables: () => [mean, logStd],
      getWeights: () => [
        { name: 'mean', tensor: mean },
        { name: 'logStd', tensor: logStd },
      ],
      setWeights(ws) {
        for (const w of ws) (w.name === 'mean' ? mean : logStd).assign(w.tensor);
      },
      countParams: () => 2 * latentDim,
      dispose: () => tf.dispose([mean, logStd]),
      loss: (zz) =>
        tf.tidy(() => {
          const d = tf.mul(tf.sub(zz, mean), tf.exp(tf.neg(logStd)));
          const nll = tf.mean(tf.sum(tf.add(tf.mul(tf.square(d), 0.5), logStd), 1)) as tf.Scalar;
          return { loss: nll, reconstruction: nll, kl: tf.scalar(0) };
        }),
      sample: (n, opts) =>
        tf.tidy(
          () =>
            tf.add(
              mean,
              tf.mul(tf.exp(logStd), tf.randomNormal([n, latentDim], 0, 1, 'float32', opts?.seed)),
            ) as tf.Tensor2D,
        ),
      diagnostics: () => ({ meanStd: tf.tidy(() => tf.mean(tf.exp(logStd)).dataSync()[0] as number) }),
    };
  },
});

describe('a user-supplied second stage', () => {
  it('is created from the registry, trained and sampled through', async () => {
    if (!getRegistry().has('second-stage', diagGaussian.name)) getRegistry().register(diagGaussian);
    const dir = tempDir();
    const config = smallRunConfig({ stage2: { epochs: 30, lr: 0.05 } });
    (config as { stage2: { model: unknown } }).stage2.model = { name: 'test-diag-gaussian', config: {} };
    const r = await trainTwoStage({ runDir: dir, config });
    expect(r.status).toBe('completed');
    const m = new RunDirectory(dir).readMetrics().filter((x) => x.stage === 'stage2');
    expect(m).toHaveLength(30);
    expect(m.at(-1)?.extra?.['meanStd']).toBeTypeOf('number');
    const run = await loadRun(dir);
    const [mean] = run.secondStage.getWeights();
    expect(Array.from(mean?.tensor.dataSync() ?? []).some((v) => v !== 0)).toBe(true);
    run.dispose();
    expect(r.samples.some((p) => p.endsWith('two-stage.png'))).toBe(true);
  });
});

function manifoldSplit(n: number, seed: number): DataSplit {
  // 8x8 images on a 2-d manifold: x = sigmoid(A u)
  const rng = createRng(seed);
  const d = 64;
  const a = Array.from({ length: d * 2 }, () => rng.normal() * 2);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const u0 = rng.normal();
    const u1 = rng.normal();
    for (let p = 0; p < d; p++)
      data[i * d + p] = 1 / (1 + Math.exp(-((a[2 * p] as number) * u0 + (a[2 * p + 1] as number) * u1)));
  }
  return { size: n, shape: [8, 8, 1], data };
}

describe('stage-1 diagnostics', () => {
  it('counts active dimensions from the encoder variance, and measures reconstruction MSE', async () => {
    const vae = denseVae(3, [2, 2, 1], 4);
    const data: DataSplit = { size: 5, shape: [2, 2, 1], data: new Uint8Array(20).fill(255) };
    // encoder log sigma bias: dims 0, 1 active (variance e^-6, e^-4), dim 2 inactive (variance 1)
    const enc = vae.encoder.getWeights();
    const setBias = enc.map((w) =>
      w.name === 'logSigma/bias'
        ? { name: w.name, tensor: tf.tensor1d([-3, -2, 0]) }
        : w.name === 'logSigma/kernel'
          ? { name: w.name, tensor: tf.zerosLike(w.tensor) }
          : w,
    );
    vae.encoder.setWeights(setBias);
    const d = stage1Diagnostics(vae, data, { threshold: 0.05 });
    const wantVar = [Math.exp(-6), Math.exp(-4), 1];
    for (const [i, v] of d.meanVariance.entries()) expect(v).toBeCloseTo(wantVar[i] as number, 6);
    expect(d.activeDims).toBe(2);
    expect(stage1Diagnostics(vae, data, { threshold: 0.01 }).activeDims).toBe(1);
    // MSE of decode(mu(x)) against all-ones images, recomputed here
    const x = toTensor(data, [0, 1, 2, 3, 4]);
    const want = tf.tidy(
      () =>
        tf
          .mean(tf.square(tf.sub(x, vae.decode(vae.encode(x, { training: false }).mu, { training: false }))))
          .dataSync()[0],
    );
    expect(d.reconMse).toBeCloseTo(want as number, 6);
    expect(d.gamma).toBe(1);
    x.dispose();
    vae.dispose();
  });

  it('on data of intrinsic dimension 2, gamma falls and 2 latent dimensions stay active', async () => {
    const vae = denseVae(5, [8, 8, 1], 64);
    const data = manifoldSplit(512, 11);
    const r = await trainStage1(vae, data, { epochs: 60, batchSize: 32, lr: 3e-3, seed: 1 });
    const gammas = r.metrics.map((m) => m.gamma as number);
    expect(gammas.at(-1)).toBeLessThan(0.2 * (gammas[0] as number));
    expect(r.metrics.at(-1)?.activeDims).toBe(2);
    r.optimizer.dispose();
    vae.dispose();
  }, 120_000);
});

describe('encodeDataset and sampling', () => {
  it('encodes every example (remainder included) in inference mode', async () => {
    const reg = getRegistry();
    const vae = denseVae(3, [4, 4, 1], 8);
    const data = manifoldSplit(10, 2);
    const small: DataSplit = { size: 10, shape: [4, 4, 1], data: data.data.subarray(0, 160) };
    const codes = encodeDataset(vae, small, { batchSize: 4 });
    expect([codes.size, codes.latentDim, codes.mu.length]).toEqual([10, 3, 30]);
    const p = vae.encode(toTensor(small, [9]), { training: false });
    expect(Array.from(codes.mu.subarray(27, 30))).toEqual(Array.from(p.mu.dataSync()));
    expect(Array.from(codes.sigma.subarray(27, 30))).toEqual(Array.from(tf.exp(p.logSigma).dataSync()));
    const second = await reg.create(
      'second-stage',
      'mlp',
      { latentDim: 3, width: 8, depth: 1 },
      { context: { seed: 2 } },
    );
    const a = sampleTwoStage(vae, second, 5, { seed: 9 });
    const b = sampleTwoStage(vae, second, 5, { seed: 9 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const png = imageGridPng(a);
    expect(png.subarray(1, 4)).toEqual(new Uint8Array([0x50, 0x4e, 0x47]));
    tf.dispose([a, b, p.mu, p.logSigma]);
    second.dispose();
    vae.dispose();
  });
});

describe('optimizer state', () => {
  it('an Adam restored from a checkpoint (weights + JSON meta) continues exactly', async () => {
    const run = async (restoreAfter: number | null) => {
      const v = tf.variable(tf.tensor1d([1, -2, 3]));
      let opt = createStageOptimizer(0.1);
      for (let i = 0; i < 5; i++) {
        if (i === restoreAfter) {
          const s = await optimizerCheckpoint(opt);
          const copies = Object.fromEntries(s.weights.map((w) => [w.name, tf.clone(w.tensor)]));
          const meta = JSON.parse(JSON.stringify(s.meta));
          s.dispose();
          opt.dispose();
          opt = createStageOptimizer(0.5);
          await restoreOptimizer(opt, copies, meta);
          tf.dispose(Object.values(copies));
        }
        const g = tf.tidy(() => tf.mul(v, tf.scalar(i + 1)));
        opt.applyGradients([{ name: v.name, tensor: g }]);
        g.dispose();
      }
      const out = Array.from(v.dataSync());
      v.dispose();
      opt.dispose();
      return out;
    };
    expect(await run(3)).toEqual(await run(null));
  });
});

describe('vae-run generator plugin', () => {
  it('loads a run directory through the registry', async () => {
    if (!getRegistry().has('generator', 'vae-run')) getRegistry().register(vaeRunGenerator);
    const dir = tempDir();
    await trainTwoStage({
      runDir: dir,
      config: smallRunConfig({ stage1: { epochs: 1 }, stage2: { epochs: 1 } }),
    });
    const before = tf.memory().numTensors;
    const g = await getRegistry().create('generator', 'vae-run', { runDir: dir, mode: 'one-stage' });
    expect(g.name).toBe('one-stage-vae');
    const x = await g.generate(4, { seed: 2 });
    expect(x.shape).toEqual([4, 8, 8, 1]);
    x.dispose();
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expect(getRegistry().create('generator', 'vae-run', { runDir: '' })).rejects.toThrow(/runDir/);
  });
});

describe('vector data', () => {
  it('trains the dense networks on [1, 1, d] points and writes no sample grids', async () => {
    const reg = getRegistry();
    if (!reg.has('dataset', 'test-vectors')) {
      reg.register(
        definePlugin({
          kind: 'dataset',
          name: 'test-vectors',
          configSchema: z.object({}),
          create: () => ({
            name: 'test-vectors',
            shape: [1, 1, 6] as [number, number, number],
            load: async () => {
              const rng = createRng(1);
              const data = new Float32Array(128 * 6);
              for (let i = 0; i < 128; i++) {
                const t = rng.next() * 2 * Math.PI;
                for (let j = 0; j < 6; j++) data[i * 6 + j] = Math.cos(t * (j + 1));
              }
              return { size: 128, shape: [1, 1, 6] as [number, number, number], data };
            },
          }),
        }),
      );
    }
    const dir = tempDir();
    const part = { name: 'dense', config: { width: 16 } };
    const config = smallRunConfig({ stage1: { epochs: 1 }, stage2: { epochs: 1 } });
    Object.assign(config as Record<string, unknown>, {
      dataset: { name: 'test-vectors', config: {} },
    });
    (config as { stage1: Record<string, unknown> }).stage1.encoder = part;
    (config as { stage1: Record<string, unknown> }).stage1.decoder = part;
    const r = await trainTwoStage({ runDir: dir, config });
    expect(r.status).toBe('completed');
    expect(r.samples).toEqual([]);
    expect(new RunDirectory(dir).readMetrics()).toHaveLength(2);
  });
});
