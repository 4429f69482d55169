/**
 * The GAN objectives of Table 1 as `gan-loss` plugins, each with its own strict config. Formulas
 * and defaults follow google/compare_gan (`compare_gan/src/gans/*.py`, `params.py`), the code of
 * Lucic et al. 2018 whose numbers Table 1 reports; the package README lists every value's source.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedWeight, PluginDefinition } from '@tsvae/core';
import { definePlugin, deriveSeed, z } from '@tsvae/core';
import type {
  DiscriminatorLossInput,
  GanDiscriminator,
  GanLoss,
  GanLossTerms,
  GeneratorLossInput,
} from './kinds';

const steps = (n: number) => z.number().int().positive().default(n);

function critic(d: GanDiscriminator, x: tf.Tensor4D): tf.Tensor {
  return d.forward(x, { training: true });
}

/** `mean(softplus(t))`: `mean(-log(1 - sigmoid(t)))`, the cross-entropy of logits `t` with label 0. */
const meanSoftplus = (t: tf.Tensor): tf.Scalar => tf.mean(tf.softplus(t)) as tf.Scalar;

/**
 * The gradient penalty `mean_i (sqrt(epsilon + |grad_x f(x)_i|^2) - 1)^2` at the points `x`
 * `[B, H, W, C]`, where `f` maps images to one value per image (compare_gan's WGAN-GP and DRAGAN
 * form, `epsilon` = 1e-4). Differentiable with respect to `f`'s weights: call it inside the
 * gradient computation (it needs `registerHigherOrderGradients` from `@tsvae/backend` for leaky
 * ReLU and conv networks, which this package registers on import).
 */
export function gradientPenalty(f: (x: tf.Tensor4D) => tf.Tensor, x: tf.Tensor4D, epsilon = 1e-4): tf.Scalar {
  return tf.tidy(() => {
    const g = tf.grad((xx: tf.Tensor) => tf.sum(f(xx as tf.Tensor4D)))(x);
    const slopes = tf.sqrt(tf.add(tf.sum(tf.square(g), [1, 2, 3]), epsilon));
    return tf.mean(tf.square(tf.sub(slopes, 1))) as tf.Scalar;
  });
}

/** `alpha ~ U[0, 1)` per example, `[B, 1, 1, 1]`. */
function perExampleUniform(batch: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([batch, 1, 1, 1], 0, 1, 'float32', seed) as tf.Tensor4D;
}

/** A loss without state. */
function stateless(): Pick<GanLoss, 'getWeights' | 'setWeights' | 'dispose'> {
  return { getWeights: () => [], setWeights: () => {}, dispose: () => {} };
}

/** D's mean sigmoid output on real and on fake images (what the classic GANs report). */
function scores(real: tf.Tensor, fake: tf.Tensor): Record<string, tf.Scalar> {
  return {
    realScore: tf.mean(tf.sigmoid(real)) as tf.Scalar,
    fakeScore: tf.mean(tf.sigmoid(fake)) as tf.Scalar,
  };
}

/** The classic GAN's discriminator loss: `mean(softplus(-D(x))) + mean(softplus(D(G(z))))`. */
function classicDiscriminator({ real, fake, discriminator }: DiscriminatorLossInput): GanLossTerms {
  return tf.tidy(() => {
    const lr = critic(discriminator, real);
    const lf = critic(discriminator, fake);
    const loss = tf.add(meanSoftplus(tf.neg(lr)), meanSoftplus(lf)) as tf.Scalar;
    return { loss, values: scores(lr, lf) };
  });
}

const classicConfig = z.object({
  /** Discriminator steps per generator step (compare_gan `disc_iters`, default 1). */
  discriminatorSteps: steps(1),
});

/**
 * `mm-gan`: the minimax GAN (Goodfellow et al. 2014; compare_gan `GAN_MINMAX`). D minimises
 * `-E log D(x) - E log(1 - D(G(z)))`; G minimises `E log(1 - D(G(z)))` (= `-mean(softplus(D(G(z))))`
 * in logits), whose gradient vanishes as D(G(z)) -> 0.
 */
export const mmGanLossPlugin: PluginDefinition<'gan-loss', typeof classicConfig> = definePlugin({
  kind: 'gan-loss',
  name: 'mm-gan',
  description: 'Minimax GAN (saturating generator loss log(1 - D(G(z)))).',
  configSchema: classicConfig,
  create: (c): GanLoss => ({
    name: 'mm-gan',
    discriminatorOutput: 'critic',
    discriminatorSteps: c.discriminatorSteps,
    discriminatorLoss: classicDiscriminator,
    generatorLoss: ({ fake, discriminator }) =>
      tf.tidy(() => {
        const lf = critic(discriminator, fake);
        return { loss: tf.neg(meanSoftplus(lf)) as tf.Scalar, values: {} };
      }),
    ...stateless(),
  }),
});

/**
 * `ns-gan`: the non-saturating GAN (Goodfellow et al. 2014; compare_gan `GAN`). D as `mm-gan`; G
 * minimises `-E log D(G(z))` (= `mean(softplus(-D(G(z))))` in logits).
 */
export const nsGanLossPlugin: PluginDefinition<'gan-loss', typeof classicConfig> = definePlugin({
  kind: 'gan-loss',
  name: 'ns-gan',
  description: 'Non-saturating GAN (generator loss -log D(G(z))).',
  configSchema: classicConfig,
  create: (c): GanLoss => ({
    name: 'ns-gan',
    discriminatorOutput: 'critic',
    discriminatorSteps: c.discriminatorSteps,
    discriminatorLoss: classicDiscriminator,
    generatorLoss: ({ fake, discriminator }) =>
      tf.tidy(() => ({ loss: meanSoftplus(tf.neg(critic(discriminator, fake))), values: {} })),
    ...stateless(),
  }),
});

const lsganConfig = z.object({
  discriminatorSteps: steps(1),
  /**
   * What the squares apply to: `probability` (sigmoid of D's output; compare_gan's LSGAN) or
   * `logit` (D's raw output; Mao et al.'s a = 0, b = c = 1 coding).
   */
  on: z.enum(['probability', 'logit']).default('probability'),
});

/**
 * `lsgan`: least squares GAN (Mao et al. 2017; compare_gan `LSGAN`): D minimises
 * `0.5 E (D(x) - 1)^2 + 0.5 E D(G(z))^2`, G minimises `0.5 E (D(G(z)) - 1)^2`, with D the sigmoid
 * output (default, as compare_gan) or the logit.
 */
export const lsganLossPlugin: PluginDefinition<'gan-loss', typeof lsganConfig> = definePlugin({
  kind: 'gan-loss',
  name: 'lsgan',
  description: 'Least squares GAN (0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2).',
  configSchema: lsganConfig,
  create: (c): GanLoss => {
    const out = (t: tf.Tensor) => (c.on === 'probability' ? tf.sigmoid(t) : t);
    return {
      name: 'lsgan',
      discriminatorOutput: 'critic',
      discriminatorSteps: c.discriminatorSteps,
      discriminatorLoss: ({ real, fake, discriminator }) =>
        tf.tidy(() => {
          const lr = critic(discriminator, real);
          const lf = critic(discriminator, fake);
          const loss = tf.mul(
            0.5,
            tf.add(tf.mean(tf.square(tf.sub(out(lr), 1))), tf.mean(tf.square(out(lf)))),
          ) as tf.Scalar;
          return { loss, values: scores(lr, lf) };
        }),
      generatorLoss: ({ fake, discriminator }) =>
        tf.tidy(() => ({
          loss: tf.mul(0.5, tf.mean(tf.square(tf.sub(out(critic(discriminator, fake)), 1)))) as tf.Scalar,
          values: {},
        })),
      ...stateless(),
    };
  },
});

/** The Wasserstein critic loss `E D(G(z)) - E D(x)` and its estimate `E D(x) - E D(G(z))`. */
function wassersteinTerms({ real, fake, discriminator }: DiscriminatorLossInput): {
  loss: tf.Scalar;
  estimate: tf.Scalar;
} {
  const estimate = tf.sub(
    tf.mean(critic(discriminator, real)),
    tf.mean(critic(discriminator, fake)),
  ) as tf.Scalar;
  return { loss: tf.neg(estimate) as tf.Scalar, estimate };
}

const wganGenerator = ({ fake, discriminator }: GeneratorLossInput): GanLossTerms =>
  tf.tidy(() => ({ loss: tf.neg(tf.mean(critic(discriminator, fake))) as tf.Scalar, values: {} }));

const wganConfig = z.object({
  /** Critic steps per generator step (WGAN paper and compare_gan: 5). */
  discriminatorSteps: steps(5),
  /** Every critic weight is clipped to [-clip, clip] after each critic step (0.01). */
  clip: z.number().positive().default(0.01),
});

/**
 * `wgan`: Wasserstein GAN with weight clipping (Arjovsky et al. 2017; compare_gan `WGAN`): the
 * critic minimises `E D(G(z)) - E D(x)` and clips every trainable weight to `[-clip, clip]` after
 * each step; G minimises `-E D(G(z))`. Reports the critic's estimate `E D(x) - E D(G(z))`.
 */
export const wganLossPlugin: PluginDefinition<'gan-loss', typeof wganConfig> = definePlugin({
  kind: 'gan-loss',
  name: 'wgan',
  description: 'Wasserstein GAN, weight clipping.',
  configSchema: wganConfig,
  create: (c): GanLoss => ({
    name: 'wgan',
    discriminatorOutput: 'critic',
    discriminatorSteps: c.discriminatorSteps,
    discriminatorLoss: (input) =>
      tf.tidy(() => {
        const { loss, estimate } = wassersteinTerms(input);
        return { loss, values: { criticEstimate: estimate } };
      }),
    generatorLoss: wganGenerator,
    afterDiscriminatorStep(discriminator) {
      for (const v of discriminator.trainableVariables()) {
        tf.tidy(() => v.assign(tf.clipByValue(v, -c.clip, c.clip)));
      }
    },
    ...stateless(),
  }),
});

const penaltyEpsilon = z.number().nonnegative().default(1e-4);

const wganGpConfig = z.object({
  /** Critic steps per generator step (WGAN-GP paper and compare_gan: 5). */
  discriminatorSteps: steps(5),
  /** Penalty weight lambda (10). */
  lambda: z.number().nonnegative().default(10),
  /** `slopes = sqrt(epsilon + |grad|^2)` (compare_gan: 1e-4). */
  epsilon: penaltyEpsilon,
});

/**
 * `wgan-gp`: WGAN with gradient penalty (Gulrajani et al. 2017; compare_gan `WGAN_GP`): the critic
 * minimises `E D(G(z)) - E D(x) + lambda E (|grad D(x_hat)| - 1)^2` at `x_hat = x + alpha (G(z) - x)`,
 * `alpha ~ U[0, 1)` per example. Use a critic without BatchNorm. Reports the critic's estimate and
 * the penalty.
 */
export const wganGpLossPlugin: PluginDefinition<'gan-loss', typeof wganGpConfig> = definePlugin({
  kind: 'gan-loss',
  name: 'wgan-gp',
  description: 'Wasserstein GAN with gradient penalty (lambda 10).',
  configSchema: wganGpConfig,
  create: (c): GanLoss => ({
    name: 'wgan-gp',
    discriminatorOutput: 'critic',
    discriminatorSteps: c.discriminatorSteps,
    discriminatorLoss: (input) =>
      tf.tidy(() => {
        const { real, fake, discriminator, seed } = input;
        const { loss, estimate } = wassersteinTerms(input);
        const alpha = perExampleUniform(real.shape[0], deriveSeed(seed, 'alpha'));
        const xHat = tf.add(real, tf.mul(alpha, tf.sub(fake, real))) as tf.Tensor4D;
        const penalty = gradientPenalty((x) => critic(discriminator, x), xHat, c.epsilon);
        return {
          loss: tf.add(loss, tf.mul(c.lambda, penalty)) as tf.Scalar,
          values: { criticEstimate: estimate, penalty },
        };
      }),
    generatorLoss: wganGenerator,
    ...stateless(),
  }),
});

const draganConfig = z.object({
  discriminatorSteps: steps(1),
  /** Penalty weight lambda (10). */
  lambda: z.number().nonnegative().default(10),
  /** Perturbation scale: `x_p = x + scale * std(x) * U[0, 1)` (DRAGAN's code and compare_gan: 0.5). */
  perturbation: z.number().nonnegative().default(0.5),
  /** The penalised gradient: of D's `probability` (sigmoid; compare_gan) or of its `logit`. */
  gradientOf: z.enum(['probability', 'logit']).default('probability'),
  epsilon: penaltyEpsilon,
});

/**
 * `dragan`: DRAGAN (Kodali et al. 2017; compare_gan `DRAGAN`): the non-saturating GAN plus
 * `lambda E (|grad D(x_hat)| - 1)^2` around the data, at `x_hat = x + alpha (x_p - x)`,
 * `x_p = x + perturbation * std(x) * U[0, 1)` (the standard deviation of the whole real batch, as
 * the DRAGAN authors' code and compare_gan compute it), `alpha ~ U[0, 1)` per example.
 */
export const draganLossPlugin: PluginDefinition<'gan-loss', typeof draganConfig> = definePlugin({
  kind: 'gan-loss',
  name: 'dragan',
  description: 'DRAGAN: non-saturating GAN with a gradient penalty around perturbed real data (lambda 10).',
  configSchema: draganConfig,
  create: (c): GanLoss => ({
    name: 'dragan',
    discriminatorOutput: 'critic',
    discriminatorSteps: c.discriminatorSteps,
    discriminatorLoss: (input) =>
      tf.tidy(() => {
        const { real, discriminator, seed } = input;
        const base = classicDiscriminator(input);
        const std = tf.sqrt(tf.moments(real).variance);
        const noise = tf.randomUniform(real.shape, 0, 1, 'float32', deriveSeed(seed, 'perturbation'));
        const perturbed = tf.add(real, tf.mul(tf.mul(std, c.perturbation), noise));
        const alpha = perExampleUniform(real.shape[0], deriveSeed(seed, 'alpha'));
        const xHat = tf.add(real, tf.mul(alpha, tf.sub(perturbed, real))) as tf.Tensor4D;
        const f = (x: tf.Tensor4D) => {
          const logits = critic(discriminator, x);
          return c.gradientOf === 'probability' ? tf.sigmoid(logits) : logits;
        };
        const penalty = gradientPenalty(f, xHat, c.epsilon);
        return {
          loss: tf.add(base.loss, tf.mul(c.lambda, penalty)) as tf.Scalar,
          values: { ...base.values, penalty },
        };
      }),
    generatorLoss: ({ fake, discriminator }) =>
      tf.tidy(() => ({ loss: meanSoftplus(tf.neg(critic(discriminator, fake))), values: {} })),
    ...stateless(),
  }),
});

const beganConfig = z.object({
  /** Discriminator steps per generator step (compare_gan's BEGAN default: 5). */
  discriminatorSteps: steps(5),
  /** Diversity ratio gamma = E L(G(z)) / E L(x) at equilibrium (0.75). */
  gamma: z.number().min(0).max(1).default(0.75),
  /** Learning rate of k_t, lambda_k (1e-3). */
  lambdaK: z.number().nonnegative().default(1e-3),
  /** k_0 (0). */
  initialK: z.number().min(0).max(1).default(0),
  /** Clip k_t to [0, 1] after each update (the BEGAN paper; compare_gan does not). */
  clipK: z.boolean().default(true),
});

/** The BEGAN autoencoder loss `L(v) = mean |D(v) - v|` (compare_gan's `recon_error`). */
function reconstructionError(d: GanDiscriminator, v: tf.Tensor4D): tf.Scalar {
  return tf.mean(tf.abs(tf.sub(critic(d, v), v))) as tf.Scalar;
}

/**
 * `began`: boundary equilibrium GAN (Berthelot et al. 2017; compare_gan `BEGAN`) with an
 * autoencoder discriminator and `L(v) = mean |D(v) - v|`: D minimises `L(x) - k_t L(G(z))`, G
 * minimises `L(G(z))`, and after each discriminator step
 * `k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)` with that step's `L(x)`,
 * `L(G(z))`. Reports the convergence measure `M = L(x) + |gamma L(x) - L(G(z))|` and `k`.
 */
export const beganLossPlugin: PluginDefinition<'gan-loss', typeof beganConfig> = definePlugin({
  kind: 'gan-loss',
  name: 'began',
  description: 'BEGAN: autoencoder discriminator, k_t equilibrium control (gamma 0.75, lambda_k 1e-3).',
  configSchema: beganConfig,
  create: (c): GanLoss => {
    const k = tf.tidy(() => tf.variable(tf.scalar(c.initialK), false, undefined, 'float32'));
    return {
      name: 'began',
      discriminatorOutput: 'autoencoder',
      discriminatorSteps: c.discriminatorSteps,
      discriminatorLoss: ({ real, fake, discriminator }) =>
        tf.tidy(() => {
          const realError = reconstructionError(discriminator, real);
          const fakeError = reconstructionError(discriminator, fake);
          const balance = tf.sub(tf.mul(c.gamma, realError), fakeError);
          return {
            loss: tf.sub(realError, tf.mul(k, fakeError)) as tf.Scalar,
            values: {
              realError,
              fakeError,
              convergence: tf.add(realError, tf.abs(balance)) as tf.Scalar,
              k: tf.clone(k) as tf.Scalar,
            },
          };
        }),
      generatorLoss: ({ fake, discriminator }) =>
        tf.tidy(() => ({ loss: reconstructionError(discriminator, fake), values: {} })),
      afterDiscriminatorStep(_d, terms) {
        const { realError, fakeError } = terms.values;
        if (!realError || !fakeError) throw new Error('began: the step terms lack realError / fakeError');
        tf.tidy(() => {
          const next = tf.add(k, tf.mul(c.lambdaK, tf.sub(tf.mul(c.gamma, realError), fakeError)));
          k.assign((c.clipK ? tf.clipByValue(next, 0, 1) : next) as tf.Scalar);
        });
      },
      diagnostics: () => ({ k: k.dataSync()[0] as number }),
      getWeights: (): NamedWeight[] => [{ name: 'k', tensor: k }],
      setWeights(weights) {
        const t = weights.find((w) => w.name === 'k')?.tensor;
        if (!t) throw new Error('setWeights: missing weight "k" of the began loss');
        if (t.size !== 1) throw new Error(`setWeights: weight "k" has shape [${t.shape}], expected []`);
        tf.tidy(() => k.assign(tf.reshape(t, []) as tf.Scalar));
      },
      dispose: () => k.dispose(),
    };
  },
});

/** Every loss plugin of this package. */
export const lossPlugins = [
  mmGanLossPlugin,
  nsGanLossPlugin,
  lsganLossPlugin,
  wganLossPlugin,
  wganGpLossPlugin,
  draganLossPlugin,
  beganLossPlugin,
] as const;
