/**
 * `tsvae eval`: FID and KID of a run's one-stage and two-stage samples against the test set.
 * Option parsing, the run's generators, printing and eval.json; the evaluation itself (extractor
 * choice and defaults, reference-feature cache, protocol) is `@tsvae/metrics`' `evaluate()`.
 */
import { resolve } from 'node:path';
import { describeBackend } from '@tsvae/backend';
import type { Generator, Logger } from '@tsvae/core';
import { assertWritable, fsError, writeJsonAtomic } from '@tsvae/core/node';
import {
  EvaluationError,
  type EvaluationProgress,
  type EvaluationReport,
  evaluate,
  FID_WEIGHTS_FILE,
  type GeneratorEvaluation,
  type MetricName,
  resolveMetrics,
} from '@tsvae/metrics';
import { RunDirectory } from '@tsvae/stages';
import { type Command, Option } from 'commander';
import {
  backendOption,
  CliError,
  type CliIO,
  collect,
  intOption,
  loadPluginModules,
  packageVersions,
  pluginsOption,
  SIGNAL_EXIT,
  setupBackend,
  stderrLogger,
  usageError,
  warnIfUnfinished,
} from './common';
import { type LatentRecord, latentLine, runLatentDiagnostics } from './latent';
import { loadSamplers } from './models';
import type { OutputStream } from './progress';

/** Options of `tsvae eval` as commander parses them. */
export interface EvalOpts {
  run?: string;
  count: number;
  referenceCount?: number;
  split: string;
  modes?: string;
  trials: number;
  seed: number;
  extractor?: string[];
  extractorConfig?: string[];
  inceptionWeights?: string;
  resize: string;
  minMaxNormalize?: boolean;
  quantize: boolean;
  metrics: string;
  prdcK: number;
  kid: boolean;
  kidSubsets: number;
  kidSubsetSize: number;
  batchSize: number;
  out?: string;
  stage2?: string;
  /** False with `--no-latent`: no latent diagnostics. */
  latent: boolean;
  cacheDir?: string;
  referenceCache: boolean;
  plugins?: string[];
  backend?: string;
  json?: boolean;
  verbose?: boolean;
}

/**
 * Format tag of `eval.json`: `run`, `checkpoint`, `position`, `finished`, then `@tsvae/metrics`'
 * `EvaluationReport` (`dataset`, `protocol` with the run's `modes`, `extractors`, `skipped`,
 * `results`), then `environment`, `createdAt`, `seconds`. Version 1 since the first release;
 * `--metrics` added fields without changing any (so still version 1): `protocol.metrics`,
 * `protocol.prdc` (`false`, or `{ k, closedBalls, inside }`) and, with `prdc`, a `prdc` object in
 * each result row (`precision`, `recall`, `density`, `coverage`: `{ mean, std }`; `k`,
 * `closedBalls`) and in each of its `trials`. `--stage2` added `stage2` (`null`, or the further
 * second stage evaluated: `{ name, checkpoint, position }`). The latent diagnostics added `latent`
 * after `results` (a {@link LatentRecord}; absent with `--no-latent` and for runs without a stage 1,
 * e.g. GAN runs).
 */
export const EVAL_FORMAT = 'tsvae-eval/1';

function parseExtractorConfigs(items: readonly string[] | undefined): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new CliError(
        `--extractor-config expects <name>=<JSON object>, e.g. classifier='{"epochs":3}', got "${item}"`,
      );
    }
    const name = item.slice(0, eq).trim();
    let value: unknown;
    try {
      value = JSON.parse(item.slice(eq + 1));
    } catch (e) {
      throw new CliError(`--extractor-config ${name}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CliError(`--extractor-config ${name}: expected a JSON object, got ${item.slice(eq + 1)}`);
    }
    out.set(name, { ...(out.get(name) ?? {}), ...(value as Record<string, unknown>) });
  }
  return out;
}

/** `--metrics fid,kid,prdc`: known names, fid included (see `resolveMetrics`). */
function parseMetrics(text: string): MetricName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    return resolveMetrics(names);
  } catch (e) {
    throw new CliError(`--metrics ${text}: ${(e as Error).message}`);
  }
}

/** `--modes`: a comma-separated subset of the run's sampling modes (default: all of them). */
function parseModes(text: string | undefined, available: readonly string[]): string[] {
  if (text === undefined) return [...available];
  const modes = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = modes.filter((m) => !available.includes(m));
  if (bad.length || modes.length === 0) {
    throw usageError(
      `--modes must list this run's modes (${available.join(', ')}), comma-separated; got "${text}"`,
    );
  }
  return [...new Set(modes)];
}

const num = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);

/** One progress line per phase on a terminal (redrawn at most every 200 ms, with a rate and ETA). */
function ttyEvalProgress(out: OutputStream, now: () => number = () => Date.now()) {
  let key = '';
  let started = 0;
  let last = 0;
  const width = 24;
  return (p: EvaluationProgress) => {
    const k = `${p.phase}/${p.extractor}/${p.generator ?? ''}/${p.trial ?? 0}`;
    const t = now();
    if (k !== key) {
      key = k;
      started = t;
      last = 0;
    }
    const finished = p.done === p.total;
    if (!finished && t - last < 200) return;
    last = t;
    const trial = p.trial ? ` (trial ${p.trial + 1})` : '';
    const what =
      p.phase === 'reference'
        ? `${p.extractor}: reference images`
        : p.phase === 'prdc'
          ? `${p.extractor}: k-NN distances, ${p.generator === undefined ? 'reference' : `${p.generator} samples${trial}`}`
          : `${p.extractor}: ${p.generator} samples${trial}`;
    const rate = p.done / Math.max(1e-3, (t - started) / 1000);
    const eta = rate > 0 ? (p.total - p.done) / rate : 0;
    const bar = Math.round((p.done / p.total) * width);
    const amount = p.phase === 'prdc' ? `${Math.floor((100 * p.done) / p.total)}%` : `${p.done}/${p.total}`;
    const unit = p.phase === 'prdc' ? 'pairs/s' : 'img/s';
    out.write(
      `\r${what} [${'#'.repeat(bar)}${'-'.repeat(width - bar)}] ${amount} ${rate.toFixed(1)} ${unit}${finished ? '' : ` eta ${Math.ceil(eta)} s`}\x1b[K${finished ? '\n' : ''}`,
    );
  };
}

/** The time an extractor's features will take, stated once from its measured rate. */
export interface EvalEstimate {
  readonly extractor: string;
  /** Images this extractor embeds in the whole evaluation (reference unless cached, every sample). */
  readonly images: number;
  /** Of those, already done when the rate was measured. */
  readonly done: number;
  readonly imagesPerSecond: number;
  /** Expected seconds until this extractor's features are all done. */
  readonly seconds: number;
}

/**
 * Watches the progress and, for each extractor, as soon as two batches have been timed (the first
 * one, which compiles kernels and loads weights, is not counted), calls `state` once with the
 * expected time of all of that extractor's features: the reference images (when the first batch
 * is one of theirs, i.e. they were not cached) and `samples` generated images.
 */
export function evalEstimator(
  samples: number,
  state: (e: EvalEstimate) => void,
  now: () => number = () => performance.now(),
): (p: EvaluationProgress) => void {
  const seen = new Map<string, { phase: string; done: number; t: number; images: number } | 'stated'>();
  return (p) => {
    if (p.phase === 'prdc') return;
    const k = seen.get(p.extractor);
    if (k === 'stated') return;
    const t = now();
    if (k === undefined || k.phase !== p.phase || p.done <= k.done) {
      // the first batch of this extractor (or of a new phase before a rate could be measured)
      const images = k?.images ?? (p.phase === 'reference' ? p.total + samples : samples);
      seen.set(p.extractor, { phase: p.phase, done: p.done, t, images });
      return;
    }
    const rate = (p.done - k.done) / Math.max(1e-9, (t - k.t) / 1000);
    const done = p.phase === 'reference' ? p.done : k.images - samples + p.done;
    seen.set(p.extractor, 'stated');
    state({
      extractor: p.extractor,
      images: k.images,
      done,
      imagesPerSecond: rate,
      seconds: (k.images - done) / rate,
    });
  };
}

/** `95 s`, `12 min`, `1 h 40 min`. */
export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  const min = Math.round(seconds / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

function jsonEvalProgress(out: OutputStream) {
  return (p: EvaluationProgress) => out.write(`${JSON.stringify({ event: 'progress', ...p })}\n`);
}

function both(a: (p: EvaluationProgress) => void, b: (p: EvaluationProgress) => void) {
  return (p: EvaluationProgress) => {
    a(p);
    b(p);
  };
}

function resultTable(rows: readonly GeneratorEvaluation[]): string {
  const prdc = rows.some((r) => r.prdc);
  const prdcHead = prdc ? ['precision', 'recall', 'density', 'coverage'] : [];
  const head = ['extractor', 'samples', 'FID', 'KID x 1e3', ...prdcHead, 'N gen', 'N test', 'trials'];
  const meanStd = (v: { mean: number; std: number } | undefined, digits: number, trials: number) =>
    v === undefined
      ? '-'
      : trials > 1
        ? `${num(v.mean, digits)} ± ${num(v.std, digits)}`
        : num(v.mean, digits);
  const body = rows.map((r) => [
    r.extractor,
    r.generator,
    r.trials.length > 1 ? `${num(r.fid.mean, 2)} ± ${num(r.fid.std, 2)}` : num(r.fid.mean, 2),
    r.kid ? `${num(r.kid.mean * 1e3, 2)} ± ${num(r.kid.std * 1e3, 2)}` : '-',
    ...(prdc
      ? (['precision', 'recall', 'density', 'coverage'] as const).map((m) =>
          meanStd(r.prdc?.[m], 3, r.trials.length),
        )
      : []),
    String(r.count),
    String(r.referenceCount),
    String(r.trials.length),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

/**
 * An evaluation error in the CLI's option names (`--extractor`, `--reference-count`, ...); the
 * library names its own options (`extractors`, `referenceCount`, ...).
 */
function cliMessage(e: EvaluationError, o: EvalOpts): string {
  switch (e.field) {
    case 'extractors':
      if (e.extractor === undefined) return e.message;
      return `--extractor ${e.extractor}: ${e.problem}${
        e.problem.startsWith('no such feature extractor') ? ' (load others with --plugins)' : ''
      }`;
    case 'extractorConfigs':
      return `--extractor-config ${e.extractor ?? ''}: ${e.problem}`;
    case 'referenceCount':
      return `--reference-count ${e.problem}`;
    case 'inceptionWeights':
      return `--inception-weights ${o.inceptionWeights ?? ''}: ${e.problem}`;
    case 'metrics':
      return `--metrics ${o.metrics}: ${e.problem}`;
    case 'prdc':
      return `--prdc-k: ${e.problem}`;
    case 'count':
      return `--count ${e.problem}`;
    case 'split':
      return `${e.subject}: ${e.problem}${o.split === 'test' ? ' (--split train compares against the training images instead)' : ''}`;
    default:
      return e.message;
  }
}

/** Runs `tsvae eval`; resolves to the exit code. */
export async function runEval(o: EvalOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const json = o.json || !io.stdout.isTTY;
  const started = performance.now();
  await loadPluginModules(o.plugins, cwd);
  if (!o.run) throw new CliError('eval needs a run directory: tsvae eval <run-dir>');
  const metrics = parseMetrics(o.metrics);
  if (o.split !== 'test' && o.split !== 'train')
    throw new CliError(`--split must be test or train, got "${o.split}"`);
  const split = o.split;
  const userConfigs = parseExtractorConfigs(o.extractorConfig);
  // --resize is the inception-fid config's `resize`; an explicit config of it wins.
  userConfigs.set('inception-fid', { resize: o.resize, ...(userConfigs.get('inception-fid') ?? {}) });
  const runDir = resolve(cwd, o.run);
  // a further second stage's evaluation goes into its own directory
  const out = o.out
    ? resolve(cwd, o.out)
    : o.stage2 !== undefined
      ? new RunDirectory(new RunDirectory(runDir).secondStageDir(o.stage2)).evalFile
      : new RunDirectory(runDir).evalFile;
  const backend = await setupBackend(o.backend, io, o.verbose ?? false);
  const logger = stderrLogger(io, o.verbose ?? false);
  // Extractor set-up (e.g. training the classifier on first use) is long work: its info records
  // are progress, printed even without --verbose.
  const progressLogger: Logger = { ...logger, info: stderrLogger(io, true).info };
  const run = await loadSamplers(runDir, { logger, ...(o.stage2 !== undefined ? { stage2: o.stage2 } : {}) });
  const vae = run.vae;
  const controller = new AbortController();
  const unsubscribe = io.onInterrupt?.((signal) => {
    io.stderr.write(`\n${signal}: stopping the evaluation (nothing is written)\n`);
    controller.abort(new CliError('interrupted', SIGNAL_EXIT[signal]));
  });
  try {
    const modes = parseModes(o.modes, Object.keys(run.modes));
    // Before any long work: a read-only run directory (or --out) fails now, not after an hour.
    try {
      assertWritable(out);
    } catch (e) {
      throw new CliError(`cannot write the evaluation to ${out}: ${fsError('write', out, e).message}`);
    }
    warnIfUnfinished(io, runDir, vae?.position ?? run.position, 'evaluating');
    if (vae?.stage2) warnIfUnfinished(io, vae.stage2.dir.path, vae.stage2.position, 'evaluating');
    const dsRef = run.dataset;
    const generators = Object.fromEntries(modes.map((m) => [m, run.modes[m] as Generator] as const));
    const say = (obj: Record<string, unknown>, text: string) =>
      io.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
    const kid = o.kid ? { subsets: o.kidSubsets, subsetSize: o.kidSubsetSize } : false;
    let report: EvaluationReport;
    try {
      report = await evaluate({
        generators,
        dataset: { name: dsRef.name, config: dsRef.config as Record<string, unknown> },
        split,
        ...(o.referenceCount !== undefined ? { referenceCount: o.referenceCount } : {}),
        count: o.count,
        trials: o.trials,
        seed: o.seed,
        batchSize: o.batchSize,
        quantize: o.quantize,
        minMaxNormalize: o.minMaxNormalize ?? false,
        kid,
        metrics,
        ...(metrics.includes('prdc') ? { prdc: { k: o.prdcK } } : {}),
        extractors: o.extractor?.length ? o.extractor : 'auto',
        extractorConfigs: Object.fromEntries(userConfigs),
        ...(o.inceptionWeights ? { inceptionWeights: resolve(cwd, o.inceptionWeights) } : {}),
        ...(o.cacheDir ? { cacheDir: resolve(cwd, o.cacheDir) } : {}),
        referenceCache: o.referenceCache,
        logger: progressLogger,
        signal: controller.signal,
        onStart: (s) => {
          for (const k of s.skipped) io.stderr.write(`note: skipping ${k.plugin}: ${k.reason}\n`);
          const names = s.extractors.map((e) => e.name);
          say(
            {
              event: 'start',
              runDir,
              checkpoint: vae?.checkpoint ?? run.checkpoint,
              backend: backend.backend,
              extractors: names,
              skipped: s.skipped,
              count: s.count,
              referenceCount: s.referenceCount,
              trials: s.trials,
            },
            `evaluating ${runDir} (${modes.join(', ')}) with ${names.join(', ')}\n` +
              `N = ${s.count} samples vs ${s.referenceCount} ${dsRef.name} ${split} images, ${s.trials} trial${s.trials === 1 ? '' : 's'}; backend: ${describeBackend(backend)}`,
          );
        },
        onProgress: both(
          json ? jsonEvalProgress(io.stdout) : ttyEvalProgress(io.stdout),
          evalEstimator(modes.length * o.trials * o.count, (e) => {
            const text = `expected: ${e.extractor} needs about ${formatDuration(e.seconds)} more for its ${e.images} images (${e.imagesPerSecond.toFixed(1)} img/s)`;
            if (json) io.stdout.write(`${JSON.stringify({ event: 'estimate', ...e })}\n`);
            else io.stdout.write(`\r${text}\x1b[K\n`);
          }),
        ),
      });
    } catch (e) {
      if (e instanceof EvaluationError) throw new CliError(cliMessage(e, o), 1, { cause: e });
      throw e;
    }
    const { results, skipped } = report;
    // The numbers first: a failed write below must not lose an hour of computing.
    if (!json) {
      io.stdout.write(
        `\n${resultTable(results)}${skipped.length ? `\nskipped: ${skipped.map((s) => s.plugin).join(', ')} (see above)` : ''}\n`,
      );
    }
    // Latent diagnostics of a VAE run (seconds next to FID); a failure keeps the results above.
    let latent: LatentRecord | undefined;
    let latentFailure: unknown;
    if (o.latent && vae) {
      try {
        latent = await runLatentDiagnostics(vae, {
          split,
          count: o.count,
          seed: o.seed,
          batchSize: o.batchSize,
          logger,
          signal: controller.signal,
        });
      } catch (e) {
        if (controller.signal.aborted) throw controller.signal.reason;
        latentFailure = e;
      }
    }
    if (json)
      io.stdout.write(`${JSON.stringify({ event: 'done', out, results, ...(latent ? { latent } : {}) })}\n`);
    else if (latent) io.stdout.write(`${latentLine(latent)}\n`);
    const { count, referenceCount, referenceImages, trials, seed, ...protocol } = report.protocol;
    try {
      writeJsonAtomic(out, {
        format: EVAL_FORMAT,
        run: runDir,
        checkpoint: vae?.checkpoint ?? run.checkpoint,
        position: vae?.position ?? run.position,
        finished: (vae?.position ?? run.position).stage === 'done',
        model: run.model,
        stage2: vae?.stage2
          ? { name: vae.stage2.name, checkpoint: vae.stage2.checkpoint, position: vae.stage2.position }
          : null,
        dataset: report.dataset,
        protocol: { count, referenceCount, referenceImages, trials, seed, modes, ...protocol },
        extractors: report.extractors,
        skipped,
        results,
        ...(latent ? { latent } : {}),
        environment: { versions: packageVersions(), backend, node: process.version },
        createdAt: new Date().toISOString(),
        seconds: (performance.now() - started) / 1000,
      });
    } catch (e) {
      throw new CliError(
        `${fsError('write', out, e).message} (the results above were computed but not saved)`,
      );
    }
    if (latentFailure !== undefined) {
      const why = latentFailure instanceof Error ? latentFailure.message : String(latentFailure);
      throw new CliError(
        `latent diagnostics failed: ${why} (${out} was written without them; --no-latent skips them)`,
        1,
        { cause: latentFailure },
      );
    }
    if (!json) io.stdout.write(`\nwritten: ${out}\n`);
    return 0;
  } finally {
    unsubscribe?.();
    run.dispose();
  }
}

/** Adds the `eval` command to the program. */
export function addEvalCommand(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('eval')
    .description(
      "FID and KID (--metrics: also precision, recall, density, coverage) of a run's one-stage and two-stage samples against the test set; writes <run>/eval.json.",
    )
    .argument('[run]', 'run directory')
    .option('--run <dir>', 'run directory (instead of the argument)')
    .option(
      '-n, --count <int>',
      'generated images per mode and trial (the paper: 10000)',
      intOption('--count', 2),
      10000,
    )
    .option(
      '--reference-count <int>',
      'first N reference images (default min(10000, split size))',
      intOption('--reference-count', 2),
    )
    .addOption(
      new Option('--split <name>', 'reference images: the test split, or train when there is none')
        .choices(['test', 'train'])
        .default('test'),
    )
    .option(
      '--modes <list>',
      "sampling modes, comma-separated (default: all of the run's: two-stage and one-stage, one-stage, or gan)",
    )
    .option(
      '--trials <int>',
      'trials with fresh samples, mean ± std (the paper: 10)',
      intOption('--trials', 1),
      1,
    )
    .option(
      '--seed <int>',
      'seed of trial 0 (trial t uses seed + t; 0 is a seed like any other)',
      intOption('--seed'),
      0,
    )
    .option(
      '--extractor <name>',
      'feature extractor (repeatable; default: classifier if the dataset has labels, inception-fid if its weights are on disk)',
      collect,
    )
    .option(
      '--extractor-config <name=json>',
      `an extractor's plugin config (repeatable), e.g. classifier='{"epochs":3}'`,
      collect,
    )
    .option('--inception-weights <file>', `local ${FID_WEIGHTS_FILE} (or TSVAE_FID_WEIGHTS)`)
    .addOption(
      new Option('--resize <mode>', 'Inception input protocol')
        .choices(['tf1-legacy', 'pytorch-fid'])
        .default('tf1-legacy'),
    )
    .option(
      '--min-max-normalize',
      "the reference code's per-image min-max normalisation of generated images (non-standard)",
    )
    .option('--no-quantize', 'do not round generated images to uint8 levels first')
    .option(
      '--metrics <list>',
      'metrics, comma-separated: fid (required), kid, prdc (precision, recall, density, coverage)',
      'fid,kid',
    )
    .option('--prdc-k <int>', 'k of the k-NN balls of prdc', intOption('--prdc-k', 1), 3)
    .option('--no-kid', 'skip KID (the same as leaving kid out of --metrics)')
    .option('--kid-subsets <int>', 'KID subsets', intOption('--kid-subsets', 1), 100)
    .option(
      '--kid-subset-size <int>',
      'KID subset size (clamped to N)',
      intOption('--kid-subset-size', 2),
      1000,
    )
    .option('--batch-size <int>', 'images per generate / extract call', intOption('--batch-size', 1), 250)
    .option('--out <file>', 'output JSON (default <run>/eval.json)')
    .option(
      '--stage2 <name>',
      "evaluate with the second stage <run>/stage2-<name>/ (tsvae fit-stage2) instead of the run's own; default output <run>/stage2-<name>/eval.json",
    )
    .option(
      '--no-latent',
      'skip the latent diagnostics (z-space Fréchet distance and held-out log-likelihood of the second stage and of N(0, I), active dimensions)',
    )
    .option(
      '--cache-dir <dir>',
      'where extractors keep weights and reference features (default $TSVAE_CACHE or ~/.cache/tsvae)',
    )
    .option('--no-reference-cache', 'recompute the reference features instead of reusing cached ones')
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('--json', 'JSON lines on stdout even on a terminal')
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (runArg: string | undefined, o: EvalOpts) => {
      if (runArg && o.run && resolve(runArg) !== resolve(o.run)) {
        throw new CliError(`two run directories given: ${runArg} and --run ${o.run}`);
      }
      result.code = await runEval({ ...o, ...(runArg ? { run: runArg } : {}) }, io);
    });
}
