import {
  type AdamStateMeta,
  adam,
  adamStateFromWeights,
  adamStateToWeights,
  disposeAdamState,
  type FusedAdamOptimizer,
} from '@tsvae/backend';
import type { NamedWeight } from '@tsvae/core';

/** The optimizer of a stage: Adam with TF defaults (`@tsvae/backend`'s fused one). */
export type StageOptimizer = FusedAdamOptimizer;

/** A fresh Adam optimizer (beta1 0.9, beta2 0.999, TF's epsilon). */
export function createStageOptimizer(learningRate: number): StageOptimizer {
  return adam(learningRate, 0.9, 0.999);
}

/** Name prefix of the optimizer's tensors in a checkpoint. */
const PREFIX = 'optimizer/';

/**
 * The whole Adam state as checkpoint weights (named `optimizer/...`) and the JSON meta that goes
 * into the manifest; `dispose` frees the copies once they are written.
 */
export async function optimizerCheckpoint(
  optimizer: StageOptimizer,
): Promise<{ weights: NamedWeight[]; meta: AdamStateMeta; dispose: () => void }> {
  const state = await optimizer.getState();
  const { weights, meta } = adamStateToWeights(state, { prefix: PREFIX });
  return { weights, meta, dispose: () => disposeAdamState(state) };
}

/** Restores a state saved by {@link optimizerCheckpoint} (the tensors are the checkpoint's; they are copied). */
export async function restoreOptimizer(
  optimizer: StageOptimizer,
  weights: Readonly<Record<string, import('@tensorflow/tfjs-core').Tensor>>,
  meta: Readonly<Record<string, unknown>>,
): Promise<void> {
  await optimizer.setState(adamStateFromWeights(weights, meta as unknown as AdamStateMeta));
}
