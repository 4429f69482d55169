import { describe, expect, it } from 'vitest';
import { learningRateAt, mergeConfig, parseRunConfig, presetConfig, resolveRunConfig } from './config';
import { RunConfigError } from './errors';

describe('run config', () => {
  it('paper preset follows the recipe per dataset', () => {
    const mnist = resolveRunConfig('paper', 'mnist');
    expect(mnist.stage1).toMatchObject({ epochs: 400, lr: 1e-4, lrEpochs: 150, likelihood: 'learned-gamma' });
    expect(mnist.stage1.encoder.name).toBe('infogan');
    expect(mnist.stage2).toMatchObject({ epochs: 800, lr: 1e-4, lrEpochs: 300 });
    expect(mnist.stage2.model.name).toBe('mlp');
    expect([mnist.latentDim, mnist.batchSize]).toEqual([64, 64]);
    expect(mnist.dataset.subset).toBeUndefined();
    const cifar = resolveRunConfig('paper', 'cifar10');
    expect([cifar.stage1.epochs, cifar.stage2.epochs]).toEqual([1000, 2000]);
    expect(resolveRunConfig('paper', 'celeba').stage1.epochs).toBe(400);
  });

  it('quick preset is small, and any field can be overridden', () => {
    const q = resolveRunConfig('quick', 'fashion-mnist', {
      stage1: { epochs: 1 },
      stage2: { model: { config: { width: 8 } } },
    });
    expect(q.dataset).toEqual({ name: 'fashion-mnist', config: {}, subset: 6400 });
    expect(q.stage1.epochs).toBe(1);
    expect(q.stage1.lr).toBe(2e-3); // untouched siblings stay
    expect(q.stage1.likelihood).toBe('optimal-gamma');
    expect(q.stage1.encoder.config).toEqual({
      convDims: [32, 64],
      fcDim: 512,
      spectralNorm: false,
      bnMomentum: 0.99,
    });
    expect(q.stage2.model).toEqual({ name: 'mlp', config: { width: 8, gamma: 'optimal' } });
    expect(q.stage2.epochs).toBe(50);
  });

  it('fills defaults for a minimal config', () => {
    const c = parseRunConfig({ dataset: { name: 'mnist' } });
    expect(c.seed).toBe(0);
    expect(c.diagnostics.activeThreshold).toBe(0.05);
    expect(c.stage1.gammaConvention).toBe('std');
    expect(c.checkpoint).toEqual({ everyEpochs: 1, keep: 2 });
  });

  it('names every offending field', () => {
    const err = (() => {
      try {
        parseRunConfig({ dataset: { name: 'mnist' }, stage1: { epochs: -1, lrr: 3 }, batchSize: 'big' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(RunConfigError);
    const fields = (err as RunConfigError).issues.map((i) => i.field).sort();
    expect(fields).toEqual(['batchSize', 'stage1.epochs', 'stage1.lrr']);
    expect((err as Error).message).toContain('"stage1.lrr": unknown field');
    expect(() => parseRunConfig({})).toThrow(/"dataset"/);
    expect(() => presetConfig('nope' as 'quick', 'mnist')).toThrow(/unknown preset "nope"/);
  });

  it('merges deeply without mutating', () => {
    const base = { a: { b: 1, c: 2 }, d: [1, 2] };
    expect(mergeConfig(base, { a: { c: 3 }, d: [9] })).toEqual({ a: { b: 1, c: 3 }, d: [9] });
    expect(base.a.c).toBe(2);
  });

  it("a plugin reference whose name an override changes drops the old plugin's config", () => {
    const q = resolveRunConfig('quick', 'mnist', { stage2: { model: { name: 'gmm' } } });
    expect(q.stage2.model).toEqual({ name: 'gmm', config: {} });
    const k = resolveRunConfig('quick', 'mnist', {
      stage2: { model: { name: 'gmm', config: { components: 5 } } },
    });
    expect(k.stage2.model).toEqual({ name: 'gmm', config: { components: 5 } });
    // the same name still merges; a dataset (not a bare reference) keeps its other fields
    expect(
      resolveRunConfig('quick', 'mnist', { stage2: { model: { name: 'mlp' } } }).stage2.model.config,
    ).toEqual({
      width: 256,
      gamma: 'optimal',
    });
    expect(resolveRunConfig('quick', 'mnist', { dataset: { name: 'other' } }).dataset).toMatchObject({
      name: 'other',
      subset: 6400,
    });
  });

  it('halves the learning rate every lrEpochs', () => {
    expect([0, 149, 150, 299, 300, 450].map((e) => learningRateAt(1e-4, 150, e))).toEqual([
      1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 1.25e-5,
    ]);
  });
});
