/**
 * Latent diagnostics of a second stage: how well it models the stage-1 codes `q(z)`, measured in
 * z-space (independently of any image feature extractor) on held-out data.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  type DataSplit,
  deriveSeed,
  type SecondStage,
  type Stage1Model,
  sampleLatents,
} from '@tsvae/core';
import {
  computeStatistics,
  type FeatureStatistics,
  frechetDistance,
  StatisticsAccumulator,
} from '@tsvae/metrics';
import { type EncodedDataset, encodeDataset } from './train';

const LOG_2PI = Math.log(2 * Math.PI);

/** The held-out log-likelihood of the codes under a second stage, mean nats per code. */
export interface HeldOutLikelihood {
  /**
   * `exact`: `log p(z)` from the second stage's `logProb` (`gmm`, `flow`); `elbo`: minus its loss,
   * a lower bound of `log p(z)` (`mlp`: core's `LossTerms` are a negative ELBO).
   */
  readonly kind: 'exact' | 'elbo';
  /** Mean per held-out code, in nats (higher is better). */
  readonly value: number;
}

/** What {@link latentDiagnostics} reports; plain numbers and arrays (JSON as it is). */
export interface LatentDiagnostics {
  /** Dimension of `z`. */
  readonly latentDim: number;
  /** Held-out codes (the size of the split). */
  readonly heldOut: number;
  /** Samples drawn from the second stage (if any) and from `N(0, I)`. */
  readonly count: number;
  /** The seed every draw derives from. */
  readonly seed: number;
  /**
   * Fréchet distance in z-space between `count` samples and the held-out codes: of the second
   * stage, and of `N(0, I)` (the one-stage prior), each drawn the same way so both carry the same
   * finite-sample bias. Lower is better; the second stage did its job when it is well below
   * `prior`. `secondStage` is null without a second stage.
   */
  readonly frechetDistance: { readonly secondStage: number | null; readonly prior: number };
  /**
   * Held-out log-likelihood per code: the second stage's (`null` without one, or when it is not
   * finite), and the exact one of `N(0, I)`.
   */
  readonly logLikelihood: { readonly secondStage: HeldOutLikelihood | null; readonly prior: number };
  /**
   * The per-dimension split of stage 1: a dimension is active when its mean encoder variance on
   * the held-out split is below `threshold` (inactive ones sit near variance 1).
   */
  readonly dimensions: {
    readonly threshold: number;
    /** Active dimensions (mean encoder variance below `threshold`). */
    readonly active: number;
    readonly inactive: number;
    /** Mean encoder variance `mean_i sigma_ij^2` per dimension `j`. */
    readonly variances: readonly number[];
  };
}

/** Options of {@link latentDiagnostics}. */
export interface LatentDiagnosticsOptions {
  readonly stage1: Stage1Model;
  /** The second stage; null for a run without one (a one-stage VAE): `N(0, I)` and stage 1 only. */
  readonly secondStage: SecondStage | null;
  /** The held-out data (e.g. the test split); at least 2 examples. */
  readonly heldOut: DataSplit;
  /** Samples of the second stage and of `N(0, I)`; at least 2. */
  readonly count: number;
  /** Seed of every draw (0 is a seed like any other). */
  readonly seed: number;
  /** Examples per encoder / sampler / likelihood call (default 256); the draws depend on it. */
  readonly batchSize?: number;
  /** Active-dimension threshold on the mean encoder variance (default 0.05, a run's `diagnostics.activeThreshold`). */
  readonly threshold?: number;
  /** Aborting stops between batches; the promise then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * The held-out codes `z = mu + sigma * eps` of encoded data, row-major `[size, latentDim]`, with
 * `eps` standard normal from `createRng(deriveSeed(seed, 'latent-codes'))`, drawn in row-major order
 * (so independent of any batch size and of the tfjs backend).
 */
export function heldOutCodes(codes: EncodedDataset, seed: number): Float32Array {
  const rng = createRng(deriveSeed(seed, 'latent-codes'));
  const z = new Float32Array(codes.size * codes.latentDim);
  for (let i = 0; i < z.length; i++) {
    z[i] = (codes.mu[i] as number) + (codes.sigma[i] as number) * rng.normal();
  }
  return z;
}

function check(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`latentDiagnostics: ${name} must be an integer >= ${min}, got ${value}`);
  }
}

/** Lets an abort signal fire between batches, then honours it. */
async function checkpoint(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return;
  await new Promise<void>((r) => setTimeout(r, 0));
  signal.throwIfAborted();
}

/**
 * Latent diagnostics of a second stage on held-out data, the number that shows whether stage 2
 * did its job (it should model `q(z)` far better than `N(0, I)`):
 *
 * - the held-out split is encoded once by `stage1` (inference mode, {@link encodeDataset}), and its
 *   codes are `z = mu + sigma * eps` ({@link heldOutCodes}, `eps` from `deriveSeed(seed,
 *   'latent-codes')`);
 * - **Fréchet distance** in z-space (`@tsvae/metrics`' statistics and `frechetDistance`, float64)
 *   between those codes and `count` samples of the second stage, and of `N(0, I)`, both drawn by
 *   core's `sampleLatents` (the draws of two-stage and one-stage sampling) in batches of
 *   `batchSize`, batch `b` with seed `deriveSeed(seed, 'latent-samples', b)`;
 * - **held-out log-likelihood** per code: with the second stage's `logProb` (`gmm`, `flow`) the
 *   exact mean `log p(z)`; otherwise minus its loss (an ELBO, e.g. `mlp`'s), averaged over the
 *   codes with batch `b` (of `batchSize` codes) using loss seed `deriveSeed(seed, 'latent-elbo',
 *   b)`; `null` when not finite. Also the exact one of `N(0, I)`;
 * - the **active / inactive split**: mean encoder variance per dimension on the held-out split
 *   against `threshold` (the definition of `stage1Diagnostics`).
 *
 * Without a second stage (`null`, a one-stage VAE) only `N(0, I)` and stage 1 are measured.
 * Deterministic given the models, the data, `count`, `seed` and `batchSize`. Frees every tensor
 * it makes.
 */
export async function latentDiagnostics(options: LatentDiagnosticsOptions): Promise<LatentDiagnostics> {
  const { stage1, secondStage, heldOut, count, seed, signal } = options;
  const batchSize = options.batchSize ?? 256;
  const threshold = options.threshold ?? 0.05;
  check('count', count, 2);
  check('batchSize', batchSize, 1);
  check('heldOut.size', heldOut.size, 2);
  if (!(threshold > 0) || !Number.isFinite(threshold)) {
    throw new RangeError(`latentDiagnostics: threshold must be a positive number, got ${threshold}`);
  }
  const d = stage1.latentDim;
  if (secondStage && secondStage.latentDim !== d) {
    throw new RangeError(
      `latentDiagnostics: the second stage models ${secondStage.latentDim}-d codes, stage 1 makes ${d}-d ones`,
    );
  }
  signal?.throwIfAborted();

  // held-out codes and the per-dimension encoder variances
  const encoded = encodeDataset(stage1, heldOut, { batchSize });
  const n = encoded.size;
  const varSum = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) varSum[j] = (varSum[j] as number) + (encoded.sigma[i * d + j] as number) ** 2;
  }
  const variances = Array.from(varSum, (s) => s / n);
  const active = variances.filter((v) => v < threshold).length;
  const z = heldOutCodes(encoded, seed);
  const codeStats = computeStatistics(z, d);
  await checkpoint(signal);

  // samples of the second stage and of N(0, I), their Fréchet distances to the codes
  const sampleStats = async (stage: SecondStage | null): Promise<FeatureStatistics> => {
    const acc = new StatisticsAccumulator(d);
    for (let done = 0, b = 0; done < count; done += batchSize, b++) {
      const m = Math.min(batchSize, count - done);
      const part = sampleLatents(d, stage, m, { seed: deriveSeed(seed, 'latent-samples', b), batchSize: m });
      acc.add(part.dataSync() as Float32Array);
      part.dispose();
      await checkpoint(signal);
    }
    return acc.finalize();
  };
  const fdStage = secondStage ? frechetDistance(await sampleStats(secondStage), codeStats).fid : null;
  const fdPrior = frechetDistance(await sampleStats(null), codeStats).fid;

  // held-out log-likelihood (exact with logProb, else minus the loss: an ELBO)
  let stageLl: HeldOutLikelihood | null = null;
  if (secondStage) {
    let sum = 0;
    for (let start = 0, b = 0; start < n; start += batchSize, b++) {
      const m = Math.min(batchSize, n - start);
      const value = tf.tidy(() => {
        const batch = tf.tensor2d(z.subarray(start * d, (start + m) * d), [m, d]);
        if (secondStage.logProb) return tf.sum(secondStage.logProb(batch));
        const terms = secondStage.loss(batch, { training: false, seed: deriveSeed(seed, 'latent-elbo', b) });
        return tf.mul(terms.loss, -m);
      });
      sum += value.dataSync()[0] as number;
      value.dispose();
      await checkpoint(signal);
    }
    const value = sum / n;
    if (Number.isFinite(value)) stageLl = { kind: secondStage.logProb ? 'exact' : 'elbo', value };
  }
  let sq = 0;
  for (const v of z) sq += v * v;
  const priorLl = -0.5 * (sq / n) - 0.5 * d * LOG_2PI;

  return {
    latentDim: d,
    heldOut: n,
    count,
    seed,
    frechetDistance: { secondStage: fdStage, prior: fdPrior },
    logLikelihood: {
      secondStage: stageLl,
      prior: priorLl,
    },
    dimensions: { threshold, active, inactive: d - active, variances },
  };
}
