import * as tf from '@tensorflow/tfjs-core';
import { createRng, type DataSplit, toTensor } from '@tsvae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batches, batchesPerEpoch, labelledBatches } from './iterate';
import { useCpu } from './test-helpers';

beforeAll(useCpu);

/** 10 examples of shape [2, 2, 1]; example i has every pixel = 10 * i and label i % 3. */
function tiny(n = 10): DataSplit {
  const data = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) data.fill(10 * i, 4 * i, 4 * i + 4);
  return { size: n, shape: [2, 2, 1], data, labels: Int32Array.from({ length: n }, (_, i) => i % 3) };
}

describe('batches', () => {
  it('yields float32 [B, H, W, C] in [0, 1], 64 by default, dropping the remainder', () => {
    const big: DataSplit = { size: 130, shape: [2, 2, 1], data: new Uint8Array(130 * 4).fill(255) };
    const out = [...batches(big)];
    expect(out.length).toBe(2);
    expect(out[0]!.shape).toEqual([64, 2, 2, 1]);
    expect(out[0]!.dtype).toBe('float32');
    expect(out[0]!.dataSync().every((v) => v === 1)).toBe(true);
    tf.dispose(out);
    const all = [...batches(big, { dropRemainder: false })];
    expect(all.map((b) => b.shape[0])).toEqual([64, 64, 2]);
    tf.dispose(all);
    expect(batchesPerEpoch(130)).toBe(2);
    expect(batchesPerEpoch(130, 64, false)).toBe(3);
  });

  it('values are data / 255 and labels / indices match', () => {
    const s = tiny();
    let n = 0;
    for (const b of batches(s, { batchSize: 3, seed: 5, withLabels: true })) {
      expect(b.labels.length).toBe(3);
      b.x.dispose();
      n++;
    }
    expect(n).toBe(3);
    for (const b of labelledBatches(s, { batchSize: 3, seed: 5 })) {
      const v = b.x.dataSync();
      b.indices.forEach((idx, k) => {
        expect(v[4 * k]).toBeCloseTo((10 * idx) / 255, 6);
        expect(b.labels[k]).toBe(idx % 3);
      });
      b.x.dispose();
    }
  });

  it('seeded shuffling: same seed same order, each epoch a permutation, epochs differ', () => {
    const s = tiny();
    const run = (seed: number): number[][] =>
      [...labelledBatches(s, { batchSize: 5, seed, epochs: 3 })].map((b) => {
        b.x.dispose();
        return [...b.indices];
      });
    const a = run(1);
    expect(run(1)).toEqual(a);
    expect(run(2)).not.toEqual(a);
    expect(a.length).toBe(6);
    for (let e = 0; e < 3; e++)
      expect([...a[2 * e]!, ...a[2 * e + 1]!].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.slice(0, 2)).not.toEqual(a.slice(2, 4));
    const ordered = [...labelledBatches(s, { batchSize: 5, shuffle: false })].map((b) => {
      b.x.dispose();
      return [...b.indices];
    });
    expect(ordered).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
    ]);
  });

  it('an Rng passed in continues its stream (resumable)', () => {
    const s = tiny();
    const rng = createRng(3);
    const state = rng.getState();
    const first = [...labelledBatches(s, { batchSize: 10, rng })].map((b) => {
      b.x.dispose();
      return [...b.indices];
    });
    rng.setState(state);
    const again = [...labelledBatches(s, { batchSize: 10, rng })].map((b) => {
      b.x.dispose();
      return [...b.indices];
    });
    expect(again).toEqual(first);
  });

  it('leaks no tensors: numTensors is back to its start after disposing each batch', () => {
    const s = tiny(100);
    const before = tf.memory().numTensors;
    let count = 0;
    for (const x of batches(s, { batchSize: 7, epochs: 4 })) {
      tf.tidy(() => {
        tf.mean(x);
      });
      x.dispose();
      count++;
    }
    expect(count).toBe(4 * 14);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('float32 data is used as stored', () => {
    const s: DataSplit = { size: 2, shape: [1, 1, 3], data: Float32Array.from([-1, 2, 3.5, 4, 5, 6]) };
    const [x] = [...batches(s, { batchSize: 2, shuffle: false })];
    expect([...x!.dataSync()]).toEqual([-1, 2, 3.5, 4, 5, 6]);
    x!.dispose();
    const t = toTensor(s, [1]);
    expect([...t.dataSync()]).toEqual([4, 5, 6]);
    t.dispose();
  });

  it('rejects bad options', () => {
    expect(() => [...batches(tiny(), { batchSize: 0 })]).toThrow(/batchSize/);
    expect(() => [...batches(tiny(), { batchSize: 20, epochs: Number.POSITIVE_INFINITY })]).toThrow(
      /endless/,
    );
  });
});
