/**
 * A cell's evaluation: its trained run as a generator (`@tsvae/cli`'s `loadSamplers`, whatever
 * trained it) under the study's protocol (`@tsvae/metrics`' `evaluate()`). Reference features are
 * computed by the first cell and read from the metrics reference cache by every other one.
 */

import { loadSamplers } from '@tsvae/cli';
import type { Logger } from '@tsvae/core';
import { create } from '@tsvae/core';
import { cacheDir } from '@tsvae/core/node';
import { type EvaluationOptions, type EvaluationProgress, evaluate, selectExtractors } from '@tsvae/metrics';
import type { Cell, CellEvaluationRecord } from './plan';
import type { Study } from './study';

/** The extractor configs of a study: its `extractorConfigs`, with `resize` for `inception-fid`. */
export function extractorConfigs(study: Study): Record<string, Record<string, unknown>> {
  const ev = study.evaluation;
  return {
    ...ev.extractorConfigs,
    'inception-fid': { resize: ev.resize, ...(ev.extractorConfigs['inception-fid'] ?? {}) },
  };
}

/** `evaluate()`'s options for a study (everything but the generators and the callbacks). */
export function evaluationOptions(study: Study): Omit<EvaluationOptions, 'generators'> {
  const ev = study.evaluation;
  return {
    dataset: { name: study.dataset.name, config: study.dataset.config },
    split: ev.split,
    count: ev.count,
    ...(ev.referenceCount !== undefined ? { referenceCount: ev.referenceCount } : {}),
    trials: ev.trials,
    seed: ev.seed,
    batchSize: ev.batchSize,
    quantize: ev.quantize,
    minMaxNormalize: ev.minMaxNormalize,
    metrics: ev.metrics,
    kid: ev.metrics.includes('kid') ? { subsets: ev.kid.subsets, subsetSize: ev.kid.subsetSize } : false,
    ...(ev.metrics.includes('prdc') ? { prdc: { k: ev.prdc.k, closedBalls: ev.prdc.closedBalls } } : {}),
    extractors: ev.extractors,
    extractorConfigs: extractorConfigs(study),
    ...(ev.inceptionWeights ? { inceptionWeights: ev.inceptionWeights } : {}),
    ...(ev.cacheDir ? { cacheDir: ev.cacheDir } : {}),
    referenceCache: true,
  };
}

/**
 * Checks, before any training, that the study's evaluation can run here: the dataset plugin
 * exists, the named extractors are registered and available (or `auto` finds one), and the
 * reference split holds `referenceCount` images. Returns the extractor plugins that will run;
 * throws `@tsvae/metrics`' `EvaluationError` (naming the option) or the dataset's error.
 */
export async function checkEvaluation(study: Study, logger?: Logger): Promise<string[]> {
  const options = evaluationOptions(study);
  const dataset = await create(
    'dataset',
    study.dataset.name,
    { ...study.dataset.config },
    logger ? { context: { logger } } : {},
  );
  const split = await dataset.load(study.evaluation.split);
  const n = study.evaluation.referenceCount;
  if (n !== undefined && n > split.size) {
    throw new RangeError(
      `evaluation.referenceCount: ${n} exceeds the ${split.size} ${study.evaluation.split} images of ${study.dataset.name}`,
    );
  }
  const { chosen } = selectExtractors(
    options.extractors ?? 'auto',
    {
      dataset: {
        name: study.dataset.name,
        config: study.dataset.config,
        labelled: dataset.numClasses !== undefined || split.labels !== undefined,
      },
      cacheDir: cacheDir(options.cacheDir),
      inceptionWeights: options.inceptionWeights,
    },
    options.extractorConfigs ?? {},
  );
  if (chosen.length === 0) {
    throw new RangeError(
      `evaluation.extractors: no feature extractor is available for ${study.dataset.name} (name one, e.g. "classifier" for a labelled dataset)`,
    );
  }
  return chosen.map((c) => c.plugin);
}

/** Options of {@link evaluateCell}. */
export interface EvaluateCellOptions {
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EvaluationProgress) => void;
}

/**
 * Evaluates a trained cell: loads its run (either trainer), takes the generator of the model's
 * sampling mode and runs the study's protocol on it. The result rows are named by the model id.
 */
export async function evaluateCell(
  study: Study,
  cell: Cell,
  options: EvaluateCellOptions = {},
): Promise<CellEvaluationRecord> {
  const started = performance.now();
  const run = await loadSamplers(cell.runDir, options.logger ? { logger: options.logger } : {});
  try {
    const generator = run.modes[cell.model.mode];
    if (!generator) {
      throw new Error(
        `${cell.runDir} has no "${cell.model.mode}" sampling mode (it has ${Object.keys(run.modes).join(', ')})`,
      );
    }
    const report = await evaluate({
      ...evaluationOptions(study),
      generators: { [cell.model.id]: generator },
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return {
      key: cell.evaluationKey,
      checkpoint: run.checkpoint,
      createdAt: new Date().toISOString(),
      seconds: (performance.now() - started) / 1000,
      extractors: report.extractors,
      skipped: report.skipped,
      protocol: report.protocol,
      results: report.results,
    };
  } finally {
    run.dispose();
  }
}
