/**
 * `gmm` and `flow` inside the run machinery of `@tsvae/stages` (production stage 1 at test size):
 * `trainTwoStage` completes and resumes byte-identically after an interrupt, `loadRun` /
 * `VaeGenerator` sample from them, `fitSecondStage` adds them to an existing run.
 */
import '@tensorflow/tfjs-backend-cpu';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingCallback } from '@tsvae/core';
import {
  fitSecondStage,
  loadLatestCheckpoint,
  loadRun,
  RunDirectory,
  trainTwoStage,
  VaeGenerator,
} from '@tsvae/stages';
import { registerTinyPlugins, smallRunConfig, tempDir } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerTinyPlugins();
});

const GMM = { name: 'gmm', config: { components: 3, maxIterations: 15, tolerance: 1e-6 } };
const FLOW = { name: 'flow', config: { couplings: 2, width: 8, depth: 1 } };

const configWith = (model: { name: string; config: Record<string, unknown> }) =>
  smallRunConfig({ stage2: { model } });

function finalBytes(checkpointsDir: string): Record<string, string> {
  const { checkpoint } = loadLatestCheckpoint(checkpointsDir);
  if (!checkpoint) throw new Error('no checkpoint');
  expect(checkpoint.manifest.position.stage).toBe('done');
  const out: Record<string, string> = {};
  for (const [name, t] of Object.entries(checkpoint.weights)) {
    const d = t.dataSync();
    out[name] = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
  }
  checkpoint.dispose();
  return out;
}

const metricsOf = (dir: string) => new RunDirectory(dir).readMetrics().map(({ seconds: _s, ...m }) => m);

function abortAt(when: (stage: string, epoch: number, step: number) => boolean): {
  controller: AbortController;
  callback: TrainingCallback;
} {
  const controller = new AbortController();
  return {
    controller,
    callback: {
      onBatchEnd: (step, _l, info) => {
        if (when(info.stage, info.epoch, step)) controller.abort();
      },
      onEpochEnd: (epoch, _l, info) => {
        if (when(info.stage, epoch, -1)) controller.abort();
      },
    },
  };
}

describe.each([
  [
    'gmm',
    GMM,
    (stage: string, epoch: number, step: number) => stage === 'stage2' && epoch === 2 && step === -1,
  ],
  [
    'flow',
    FLOW,
    (stage: string, epoch: number, step: number) => stage === 'stage2' && epoch === 0 && step === 1,
  ],
] as const)('trainTwoStage with %s', (name, model, cut) => {
  it('completes, samples through loadRun / VaeGenerator, and resumes byte-identically after an interrupt', async () => {
    const straight = join(tempDir(), 'run');
    expect((await trainTwoStage({ runDir: straight, config: configWith(model) })).status).toBe('completed');
    const m2 = new RunDirectory(straight).readMetrics().filter((m) => m.stage === 'stage2');
    if (name === 'gmm') {
      // one record per EM iteration, log-likelihood non-decreasing
      expect(m2.length).toBeGreaterThan(2);
      const ll = m2.map((m) => m.extra?.['logLikelihood'] as number);
      for (let i = 1; i < ll.length; i++)
        expect(ll[i] as number).toBeGreaterThanOrEqual((ll[i - 1] as number) - 1e-9);
    } else {
      expect(m2.map((m) => m.epoch)).toEqual([1, 2]);
    }
    const run = await loadRun(straight);
    expect(run.record.components.secondStage.plugin).toBe(name);
    const g = new VaeGenerator(run.stage1, run.secondStage, 'two-stage');
    const a = await g.generate(6, { seed: 4 });
    const b = await g.generate(6, { seed: 4 });
    expect(a.shape).toEqual([6, 8, 8, 1]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([a, b]);
    run.dispose();

    const dir = join(tempDir(), 'run');
    const { controller, callback } = abortAt(cut);
    const r = await trainTwoStage({
      runDir: dir,
      config: configWith(model),
      callbacks: [callback],
      signal: controller.signal,
    });
    expect(r.status).toBe('aborted');
    expect((await trainTwoStage({ runDir: dir, resume: true })).status).toBe('completed');
    expect(finalBytes(new RunDirectory(dir).checkpointsDir)).toEqual(
      finalBytes(new RunDirectory(straight).checkpointsDir),
    );
    expect(metricsOf(dir)).toEqual(metricsOf(straight));
  });
});

describe('fitSecondStage with gmm and flow on an existing run', () => {
  it("adds both beside the run's own mlp; loadRun picks each; the gmm refit is deterministic", async () => {
    const runDir = join(tempDir(), 'run');
    await trainTwoStage({ runDir, config: smallRunConfig() });
    const g = await fitSecondStage({ runDir, secondStage: GMM, name: 'gmm' });
    const f = await fitSecondStage({ runDir, secondStage: FLOW, epochs: 2 });
    expect([g.status, f.status]).toEqual(['completed', 'completed']);
    expect(f.dir).toBe(join(runDir, 'stage2-flow'));
    const again = await fitSecondStage({ runDir, secondStage: GMM, name: 'gmm-again' });
    expect(finalBytes(join(again.dir, 'checkpoints'))).toEqual(finalBytes(join(g.dir, 'checkpoints')));
    for (const [stage2, plugin] of [
      [undefined, 'mlp'],
      ['gmm', 'gmm'],
      ['flow', 'flow'],
    ] as const) {
      const run = await loadRun(runDir, stage2 ? { stage2 } : {});
      expect(run.secondStage.constructor.name).toBe(
        plugin === 'gmm' ? 'GaussianMixture' : plugin === 'flow' ? 'RealNvpFlow' : 'MlpSecondStage',
      );
      const z = run.secondStage.sample(5, { seed: 2 });
      expect(z.shape).toEqual([5, 4]);
      z.dispose();
      run.dispose();
    }
  });
});
