/**
 * The stage-1 loss on a fixed batch with fixed weights against an independent float64
 * re-implementation of the infogan network (SAME convolutions, spectral norm with one power
 * iteration, BatchNorm in training mode, transposed convolutions) and of the two loss formulas.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createStage1Vae, type Stage1VaeModel } from './index';
import { f64, prng, randomImages, useCpu, withSeed } from './test-helpers';

beforeAll(useCpu);

const H = 8;
const W = 8;
const C = 1;
const K = 2; // latent dim
const B = 3;
const CONV: [number, number] = [2, 3];
const FC = 5;
const LOG_2PI = Math.log(2 * Math.PI);

/** A dense float64 NHWC array. */
interface Arr {
  shape: number[];
  data: Float64Array;
}

function conv2dSame(x: Arr, k: Arr, stride: number): Arr {
  const [b, h, w, ci] = x.shape as [number, number, number, number];
  const [kh, kw, , co] = k.shape as [number, number, number, number];
  const oh = Math.ceil(h / stride);
  const ow = Math.ceil(w / stride);
  const padT = Math.floor(Math.max((oh - 1) * stride + kh - h, 0) / 2);
  const padL = Math.floor(Math.max((ow - 1) * stride + kw - w, 0) / 2);
  const out = new Float64Array(b * oh * ow * co);
  for (let n = 0; n < b; n++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let o = 0; o < co; o++) {
          let s = 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = oy * stride + ky - padT;
              const ix = ox * stride + kx - padL;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              for (let c = 0; c < ci; c++) {
                s +=
                  (x.data[((n * h + iy) * w + ix) * ci + c] as number) *
                  (k.data[((ky * kw + kx) * ci + c) * co + o] as number);
              }
            }
          out[((n * oh + oy) * ow + ox) * co + o] = s;
        }
  return { shape: [b, oh, ow, co], data: out };
}

/** TF conv2d_transpose, stride 2, SAME, output 2x the input; kernel [k, k, out, in]. */
function deconv2dSame(x: Arr, k: Arr, stride: number): Arr {
  const [b, h, w, ci] = x.shape as [number, number, number, number];
  const [kh, kw, co] = k.shape as [number, number, number, number];
  const oh = h * stride;
  const ow = w * stride;
  const padT = Math.floor(Math.max((h - 1) * stride + kh - oh, 0) / 2);
  const padL = Math.floor(Math.max((w - 1) * stride + kw - ow, 0) / 2);
  const out = new Float64Array(b * oh * ow * co);
  for (let n = 0; n < b; n++)
    for (let iy = 0; iy < h; iy++)
      for (let ix = 0; ix < w; ix++)
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const oy = iy * stride + ky - padT;
            const ox = ix * stride + kx - padL;
            if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
            for (let o = 0; o < co; o++) {
              let s = 0;
              for (let c = 0; c < ci; c++) {
                s +=
                  (x.data[((n * h + iy) * w + ix) * ci + c] as number) *
                  (k.data[((ky * kw + kx) * co + o) * ci + c] as number);
              }
              out[((n * oh + oy) * ow + ox) * co + o] =
                (out[((n * oh + oy) * ow + ox) * co + o] as number) + s;
            }
          }
  return { shape: [b, oh, ow, co], data: out };
}

function dense(x: Arr, k: Arr): Arr {
  const [b, i] = x.shape as [number, number];
  const o = k.shape[1] as number;
  const out = new Float64Array(b * o);
  for (let n = 0; n < b; n++)
    for (let j = 0; j < o; j++) {
      let s = 0;
      for (let a = 0; a < i; a++) s += (x.data[n * i + a] as number) * (k.data[a * o + j] as number);
      out[n * o + j] = s;
    }
  return { shape: [b, o], data: out };
}

function map(x: Arr, f: (v: number, i: number) => number): Arr {
  return { shape: x.shape, data: x.data.map(f) };
}

function addBias(x: Arr, bias: Arr): Arr {
  const c = bias.data.length;
  return map(x, (v, i) => v + (bias.data[i % c] as number));
}

/** BatchNorm with batch statistics over every axis but the last (biased variance); returns the batch mean too. */
function batchNormTrain(
  x: Arr,
  gamma: Arr,
  beta: Arr,
  eps: number,
): { y: Arr; mean: Float64Array; variance: Float64Array } {
  const c = gamma.data.length;
  const n = x.data.length / c;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  x.data.forEach((v, i) => {
    mean[i % c] = (mean[i % c] as number) + v / n;
  });
  x.data.forEach((v, i) => {
    variance[i % c] = (variance[i % c] as number) + (v - (mean[i % c] as number)) ** 2 / n;
  });
  const y = map(
    x,
    (v, i) =>
      ((v - (mean[i % c] as number)) / Math.sqrt((variance[i % c] as number) + eps)) *
        (gamma.data[i % c] as number) +
      (beta.data[i % c] as number),
  );
  return { y, mean, variance };
}

function batchNormInfer(x: Arr, gamma: Arr, beta: Arr, mm: Arr, mv: Arr, eps: number): Arr {
  const c = gamma.data.length;
  return map(
    x,
    (v, i) =>
      ((v - (mm.data[i % c] as number)) / Math.sqrt((mv.data[i % c] as number) + eps)) *
        (gamma.data[i % c] as number) +
      (beta.data[i % c] as number),
  );
}

function l2n(v: Float64Array): Float64Array {
  const n = Math.sqrt(
    Math.max(
      v.reduce((s, a) => s + a * a, 0),
      1e-12,
    ),
  );
  return v.map((a) => a / n);
}

/** Spectral normalisation with one power iteration from `u`; returns the normalised kernel and the new u. */
function spectralNorm(k: Arr, u: Arr): { k: Arr; u: Float64Array } {
  const out = k.shape[k.shape.length - 1] as number;
  const n = k.data.length / out;
  const wAt = (i: number, j: number) => k.data[i * out + j] as number;
  const v = l2n(
    Float64Array.from({ length: out }, (_, j) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += wAt(i, j) * (u.data[i] as number);
      return s;
    }),
  );
  const wv = Float64Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < out; j++) s += wAt(i, j) * (v[j] as number);
    return s;
  });
  const u2 = l2n(wv);
  const sigma = u2.reduce((s, a, i) => s + a * (wv[i] as number), 0);
  return { k: map(k, (a) => a / sigma), u: u2 };
}

function weightsOf(vae: Stage1VaeModel): Map<string, Arr> {
  return new Map(vae.getWeights().map((w) => [w.name, { shape: w.tensor.shape, data: f64(w.tensor) }]));
}

function get(ws: Map<string, Arr>, name: string): Arr {
  const a = ws.get(name);
  if (!a) throw new Error(`no weight ${name}`);
  return a;
}

const lrelu = (v: number) => (v > 0 ? v : 0.2 * v);
const relu = (v: number) => Math.max(v, 0);
const softplus = (v: number) => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));

interface Reference {
  loss: number;
  kl: number;
  reconstruction: number;
  mus: Record<string, Float64Array>;
  us: Record<string, Float64Array>;
}

/** The whole stage-1 loss in float64, BatchNorm in training or inference mode. */
function referenceLoss(
  ws: Map<string, Arr>,
  x: Arr,
  eps: Float64Array,
  logGamma: number,
  training: boolean,
): Reference {
  const e = (n: string) => get(ws, `encoder/${n}`);
  const d = (n: string) => get(ws, `decoder/${n}`);
  const mus: Record<string, Float64Array> = {};
  const us: Record<string, Float64Array> = {};
  const bn = (y: Arr, g: (n: string) => Arr, name: string): Arr => {
    if (!training)
      return batchNormInfer(
        y,
        g(`${name}/gamma`),
        g(`${name}/beta`),
        g(`${name}/moving_mean`),
        g(`${name}/moving_variance`),
        1e-5,
      );
    const r = batchNormTrain(y, g(`${name}/gamma`), g(`${name}/beta`), 1e-5);
    mus[name] = r.mean;
    return r.y;
  };
  const sn = (name: string) => {
    const r = spectralNorm(e(`${name}/kernel`), e(`${name}/u`));
    us[name] = r.u;
    return r.k;
  };
  // encoder
  let y = map(addBias(conv2dSame(x, sn('conv1'), 2), e('conv1/bias')), lrelu);
  y = map(bn(addBias(conv2dSame(y, sn('conv2'), 2), e('conv2/bias')), e, 'bn2'), lrelu);
  y = { shape: [B, y.data.length / B], data: y.data };
  y = map(bn(addBias(dense(y, sn('fc3')), e('fc3/bias')), e, 'bn3'), lrelu);
  const raw = addBias(dense(y, sn('en4')), e('en4/bias'));
  const mu = new Float64Array(B * K);
  const sigma = new Float64Array(B * K);
  for (let n = 0; n < B; n++)
    for (let j = 0; j < K; j++) {
      mu[n * K + j] = raw.data[n * 2 * K + j] as number;
      sigma[n * K + j] = 1e-6 + softplus(raw.data[n * 2 * K + K + j] as number);
    }
  const z: Arr = { shape: [B, K], data: mu.map((m, i) => m + (sigma[i] as number) * (eps[i] as number)) };
  // decoder (BN layers of the decoder have their own names)
  const dbn = (t: Arr, name: string) => {
    if (!training)
      return batchNormInfer(
        t,
        d(`${name}/gamma`),
        d(`${name}/beta`),
        d(`${name}/moving_mean`),
        d(`${name}/moving_variance`),
        1e-5,
      );
    return batchNormTrain(t, d(`${name}/gamma`), d(`${name}/beta`), 1e-5).y;
  };
  let t = map(dbn(addBias(dense(z, d('fc1/kernel')), d('fc1/bias')), 'bn1'), relu);
  t = map(dbn(addBias(dense(t, d('fc2/kernel')), d('fc2/bias')), 'bn2'), relu);
  t = { shape: [B, H / 4, W / 4, CONV[1]], data: t.data };
  t = map(dbn(addBias(deconv2dSame(t, d('conv3/kernel'), 2), d('conv3/bias')), 'bn3'), relu);
  const logits = addBias(deconv2dSame(t, d('conv4/kernel'), 2), d('conv4/bias'));
  const xHat = logits.data.map((v) => 1 / (1 + Math.exp(-v)));
  // losses
  const g = Math.exp(logGamma);
  let nll = 0;
  x.data.forEach((v, i) => {
    nll += ((v - (xHat[i] as number)) / g) ** 2 / 2 + logGamma + 0.5 * LOG_2PI;
  });
  let kl = 0;
  mu.forEach((m, i) => {
    const s = sigma[i] as number;
    kl += (m * m + s * s - 2 * Math.log(s) - 1) / 2;
  });
  return { loss: (nll + kl) / B, kl: kl / B, reconstruction: nll / B, mus, us };
}

function smallVae(
  likelihood: 'learned-gamma' | 'fixed-gamma' | 'bernoulli' = 'learned-gamma',
): Stage1VaeModel {
  return withSeed(7, () =>
    createStage1Vae({
      encoder: { name: 'infogan', config: { convDims: CONV, fcDim: FC } },
      decoder: { name: 'infogan', config: { convDims: CONV, fcDim: FC } },
      latentDim: K,
      imageShape: [H, W, C],
      likelihood,
    }),
  );
}

/** Gives BN parameters and moving statistics non-trivial values, so the check covers them. */
function perturbBatchNorm(vae: Stage1VaeModel): void {
  const r = prng(99);
  const ws = vae.getWeights().map((w) => {
    const last = w.name.split('/').pop() as string;
    if (['gamma', 'beta', 'moving_mean', 'moving_variance'].includes(last)) {
      const base = last === 'gamma' || last === 'moving_variance' ? 1 : 0;
      return {
        name: w.name,
        tensor: tf.tensor(
          Array.from({ length: w.tensor.size }, () => base + 0.5 * r()),
          w.tensor.shape,
        ),
      };
    }
    return w;
  });
  vae.setWeights(ws);
}

describe('stage-1 loss against a float64 reference', () => {
  for (const training of [true, false]) {
    it(`matches on a fixed batch (${training ? 'training' : 'inference'} mode)`, () => {
      const vae = smallVae();
      perturbBatchNorm(vae);
      vae.gammaLayer?.logGamma().assign(tf.scalar(-0.7));
      const x = randomImages([B, H, W, C], 3);
      const ws = weightsOf(vae);
      const seed = 1234;
      const eps = f64(tf.tidy(() => tf.randomNormal([B, K], 0, 1, 'float32', seed)));
      const ref = referenceLoss(ws, { shape: [B, H, W, C], data: f64(x) }, eps, -0.7, training);
      const terms = vae.loss(x, { training, seed });
      const got = {
        loss: f64(terms.loss)[0],
        kl: f64(terms.kl)[0],
        reconstruction: f64(terms.reconstruction)[0],
      };
      expect(got.loss).toBeCloseTo(ref.loss, 2);
      expect(Math.abs((got.loss as number) - ref.loss) / Math.abs(ref.loss)).toBeLessThan(2e-5);
      expect(Math.abs((got.kl as number) - ref.kl) / ref.kl).toBeLessThan(2e-5);
      expect(
        Math.abs((got.reconstruction as number) - ref.reconstruction) / Math.abs(ref.reconstruction),
      ).toBeLessThan(2e-5);
      expect(f64(terms.gamma)[0]).toBeCloseTo(Math.exp(-0.7), 6);
      const after = weightsOf(vae);
      if (training) {
        // spectral-norm u vectors advanced by one power iteration
        for (const name of ['conv1', 'conv2', 'fc3', 'en4']) {
          const u = get(after, `encoder/${name}/u`).data;
          (ref.us[name] as Float64Array).forEach((v, i) => {
            expect(u[i]).toBeCloseTo(v, 5);
          });
        }
        // zero-debiased moving mean after the first update = the batch mean
        for (const name of ['bn2', 'bn3']) {
          const mm = get(after, `encoder/${name}/moving_mean`).data;
          (ref.mus[name] as Float64Array).forEach((v, i) => {
            expect(mm[i]).toBeCloseTo(v, 4);
          });
          expect(get(after, `encoder/${name}/step`).data[0]).toBe(1);
        }
      } else {
        // inference mode changes no state
        for (const [name, a] of ws) expect(Array.from(get(after, name).data)).toEqual(Array.from(a.data));
      }
      tf.dispose([terms.loss, terms.kl, terms.reconstruction, terms.gamma, x]);
      vae.dispose();
    });
  }

  it('fixed gamma and Bernoulli likelihoods', () => {
    const x = randomImages([B, H, W, C], 5);
    const fixed = smallVae('fixed-gamma');
    const bern = smallVae('bernoulli');
    const learned = smallVae('learned-gamma');
    // same init seed -> same weights; with logGamma = 0 the fixed (gamma = 1) and learned losses agree
    const a = fixed.loss(x, { training: false, seed: 1 });
    const b = learned.loss(x, { training: false, seed: 1 });
    expect(a.loss.dataSync()[0]).toBeCloseTo(b.loss.dataSync()[0] as number, 3);
    expect(fixed.trainableVariables().length).toBe(learned.trainableVariables().length - 1);
    expect(fixed.gamma()).toBe(1);
    // Bernoulli: sum of binary cross-entropies in float64 from the decoder mean
    const c = bern.loss(x, { training: false, seed: 1 });
    const { mu, logSigma } = bern.encode(x, { training: false });
    const eps = tf.randomNormal([B, K], 0, 1, 'float32', 1);
    const z = tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D;
    const p = f64(bern.decode(z, { training: false }));
    const xs = f64(x);
    let bce = 0;
    xs.forEach((v, i) => {
      const q = p[i] as number;
      bce -= v * Math.log(q) + (1 - v) * Math.log(1 - q);
    });
    expect(Math.abs((c.reconstruction.dataSync()[0] as number) - bce / B) / (bce / B)).toBeLessThan(1e-4);
    tf.dispose([a.loss, a.kl, a.reconstruction, a.gamma, b.loss, b.kl, b.reconstruction, b.gamma]);
    tf.dispose([c.loss, c.kl, c.reconstruction, c.gamma, mu, logSigma, eps, z, x]);
    fixed.dispose();
    bern.dispose();
    learned.dispose();
  });
});

describe('logGamma gradient', () => {
  for (const convention of ['std', 'variance'] as const) {
    it(`matches central finite differences (${convention})`, () => {
      const vae = withSeed(11, () =>
        createStage1Vae({
          encoder: { name: 'infogan', config: { convDims: CONV, fcDim: FC } },
          decoder: { name: 'infogan', config: { convDims: CONV, fcDim: FC } },
          latentDim: K,
          imageShape: [H, W, C],
          gammaConvention: convention,
        }),
      );
      const x = randomImages([B, H, W, C], 9);
      const lg = vae.gammaLayer?.logGamma() as tf.Variable;
      const at = 0.3;
      lg.assign(tf.scalar(at));
      const f = () => vae.loss(x, { training: false, seed: 5 }).loss;
      const { grads } = tf.variableGrads(f, [lg]);
      const analytic = (grads[lg.name] as tf.Tensor).dataSync()[0] as number;
      const h = 1e-2;
      const val = (v: number) => {
        lg.assign(tf.scalar(v));
        return tf.tidy(() => f().dataSync()[0] as number);
      };
      const fd = (val(at + h) - val(at - h)) / (2 * h);
      expect(Math.abs(analytic - fd) / Math.abs(fd)).toBeLessThan(1e-3);
      tf.dispose(Object.values(grads));
      x.dispose();
      vae.dispose();
    });
  }
});

describe('BatchNorm modes', () => {
  it('training and inference differ; moving statistics update with momentum 0.999', async () => {
    const { BatchNorm } = await import('./custom-layers');
    const x = randomImages([4, 2, 2, 3], 21);
    const x2 = tf.tidy(() => tf.add(tf.mul(randomImages([4, 2, 2, 3], 22), 3), 1));
    const mean = (t: tf.Tensor) => f64(tf.tidy(() => tf.mean(t, [0, 1, 2])));
    const variance = (t: tf.Tensor) => f64(tf.tidy(() => tf.moments(t, [0, 1, 2]).variance));
    for (const zeroDebias of [false, true]) {
      const bn = new BatchNorm({ zeroDebias });
      const yTrain = bn.apply(x, { training: true }) as tf.Tensor;
      const w = () =>
        new Map(bn.getWeights().map((t, i) => [['gamma', 'beta', 'mm', 'mv', 'step'][i], f64(t)]));
      const m1 = mean(x);
      const v1 = variance(x);
      const after1 = w();
      m1.forEach((m, i) => {
        const expected = zeroDebias ? m : 0.999 * 0 + 0.001 * m;
        expect(after1.get('mm')?.[i]).toBeCloseTo(expected, 6);
        const ev = zeroDebias ? (v1[i] as number) : 0.999 * 1 + 0.001 * (v1[i] as number);
        expect(after1.get('mv')?.[i]).toBeCloseTo(ev, 6);
      });
      const yInfer = bn.apply(x, { training: false }) as tf.Tensor;
      const dt = f64(yTrain);
      const di = f64(yInfer);
      const differ = (a: Float64Array, b: Float64Array) =>
        a.some((v, i) => Math.abs(v - (b[i] as number)) > 1e-3);
      // Zero-debiased: after one update the moving statistics are that batch's, so inference on the
      // same batch reproduces training mode; with the plain update they are still near (0, 1).
      expect(differ(dt, di)).toBe(!zeroDebias);
      const yInfer2 = bn.apply(x2, { training: false }) as tf.Tensor;
      // second update: m2 = m1 + (batch - m1) * (1 - d) / (1 - d^2) (debiased) or d m1 + (1 - d) batch
      const yTrain2 = bn.apply(x2, { training: true }) as tf.Tensor;
      expect(differ(f64(yTrain2), f64(yInfer2))).toBe(true);
      tf.dispose([yInfer2, yTrain2]);
      const m2b = mean(x2);
      const after2 = w();
      m2b.forEach((b, i) => {
        const m1v = after1.get('mm')?.[i] as number;
        const rate = zeroDebias ? 0.001 / (1 - 0.999 ** 2) : 0.001;
        expect(after2.get('mm')?.[i]).toBeCloseTo(m1v + (b - m1v) * rate, 4);
      });
      expect(after2.get('step')?.[0]).toBe(2);
      tf.dispose([yTrain, yInfer]);
      bn.dispose();
    }
    tf.dispose([x, x2]);
  });
});
