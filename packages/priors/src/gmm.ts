/**
 * The `gmm` second stage: a Gaussian mixture on the stage-1 codes, fitted by EM (not by gradient
 * steps) through {@link SecondStage.fit}.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  definePlugin,
  deriveSeed,
  type LossOptions,
  type LossTerms,
  MAX_SEED,
  type NamedWeight,
  type PluginDefinition,
  type SecondStage,
  type SecondStageCodes,
  type SecondStageFitOptions,
  silentLogger,
  z,
} from '@tsvae/core';
import {
  type CovarianceType,
  fitMixture,
  identityMixture,
  type MixtureDensity,
  type MixtureParams,
  mixtureDensity,
  mixtureLogLikelihood,
} from './em';

/** The resolved config of the `gmm` second stage. */
export interface GmmConfig {
  /** Dimension of the stage-1 code `z`. */
  readonly latentDim: number;
  /** Number of mixture components `k` (10). */
  readonly components: number;
  /** `full` (10) or `diag` covariances (`full`). */
  readonly covariance: CovarianceType;
  /** The covariance floor: added to every covariance's diagonal (1e-6). */
  readonly regularization: number;
  /** EM stops when the mean log-likelihood per code changes by less than this (1e-3). */
  readonly tolerance: number;
  /** At most this many EM iterations (100). */
  readonly maxIterations: number;
}

/**
 * Config schema of `gmm`: `latentDim` (64), `components` (10), `covariance` (`full` | `diag`),
 * `regularization` (1e-6), `tolerance` (1e-3), `maxIterations` (100).
 */
export const gmmConfigSchema = z.object({
  latentDim: z.number().int().positive().default(64),
  components: z.number().int().positive().default(10),
  covariance: z.enum(['full', 'diag']).default('full'),
  regularization: z.number().positive().finite().default(1e-6),
  tolerance: z.number().positive().finite().default(1e-3),
  maxIterations: z.number().int().positive().default(100),
});

/** A fresh seed from the platform's random source (for unseeded draws). */
function freshSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return (a[0] as number) % (MAX_SEED + 1);
}

/** The parameters rounded to float32 (what is stored, so a reloaded model is the same model). */
function toFloat32(p: MixtureParams): MixtureParams {
  const r = (a: Float64Array) => Float64Array.from(Float32Array.from(a));
  return { ...p, logWeights: r(p.logWeights), means: r(p.means), scales: r(p.scales) };
}

/**
 * A Gaussian mixture `p(z) = sum_c w_c N(z; m_c, S_c)` as a second stage.
 *
 * - `fit(codes)`: EM in float64 ({@link fitMixture}) on the training codes' encoder posteriors
 *   `N(mu_i, diag(sigma_i^2))` themselves (integrated exactly, no draw), k-means++ initialisation
 *   seeded from `options.seed`; each iteration's mean log-likelihood per code is reported through
 *   `onProgress` (`loss` = its negative, `logs.logLikelihood`). Deterministic given codes, seed and
 *   config.
 * - The fitted parameters are stored in float32 (`getWeights`: `means` `[k, d]`, `logWeights`
 *   `[k]`, and `covarianceCholesky` `[k, d, d]` (lower factors) or `stds` `[k, d]`); every density
 *   and sample uses the stored values, so a model reloaded from a checkpoint is the same model.
 * - `loss(z)` is the negative log-likelihood, averaged over the batch (`reconstruction` the same,
 *   `kl` 0); `logLikelihood(z)` gives it per row in float64.
 * - `sample(n, { seed })`: exact draws (component, then `m_c + L_c eps`) in float64 from seeded
 *   generators, independent of the tfjs backend.
 *
 * It has no trainable variables: trainers call `fit` instead of their gradient loop.
 */
export class GaussianMixture implements SecondStage {
  readonly latentDim: number;
  readonly config: GmmConfig;
  private density: MixtureDensity;
  private readonly tensors: {
    means: tf.Tensor2D;
    logWeights: tf.Tensor1D;
    scales: tf.Tensor;
    /** `full`: `L^{-T}` `[k, d, d]`; `diag`: `1 / std` `[k, d]`. */
    precisionFactor: tf.Tensor;
    /** log w - log det L - d/2 log 2 pi, `[k]`. */
    logNorm: tf.Tensor1D;
  };

  constructor(config: GmmConfig) {
    this.config = config;
    this.latentDim = config.latentDim;
    const p = identityMixture(config.components, config.latentDim, config.covariance);
    this.density = mixtureDensity(p);
    this.tensors = this.makeTensors(this.density);
  }

  private makeTensors(density: MixtureDensity): GaussianMixture['tensors'] {
    const { components: k, dim: d, covariance } = density.params;
    const p = density.params;
    let precision: Float32Array;
    if (covariance === 'full') {
      // L^{-T}: diff_row @ L^{-T} = (L^{-1} diff)^T
      precision = new Float32Array(k * d * d);
      for (let c = 0; c < k; c++)
        for (let r = 0; r < d; r++)
          for (let j = 0; j < d; j++)
            precision[c * d * d + j * d + r] = density.inverseScales[c * d * d + r * d + j] as number;
    } else {
      precision = Float32Array.from(density.inverseScales);
    }
    const shape = covariance === 'full' ? [k, d, d] : [k, d];
    return {
      means: tf.tensor2d(Float32Array.from(p.means), [k, d]),
      logWeights: tf.tensor1d(Float32Array.from(p.logWeights)),
      scales: tf.tensor(Float32Array.from(p.scales), shape),
      precisionFactor: tf.tensor(precision, shape),
      logNorm: tf.tensor1d(Float32Array.from(density.logNorm)),
    };
  }

  /** Replaces the parameters (rounded to float32 first). */
  setParams(params: MixtureParams): void {
    const { components, dim, covariance } = params;
    if (
      components !== this.config.components ||
      dim !== this.latentDim ||
      covariance !== this.config.covariance
    ) {
      throw new RangeError(
        `gmm: parameters of ${components} ${covariance} components in ${dim} dimensions do not fit this model (${this.config.components} ${this.config.covariance}, ${this.latentDim})`,
      );
    }
    const density = mixtureDensity(toFloat32(params));
    const next = this.makeTensors(density);
    tf.dispose(Object.values(this.tensors));
    Object.assign(this.tensors, next);
    this.density = density;
  }

  /** The stored parameters, in float64 (copies). */
  params(): MixtureParams {
    const p = this.density.params;
    return { ...p, logWeights: p.logWeights.slice(), means: p.means.slice(), scales: p.scales.slice() };
  }

  async fit(codes: SecondStageCodes, options: SecondStageFitOptions): Promise<void> {
    if (codes.latentDim !== this.latentDim) {
      throw new RangeError(`gmm: codes of dimension ${codes.latentDim}, the model's is ${this.latentDim}`);
    }
    const logger = options.logger ?? silentLogger;
    const { config } = this;
    const result = await fitMixture(
      { size: codes.size, dim: codes.latentDim, mu: codes.mu, sigma: codes.sigma },
      config,
      {
        seed: options.seed,
        logger,
        ...(options.signal ? { signal: options.signal } : {}),
        onIteration: (it) =>
          options.onProgress?.({
            iteration: it.iteration,
            maxIterations: config.maxIterations,
            loss: -it.logLikelihood,
            logs: { logLikelihood: it.logLikelihood },
          }),
      },
    );
    this.setParams(result.params);
    logger.info('gmm fitted', {
      components: config.components,
      covariance: config.covariance,
      iterations: result.iterations,
      converged: result.converged,
      logLikelihood: result.logLikelihoods.at(-1),
    });
  }

  /** Log-likelihood of each row of `z` (`[n, latentDim]` row-major) under the stored mixture, in float64. */
  logLikelihood(z: ArrayLike<number>): Float64Array {
    return mixtureLogLikelihood(this.density, z);
  }

  /** `log p(z)` per row, `[B]`, in tfjs (float32): the exact density ({@link SecondStage.logProb}). */
  logProb(zIn: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const t = this.tensors;
      const diff = tf.sub(tf.expandDims(zIn, 1), t.means); // [B, k, d]
      let maha: tf.Tensor2D;
      if (this.config.covariance === 'full') {
        const y = tf.matMul(tf.transpose(diff, [1, 0, 2]) as tf.Tensor3D, t.precisionFactor as tf.Tensor3D);
        maha = tf.transpose(tf.sum(tf.square(y), 2)) as tf.Tensor2D; // [B, k]
      } else {
        maha = tf.sum(tf.square(tf.mul(diff, t.precisionFactor)), 2) as tf.Tensor2D;
      }
      return tf.logSumExp(tf.add(tf.mul(maha, -0.5), t.logNorm), 1) as tf.Tensor1D;
    });
  }

  loss(zIn: tf.Tensor2D, _options?: LossOptions): LossTerms {
    return tf.tidy(() => {
      const nll = tf.neg(tf.mean(this.logProb(zIn))) as tf.Scalar;
      return { loss: nll, reconstruction: tf.clone(nll), kl: tf.scalar(0) };
    });
  }

  sample(n: number, options: { readonly seed?: number } = {}): tf.Tensor2D {
    const seed = options.seed ?? freshSeed();
    const pick = createRng(deriveSeed(seed, 'gmm-component'));
    const noise = createRng(deriveSeed(seed, 'gmm-eps'));
    const { components: k, dim: d, covariance, logWeights, means, scales } = this.density.params;
    const cum = new Float64Array(k);
    let max = Number.NEGATIVE_INFINITY;
    for (const v of logWeights) max = Math.max(max, v);
    let acc = 0;
    for (let c = 0; c < k; c++) {
      acc += Math.exp((logWeights[c] as number) - max);
      cum[c] = acc;
    }
    const out = new Float32Array(n * d);
    const eps = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const u = pick.next() * acc;
      let c = 0;
      while (c < k - 1 && (cum[c] as number) <= u) c++;
      for (let j = 0; j < d; j++) eps[j] = noise.normal();
      for (let r = 0; r < d; r++) {
        let v = means[c * d + r] as number;
        if (covariance === 'full') {
          const o = c * d * d + r * d;
          for (let j = 0; j <= r; j++) v += (scales[o + j] as number) * (eps[j] as number);
        } else {
          v += (scales[c * d + r] as number) * (eps[r] as number);
        }
        out[i * d + r] = v;
      }
    }
    return tf.tensor2d(out, [n, d]);
  }

  /** None: the mixture is fitted by {@link GaussianMixture.fit}, not by gradient steps. */
  trainableVariables(): tf.Variable[] {
    return [];
  }

  getWeights(): NamedWeight[] {
    return [
      { name: 'means', tensor: this.tensors.means },
      { name: 'logWeights', tensor: this.tensors.logWeights },
      {
        name: this.config.covariance === 'full' ? 'covarianceCholesky' : 'stds',
        tensor: this.tensors.scales,
      },
    ];
  }

  setWeights(weights: readonly NamedWeight[]): void {
    const { components: k, latentDim: d, covariance } = this.config;
    const scaleName = covariance === 'full' ? 'covarianceCholesky' : 'stds';
    const want: Record<string, number[]> = {
      means: [k, d],
      logWeights: [k],
      [scaleName]: covariance === 'full' ? [k, d, d] : [k, d],
    };
    const byName = new Map(weights.map((w) => [w.name, w.tensor]));
    const values: Record<string, Float64Array> = {};
    for (const [name, shape] of Object.entries(want)) {
      const t = byName.get(name);
      if (!t) throw new Error(`setWeights: missing weight "${name}"`);
      if (!tf.util.arraysEqual(t.shape, shape)) {
        throw new Error(`setWeights: "${name}" has shape [${t.shape}], expected [${shape}]`);
      }
      values[name] = Float64Array.from(t.dataSync());
    }
    this.setParams({
      components: k,
      dim: d,
      covariance,
      logWeights: values['logWeights'] as Float64Array,
      means: values['means'] as Float64Array,
      scales: values[scaleName] as Float64Array,
    });
  }

  /** The number of fitted scalars (weights, means, covariance factors); none is trained by gradients. */
  countParams(): number {
    const { components: k, latentDim: d, covariance } = this.config;
    return k - 1 + k * d + (covariance === 'full' ? (k * d * (d + 1)) / 2 : k * d);
  }

  /** `{ components }`: how many components carry weight above 1e-6. */
  diagnostics(): Record<string, number> {
    let used = 0;
    for (const v of this.density.params.logWeights) if (v > Math.log(1e-6)) used++;
    return { components: used };
  }

  dispose(): void {
    tf.dispose(Object.values(this.tensors));
  }
}

/** The `gmm` second-stage plugin (kind `second-stage`). */
export const gmmSecondStagePlugin: PluginDefinition<'second-stage', typeof gmmConfigSchema> = definePlugin({
  kind: 'second-stage',
  name: 'gmm',
  description: 'A Gaussian mixture on the codes, fitted by EM (full or diagonal covariances).',
  configSchema: gmmConfigSchema,
  create: (config): SecondStage => new GaussianMixture(config),
});
