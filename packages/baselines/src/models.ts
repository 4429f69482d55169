/**
 * The Table 1 baseline models this package provides, which trainer runs each, the options that
 * apply to each, and their run configurations: a thin layer for apps (`tsvae train --model <name>`).
 */
import { mergeConfig, type PresetName, type RunConfig, resolveRunConfig } from '@tsvae/stages';
import {
  type BaselineModelName,
  type GanModelName,
  type GanRunConfig,
  resolveGanRunConfig,
  type VaeBaselineName,
} from './config';

/** A baseline model: its name, its Table 1 row, its trainer and the config fields that apply. */
export interface BaselineModel {
  readonly name: BaselineModelName;
  /** The Table 1 row it reproduces. */
  readonly table1: string;
  /**
   * `gan`: `trainGan` with a `GanRunConfig`; `two-stage-vae`: `@tsvae/stages`' `trainTwoStage`
   * with a `RunConfig` whose stage 1 is this model and `stage2.epochs` 0 (sample one-stage).
   */
  readonly trainer: 'gan' | 'two-stage-vae';
  readonly description: string;
  /**
   * The model-specific config fields (dotted paths in its run config) and what they do. Besides
   * these, every GAN takes {@link GAN_OPTIONS} and every VAE row `@tsvae/stages`' run options.
   */
  readonly options: Readonly<Record<string, string>>;
}

/** The config fields every GAN model takes (dotted paths in a `GanRunConfig`). */
export const GAN_OPTIONS: Readonly<Record<string, string>> = {
  epochs: 'epochs (discriminator passes over the data)',
  batchSize: 'mini-batch size (64)',
  zDim: 'dimension of z (64)',
  prior: "code distribution: 'uniform' on [-1, 1] (compare_gan) or 'normal'",
  'optimizer.lr': 'Adam learning rate of both networks',
  'optimizer.beta1': 'Adam beta1',
  'optimizer.beta2': 'Adam beta2 (0.999)',
  'loss.config.discriminatorSteps': 'discriminator steps per generator step',
  'generator.config.fcDim': 'generator fc width (1024)',
  'generator.config.convDims': 'generator (de)conv widths ([64, 128])',
  'generator.config.activation': "'lrelu' (compare_gan) or 'relu' (InfoGAN paper)",
  'discriminator.config.convDims': 'discriminator conv widths ([64, 128])',
  'discriminator.config.batchNorm': 'BatchNorm in the discriminator',
  'dataset.subset': 'train on the first N examples',
};

/** Every baseline model, in Table 1's order. */
export const BASELINE_MODELS: readonly BaselineModel[] = [
  {
    name: 'mm-gan',
    table1: 'MM GAN',
    trainer: 'gan',
    description: 'minimax GAN (saturating generator loss)',
    options: {},
  },
  {
    name: 'ns-gan',
    table1: 'NS GAN',
    trainer: 'gan',
    description: 'non-saturating GAN',
    options: {},
  },
  {
    name: 'lsgan',
    table1: 'LSGAN',
    trainer: 'gan',
    description: 'least squares GAN',
    options: { 'loss.config.on': "squares of D's 'probability' (compare_gan) or 'logit'" },
  },
  {
    name: 'wgan',
    table1: 'WGAN',
    trainer: 'gan',
    description: 'Wasserstein GAN with weight clipping (5 critic steps)',
    options: { 'loss.config.clip': 'weight clipping bound c (0.01)' },
  },
  {
    name: 'wgan-gp',
    table1: 'WGAN-GP',
    trainer: 'gan',
    description: 'Wasserstein GAN with gradient penalty (5 critic steps, no BatchNorm in the critic)',
    options: {
      'loss.config.lambda': 'penalty weight (10)',
      'loss.config.epsilon': 'slope epsilon, sqrt(eps + |grad|^2) (1e-4)',
    },
  },
  {
    name: 'dragan',
    table1: 'DRAGAN',
    trainer: 'gan',
    description: 'non-saturating GAN with a gradient penalty around perturbed data',
    options: {
      'loss.config.lambda': 'penalty weight (10)',
      'loss.config.perturbation': 'x_p = x + perturbation * std(x) * U[0, 1) (0.5)',
      'loss.config.gradientOf': "penalised gradient of D's 'probability' (compare_gan) or 'logit'",
    },
  },
  {
    name: 'began',
    table1: 'BEGAN',
    trainer: 'gan',
    description: 'boundary equilibrium GAN with an autoencoder discriminator',
    options: {
      'loss.config.gamma': 'diversity ratio gamma (0.75)',
      'loss.config.lambdaK': 'k_t learning rate lambda_k (1e-3)',
      'loss.config.clipK': 'clip k_t to [0, 1] (true; compare_gan: false)',
      'discriminator.config.codeDim': 'autoencoder code width (64)',
    },
  },
  {
    name: 'vae-flow',
    table1: 'VAE + Flow',
    trainer: 'two-stage-vae',
    description: 'VAE with planar flows on the posterior (stage 1 only, learned gamma)',
    options: {
      'stage1.model.config.flowLength': 'number K of planar flows (10)',
      'stage1.likelihood': "'learned-gamma', 'fixed-gamma' or 'bernoulli'",
    },
  },
  {
    name: 'wae-mmd',
    table1: 'WAE-MMD',
    trainer: 'two-stage-vae',
    description: 'Wasserstein auto-encoder with the IMQ-kernel MMD penalty (stage 1 only)',
    options: {
      'stage1.model.config.lambda': 'MMD weight lambda (10)',
      'stage1.model.config.kernelScales': 'IMQ kernel scales ([0.1 ... 10] x 2 latentDim)',
      'stage1.model.config.reconstructionScale': 'cost scale, scale * |x - x_hat|^2 (0.05)',
    },
  },
];

/** The names of {@link BASELINE_MODELS}. */
export const BASELINE_MODEL_NAMES: readonly BaselineModelName[] = BASELINE_MODELS.map((m) => m.name);

/** A baseline model by name; throws a `RangeError` naming the known ones. */
export function baselineModel(name: string): BaselineModel {
  const m = BASELINE_MODELS.find((x) => x.name === name);
  if (!m) throw new RangeError(`unknown baseline model "${name}"; known: ${BASELINE_MODEL_NAMES.join(', ')}`);
  return m;
}

/** A baseline's run configuration and the trainer that runs it. */
export type BaselineRunConfig =
  | { readonly trainer: 'gan'; readonly model: GanModelName; readonly config: GanRunConfig }
  | { readonly trainer: 'two-stage-vae'; readonly model: VaeBaselineName; readonly config: RunConfig };

/**
 * The run configuration of a baseline for a preset and a dataset, with overrides deep-merged on
 * top, validated: a `GanRunConfig` for the GANs (`resolveGanRunConfig`), or `@tsvae/stages`'
 * `RunConfig` for `wae-mmd` / `vae-flow` (the preset's stage 1 with this model as `stage1.model`,
 * `stage2.epochs: 0`). Pass `config` to `trainGan` or `trainTwoStage` by `trainer`.
 *
 * @example
 * ```ts
 * const b = baselineRunConfig('wae-mmd', 'quick', 'mnist', { stage1: { epochs: 2 } });
 * const result = b.trainer === 'gan'
 *   ? await trainGan({ runDir, config: b.config })
 *   : await trainTwoStage({ runDir, config: b.config });
 * ```
 */
export function baselineRunConfig(
  name: BaselineModelName,
  preset: PresetName,
  dataset: string,
  overrides: Readonly<Record<string, unknown>> = {},
): BaselineRunConfig {
  const model = baselineModel(name);
  if (model.trainer === 'gan') {
    const gan = name as GanModelName;
    return { trainer: 'gan', model: gan, config: resolveGanRunConfig(gan, preset, dataset, overrides) };
  }
  const base = { model: name, stage1: { model: { name, config: {} } }, stage2: { epochs: 0 } };
  return {
    trainer: 'two-stage-vae',
    model: name as VaeBaselineName,
    config: resolveRunConfig(preset, dataset, mergeConfig(base, overrides)),
  };
}
