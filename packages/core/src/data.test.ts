import { describe, expect, it } from 'vitest';
import { epochOrder, holdOut, subset } from './data';
import { createRng } from './rng';
import type { DataSplit } from './types';

/** 10 examples of shape [2, 2, 1]; example i has every pixel = 10 * i and label i % 3. */
function tiny(n = 10): DataSplit {
  const data = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) data.fill(10 * i, 4 * i, 4 * i + 4);
  return { size: n, shape: [2, 2, 1], data, labels: Int32Array.from({ length: n }, (_, i) => i % 3) };
}

describe('epochOrder', () => {
  it('is the identity without a generator and a seeded permutation with one', () => {
    expect([...epochOrder(5)]).toEqual([0, 1, 2, 3, 4]);
    const a = epochOrder(50, createRng(3));
    expect([...a].sort((x, y) => x - y)).toEqual([...epochOrder(50)]);
    expect([...a]).toEqual([...epochOrder(50, createRng(3))]);
    expect([...a]).not.toEqual([...epochOrder(50)]);
  });
});

describe('subsets and held-out splits', () => {
  it('first n is a view; indices copy in order; seeded n is a random sample', () => {
    const s = tiny();
    const first = subset(s, 4);
    expect(first.size).toBe(4);
    expect(first.data.buffer).toBe(s.data.buffer);
    expect([...first.labels!]).toEqual([0, 1, 2, 0]);
    const picked = subset(s, [9, 2]);
    expect([...picked.data]).toEqual([90, 90, 90, 90, 20, 20, 20, 20]);
    expect([...picked.labels!]).toEqual([0, 2]);
    const r = subset(s, 5, { seed: 1 });
    expect(r.size).toBe(5);
    expect(new Set(r.data).size).toBe(5);
    expect(() => subset(s, [10])).toThrow(/outside/);
  });

  it('holdOut partitions the examples', () => {
    const [rest, held] = holdOut(tiny(), 3, 7);
    expect(rest.size + held.size).toBe(10);
    const values = [...rest.data, ...held.data].filter((_, i) => i % 4 === 0).sort((a, b) => a - b);
    expect(values).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });
});
