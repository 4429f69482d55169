import type * as tf from '@tensorflow/tfjs-core';
import { adam } from '@tsvae/backend';
import type { NamedWeight } from '@tsvae/core';

/** The optimizer of a stage: Adam with TF defaults (the fused one from `@tsvae/backend`). */
export type StageOptimizer = tf.AdamOptimizer;

interface AdamInternals {
  learningRate: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/** A fresh Adam optimizer (beta1 0.9, beta2 0.999, TF's epsilon). */
export function createStageOptimizer(learningRate: number): StageOptimizer {
  return adam(learningRate, 0.9, 0.999);
}

/** Sets the learning rate of an Adam optimizer in place (keeps its moments). */
export function setLearningRate(optimizer: StageOptimizer, learningRate: number): void {
  (optimizer as unknown as AdamInternals).learningRate = learningRate;
}

/**
 * Every piece of Adam state: `getWeights()` (iterations, first and second moments, in order) plus
 * the running `beta^t` products, so a restored optimizer continues bit for bit. Names are
 * `NNNN/<name>` to keep the order. The returned `dispose` frees the copies this made.
 */
export async function optimizerState(
  optimizer: StageOptimizer,
): Promise<{ weights: NamedWeight[]; dispose: () => void }> {
  const ws = await optimizer.getWeights();
  const internals = optimizer as unknown as AdamInternals;
  const weights: NamedWeight[] = ws.map((w, i) => ({
    name: `${String(i).padStart(4, '0')}/${w.name}`,
    tensor: w.tensor,
  }));
  weights.push(
    { name: 'accBeta1', tensor: internals.accBeta1 },
    { name: 'accBeta2', tensor: internals.accBeta2 },
  );
  const iter = ws[0]?.tensor;
  return { weights, dispose: () => iter?.dispose() };
}

/** Restores state saved by {@link optimizerState} into a fresh optimizer. */
export async function restoreOptimizerState(
  optimizer: StageOptimizer,
  weights: readonly NamedWeight[],
): Promise<void> {
  const ordered = weights
    .filter((w) => /^\d{4}\//.test(w.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((w) => ({ name: w.name.slice(5), tensor: w.tensor }));
  if (ordered.length === 0) return;
  await optimizer.setWeights(ordered);
  const internals = optimizer as unknown as AdamInternals;
  const b1 = weights.find((w) => w.name === 'accBeta1');
  const b2 = weights.find((w) => w.name === 'accBeta2');
  if (b1) internals.accBeta1.assign(b1.tensor as tf.Scalar);
  if (b2) internals.accBeta2.assign(b2.tensor as tf.Scalar);
}
