/**
 * The GAN run configuration (`trainer: 'gan'` runs), its presets, and the Table 1 baseline models
 * with the options that apply to each.
 */
import { z } from '@tsvae/core';
import {
  mergeConfig,
  type PresetName,
  pluginRefSchema,
  RunConfigError,
  type RunConfigIssue,
  seedSchema,
} from '@tsvae/stages';

/**
 * The Adam settings of both networks. The schema's defaults are DCGAN's Adam (lr 2e-4, beta1 0.5,
 * TF's beta2 0.999 and epsilon 1e-8); each model preset sets compare_gan's values for its model.
 */
const optimizerSchema = z
  .object({
    lr: z.number().positive().finite().default(2e-4),
    beta1: z.number().min(0).lt(1).default(0.5),
    beta2: z.number().min(0).lt(1).default(0.999),
    epsilon: z.number().positive().default(1e-8),
  })
  .strict();

/**
 * The schema of a GAN run configuration (every field has a default; unknown fields are errors).
 * One training step is one discriminator update on one batch; the generator is updated after
 * every `loss.config.discriminatorSteps`-th step (compare_gan's `disc_iters`).
 */
export const ganRunConfigSchema = z
  .object({
    /** Which preset the config started from (informational). */
    preset: z.string().default('custom'),
    /** Which baseline model it is (informational; `custom` otherwise). */
    model: z.string().default('custom'),
    dataset: z
      .object({
        name: z.string().min(1),
        config: z.record(z.string(), z.unknown()).default({}),
        /** Use only the first `subset` training examples. */
        subset: z.number().int().positive().optional(),
      })
      .strict(),
    /** Seed of every random choice (initial weights, shuffles, codes, penalty draws). */
    seed: seedSchema.default(0),
    /** Mini-batch size; an epoch is floor(N / batchSize) discriminator steps. */
    batchSize: z.number().int().positive().default(64),
    /** Dimension of the generator's code z (compare_gan: 64). */
    zDim: z.number().int().positive().default(64),
    /** The code distribution: `uniform` on [-1, 1]^zDim (compare_gan) or standard `normal`. */
    prior: z.enum(['uniform', 'normal']).default('uniform'),
    /** Epochs (passes over the training data by the discriminator). */
    epochs: z.number().int().min(0).default(20),
    /** The generator plugin (kind `gan-generator`); `zDim` and `imageShape` are set by the run. */
    generator: pluginRefSchema.default({ name: 'infogan', config: {} }),
    /** The discriminator plugin (kind `gan-discriminator`); `imageShape` is set by the run. */
    discriminator: pluginRefSchema.default({ name: 'infogan', config: {} }),
    /** The objective (kind `gan-loss`). */
    loss: pluginRefSchema.default({ name: 'ns-gan', config: {} }),
    /** Adam for both networks (one optimizer each, same settings). */
    optimizer: optimizerSchema.default({ lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 }),
    checkpoint: z
      .object({
        /** Write a checkpoint every this many epochs (and always after the last). */
        everyEpochs: z.number().int().positive().default(1),
        /** How many checkpoints to keep. */
        keep: z.number().int().positive().default(2),
      })
      .strict()
      .default({ everyEpochs: 1, keep: 2 }),
    samples: z
      .object({
        /** Images in the final sample grid. */
        count: z.number().int().positive().default(64),
        /** Seed of the sample grid. */
        seed: seedSchema.default(1234),
      })
      .strict()
      .default({ count: 64, seed: 1234 }),
  })
  .strict();

/** A fully resolved GAN run configuration. */
export type GanRunConfig = z.output<typeof ganRunConfigSchema>;
/** A GAN run configuration before defaults. */
export type GanRunConfigInput = z.input<typeof ganRunConfigSchema>;

/**
 * Validates a GAN run configuration and fills in defaults; throws `RunConfigError` (from
 * `@tsvae/stages`) naming every offending field.
 */
export function parseGanRunConfig(input: unknown): GanRunConfig {
  const parsed = ganRunConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues: RunConfigIssue[] = parsed.error.issues.map((i) => {
    const field = i.path.map(String).join('.');
    const keys = (i as { keys?: readonly string[] }).keys;
    if (i.code === 'unrecognized_keys' && keys) {
      return {
        field: keys.map((k) => (field ? `${field}.${k}` : k)).join(', '),
        message: `unknown field${keys.length > 1 ? 's' : ''}`,
      };
    }
    return { field, message: i.message };
  });
  throw new RunConfigError(issues);
}

/** The GAN rows of Table 1. */
export type GanModelName = 'mm-gan' | 'ns-gan' | 'lsgan' | 'wgan' | 'wgan-gp' | 'dragan' | 'began';
/** The VAE rows of Table 1 this package adds (trained by `@tsvae/stages`' `trainTwoStage`). */
export type VaeBaselineName = 'wae-mmd' | 'vae-flow';
/** Every baseline model of this package. */
export type BaselineModelName = GanModelName | VaeBaselineName;

/** The GAN models, in Table 1's order. */
export const GAN_MODELS: readonly GanModelName[] = [
  'mm-gan',
  'ns-gan',
  'lsgan',
  'wgan',
  'wgan-gp',
  'dragan',
  'began',
];

/** compare_gan's per-model defaults (`compare_gan/src/params.py`) and the loss / networks used. */
interface GanModelDefaults {
  readonly loss: Readonly<Record<string, unknown>>;
  readonly discriminator: string;
  readonly discriminatorBatchNorm: boolean;
  readonly lr: number;
  readonly beta1: number;
}

const GAN_DEFAULTS: Readonly<Record<GanModelName, GanModelDefaults>> = {
  'mm-gan': { loss: {}, discriminator: 'infogan', discriminatorBatchNorm: true, lr: 5e-5, beta1: 0 },
  'ns-gan': { loss: {}, discriminator: 'infogan', discriminatorBatchNorm: true, lr: 5e-5, beta1: 0 },
  lsgan: { loss: {}, discriminator: 'infogan', discriminatorBatchNorm: true, lr: 2e-4, beta1: 0.5 },
  wgan: {
    loss: { discriminatorSteps: 5, clip: 0.01 },
    discriminator: 'infogan',
    discriminatorBatchNorm: true,
    lr: 5e-5,
    beta1: 0.5,
  },
  'wgan-gp': {
    loss: { discriminatorSteps: 5, lambda: 10 },
    discriminator: 'infogan',
    discriminatorBatchNorm: false,
    lr: 1e-4,
    beta1: 0.5,
  },
  dragan: {
    loss: { discriminatorSteps: 1, lambda: 10 },
    discriminator: 'infogan',
    discriminatorBatchNorm: false,
    lr: 1e-4,
    beta1: 0.5,
  },
  began: {
    loss: { discriminatorSteps: 5, gamma: 0.75, lambdaK: 1e-3 },
    discriminator: 'infogan-autoencoder',
    discriminatorBatchNorm: false,
    lr: 1e-4,
    beta1: 0.5,
  },
};

/** Epochs of the GAN study per dataset (recipe: MNIST/Fashion 20, CIFAR-10 100, CelebA 40). */
const GAN_EPOCHS: Readonly<Record<string, number>> = {
  mnist: 20,
  'fashion-mnist': 20,
  cifar10: 100,
  celeba: 40,
};

/** The quick preset's smaller networks (as `@tsvae/stages`' quick InfoGAN: half widths, BN decay 0.99). */
const QUICK_NET = { convDims: [32, 64], fcDim: 512, bnMomentum: 0.99 } as const;

function isGanModel(name: string): name is GanModelName {
  return (GAN_MODELS as readonly string[]).includes(name);
}

/**
 * A preset of a GAN model for a dataset (a partial config, before defaults):
 * - `paper`: compare_gan's network (conv 64/128, fc 1024), z_dim 64, batch 64, `z ~ U(-1, 1)`, the
 *   study's epochs (MNIST / Fashion-MNIST 20, CIFAR-10 100, CelebA 40) and compare_gan's per-model
 *   Adam and discriminator settings (`params.py`).
 * - `quick`: minutes on a 2-core CPU, not for quality: a 6,400-image subset, half widths (conv
 *   32/64, fc 512), BatchNorm decay 0.99, 5 epochs, Adam lr 2e-4 / beta1 0.5 for every model.
 */
export function ganPresetConfig(model: GanModelName, preset: PresetName, dataset: string): GanRunConfigInput {
  if (!isGanModel(model)) {
    throw new RunConfigError([
      { field: 'model', message: `unknown GAN model "${String(model)}"; known: ${GAN_MODELS.join(', ')}` },
    ]);
  }
  if (preset !== 'paper' && preset !== 'quick') {
    throw new RunConfigError([
      { field: 'preset', message: `unknown preset "${String(preset)}"; known presets: paper, quick` },
    ]);
  }
  const d = GAN_DEFAULTS[model];
  const quick = preset === 'quick';
  const net: Record<string, unknown> = quick ? { ...QUICK_NET, convDims: [...QUICK_NET.convDims] } : {};
  // the autoencoder discriminator has no fc layer of its own width
  const { fcDim: _fc, ...aeNet } = net;
  return {
    preset,
    model,
    dataset: quick ? { name: dataset, config: {}, subset: 6400 } : { name: dataset, config: {} },
    seed: 0,
    batchSize: 64,
    zDim: 64,
    prior: 'uniform',
    epochs: quick ? 5 : (GAN_EPOCHS[dataset] ?? 20),
    generator: { name: 'infogan', config: { ...net } },
    discriminator: {
      name: d.discriminator,
      config: {
        ...(d.discriminator === 'infogan-autoencoder' ? aeNet : net),
        batchNorm: d.discriminatorBatchNorm,
      },
    },
    loss: { name: model, config: { ...d.loss } },
    optimizer: quick
      ? { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 }
      : { lr: d.lr, beta1: d.beta1, beta2: 0.999, epsilon: 1e-8 },
    checkpoint: { everyEpochs: 1, keep: 2 },
    samples: { count: 64, seed: 1234 },
  };
}

/**
 * A GAN model's preset for a dataset with overrides deep-merged on top, validated.
 *
 * @example
 * ```ts
 * const config = resolveGanRunConfig('wgan-gp', 'quick', 'mnist', { epochs: 2, seed: 7 });
 * ```
 */
export function resolveGanRunConfig(
  model: GanModelName,
  preset: PresetName,
  dataset: string,
  overrides: Readonly<Record<string, unknown>> = {},
): GanRunConfig {
  return parseGanRunConfig(mergeConfig(ganPresetConfig(model, preset, dataset), overrides));
}
