/**
 * Initial weights come from explicit seeds (PluginContext.seed): the same seed gives the same
 * network, without `Math.random` being consulted at all.
 */
import * as tf from '@tensorflow/tfjs-core';
import { create, InvalidConfigError, type Module } from '@tsvae/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import './index';
import { useCpu } from './test-helpers';

beforeAll(useCpu);

const realRandom = Math.random;
afterEach(() => {
  Math.random = realRandom;
});

/** Fails the test if anything draws from Math.random while `fn` runs. */
async function withoutMathRandom<T>(fn: () => Promise<T>): Promise<T> {
  Math.random = () => {
    throw new Error('Math.random was called: an initializer is unseeded');
  };
  try {
    return await fn();
  } finally {
    Math.random = realRandom;
  }
}

function snapshot(m: Module): Map<string, Float32Array> {
  return new Map(m.getWeights().map((w) => [w.name, Float32Array.from(w.tensor.dataSync())]));
}

function same(a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || Buffer.compare(Buffer.from(v.buffer), Buffer.from(w.buffer)) !== 0) return false;
  }
  return true;
}

const small = { convDims: [4, 8], fcDim: 16 };
const cases = [
  [
    'stage1',
    'vae',
    {
      latentDim: 4,
      imageShape: [8, 8, 1],
      encoder: { name: 'infogan', config: small },
      decoder: { name: 'infogan', config: small },
    },
  ],
  [
    'stage1',
    'vae',
    {
      latentDim: 4,
      imageShape: [8, 8, 1],
      encoder: { name: 'infogan', config: { ...small, spectralNorm: false } },
      decoder: { name: 'infogan', config: small },
    },
  ],
  [
    'stage1',
    'vae',
    {
      latentDim: 4,
      imageShape: [16, 16, 3],
      encoder: { name: 'wae', config: { baseDim: 4 } },
      decoder: { name: 'wae', config: { baseDim: 4 } },
    },
  ],
  [
    'stage1',
    'vae',
    {
      latentDim: 4,
      imageShape: [8, 8, 1],
      encoder: { name: 'resnet', config: { baseDim: 4, numScale: 2, fcDim: 8 } },
      decoder: { name: 'resnet', config: { baseDim: 4, numScale: 2 } },
    },
  ],
  [
    'stage1',
    'vae',
    {
      latentDim: 4,
      imageShape: [1, 1, 10],
      encoder: { name: 'dense', config: { width: 8 } },
      decoder: { name: 'dense', config: { width: 8, activation: 'tanh' } },
    },
  ],
  ['second-stage', 'mlp', { latentDim: 4, width: 8, depth: 2 }],
] as const;

describe('seeded initial weights', () => {
  it.each(
    cases,
  )('%s %s: same seed, same weights; another seed, other weights; no Math.random', async (kind, name, config) => {
    const make = (seed: number) => withoutMathRandom(() => create(kind, name, config, { context: { seed } }));
    const a = await make(11);
    const b = await make(11);
    const c = await make(12);
    try {
      expect(same(snapshot(a), snapshot(b))).toBe(true);
      expect(same(snapshot(a), snapshot(c))).toBe(false);
      // every randomly initialised weight differs between layers (each layer has its own seed)
      const kernels = [...snapshot(a)].filter(([n]) => /kernel$/.test(n) && !/bn/.test(n));
      const firsts = kernels.map(([, v]) => v[0]);
      expect(new Set(firsts).size).toBe(kernels.length);
    } finally {
      for (const m of [a, b, c]) m.dispose();
    }
  });

  it('a seeded second stage samples the same codes for the same sample seed, also for seed 0', async () => {
    const s = await create('second-stage', 'mlp', { latentDim: 3, width: 8 }, { context: { seed: 1 } });
    try {
      for (const seed of [0, 5]) {
        const x = s.sample(4, { seed });
        const y = s.sample(4, { seed });
        expect([...x.dataSync()]).toEqual([...y.dataSync()]);
        tf.dispose([x, y]);
      }
      const x0 = s.sample(4, { seed: 0 });
      const x1 = s.sample(4, { seed: 1 });
      expect([...x0.dataSync()]).not.toEqual([...x1.dataSync()]);
      tf.dispose([x0, x1]);
    } finally {
      s.dispose();
    }
  });
});

describe('strict configs of the networks', () => {
  it('a misspelt key inside the encoder config is an error naming the plugin and the key', async () => {
    const err = await create('stage1', 'vae', {
      latentDim: 4,
      imageShape: [8, 8, 1],
      encoder: { name: 'infogan', config: { fcdim: 16 } },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as Error).message).toContain('encoder plugin "infogan"');
    expect((err as Error).message).toContain('field "fcdim": unknown key (did you mean "fcDim"?)');
    await expect(create('second-stage', 'mlp', { latentDim: 4, widht: 3 })).rejects.toThrow(/field "widht"/);
    await expect(create('stage1', 'vae', { imageShape: [8, 8, 1], likelyhood: 'bernoulli' })).rejects.toThrow(
      /stage1 plugin "vae".*field "likelyhood"/,
    );
  });
});
