import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { create, deriveSeed } from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerGanGeneratorPlugins } from './generator-plugins';
import type { GanGenerator } from './kinds';
import { drawCodes, type GanPrior, sampleGan, sampleGanCodes } from './sample';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

async function smallGenerator(): Promise<GanGenerator> {
  registerGanGeneratorPlugins();
  return create(
    'gan-generator',
    'infogan',
    { zDim: 3, imageShape: [8, 8, 1], convDims: [4, 8], fcDim: 16 },
    { context: { seed: 7 } },
  );
}

describe('GAN sampling: how a seed maps to draws', () => {
  it('batch b draws its codes with deriveSeed(seed, "sample-batch", b) from the prior', () => {
    for (const prior of ['uniform', 'normal'] as const) {
      const codes = sampleGanCodes(3, 5, { seed: 9, batchSize: 2, prior });
      const expected = [0, 1, 2].map((b) =>
        drawCodes(b === 2 ? 1 : 2, 3, prior, deriveSeed(9, 'sample-batch', b)),
      );
      expect(values(codes)).toEqual(expected.flatMap(values));
      const v = values(codes);
      if (prior === 'uniform') expect(v.every((x) => x >= -1 && x <= 1)).toBe(true);
      else expect(v.some((x) => Math.abs(x) > 1)).toBe(true);
      tf.dispose([codes, ...expected]);
    }
    // the default prior is uniform and the default batch size 256 (one batch here)
    const a = sampleGanCodes(3, 4, { seed: 1 });
    const b = drawCodes(4, 3, 'uniform', deriveSeed(1, 'sample-batch', 0));
    expect(values(a)).toEqual(values(b));
    tf.dispose([a, b]);
  });

  it('sampleGan is G(sampleGanCodes) in inference mode, for every batch size and prior', async () => {
    const g = await smallGenerator();
    const before = tf.memory().numTensors;
    for (const prior of ['uniform', 'normal'] as GanPrior[]) {
      for (const batchSize of [256, 3]) {
        const x = sampleGan(g, 7, { seed: 4, batchSize, prior });
        const z = sampleGanCodes(g.zDim, 7, { seed: 4, batchSize, prior });
        const y = g.forward(z, { training: false });
        expect(x.shape).toEqual([7, 8, 8, 1]);
        expect(values(x)).toEqual(values(y));
        tf.dispose([x, z, y]);
      }
    }
    // the seed and the batch size change the draws; the same ones repeat them
    const [p, q, r] = [
      sampleGan(g, 4, { seed: 4 }),
      sampleGan(g, 4, { seed: 5 }),
      sampleGan(g, 4, { seed: 4, batchSize: 2 }),
    ];
    const p2 = sampleGan(g, 4, { seed: 4 });
    expect(values(p2)).toEqual(values(p));
    expect(values(q)).not.toEqual(values(p));
    expect(values(r)).not.toEqual(values(p));
    tf.dispose([p, q, r, p2]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => sampleGan(g, 0)).toThrow(/sampleGan: n must be a positive integer, got 0/);
    expect(() => sampleGanCodes(3, 2, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    g.dispose();
  });
});
