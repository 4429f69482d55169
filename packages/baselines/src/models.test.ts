/** The model list and presets: every model's config validates through the registry; compare_gan's values. */
import '@tensorflow/tfjs-backend-cpu';
import { RunConfigError, validateRun } from '@tsvae/stages';
import { registerTinyPlugins } from '@tsvae/stages/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { GAN_MODELS, resolveGanRunConfig } from './config';
import { BASELINE_MODELS, baselineModel, baselineRunConfig } from './models';
import { registerToyPlugins } from './testing';
import { validateGanRun } from './train-gan';

beforeAll(() => {
  registerTinyPlugins();
  registerToyPlugins();
});

describe('BASELINE_MODELS', () => {
  it('lists the seven GANs and the two VAE rows, in Table 1 order, each with its trainer', () => {
    expect(BASELINE_MODELS.map((m) => `${m.name}:${m.trainer}`)).toEqual([
      'mm-gan:gan',
      'ns-gan:gan',
      'lsgan:gan',
      'wgan:gan',
      'wgan-gp:gan',
      'dragan:gan',
      'began:gan',
      'vae-flow:two-stage-vae',
      'wae-mmd:two-stage-vae',
    ]);
    expect(() => baselineModel('vae')).toThrow(/unknown baseline model "vae"; known: mm-gan/);
  });

  for (const preset of ['paper', 'quick'] as const) {
    it(`${preset}: every model's run config validates (plugins and component configs, strictly); its options exist`, async () => {
      for (const m of BASELINE_MODELS) {
        const b = baselineRunConfig(m.name, preset, 'tiny-manifold');
        expect(b.trainer).toBe(m.trainer);
        const fields: Record<string, unknown> = {};
        if (b.trainer === 'gan') {
          const { components } = await validateGanRun(b.config);
          expect(components.loss.plugin).toBe(m.name);
          expect(components.discriminator.plugin).toBe(
            m.name === 'began' ? 'infogan-autoencoder' : 'infogan',
          );
          for (const part of ['loss', 'discriminator', 'generator'] as const) {
            for (const [k, v] of Object.entries(components[part].resolved ?? {}))
              fields[`${part}.config.${k}`] = v;
          }
        } else {
          const { config, components } = await validateRun(b.config);
          expect(components.stage1.plugin).toBe(m.name);
          expect(config.stage2.epochs).toBe(0);
          for (const [k, v] of Object.entries(components.stage1.resolved ?? {}))
            fields[`stage1.model.config.${k}`] = v;
          for (const [k, v] of Object.entries(config.stage1)) fields[`stage1.${k}`] = v;
        }
        // every model-specific option names a field its run resolves
        for (const path of Object.keys(m.options)) expect(fields[path], `${m.name}: ${path}`).toBeDefined();
      }
    });
  }

  it("the paper preset carries compare_gan's per-model defaults (params.py) and the study's epochs", () => {
    const want: Record<string, [number, number, boolean, number]> = {
      'mm-gan': [5e-5, 0, true, 1],
      'ns-gan': [5e-5, 0, true, 1],
      lsgan: [2e-4, 0.5, true, 1],
      wgan: [5e-5, 0.5, true, 5],
      'wgan-gp': [1e-4, 0.5, false, 5],
      dragan: [1e-4, 0.5, false, 1],
      began: [1e-4, 0.5, false, 5],
    };
    for (const model of GAN_MODELS) {
      const c = resolveGanRunConfig(model, 'paper', 'mnist');
      const [lr, beta1, bn, steps] = want[model] as [number, number, boolean, number];
      expect([c.optimizer.lr, c.optimizer.beta1, c.discriminator.config['batchNorm']], model).toEqual([
        lr,
        beta1,
        bn,
      ]);
      expect(c.loss.config['discriminatorSteps'] ?? 1, model).toBe(steps);
      expect([c.zDim, c.batchSize, c.prior, c.epochs, c.optimizer.beta2]).toEqual([
        64,
        64,
        'uniform',
        20,
        0.999,
      ]);
    }
    expect(resolveGanRunConfig('ns-gan', 'paper', 'cifar10').epochs).toBe(100);
    expect(resolveGanRunConfig('ns-gan', 'paper', 'celeba').epochs).toBe(40);
  });

  it('overrides merge into a preset; an unknown field is a RunConfigError naming it', () => {
    expect(
      resolveGanRunConfig('wgan', 'quick', 'mnist', { loss: { config: { clip: 0.05 } } }).loss.config,
    ).toEqual({
      discriminatorSteps: 5,
      clip: 0.05,
    });
    expect(() => resolveGanRunConfig('wgan', 'quick', 'mnist', { epocks: 3 })).toThrow(RunConfigError);
    expect(() => resolveGanRunConfig('wgan', 'quick', 'mnist', { epocks: 3 })).toThrow(
      /"epocks": unknown field/,
    );
  });
});
