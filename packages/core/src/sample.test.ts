import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { deriveSeed } from './rng';
import {
  decoderMean,
  interpolateLatents,
  type SampleDecoder,
  sampleLatents,
  sampleOneStage,
  sampleTwoStage,
} from './sample';
import type { Decoder, SecondStage } from './types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A decoder whose images are its codes: `[n, 4]` -> `[n, 2, 2, 1]`, so images show the draws. */
const identity: SampleDecoder = {
  latentDim: 4,
  decode: (z) => tf.reshape(z, [z.shape[0], 2, 2, 1]) as tf.Tensor4D,
};

/** A second stage that records the seeds it is asked for and returns `seed`-filled codes. */
function recordingStage(): SecondStage & { calls: { n: number; seed: number | undefined }[] } {
  const calls: { n: number; seed: number | undefined }[] = [];
  return {
    calls,
    latentDim: 4,
    loss: () => {
      throw new Error('not used');
    },
    sample: (n, options) => {
      calls.push({ n, seed: options?.seed });
      return tf.fill([n, 4], options?.seed ?? -1) as tf.Tensor2D;
    },
    trainableVariables: () => [],
    getWeights: () => [],
    setWeights: () => {},
    countParams: () => 0,
    dispose: () => {},
  };
}

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('sampling seeds', () => {
  it('one-stage: batch b draws N(0, I) with deriveSeed(seed, "sample-batch", b)', () => {
    const before = tf.memory().numTensors;
    const x = sampleOneStage(identity, 5, { seed: 7, batchSize: 2 });
    expect(x.shape).toEqual([5, 2, 2, 1]);
    const expected = tf.tidy(() =>
      [2, 2, 1].flatMap((m, b) =>
        values(tf.randomNormal([m, 4], 0, 1, 'float32', deriveSeed(7, 'sample-batch', b))),
      ),
    );
    expect(values(x)).toEqual(expected);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('two-stage: the second stage samples each batch with its derived seed; unseeded passes none', () => {
    const stage = recordingStage();
    const x = sampleTwoStage(identity, stage, 5, { seed: 0, batchSize: 3 });
    expect(stage.calls).toEqual([
      { n: 3, seed: deriveSeed(0, 'sample-batch', 0) },
      { n: 2, seed: deriveSeed(0, 'sample-batch', 1) },
    ]);
    expect(values(x).slice(12)).toEqual(Array(8).fill(Math.fround(deriveSeed(0, 'sample-batch', 1))));
    x.dispose();
    stage.calls.length = 0;
    sampleTwoStage(identity, stage, 2).dispose();
    expect(stage.calls).toEqual([{ n: 2, seed: undefined }]);
  });

  it('the batch size changes the draws, the seed fixes them', () => {
    const a = sampleOneStage(identity, 4, { seed: 3 });
    const b = sampleOneStage(identity, 4, { seed: 3, batchSize: 2 });
    const c = sampleOneStage(identity, 4, { seed: 3 });
    expect(values(a)).toEqual(values(c));
    expect(values(a)).not.toEqual(values(b));
    tf.dispose([a, b, c]);
  });

  it('sampleLatents gives the codes behind both samplers', () => {
    const stage = recordingStage();
    for (const second of [null, stage]) {
      const z = sampleLatents(4, second, 5, { seed: 11, batchSize: 2 });
      const x = second
        ? sampleTwoStage(identity, second, 5, { seed: 11, batchSize: 2 })
        : sampleOneStage(identity, 5, { seed: 11, batchSize: 2 });
      expect(values(z)).toEqual(values(x));
      tf.dispose([z, x]);
    }
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => sampleOneStage(identity, 2, { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => sampleOneStage(identity, 2, { batchSize: 1.5 })).toThrow(/batchSize/);
  });
});

describe('decoderMean', () => {
  it('decodes to the decoder output mean', () => {
    const decoder = {
      latentDim: 4,
      decode: (z: tf.Tensor2D) => {
        const logits = tf.reshape(z, [z.shape[0], 2, 2, 1]) as tf.Tensor4D;
        return { mean: tf.sigmoid(logits) as tf.Tensor4D, logits };
      },
    } as unknown as Decoder;
    const z = tf.tensor2d([[0, 1, -1, 2]]);
    const x = decoderMean(decoder).decode(z, { training: false });
    expect(values(x)).toEqual(values(tf.sigmoid(z)));
    expect(decoderMean(decoder).latentDim).toBe(4);
  });
});

describe('interpolateLatents', () => {
  it('linear: exact endpoints, t-weighted means between', () => {
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.tensor1d([3, -2, 0]);
    const path = interpolateLatents(a, b, 5);
    expect(path.shape).toEqual([5, 3]);
    const rows = path.arraySync();
    expect(rows[0]).toEqual([1, 2, 3]);
    expect(rows[4]).toEqual([3, -2, 0]);
    for (const [k, row] of rows.entries()) {
      const t = k / 4;
      row.forEach((v, j) => {
        expect(v).toBeCloseTo((1 - t) * (a.arraySync()[j] as number) + t * (b.arraySync()[j] as number), 5);
      });
    }
  });

  it('slerp: on the great circle with the norm interpolated; linear for parallel codes', () => {
    const a = tf.tensor2d([[2, 0]]);
    const b = tf.tensor2d([[0, 4]]);
    const rows = interpolateLatents(a, b, 3, 'slerp').arraySync();
    expect(rows[0]?.[0]).toBeCloseTo(2, 5);
    expect(rows[0]?.[1]).toBeCloseTo(0, 5);
    expect(rows[2]?.[0]).toBeCloseTo(0, 5);
    expect(rows[2]?.[1]).toBeCloseTo(4, 5);
    // midway: direction at 45 degrees, norm (2 + 4) / 2 = 3
    expect(rows[1]?.[0]).toBeCloseTo(3 / Math.SQRT2, 5);
    expect(rows[1]?.[1]).toBeCloseTo(3 / Math.SQRT2, 5);
    const p = interpolateLatents(tf.tensor1d([1, 1]), tf.tensor1d([3, 3]), 3, 'slerp').arraySync();
    expect(p[1]).toEqual([2, 2]);
  });

  it('rejects fewer than 2 steps and codes of different sizes', () => {
    expect(() => interpolateLatents(tf.zeros([2]), tf.zeros([2]), 1)).toThrow(/steps/);
    expect(() => interpolateLatents(tf.zeros([2]), tf.zeros([3]), 3)).toThrow(/sizes/);
  });
});
