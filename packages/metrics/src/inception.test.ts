import { readFileSync } from 'node:fs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeRealData } from '../../../test/real-data';
import { frechetDistance } from './fid';
import {
  FidInception,
  InceptionWeightsError,
  inceptionConvSpecs,
  LOGITS_DIM,
  POOL3_DIM,
  paramsFromStateDict,
  preprocessImages,
  type ResizeMode,
} from './inception';
import { polynomialMmd2 } from './kid';
import type { NpyArray } from './npy';
import { computeStatistics } from './stats';
import { fixtureJson, fixtureNpy, relMaxErr, seededWeightsPath, seededWeightsRequirement } from './testing';
import { readTorchCheckpoint, type TorchTensor } from './torch-checkpoint';

describe('FID Inception structure', () => {
  it('has the 94 BasicConv2d of pytorch-fid (Mixed_7c ends at 2048 channels)', () => {
    const specs = inceptionConvSpecs();
    expect(specs).toHaveLength(94);
    const last = specs.filter((s) => s.name.startsWith('Mixed_7c'));
    expect(
      last.reduce((n, s) => n + (s.name.endsWith('_1') || s.name.endsWith('dbl_2') ? 0 : s.outC), 0),
    ).toBe(2048);
  });

  it('names the missing or mis-shaped tensor and the expected shape', () => {
    const sd = new Map<string, TorchTensor>();
    expect(() => paramsFromStateDict(sd)).toThrow(
      new InceptionWeightsError("missing tensor 'Conv2d_1a_3x3.conv.weight' (expected shape [32, 3, 3, 3])"),
    );
    sd.set('Conv2d_1a_3x3.conv.weight', {
      dtype: 'float32',
      shape: [32, 3, 5, 5],
      data: new Float32Array(2400),
    });
    expect(() => paramsFromStateDict(sd)).toThrow(
      "tensor 'Conv2d_1a_3x3.conv.weight' has shape [32, 3, 5, 5], expected [32, 3, 3, 3]",
    );
  });
});

describe('preprocessImages', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('replicates grayscale and scales per mode, using values as they are (no quantisation here)', () => {
    const gray = tf.tensor4d([0.2, 0.2, 0.2, 0.2], [1, 2, 2, 1]);
    const tf1 = preprocessImages(gray, { resize: 'tf1-legacy' });
    expect(tf1.shape).toEqual([1, 299, 299, 3]);
    // 0.2 * 255 = 51 -> (51 - 128) / 128
    expect(tf1.dataSync()[12345]).toBeCloseTo((51 - 128) / 128, 6);
    const pt = preprocessImages(gray, { resize: 'pytorch-fid' });
    expect(pt.dataSync()[777]).toBeCloseTo(2 * 0.2 - 1, 6);
    const bytes = preprocessImages(tf.tensor4d([51, 51, 51, 51], [1, 2, 2, 1], 'int32'), {
      resize: 'tf1-legacy',
    });
    expect(bytes.dataSync()[5]).toBeCloseTo((51 - 128) / 128, 6);
    // Between uint8 levels: 0.3001 * 255 = 76.5255 stays unrounded (prepareGenerated quantises, once).
    const between = tf.tensor4d([0.3001, 0.3001, 0.3001, 0.3001], [1, 2, 2, 1]);
    const raw = preprocessImages(between, { resize: 'tf1-legacy' });
    expect(raw.dataSync()[42]).toBeCloseTo((0.3001 * 255 - 128) / 128, 6);
    expect(Math.abs((raw.dataSync()[42] as number) - (77 - 128) / 128)).toBeGreaterThan(1e-3);
    tf.dispose([gray, tf1, pt, bytes, between, raw]);
  });

  it('tf1-legacy is TF1 bilinear without half-pixel centres; pytorch-fid uses half-pixel centres', () => {
    // A 1 x 2 ramp: TF1 samples src = dst * 2/299 (left-aligned); half-pixel is symmetric.
    const ramp = tf.tensor4d([0, 1, 0, 1, 0, 1], [1, 1, 2, 3]);
    const a = preprocessImages(ramp, { resize: 'tf1-legacy' }).dataSync();
    const b = preprocessImages(ramp, { resize: 'pytorch-fid' }).dataSync();
    const col = (arr: Float32Array | Int32Array | Uint8Array, x: number): number => arr[x * 3] as number;
    expect(col(a, 0)).toBeCloseTo(-1, 6);
    expect(col(a, 100)).toBeCloseTo((((100 * 2) / 299) * 255 - 128) / 128, 4);
    expect(col(a, 298)).toBeCloseTo((255 - 128) / 128, 6);
    expect(col(b, 0)).toBeCloseTo(-1, 6);
    expect(col(b, 149)).toBeCloseTo(0, 6);
    expect(col(b, 100)).toBeCloseTo(2 * ((100.5 * 2) / 299 - 0.5) - 1, 5);
    expect(col(b, 298)).toBeCloseTo(1, 6);
  });
});

interface PortExpected {
  modes: Record<ResizeMode, { fid_scipy: number; kid: number }>;
}

const weights = seededWeightsPath();
const seededWeights = seededWeightsRequirement();

describeRealData('port equivalence with pytorch-fid 0.3.0 (seeded weights)', seededWeights, () => {
  let net: FidInception;
  const expected = fixtureJson<PortExpected>('port', 'expected.json');
  const inputs = (): tf.Tensor4D[] => {
    const toTensor = (a: NpyArray): tf.Tensor4D =>
      a.dtype === 'uint8'
        ? tf.tensor4d(Int32Array.from(a.data), a.shape as [number, number, number, number], 'int32')
        : tf.tensor4d(a.data as Float32Array, a.shape as [number, number, number, number]);
    return ['in_mnist.npy', 'in_cifar.npy', 'in_made.npy'].map((f) => toTensor(fixtureNpy('port', f)));
  };

  beforeAll(async () => {
    await tf.setBackend('wasm');
    const sd = readTorchCheckpoint(new Uint8Array(readFileSync(weights as string)));
    net = new FidInception(paramsFromStateDict(sd));
  });

  it.each([
    'pytorch-fid',
    'tf1-legacy',
  ] as const)('%s (16 images: MNIST, CIFAR-10, made): pool3 and logits to 1e-4, FID and KID to 1e-3', async (mode) => {
    const before = tf.memory().numTensors;
    const groups = inputs();
    const pool = new Float32Array(16 * POOL3_DIM);
    const logits = new Float32Array(16 * LOGITS_DIM);
    let row = 0;
    for (const g of groups) {
      const f = await net.extract(g, { resize: mode, logits: true, batchSize: 4 });
      pool.set(f.pool3, row * POOL3_DIM);
      logits.set(f.logits as Float32Array, row * LOGITS_DIM);
      row += f.count;
      g.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    const tag = mode.replace('-', '_');
    const refPool = fixtureNpy('port', `pool3_${tag}.npy`).data as Float32Array;
    const refLogits = fixtureNpy('port', `logits_${tag}.npy`).data as Float32Array;
    const poolErr = relMaxErr(pool, refPool);
    const logitErr = relMaxErr(logits, refLogits);
    expect(poolErr).toBeLessThan(1e-4);
    expect(logitErr).toBeLessThan(1e-4);
    const pick = (rows: number[]): Float32Array => {
      const out = new Float32Array(rows.length * POOL3_DIM);
      rows.forEach((r, i) => {
        out.set(pool.subarray(r * POOL3_DIM, (r + 1) * POOL3_DIM), i * POOL3_DIM);
      });
      return out;
    };
    const a = pick([0, 1, 2, 3, 8, 9, 10, 11]);
    const b = pick([4, 5, 6, 7, 12, 13, 14, 15]);
    const fid = frechetDistance(computeStatistics(a, POOL3_DIM), computeStatistics(b, POOL3_DIM));
    const ref = expected.modes[mode];
    const fidErr = Math.abs(fid.fid - ref.fid_scipy) / ref.fid_scipy;
    expect(fidErr).toBeLessThan(1e-3);
    const all = [0, 1, 2, 3, 4, 5, 6, 7];
    const kid = polynomialMmd2(a, b, POOL3_DIM, all, all);
    const kidErr = Math.abs(kid - ref.kid) / Math.abs(ref.kid);
    expect(kidErr).toBeLessThan(1e-3);
    console.info(
      JSON.stringify({ mode, poolErr, logitErr, fid: fid.fid, fidRef: ref.fid_scipy, fidErr, kid, kidErr }),
    );
  }, 600_000);
});
