import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Bernoulli,
  bernoulliNll,
  DiagonalGaussian,
  GaussianDecoderLikelihood,
  gammaLogStd,
  gaussianNll,
  klStandardNormal,
  StandardNormal,
} from './index';
import { useCpu } from './test-helpers';

beforeAll(useCpu);

describe('no tensor leaks', () => {
  const keep: Tensor[] = [];
  afterAll(() => tf.dispose(keep));

  it('every call adds exactly its returned tensor to tf.memory().numTensors', () => {
    const mu = tf.randomNormal([4, 3], 0, 1, 'float32', 1);
    const ls = tf.randomNormal([4, 3], 0, 1, 'float32', 2);
    const x = tf.randomUniform([4, 3], 0, 1, 'float32', 3);
    const xi = tf.tensor2d([[0, 1, 1]], [1, 3], 'int32');
    const lg = tf.scalar(-0.5);
    keep.push(mu, ls, x, xi, lg);
    const q = new DiagonalGaussian(mu, ls);
    const other = new DiagonalGaussian(x, ls);
    const prior = new StandardNormal([3]);
    const lik = new GaussianDecoderLikelihood(mu, lg, 'variance');
    const bl = Bernoulli.fromLogits(mu);
    const bp = Bernoulli.fromProbs(x);
    const calls: Array<[string, () => Tensor]> = [
      ['sigma', () => q.sigma()],
      ['mean', () => q.mean()],
      ['sample', () => q.sample(1)],
      ['sample unseeded', () => q.sample()],
      ['logProb', () => q.logProb(x)],
      ['logProb int x', () => q.logProb(xi)],
      ['entropy', () => q.entropy()],
      ['klToStandardNormal', () => q.klToStandardNormal()],
      ['kl', () => q.kl(other)],
      ['klStandardNormal', () => klStandardNormal(mu, ls)],
      ['prior.sample', () => prior.sample(5, 1)],
      ['prior.logProb', () => prior.logProb(x)],
      ['gaussianNll', () => gaussianNll(x, mu, lg)],
      ['gaussianNll variance', () => gaussianNll(x, mu, lg, 'variance')],
      ['gammaLogStd', () => gammaLogStd(lg, 'variance')],
      ['lik.logProb', () => lik.logProb(x)],
      ['lik.nll', () => lik.nll(x)],
      ['lik.sample', () => lik.sample(2)],
      ['lik.gamma', () => lik.gamma()],
      ['lik.stddev', () => lik.stddev()],
      ['lik.mean', () => lik.mean()],
      ['bl.logProb', () => bl.logProb(x)],
      ['bl.entropy', () => bl.entropy()],
      ['bl.sample', () => bl.sample(3)],
      ['bl.probs', () => bl.probs()],
      ['bl.logits', () => bl.logits()],
      ['bp.logProb', () => bp.logProb(xi)],
      ['bp.entropy', () => bp.entropy()],
      ['bp.mean', () => bp.mean()],
      ['bp.logits', () => bp.logits()],
      ['bernoulliNll logits', () => bernoulliNll(x, mu, { from: 'logits' })],
      ['bernoulliNll probs', () => bernoulliNll(x, x, { from: 'probs', clamp: 1e-6 })],
    ];
    for (const [name, call] of calls) {
      const before = tf.memory().numTensors;
      const out = call();
      expect(tf.memory().numTensors, name).toBe(before + 1);
      out.dispose();
      expect(tf.memory().numTensors, name).toBe(before);
    }
    // returned tensors are fresh: disposing them never touches the inputs
    expect(mu.isDisposed || ls.isDisposed || x.isDisposed || lg.isDisposed).toBe(false);
  });

  it('gradients through the distributions leave nothing behind but the gradients', () => {
    const mu = tf.variable(tf.zeros([2, 3]));
    const ls = tf.variable(tf.zeros([2, 3]));
    const lg = tf.variable(tf.scalar(0));
    keep.push(mu, ls, lg);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => {
      const q = new DiagonalGaussian(mu, ls);
      const z = q.sample(1);
      const nll = new GaussianDecoderLikelihood(z, lg).nll(tf.onesLike(z));
      return tf.mean(tf.add(nll, q.klToStandardNormal()));
    });
    expect(Object.keys(grads)).toHaveLength(3);
    expect(tf.memory().numTensors).toBe(before + 4);
    value.dispose();
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBe(before);
  });
});
