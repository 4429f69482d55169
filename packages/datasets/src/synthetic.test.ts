import { createRng } from '@tsvae/core';
import { describe, expect, it } from 'vitest';
import {
  gaussianBlob,
  linearSubspace,
  manifoldDataset,
  randomOrthonormal,
  sphere,
  swissRoll,
} from './synthetic';

const maxOf = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, v), 0);

describe('random orthonormal embedding', () => {
  it('has orthonormal columns', () => {
    const q = randomOrthonormal(7, 3, createRng(1));
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++) {
        let dot = 0;
        for (let i = 0; i < 7; i++) dot += q[i * 3 + a]! * q[i * 3 + b]!;
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 12);
      }
  });
});

/** `x` moved by `eps` along a fixed random unit direction. */
function offManifold(
  m: { distance(p: ArrayLike<number>): Float32Array; ambientDim: number },
  x: Float32Array,
  eps: number,
): Float32Array {
  const rng = createRng(9);
  const d = m.ambientDim;
  const dir = Float32Array.from({ length: d }, () => rng.normal());
  let n = 0;
  for (const v of dir) n += v * v;
  return x.map((v, i) => v + (eps * dir[i]!) / Math.sqrt(n));
}

describe('linear subspace', () => {
  const m = linearSubspace({ dim: 10, intrinsicDim: 3, seed: 2 });
  it('samples lie on it; embed(latents) reproduces them', () => {
    const { data, latents } = m.sample(200, 1);
    expect(maxOf(m.distance(data))).toBeLessThan(1e-5);
    expect(Array.from(m.embed(latents))).toEqual(Array.from(data));
  });
  it('distance of x + t n (n normal to the subspace) is |t|', () => {
    const { data } = m.sample(1, 3);
    // Residual of a random vector is normal to the subspace.
    const rng = createRng(4);
    const v = Float32Array.from({ length: 10 }, () => rng.normal());
    const dv = m.distance(v)[0]!;
    expect(dv).toBeGreaterThan(0.5);
    // distance(y) = |(I - P) y| and (I - P) x = 0, so distance(x + t v) = |t| distance(v).
    const moved = data.map((x, i) => x + v[i]!);
    expect(m.distance(moved)[0]).toBeCloseTo(dv, 4);
    const scaled = data.map((x, i) => x + 2.5 * v[i]!);
    expect(m.distance(scaled)[0]).toBeCloseTo(2.5 * dv, 4);
  });
});

describe('sphere', () => {
  const m = sphere({ dim: 8, intrinsicDim: 2, radius: 2, seed: 1 });
  it('samples lie on it at the right radius', () => {
    const { data, latents } = m.sample(300, 5);
    expect(m.latentDim).toBe(3);
    expect(maxOf(m.distance(data))).toBeLessThan(1e-5);
    for (let i = 0; i < 300; i++) {
      let r = 0;
      for (let j = 0; j < 8; j++) r += data[i * 8 + j]! ** 2;
      expect(Math.sqrt(r)).toBeCloseTo(2, 4);
    }
    expect(Array.from(m.embed(latents))).toEqual(Array.from(data));
  });
  it('a radial scaling by s is at distance |s - 1| * radius; the origin at distance radius', () => {
    const { data } = m.sample(5, 6);
    const scaled = data.map((v) => 1.3 * v);
    for (const d of m.distance(scaled)) expect(d).toBeCloseTo(0.6, 4);
    expect(m.distance(new Float32Array(8))[0]).toBeCloseTo(2, 6);
  });
});

describe('swiss roll', () => {
  const m = swissRoll({ dim: 5, seed: 3 });
  it('samples lie on it; perturbed points are at most the perturbation away', () => {
    const { data, latents } = m.sample(100, 7);
    expect(maxOf(m.distance(data))).toBeLessThan(1e-4);
    expect(Array.from(m.embed(latents))).toEqual(Array.from(data));
    const moved = offManifold(m, data.subarray(0, 5), 0.05);
    const d = m.distance(moved)[0]!;
    expect(d).toBeGreaterThan(0.005);
    expect(d).toBeLessThanOrEqual(0.05 + 1e-6);
  });
  it('a point on the roll axis is at least the inner radius away', () => {
    const d = m.distance(new Float32Array(5))[0]!;
    expect(d).toBeGreaterThanOrEqual(0.1 * 1.5 * Math.PI - 1e-4);
  });
});

describe('Gaussian blob images', () => {
  const m = gaussianBlob({ size: 12, intrinsicDim: 2, sigma: 1.5, margin: 3 });
  it('renders [s, s, 1] images peaking at the centre, on the manifold', () => {
    expect(m.shape).toEqual([12, 12, 1]);
    const { data, latents } = m.sample(6, 11);
    expect(maxOf(m.distance(data))).toBeLessThan(1e-3);
    // The brightest pixel is the one containing the centre.
    for (let i = 0; i < 6; i++) {
      const img = data.subarray(i * 144, (i + 1) * 144);
      const arg = img.indexOf(Math.max(...img));
      expect(Math.floor(arg / 12)).toBe(Math.min(11, Math.floor(latents[2 * i + 1]!)));
      expect(arg % 12).toBe(Math.min(11, Math.floor(latents[2 * i]!)));
    }
  });
  it('distance of a blend of two blobs is positive and at most the distance to either', () => {
    const a = m.embed([4, 4]);
    const b = m.embed([8, 8]);
    const mix = a.map((v, i) => 0.5 * v + 0.5 * b[i]!);
    let toA = 0;
    for (let i = 0; i < 144; i++) toA += (mix[i]! - a[i]!) ** 2;
    const d = m.distance(mix)[0]!;
    expect(d).toBeGreaterThan(0.1);
    expect(d).toBeLessThanOrEqual(Math.sqrt(toA) + 1e-6);
  });
  it('3 parameters: sigma is recovered as a latent', () => {
    const m3 = gaussianBlob({ size: 10, intrinsicDim: 3 });
    const { data } = m3.sample(2, 1);
    expect(maxOf(m3.distance(data))).toBeLessThan(1e-3);
  });
});

describe('manifoldDataset', () => {
  it('gives deterministic float32 splits with latents', async () => {
    const ds = manifoldDataset(sphere({ dim: 4, intrinsicDim: 1 }), { trainSize: 50, testSize: 20, seed: 3 });
    const train = await ds.load('train');
    const test = await ds.load('test');
    expect(train.size).toBe(50);
    expect(test.size).toBe(20);
    expect(train.shape).toEqual([1, 1, 4]);
    expect(train.data).toBeInstanceOf(Float32Array);
    expect(train.latents.length).toBe(50 * 2);
    const again = await manifoldDataset(sphere({ dim: 4, intrinsicDim: 1 }), { trainSize: 50, seed: 3 }).load(
      'train',
    );
    expect(Array.from(again.data)).toEqual(Array.from(train.data));
    expect(Array.from(test.data.subarray(0, 4))).not.toEqual(Array.from(train.data.subarray(0, 4)));
  });
});
