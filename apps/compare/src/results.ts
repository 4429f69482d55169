/**
 * results.json: every cell (each trial's FID / KID / prdc, wall times, errors), each model's
 * mean ± std over seeds, the protocol, versions and backends.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, platform } from 'node:os';
import type { BackendInfo } from '@tsvae/backend';
import { packageVersions } from '@tsvae/cli';
import type { EvaluationReport, PrdcValues, TrialResult } from '@tsvae/metrics';
import { type MeanStd, meanStd } from '@tsvae/report';
import type { TrainingPosition } from '@tsvae/stages';
import { type Cell, type CellState, describeBudget, type StudyPlan } from './plan';
import { type PublishedFid, publishedFid, TABLE1_SOURCE, table1Order } from './published';
import type { StudyEvaluation, StudyModel } from './study';

/** The format tag of results.json. */
export const RESULTS_FORMAT = 'tsvae-compare-results/1';

/** The prdc measures. */
export const PRDC_KEYS: readonly (keyof PrdcValues)[] = ['precision', 'recall', 'density', 'coverage'];

/** One extractor's numbers of one cell: mean ± std over its trials, and every trial. */
export interface CellMetrics {
  readonly extractor: string;
  readonly count: number;
  readonly referenceCount: number;
  /** FID mean and std over the trials (ddof 0, as `@tsvae/metrics` reports it). */
  readonly fid: { readonly mean: number; readonly std: number };
  readonly kid?: { readonly mean: number; readonly std: number; readonly stdOver: string };
  readonly prdc?: Readonly<Record<keyof PrdcValues, { readonly mean: number; readonly std: number }>>;
  readonly trials: readonly TrialResult[];
}

/** One cell in results.json. */
export interface CellResult {
  readonly id: string;
  /** The model id (the row it counts toward). */
  readonly model: string;
  readonly seed: number;
  readonly runDir: string;
  readonly state: CellState;
  readonly detail: string;
  /** The last error (training or evaluation), if the cell failed. */
  readonly error: string | null;
  readonly checkpoint: string | null;
  readonly position: TrainingPosition | null;
  readonly attempts: number;
  /** The backend the training processes reported (their last start). */
  readonly trainBackend: string | null;
  /** Wall seconds: all training processes, the evaluation, and their sum. */
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  readonly wallSeconds: number;
  /** Per extractor; empty until the cell is evaluated. */
  readonly metrics: readonly CellMetrics[];
}

/** One extractor's numbers of a model: mean ± std over the evaluated seeds (sample std, ddof 1). */
export interface ModelMetrics {
  readonly extractor: string;
  readonly fid: MeanStd;
  readonly kid?: MeanStd;
  readonly prdc?: Readonly<Record<keyof PrdcValues, MeanStd>>;
}

/** One model (row) in results.json. */
export interface ModelResult {
  readonly id: string;
  readonly name: string;
  readonly table1: string;
  readonly family: string;
  readonly mode: string;
  readonly preset: string;
  readonly budget: StudyModel['budget'];
  readonly budgetText: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** Seeds evaluated (their cells count toward the means), failed, and not done yet. */
  readonly seeds: {
    readonly done: readonly number[];
    readonly failed: readonly number[];
    readonly missing: readonly number[];
  };
  readonly metrics: readonly ModelMetrics[];
  /** The published Table 1 FID for this model and dataset (Inception features), if any. */
  readonly published: PublishedFid | null;
  /** Training wall seconds per cell, mean ± std over the trained cells (null before any). */
  readonly trainSeconds: MeanStd | null;
}

/** results.json. */
export interface StudyResults {
  readonly format: typeof RESULTS_FORMAT;
  readonly study: {
    readonly name: string;
    readonly description: string;
    readonly source: string;
    readonly dir: string;
    readonly dataset: {
      readonly name: string;
      readonly config: Readonly<Record<string, unknown>>;
      readonly subset?: number;
    };
    readonly preset: string;
    readonly seeds: readonly number[];
  };
  readonly protocol: StudyEvaluation & {
    /** The extractors that produced the numbers (from the evaluated cells). */
    readonly extractorsUsed: EvaluationReport['extractors'];
    /** The exact protocol `evaluate()` recorded (from the evaluated cells). */
    readonly recorded: EvaluationReport['protocol'] | null;
    readonly stdOverSeeds: string;
  };
  readonly published: { readonly source: string; readonly dataset: string; readonly note: string };
  readonly environment: {
    readonly versions: Readonly<Record<string, string>>;
    readonly node: string;
    readonly platform: string;
    readonly cores: number;
    /** The study process's backend (its evaluations). */
    readonly backend: BackendInfo | null;
    readonly executor: string;
    readonly jobs: number;
  };
  /** Every cell done. */
  readonly complete: boolean;
  readonly counts: Readonly<Record<CellState, number>>;
  readonly models: readonly ModelResult[];
  readonly cells: readonly CellResult[];
  readonly createdAt: string;
}

/** The study's versions: `@tsvae/cli`'s list and this package's own. */
export function studyVersions(): Record<string, string> {
  const out = packageVersions();
  try {
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(require.resolve('@tsvae/compare/package.json'), 'utf8')) as {
      version?: string;
    };
    if (pkg.version) out['@tsvae/compare'] = pkg.version;
  } catch {
    // not installed under its name (e.g. run from source)
  }
  return out;
}

function cellResult(cell: Cell): CellResult {
  const status = cell.status;
  const attempts = status?.attempts ?? [];
  const trainSeconds = attempts.reduce((a, t) => a + t.seconds, 0);
  const ev = cell.state === 'done' ? (status?.evaluation ?? null) : null;
  const evalSeconds = ev?.seconds ?? 0;
  return {
    id: cell.id,
    model: cell.model.id,
    seed: cell.seed,
    runDir: cell.runDir,
    state: cell.state,
    detail: cell.detail,
    error: cell.state === 'failed' || cell.state === 'stale' ? (status?.error?.message ?? cell.detail) : null,
    checkpoint: cell.checkpoint,
    position: cell.position,
    attempts: attempts.length,
    trainBackend: [...attempts].reverse().find((a) => a.backend !== null)?.backend ?? null,
    trainSeconds,
    evalSeconds,
    wallSeconds: trainSeconds + evalSeconds,
    metrics: (ev?.results ?? []).map((r) => ({
      extractor: r.extractor,
      count: r.count,
      referenceCount: r.referenceCount,
      fid: { mean: r.fid.mean, std: r.fid.std },
      ...(r.kid ? { kid: { mean: r.kid.mean, std: r.kid.std, stdOver: r.kid.stdOver } } : {}),
      ...(r.prdc
        ? {
            prdc: Object.fromEntries(
              PRDC_KEYS.map((k) => [
                k,
                { mean: r.prdc?.[k].mean ?? Number.NaN, std: r.prdc?.[k].std ?? Number.NaN },
              ]),
            ) as Record<keyof PrdcValues, { mean: number; std: number }>,
          }
        : {}),
      trials: r.trials,
    })),
  };
}

/** Mean ± std over seeds of one extractor's values (cells without it are left out). */
function modelMetrics(cells: readonly CellResult[], extractors: readonly string[]): ModelMetrics[] {
  return extractors.flatMap((extractor): ModelMetrics[] => {
    const rows = cells.flatMap((c) => c.metrics.filter((m) => m.extractor === extractor));
    if (rows.length === 0) return [];
    const kids = rows.flatMap((r) => (r.kid ? [r.kid.mean] : []));
    const prdc = rows.every((r) => r.prdc);
    return [
      {
        extractor,
        fid: meanStd(rows.map((r) => r.fid.mean)),
        ...(kids.length === rows.length ? { kid: meanStd(kids) } : {}),
        ...(prdc
          ? {
              prdc: Object.fromEntries(
                PRDC_KEYS.map((k) => [k, meanStd(rows.map((r) => r.prdc?.[k].mean ?? Number.NaN))]),
              ) as Record<keyof PrdcValues, MeanStd>,
            }
          : {}),
      },
    ];
  });
}

/**
 * The results of a study as they stand on disk (`plan` as {@link planStudy} reads it): every
 * cell, and each model's mean ± std over the seeds evaluated so far. Models are in Table 1's order
 * (then the study's).
 */
export function collectResults(
  plan: StudyPlan,
  environment: { readonly backend: BackendInfo | null; readonly executor: string; readonly jobs: number },
): StudyResults {
  const { study } = plan;
  const cells = plan.cells.map(cellResult);
  const evaluated = plan.cells.flatMap((c) =>
    c.state === 'done' && c.status?.evaluation ? [c.status.evaluation] : [],
  );
  const extractorsUsed = evaluated[0]?.extractors ?? [];
  const extractorNames = [...new Set(evaluated.flatMap((e) => e.results.map((r) => r.extractor)))];
  const models = study.models
    .map((model, i) => ({ model, i }))
    .sort((a, b) => table1Order(a.model.table1) - table1Order(b.model.table1) || a.i - b.i)
    .map(({ model }): ModelResult => {
      const mine = cells.filter((c) => c.model === model.id);
      const trained = mine.filter((c) => c.attempts > 0 && (c.state === 'done' || c.state === 'trained'));
      return {
        id: model.id,
        name: model.name,
        table1: model.table1,
        family: model.family,
        mode: model.mode,
        preset: model.preset,
        budget: model.budget,
        budgetText: describeBudget(model),
        config: model.config,
        seeds: {
          done: mine.filter((c) => c.state === 'done').map((c) => c.seed),
          failed: mine.filter((c) => c.state === 'failed' || c.state === 'stale').map((c) => c.seed),
          missing: mine
            .filter((c) => c.state !== 'done' && c.state !== 'failed' && c.state !== 'stale')
            .map((c) => c.seed),
        },
        metrics: modelMetrics(
          mine.filter((c) => c.state === 'done'),
          extractorNames,
        ),
        published: publishedFid(model.table1, study.dataset.name),
        trainSeconds: trained.length ? meanStd(trained.map((c) => c.trainSeconds)) : null,
      };
    });
  const counts = { pending: 0, interrupted: 0, trained: 0, done: 0, failed: 0, stale: 0 } as Record<
    CellState,
    number
  >;
  for (const c of cells) counts[c.state]++;
  return {
    format: RESULTS_FORMAT,
    study: {
      name: study.name,
      description: study.description,
      source: study.source,
      dir: plan.dir,
      dataset: study.dataset,
      preset: study.preset,
      seeds: study.seeds,
    },
    protocol: {
      ...study.evaluation,
      extractorsUsed,
      recorded: evaluated[0]?.protocol ?? null,
      stdOverSeeds:
        "per model: mean and sample std (ddof 1) over seeds of each cell's value (the cell's mean over its trials)",
    },
    published: {
      source: TABLE1_SOURCE,
      dataset: study.dataset.name,
      note: "published numbers use Inception features and the authors' training budgets; ours use the extractors, N and budgets recorded here: compare them only under the same protocol",
    },
    environment: {
      versions: studyVersions(),
      node: process.version,
      platform: `${platform()} ${process.arch}`,
      cores: availableParallelism(),
      backend: environment.backend,
      executor: environment.executor,
      jobs: environment.jobs,
    },
    complete: counts.done === cells.length,
    counts,
    models,
    cells,
    createdAt: new Date().toISOString(),
  };
}
