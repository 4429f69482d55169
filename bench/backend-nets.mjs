/**
 * The benchmark's networks in plain TensorFlow.js ops (the same as tools/torch_bench.py):
 * stage 1 = InfoGAN VAE for 28x28x1 with BatchNorm, stage 2 = dense 1024 x 3 VAE on 64-d codes.
 */
import * as tf from '@tensorflow/tfjs-core';

export const BATCH = 64;
export const LATENT = 64;
const HALF_LOG_2PI = 0.9189385332046727;

const normal = (shape, std = 0.02) => tf.variable(tf.randomNormal(shape, 0, std));
const zeros = (shape, trainable = true) => tf.variable(tf.zeros(shape), trainable);
const ones = (shape, trainable = true) => tf.variable(tf.ones(shape), trainable);

function dense(inp, out) {
  return { w: normal([inp, out]), b: zeros([out]) };
}
function conv(k, inp, out) {
  return { w: normal([k, k, inp, out]), b: zeros([out]) };
}
/** conv2dTranspose filter layout: [k, k, out, in] */
function deconv(k, inp, out) {
  return { w: normal([k, k, out, inp]), b: zeros([out]) };
}
function batchNorm(n) {
  return { gamma: ones([n]), beta: zeros([n]), mean: zeros([n], false), variance: ones([n], false) };
}

const applyDense = (x, p) => tf.add(tf.matMul(x, p.w), p.b);

/** BatchNorm: batch statistics + moving-average update when training, moving statistics otherwise. */
function applyBn(x, p, training) {
  if (!training) return tf.batchNorm(x, p.mean, p.variance, p.beta, p.gamma, 1e-5);
  const axes = x.rank === 4 ? [0, 1, 2] : [0];
  const { mean, variance } = tf.moments(x, axes);
  p.mean.assign(tf.add(tf.mul(p.mean, 0.999), tf.mul(mean, 0.001)));
  p.variance.assign(tf.add(tf.mul(p.variance, 0.999), tf.mul(variance, 0.001)));
  return tf.batchNorm(x, mean, variance, p.beta, p.gamma, 1e-5);
}

/** Stage 1: encoder conv4x4 s2 64 -> conv4x4 s2 128 + BN -> fc1024 + BN -> fc 2*latent; decoder mirrors. */
export function makeStage1() {
  const p = {
    c1: conv(4, 1, 64),
    c2: conv(4, 64, 128),
    bn2: batchNorm(128),
    f1: dense(128 * 7 * 7, 1024),
    bnf1: batchNorm(1024),
    f2: dense(1024, 2 * LATENT),
    g1: dense(LATENT, 1024),
    bng1: batchNorm(1024),
    g2: dense(1024, 128 * 7 * 7),
    bng2: batchNorm(128 * 7 * 7),
    d1: deconv(4, 128, 64),
    bnd1: batchNorm(64),
    d2: deconv(4, 64, 1),
    logGamma: zeros([]),
  };
  const decode = (z, training) => {
    const b = z.shape[0];
    let h = tf.relu(applyBn(applyDense(z, p.g1), p.bng1, training));
    h = tf.relu(applyBn(applyDense(h, p.g2), p.bng2, training));
    h = tf.reshape(h, [b, 7, 7, 128]);
    h = tf.add(tf.conv2dTranspose(h, p.d1.w, [b, 14, 14, 64], 2, 'same'), p.d1.b);
    h = tf.relu(applyBn(h, p.bnd1, training));
    h = tf.add(tf.conv2dTranspose(h, p.d2.w, [b, 28, 28, 1], 2, 'same'), p.d2.b);
    return tf.sigmoid(h);
  };
  const loss = (x) => {
    const b = x.shape[0];
    let h = tf.leakyRelu(tf.add(tf.conv2d(x, p.c1.w, 2, 'same'), p.c1.b), 0.2);
    h = tf.leakyRelu(applyBn(tf.add(tf.conv2d(h, p.c2.w, 2, 'same'), p.c2.b), p.bn2, true), 0.2);
    h = tf.leakyRelu(applyBn(applyDense(tf.reshape(h, [b, -1]), p.f1), p.bnf1, true), 0.2);
    h = applyDense(h, p.f2);
    const [mu, pre] = tf.split(h, 2, 1);
    const sigma = tf.add(tf.softplus(pre), 1e-6);
    const z = tf.add(mu, tf.mul(sigma, tf.randomNormal(mu.shape)));
    const xHat = decode(z, true);
    const kl = tf.mul(
      0.5,
      tf.sum(tf.sub(tf.add(tf.square(mu), tf.square(sigma)), tf.add(tf.mul(2, tf.log(sigma)), 1))),
    );
    const r = tf.div(tf.sub(x, xHat), tf.exp(p.logGamma));
    const nll = tf.sum(tf.add(tf.mul(0.5, tf.square(r)), tf.add(p.logGamma, HALF_LOG_2PI)));
    return tf.div(tf.add(kl, nll), b);
  };
  return { params: p, loss, decode };
}

/** Stage 2: 3 x dense(1024, ReLU) -> concat[z, h] -> mu, log sigma; decoder the same -> z_hat. */
export function makeStage2(width = 1024, depth = 3) {
  const tower = () => Array.from({ length: depth }, (_, i) => dense(i === 0 ? LATENT : width, width));
  const p = {
    enc: tower(),
    dec: tower(),
    mu: dense(width + LATENT, LATENT),
    logSigma: dense(width + LATENT, LATENT),
    zHat: dense(width + LATENT, LATENT),
    logGamma: zeros([]),
  };
  const run = (layers, x) => layers.reduce((h, l) => tf.relu(applyDense(h, l)), x);
  const decode = (u) => applyDense(tf.concat([u, run(p.dec, u)], 1), p.zHat);
  const loss = (z) => {
    const b = z.shape[0];
    const h = tf.concat([z, run(p.enc, z)], 1);
    const mu = applyDense(h, p.mu);
    const logSigma = applyDense(h, p.logSigma);
    const sigma = tf.exp(logSigma);
    const u = tf.add(mu, tf.mul(sigma, tf.randomNormal(mu.shape)));
    const zHat = decode(u);
    const kl = tf.mul(
      0.5,
      tf.sum(tf.sub(tf.add(tf.square(mu), tf.square(sigma)), tf.add(tf.mul(2, logSigma), 1))),
    );
    const r = tf.div(tf.sub(z, zHat), tf.exp(p.logGamma));
    const nll = tf.sum(tf.add(tf.mul(0.5, tf.square(r)), tf.add(p.logGamma, HALF_LOG_2PI)));
    return tf.div(tf.add(kl, nll), b);
  };
  return { params: p, loss, decode };
}

/** Every trainable variable under `params`. */
export function trainables(params) {
  const out = [];
  const walk = (v) => {
    if (v instanceof tf.Variable) {
      if (v.trainable) out.push(v);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(params);
  return out;
}

export const countParams = (params) => trainables(params).reduce((n, v) => n + v.size, 0);
