/**
 * The latent diagnostics of `tsvae eval` (the `latent` field of eval.json): `@tsvae/stages`'
 * `latentDiagnostics` of a loaded VAE run's evaluated second stage on the codes of the evaluated
 * split, and their one-line summary for a terminal.
 */
import { create, type Logger } from '@tsvae/core';
import { type LatentDiagnostics, type LoadedRun, latentDiagnostics, vaeSamplingModes } from '@tsvae/stages';

/**
 * The `latent` field of `eval.json`: `plugin` (the evaluated second stage's plugin: the run's own,
 * or `--stage2`'s; null for a run without a trained second stage, a one-stage VAE), `split`, then
 * `@tsvae/stages`' `LatentDiagnostics`: `latentDim`, `heldOut` (codes), `count`, `seed`,
 * `frechetDistance: { secondStage, prior }` (z-space, to the held-out codes; `prior` is `N(0, I)`),
 * `logLikelihood: { secondStage: { kind: 'exact' | 'elbo', value } | null, prior }` (mean nats per
 * held-out code) and `dimensions: { threshold, active, inactive, variances }`.
 */
export type LatentRecord = {
  readonly plugin: string | null;
  readonly split: 'test' | 'train';
} & LatentDiagnostics;

/** Options of {@link runLatentDiagnostics}: the eval's. */
export interface LatentRecordOptions {
  /** The evaluated split: its codes are the held-out codes. */
  readonly split: 'test' | 'train';
  /** Samples of the second stage and of `N(0, I)` (the eval's `--count`). */
  readonly count: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

/**
 * The latent diagnostics of a loaded VAE run: its evaluated second stage (none when the run trains
 * none and no `stage2` was loaded), the whole `split` of its dataset, the run's
 * `diagnostics.activeThreshold`.
 */
export async function runLatentDiagnostics(run: LoadedRun, o: LatentRecordOptions): Promise<LatentRecord> {
  const ds = run.record.components.dataset;
  const dataset = await create('dataset', ds.plugin, ds.config, { context: { logger: o.logger } });
  const heldOut = await dataset.load(o.split);
  const trained = run.stage2 !== null || vaeSamplingModes(run.config).includes('two-stage');
  const diagnostics = await latentDiagnostics({
    stage1: run.stage1,
    secondStage: trained ? run.secondStage : null,
    heldOut,
    count: o.count,
    seed: o.seed,
    batchSize: o.batchSize,
    threshold: run.config.diagnostics.activeThreshold,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const plugin = trained ? (run.stage2?.record ?? run.record).components.secondStage.plugin : null;
  return { plugin, split: o.split, ...diagnostics };
}

const fixed = (v: number | null | undefined, digits: number): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);

/** The latent diagnostics in one line, for a terminal. */
export function latentLine(l: LatentRecord): string {
  const ll = l.logLikelihood.secondStage;
  const head = `latent (${l.latentDim}-d, ${l.heldOut} ${l.split} codes, N = ${l.count}):`;
  const stage =
    l.plugin === null
      ? ''
      : ` ${l.plugin}: Fréchet distance to q(z) ${fixed(l.frechetDistance.secondStage, 4)}, held-out ${ll?.kind === 'elbo' ? 'ELBO' : 'log p(z)'} ${fixed(ll?.value, 3)} nats;`;
  return (
    `${head}${stage} N(0, I): ${fixed(l.frechetDistance.prior, 4)}, ${fixed(l.logLikelihood.prior, 3)} nats;` +
    ` active dimensions ${l.dimensions.active} of ${l.latentDim} (encoder variance < ${l.dimensions.threshold})`
  );
}
