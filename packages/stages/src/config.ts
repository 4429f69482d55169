import { MAX_SEED } from '@tsvae/core';
import { z } from 'zod';
import { RunConfigError, type RunConfigIssue } from './errors';

/** A registry reference: plugin name plus its config (validated, strictly, by the plugin's own schema). */
export const pluginRefSchema = z
  .object({
    name: z.string().min(1, 'a plugin name is required'),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** A seed: an integer in `[0, MAX_SEED]`, the same range in every command and config. */
export const seedSchema = z.number().int().min(0).max(MAX_SEED);

/** A plugin reference: name plus config. */
export type PluginRefConfig = z.output<typeof pluginRefSchema>;

const epochs = z.number().int().min(0);
const lr = z.number().positive().finite();
const lrEpochs = z.number().int().positive();

/**
 * The schema of a run configuration (every field has a default). Unknown fields are errors, so a
 * misspelt override never passes silently.
 */
export const runConfigSchema = z
  .object({
    /** Which preset the config started from (informational). */
    preset: z.string().default('custom'),
    /**
     * The Table 1 row this run trains (`two-stage-vae`, `vae-learned-gamma`, ... : see
     * `VAE_MODELS`; baselines add theirs). Informational for reports; what is trained is the rest
     * of the config.
     */
    model: z.string().min(1).default('two-stage-vae'),
    dataset: z
      .object({
        name: z.string().min(1),
        config: z.record(z.string(), z.unknown()).default({}),
        /** Use only the first `subset` training examples. */
        subset: z.number().int().positive().optional(),
      })
      .strict(),
    /** Seed of every random choice (initial weights, shuffles, noise); 0 is a seed like any other. */
    seed: seedSchema.default(0),
    /** Mini-batch size of both stages; an epoch is floor(N / batchSize) steps. */
    batchSize: z.number().int().positive().default(64),
    /** Stage-1 latent dimension κ. */
    latentDim: z.number().int().positive().default(64),
    stage1: z
      .object({
        /**
         * The stage-1 model plugin (kind `stage1`, default `vae`) and its extra config. The fields
         * below (encoder, decoder, likelihood, gammaConvention, fixedGamma) and `latentDim` /
         * `imageShape` are passed to it when its config declares them.
         */
        model: pluginRefSchema.default({ name: 'vae', config: {} }),
        encoder: pluginRefSchema.default({ name: 'infogan', config: {} }),
        decoder: pluginRefSchema.default({ name: 'infogan', config: {} }),
        likelihood: z
          .enum(['learned-gamma', 'optimal-gamma', 'fixed-gamma', 'bernoulli'])
          .default('learned-gamma'),
        gammaConvention: z.enum(['std', 'variance']).default('std'),
        fixedGamma: z.number().positive().default(1),
        /** Lower bound of gamma for the `optimal-gamma` likelihood. */
        gammaFloor: z.number().positive().default(1e-3),
        epochs: epochs.default(400),
        lr: lr.default(1e-4),
        /** The learning rate halves every `lrEpochs` epochs. */
        lrEpochs: lrEpochs.default(150),
      })
      .strict()
      .default({
        model: { name: 'vae', config: {} },
        encoder: { name: 'infogan', config: {} },
        decoder: { name: 'infogan', config: {} },
        likelihood: 'learned-gamma',
        gammaConvention: 'std',
        fixedGamma: 1,
        gammaFloor: 1e-3,
        epochs: 400,
        lr: 1e-4,
        lrEpochs: 150,
      }),
    stage2: z
      .object({
        model: pluginRefSchema.default({ name: 'mlp', config: {} }),
        epochs: epochs.default(800),
        lr: lr.default(1e-4),
        lrEpochs: lrEpochs.default(300),
      })
      .strict()
      .default({ model: { name: 'mlp', config: {} }, epochs: 800, lr: 1e-4, lrEpochs: 300 }),
    diagnostics: z
      .object({
        /** A latent dimension is active when its mean encoder variance is below this. */
        activeThreshold: z.number().positive().default(0.05),
        /** Training examples (the first ones) used for the per-epoch diagnostics. */
        samples: z.number().int().positive().default(1024),
      })
      .strict()
      .default({ activeThreshold: 0.05, samples: 1024 }),
    checkpoint: z
      .object({
        /** Write a checkpoint every this many epochs (and always at the end of a stage). */
        everyEpochs: z.number().int().positive().default(1),
        /** How many checkpoints to keep. */
        keep: z.number().int().positive().default(2),
      })
      .strict()
      .default({ everyEpochs: 1, keep: 2 }),
    samples: z
      .object({
        /** Images per sample grid. */
        count: z.number().int().positive().default(64),
        /** Seed of the sample grids. */
        seed: seedSchema.default(1234),
      })
      .strict()
      .default({ count: 64, seed: 1234 }),
  })
  .strict();

/** A fully resolved run configuration. */
export type RunConfig = z.output<typeof runConfigSchema>;

/** A run configuration before defaults are filled in. */
export type RunConfigInput = z.input<typeof runConfigSchema>;

/** A deep-partial override of a run configuration. */
export type RunConfigOverrides = { readonly [key: string]: unknown };

/** The built-in presets. */
export type PresetName = 'paper' | 'quick';

/** The preset names. */
export const PRESETS: readonly PresetName[] = ['paper', 'quick'];

const PAPER_EPOCHS: Readonly<Record<string, readonly [number, number]>> = {
  mnist: [400, 800],
  'fashion-mnist': [400, 800],
  cifar10: [1000, 2000],
  celeba: [400, 800],
};

/**
 * The quick preset's smaller InfoGAN: half the widths, no spectral norm (about 4x cheaper), and
 * BatchNorm moving averages with decay 0.99 instead of 0.999, so that after only ~500 steps the
 * inference-mode statistics (used to encode the data for stage 2 and to sample) match the weights.
 */
const QUICK_INFOGAN: Readonly<Record<string, unknown>> = {
  convDims: [32, 64],
  fcDim: 512,
  spectralNorm: false,
  bnMomentum: 0.99,
};

/**
 * The values of a preset for a dataset (a partial config, before defaults):
 * - `paper`: the recipe of Dai & Wipf (InfoGAN networks, κ = 64, batch 64, Adam lr 1e-4; stage 1
 *   400 epochs halving every 150, stage 2 800 epochs halving every 300; CIFAR-10 1000 / 2000).
 * - `quick`: minutes on a 2-core CPU, tuned so that the paper's effect (two-stage FID below
 *   one-stage FID) shows: a 6,400-image subset, a smaller InfoGAN (conv 32/64, fc 512, no spectral
 *   norm, BatchNorm decay 0.99), 5 stage-1 epochs at lr 2e-3 with the `optimal-gamma` likelihood
 *   (γ² = the batch's mean squared error: 500 Adam steps cannot move a learned log γ by more than
 *   about 1, so a learned γ would stay near 0.37 and stage 2 would not help), then 50 stage-2
 *   epochs of an `mlp` of width 256 with the optimal γ_z at lr 1e-3. `bench/quick-claim.mjs`
 *   measures the claim over 3 seeds.
 */
export function presetConfig(preset: PresetName, dataset: string): RunConfigInput {
  if (preset === 'paper') {
    const [e1, e2] = PAPER_EPOCHS[dataset] ?? [400, 800];
    return {
      preset,
      dataset: { name: dataset, config: {} },
      seed: 0,
      batchSize: 64,
      latentDim: 64,
      stage1: {
        encoder: { name: 'infogan', config: {} },
        decoder: { name: 'infogan', config: {} },
        likelihood: 'learned-gamma',
        gammaConvention: 'std',
        epochs: e1,
        lr: 1e-4,
        lrEpochs: 150,
      },
      stage2: { model: { name: 'mlp', config: {} }, epochs: e2, lr: 1e-4, lrEpochs: 300 },
      diagnostics: { activeThreshold: 0.05, samples: 1024 },
      checkpoint: { everyEpochs: 5, keep: 2 },
      samples: { count: 64, seed: 1234 },
    };
  }
  if (preset === 'quick') {
    const net = { ...QUICK_INFOGAN };
    return {
      preset,
      dataset: { name: dataset, config: {}, subset: 6400 },
      seed: 0,
      batchSize: 64,
      latentDim: 64,
      stage1: {
        encoder: { name: 'infogan', config: net },
        decoder: { name: 'infogan', config: { ...net } },
        likelihood: 'optimal-gamma',
        gammaConvention: 'std',
        epochs: 5,
        lr: 2e-3,
        lrEpochs: 150,
      },
      stage2: {
        model: { name: 'mlp', config: { width: 256, gamma: 'optimal' } },
        epochs: 50,
        lr: 1e-3,
        lrEpochs: 300,
      },
      diagnostics: { activeThreshold: 0.05, samples: 512 },
      checkpoint: { everyEpochs: 1, keep: 2 },
      samples: { count: 64, seed: 1234 },
    };
  }
  throw new RunConfigError([
    { field: 'preset', message: `unknown preset "${String(preset)}"; known presets: ${PRESETS.join(', ')}` },
  ]);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A plugin reference `{ name, config? }` (nothing else). */
function isPluginRef(v: Record<string, unknown>): boolean {
  return typeof v['name'] === 'string' && Object.keys(v).every((k) => k === 'name' || k === 'config');
}

/**
 * Deep-merges `override` into `base` (objects merge, everything else replaces). A plugin reference
 * `{ name, config }` whose `name` the override changes is replaced, not merged: the old plugin's
 * config (e.g. the quick preset's `mlp` width) does not apply to the new plugin.
 */
export function mergeConfig<T>(base: T, override: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(override))
    return (override === undefined ? base : override) as T;
  if (isPluginRef(base) && typeof override['name'] === 'string' && override['name'] !== base['name']) {
    return Object.fromEntries(Object.entries(override).filter(([, v]) => v !== undefined)) as T;
  }
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === undefined) continue;
    out[k] = k in out ? mergeConfig(out[k], v) : v;
  }
  return out as T;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

/**
 * Validates a run configuration and fills in defaults; throws {@link RunConfigError} naming every
 * offending field.
 */
export function parseRunConfig(input: unknown): RunConfig {
  const parsed = runConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issues: RunConfigIssue[] = parsed.error.issues.map((i) => {
      const keys = (i as { keys?: string[] }).keys;
      const field = formatPath(i.path);
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
  return parsed.data;
}

/**
 * A preset for a dataset with overrides deep-merged on top, validated.
 *
 * @example
 * ```ts
 * const config = resolveRunConfig('quick', 'mnist', { stage1: { epochs: 2 }, seed: 7 });
 * ```
 */
export function resolveRunConfig(
  preset: PresetName,
  dataset: string,
  overrides: RunConfigOverrides = {},
): RunConfig {
  return parseRunConfig(mergeConfig(presetConfig(preset, dataset), overrides));
}

/** The stage learning rate at an epoch: `lr0 * 0.5^floor(epoch / lrEpochs)`. */
export function learningRateAt(lr0: number, lrEpochs: number, epoch: number): number {
  return lr0 * 0.5 ** Math.floor(epoch / lrEpochs);
}
