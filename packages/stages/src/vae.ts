import * as tf from '@tensorflow/tfjs-core';
import type {
  Decoder,
  Encoder,
  ForwardOptions,
  GaussianParams,
  ImageShape,
  LossTerms,
  Module,
  NamedWeight,
} from '@tsvae/core';
import { create } from '@tsvae/core';
import { bernoulliNll, gaussianNll, klStandardNormal } from '@tsvae/distributions';
import * as layers from '@tsvae/layers';
import type { PluginRefConfig } from './config';

/** Decoder likelihood of the stage-1 VAE (same values as `@tsvae/layers`' `Likelihood`). */
export type Likelihood = 'learned-gamma' | 'fixed-gamma' | 'bernoulli';

/** What gamma means: `std` (reference code, default) or `variance` (paper). */
export type GammaConvention = 'std' | 'variance';

/** Loss terms of a stage-1 VAE, plus gamma. */
export interface Stage1LossTerms extends LossTerms {
  readonly gamma: tf.Scalar;
}

/**
 * The stage-1 VAE as the orchestrator uses it. `@tsvae/layers`' `Stage1Vae` satisfies it; so does
 * {@link composeStage1Vae}.
 */
export interface Stage1Model extends Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly latentDim: number;
  readonly likelihood: Likelihood;
  readonly gammaConvention: GammaConvention;
  /** Negative ELBO on `x` in [0, 1], averaged over the batch; `seed` fixes the noise. */
  loss(x: tf.Tensor4D, options: ForwardOptions & { readonly seed?: number }): Stage1LossTerms;
  encode(x: tf.Tensor4D, options: ForwardOptions): GaussianParams;
  decode(z: tf.Tensor2D, options: ForwardOptions): tf.Tensor4D;
  gamma(): number;
}

/** What a stage-1 factory receives. */
export interface Stage1Spec {
  readonly encoder: PluginRefConfig;
  readonly decoder: PluginRefConfig;
  readonly latentDim: number;
  readonly imageShape: ImageShape;
  readonly likelihood: Likelihood;
  readonly gammaConvention: GammaConvention;
  readonly fixedGamma: number;
}

/** Builds a stage-1 VAE from a spec (e.g. `@tsvae/layers`' `createStage1Vae`). */
export type Stage1Factory = (spec: Stage1Spec) => Stage1Model | Promise<Stage1Model>;

/**
 * A stage-1 VAE composed from any registry encoder and decoder, with the recipe's losses:
 * `KL = sum(mu^2 + sigma^2 - 2 log sigma - 1) / 2` and the Gaussian NLL with one learned scalar
 * `logGamma` (initialised to 0), or fixed gamma, or Bernoulli cross-entropy.
 */
export function composeStage1Vae(
  encoder: Encoder,
  decoder: Decoder,
  options: { likelihood?: Likelihood; gammaConvention?: GammaConvention; fixedGamma?: number } = {},
): Stage1Model {
  const likelihood = options.likelihood ?? 'learned-gamma';
  const gammaConvention = options.gammaConvention ?? 'std';
  const learned = likelihood === 'learned-gamma';
  const logGamma: tf.Variable | tf.Scalar = learned
    ? tf.tidy(() => tf.variable(tf.scalar(0), true))
    : tf.scalar(Math.log(options.fixedGamma ?? 1));
  const gammaOf = (lg: tf.Scalar): tf.Scalar => tf.exp(lg);
  const model: Stage1Model = {
    encoder,
    decoder,
    latentDim: encoder.latentDim,
    likelihood,
    gammaConvention,
    trainableVariables: () => [
      ...encoder.trainableVariables(),
      ...decoder.trainableVariables(),
      ...(learned ? [logGamma as tf.Variable] : []),
    ],
    getWeights: (): NamedWeight[] => [
      ...encoder.getWeights().map((w) => ({ name: `encoder/${w.name}`, tensor: w.tensor })),
      ...decoder.getWeights().map((w) => ({ name: `decoder/${w.name}`, tensor: w.tensor })),
      ...(learned ? [{ name: 'logGamma', tensor: logGamma }] : []),
    ],
    setWeights(weights: readonly NamedWeight[]): void {
      const strip = (prefix: string) =>
        weights
          .filter((w) => w.name.startsWith(prefix))
          .map((w) => ({ name: w.name.slice(prefix.length), tensor: w.tensor }));
      encoder.setWeights(strip('encoder/'));
      decoder.setWeights(strip('decoder/'));
      if (learned) {
        const lg = weights.find((w) => w.name === 'logGamma');
        if (!lg) throw new Error('setWeights: missing weight "logGamma"');
        (logGamma as tf.Variable).assign(lg.tensor as tf.Scalar);
      }
    },
    countParams: () => encoder.countParams() + decoder.countParams() + (learned ? 1 : 0),
    dispose(): void {
      encoder.dispose();
      decoder.dispose();
      logGamma.dispose();
    },
    encode: (x, opts) => encoder.encode(x, opts),
    decode: (z, opts) =>
      tf.tidy(() => {
        const out = decoder.decode(z, opts);
        return out.mean;
      }),
    gamma: () =>
      learned ? Math.exp((logGamma as tf.Variable).dataSync()[0] as number) : (options.fixedGamma ?? 1),
    loss(x, opts) {
      return tf.tidy(() => {
        const { mu, logSigma } = encoder.encode(x, opts);
        const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', opts.seed);
        const z = tf.add(mu, tf.mul(tf.exp(logSigma), eps)) as tf.Tensor2D;
        const out = decoder.decode(z, opts);
        let recon: tf.Scalar;
        if (likelihood === 'bernoulli') {
          recon = tf.mean(
            out.logits
              ? bernoulliNll(x, out.logits, { from: 'logits' })
              : bernoulliNll(x, out.mean, { from: 'probs', clamp: 1e-8 }),
          );
        } else {
          recon = tf.mean(gaussianNll(x, out.mean, logGamma, gammaConvention));
        }
        const kl = tf.mean(klStandardNormal(mu, logSigma)) as tf.Scalar;
        return { loss: tf.add(recon, kl) as tf.Scalar, reconstruction: recon, kl, gamma: gammaOf(logGamma) };
      });
    },
  };
  return model;
}

/**
 * The built-in stage-1 factory: creates the encoder and decoder from the registry (their configs
 * receive `latentDim` and `imageShape`) and composes them with {@link composeStage1Vae}.
 */
export const builtinStage1Factory: Stage1Factory = async (spec) => {
  const encoder = await create('encoder', spec.encoder.name, {
    ...spec.encoder.config,
    latentDim: spec.latentDim,
    imageShape: [...spec.imageShape],
  });
  const decoder = await create('decoder', spec.decoder.name, {
    ...spec.decoder.config,
    latentDim: spec.latentDim,
    imageShape: [...spec.imageShape],
  });
  return composeStage1Vae(encoder, decoder, {
    likelihood: spec.likelihood,
    gammaConvention: spec.gammaConvention,
    fixedGamma: spec.fixedGamma,
  });
};

/** How `config.json` names the built-in factory. */
export const BUILTIN_STAGE1_FACTORY = '@tsvae/stages composeStage1Vae';
/** How `config.json` names `@tsvae/layers`' factory. */
export const LAYERS_STAGE1_FACTORY = '@tsvae/layers createStage1Vae';

function layersFactory(): Stage1Factory | undefined {
  const mod = layers as Record<string, unknown>;
  const f = mod['createStage1VaeAsync'] ?? mod['createStage1Vae'];
  return typeof f === 'function' ? (f as Stage1Factory) : undefined;
}

/**
 * The default stage-1 factory: `@tsvae/layers`' `createStage1VaeAsync` / `createStage1Vae` when that
 * package exports it, otherwise {@link builtinStage1Factory}.
 */
export const defaultStage1Factory: Stage1Factory = async (spec) => {
  const fromLayers = layersFactory();
  if (fromLayers) {
    return await fromLayers({
      ...spec,
      encoder: { name: spec.encoder.name, config: spec.encoder.config },
      decoder: { name: spec.decoder.name, config: spec.decoder.config },
    });
  }
  return builtinStage1Factory(spec);
};

/** Name of the factory {@link defaultStage1Factory} will use. */
export function defaultStage1FactoryName(): string {
  return layersFactory() ? LAYERS_STAGE1_FACTORY : BUILTIN_STAGE1_FACTORY;
}

/** The name recorded in `config.json` for a factory. */
export function stage1FactoryName(factory: Stage1Factory): string {
  if (factory === defaultStage1Factory) return defaultStage1FactoryName();
  if (factory === builtinStage1Factory) return BUILTIN_STAGE1_FACTORY;
  return factory.name ? `custom ${factory.name}` : 'custom';
}

/**
 * The factory a run was trained with, from the name in its `config.json` (checkpoint weight names
 * depend on it); undefined for a custom factory, which the caller must pass again.
 */
export function stage1FactoryFor(name: string | undefined): Stage1Factory | undefined {
  if (name === BUILTIN_STAGE1_FACTORY) return builtinStage1Factory;
  if (name === LAYERS_STAGE1_FACTORY) return layersFactory() ? defaultStage1Factory : undefined;
  return undefined;
}
