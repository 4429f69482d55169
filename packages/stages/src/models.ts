/**
 * The models of Table 1 that `trainTwoStage` trains: the Two-Stage VAE and the one-stage VAE
 * baselines (the same stage-1 VAE, sampled from the prior), with the options that apply to each —
 * the catalogue apps use for `tsvae train --model <name>`. `@tsvae/baselines` adds the GANs,
 * WAE-MMD and VAE + Flow in the same shape.
 */
import { VAE_TRAINER } from './components';
import {
  mergeConfig,
  type PresetName,
  type RunConfig,
  type RunConfigOverrides,
  resolveRunConfig,
} from './config';

/** A trainable model: its name, its Table 1 row, the trainer that runs it, what can be set. */
export interface ModelInfo {
  readonly name: string;
  /** The Table 1 row it reproduces. */
  readonly table1: string;
  /** The trainer that runs it (the `trainer` its runs record in `config.json`). */
  readonly trainer: string;
  readonly description: string;
  /** Model-specific config fields (dotted paths in its run config) and what they do. */
  readonly options: Readonly<Record<string, string>>;
}

/** The models `trainTwoStage` trains, in Table 1's order. */
export const VAE_MODELS: readonly ModelInfo[] = [
  {
    name: 'two-stage-vae',
    table1: '2-Stage VAE',
    trainer: VAE_TRAINER,
    description:
      "the Two-Stage VAE: a κ-simple VAE (the preset's gamma: learned in paper, optimal in quick), then a VAE on its codes",
    options: {},
  },
  {
    name: 'vae-learned-gamma',
    table1: 'VAE (learned gamma)',
    trainer: VAE_TRAINER,
    description: 'the stage-1 VAE alone (learned gamma), sampled from N(0, I)',
    options: {},
  },
  {
    name: 'vae-fixed-gamma',
    table1: 'VAE (fixed gamma)',
    trainer: VAE_TRAINER,
    description: 'a VAE with gamma fixed to 1 (stage.fixedGamma), sampled from N(0, I)',
    options: { 'stage1.fixedGamma': 'the fixed gamma (1)' },
  },
  {
    name: 'vae-cross-entropy',
    table1: 'VAE (cross-entropy)',
    trainer: VAE_TRAINER,
    description: 'a VAE with a Bernoulli (cross-entropy) decoder, sampled from N(0, I)',
    options: {},
  },
];

/** What makes each one-stage VAE model (on top of the preset); `two-stage-vae` changes nothing. */
const VAE_MODEL_CONFIG: Readonly<Record<string, RunConfigOverrides>> = {
  'two-stage-vae': {},
  'vae-learned-gamma': { stage1: { likelihood: 'learned-gamma' }, stage2: { epochs: 0 } },
  'vae-fixed-gamma': { stage1: { likelihood: 'fixed-gamma' }, stage2: { epochs: 0 } },
  'vae-cross-entropy': { stage1: { likelihood: 'bernoulli' }, stage2: { epochs: 0 } },
};

/**
 * The run config of one of {@link VAE_MODELS} for a preset and dataset, with `overrides` merged
 * on top and validated; records the model in `config.model`.
 *
 * @example
 * ```ts
 * const config = vaeModelConfig('vae-fixed-gamma', 'quick', 'mnist', { stage1: { epochs: 3 } });
 * await trainTwoStage({ runDir, config });
 * ```
 */
export function vaeModelConfig(
  name: string,
  preset: PresetName,
  dataset: string,
  overrides: RunConfigOverrides = {},
): RunConfig {
  const base = VAE_MODEL_CONFIG[name];
  if (!base) {
    throw new RangeError(`unknown model "${name}"; known: ${VAE_MODELS.map((m) => m.name).join(', ')}`);
  }
  return resolveRunConfig(preset, dataset, mergeConfig(mergeConfig({ model: name }, base), overrides));
}

/**
 * The sampling modes of a two-stage VAE run: `one-stage` (z ~ N(0, I)) always, `two-stage` when it
 * trains a second stage.
 */
export function vaeSamplingModes(config: Pick<RunConfig, 'stage2'>): ('one-stage' | 'two-stage')[] {
  return config.stage2.epochs > 0 ? ['one-stage', 'two-stage'] : ['one-stage'];
}
