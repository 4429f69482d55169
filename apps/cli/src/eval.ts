/** `tsvae eval`: FID and KID of a run's one-stage and two-stage samples against the test set. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeBackend } from '@tsvae/backend';
import { create, type DataSplit, type FeatureExtractor, getRegistry, type Logger } from '@tsvae/core';
import { cacheDir, writeFileAtomic, writeJsonAtomic } from '@tsvae/core/node';
import {
  type EvaluationProgress,
  evaluateGenerators,
  FID_WEIGHTS_URL,
  type GeneratorEvaluation,
  readNpy,
  writeNpy,
} from '@tsvae/metrics';
import { loadRun, type SamplingMode, VaeGenerator } from '@tsvae/stages';
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
  setupBackend,
  stderrLogger,
  warnIfUnfinished,
} from './common';
import type { OutputStream } from './progress';

/** Options of `tsvae eval` as commander parses them. */
export interface EvalOpts {
  run?: string;
  count: number;
  referenceCount?: number;
  split: string;
  modes: string;
  trials: number;
  seed: number;
  extractor?: string[];
  extractorConfig?: string[];
  inceptionWeights?: string;
  resize: string;
  minMaxNormalize?: boolean;
  quantize: boolean;
  kid: boolean;
  kidSubsets: number;
  kidSubsetSize: number;
  batchSize: number;
  out?: string;
  cacheDir?: string;
  referenceCache: boolean;
  plugins?: string[];
  backend?: string;
  json?: boolean;
  verbose?: boolean;
}

/** Format tag of `eval.json`. */
export const EVAL_FORMAT = 'tsvae-eval/1';

const FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth';

interface ExtractorChoice {
  readonly plugin: string;
  readonly config: Record<string, unknown>;
}

interface Skipped {
  readonly plugin: string;
  readonly reason: string;
}

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

/** The local FID Inception weights, if any: flag, then TSVAE_FID_WEIGHTS, then the cache. */
function localInceptionWeights(o: EvalOpts, cwd: string): string | undefined {
  if (o.inceptionWeights) {
    const p = resolve(cwd, o.inceptionWeights);
    if (!existsSync(p)) throw new CliError(`--inception-weights ${o.inceptionWeights}: no such file (${p})`);
    return p;
  }
  const env = process.env['TSVAE_FID_WEIGHTS'];
  if (env) {
    const p = resolve(cwd, env);
    if (!existsSync(p)) throw new CliError(`TSVAE_FID_WEIGHTS=${env}: no such file (${p})`);
    return p;
  }
  const cached = join(cacheDir(o.cacheDir ? resolve(cwd, o.cacheDir) : undefined), FID_WEIGHTS_FILE);
  return existsSync(cached) ? cached : undefined;
}

/**
 * Which extractors to run. `auto` (no --extractor): `classifier` when the dataset has labels to
 * train it on, and `inception-fid` when its weights are on disk (never downloads).
 */
function chooseExtractors(
  o: EvalOpts,
  cwd: string,
  dataset: { name: string; config: Record<string, unknown>; labelled: boolean },
): { chosen: ExtractorChoice[]; skipped: Skipped[] } {
  const configs = parseExtractorConfigs(o.extractorConfig);
  const explicit = o.extractor?.length ? [...new Set(o.extractor)] : null;
  const names = explicit ?? ['classifier', 'inception-fid'];
  const reg = getRegistry();
  const chosen: ExtractorChoice[] = [];
  const skipped: Skipped[] = [];
  for (const name of names) {
    if (!reg.has('feature-extractor', name)) {
      throw new CliError(
        `--extractor ${name}: no such feature extractor (known: ${reg.list('feature-extractor').join(', ')}; load others with --plugins)`,
      );
    }
    const user = configs.get(name) ?? {};
    if (name === 'classifier') {
      if (!dataset.labelled && user['dataset'] === undefined) {
        const reason = `dataset '${dataset.name}' has no labels to train the classifier on (pass --extractor-config classifier='{"dataset":"mnist"}' to use another dataset's classifier)`;
        if (explicit) throw new CliError(`--extractor classifier: ${reason}`);
        skipped.push({ plugin: name, reason });
        continue;
      }
      chosen.push({
        plugin: name,
        config: {
          dataset: dataset.name,
          datasetConfig: dataset.config,
          ...(o.cacheDir ? { cacheDir: resolve(cwd, o.cacheDir) } : {}),
          ...user,
        },
      });
    } else if (name === 'inception-fid') {
      const weights = user['path'] === undefined ? localInceptionWeights(o, cwd) : undefined;
      if (!weights && user['path'] === undefined && !explicit) {
        skipped.push({
          plugin: name,
          reason: `FID Inception weights not found (${FID_WEIGHTS_FILE}); pass --inception-weights FILE, set TSVAE_FID_WEIGHTS, or pass --extractor inception-fid to download them from ${FID_WEIGHTS_URL}`,
        });
        continue;
      }
      chosen.push({
        plugin: name,
        config: {
          resize: o.resize,
          ...(weights ? { path: weights } : {}),
          ...(o.cacheDir ? { cacheDir: resolve(cwd, o.cacheDir) } : {}),
          ...user,
        },
      });
    } else {
      chosen.push({ plugin: name, config: user });
    }
  }
  return { chosen, skipped };
}

/** Where the reference features of one extractor came from (recorded in eval.json). */
interface ReferenceRecord {
  readonly path: string;
  readonly cached: boolean;
}

/**
 * A `referenceFeatures` hook that keeps the reference features in
 * `<cache>/metrics/reference/` (an `.npy` per dataset, split, N, extractor and config), keyed by
 * a sha256 of the reference images themselves, so a later evaluation against the same images
 * skips the extraction (about 30 minutes for 10,000 images through the Inception network on 2
 * CPU cores). An unreadable file is reported and recomputed.
 */
function referenceCache(
  dir: string,
  key: Record<string, unknown>,
  configs: ReadonlyMap<FeatureExtractor, Record<string, unknown>>,
  records: Map<string, ReferenceRecord>,
  warn: (message: string) => void,
) {
  return async (extractor: FeatureExtractor, compute: () => Promise<Float32Array>): Promise<Float32Array> => {
    const { cacheDir: _ignored, ...config } = configs.get(extractor) ?? {};
    const hash = createHash('sha256')
      .update(JSON.stringify({ format: 'tsvae-reference/1', ...key, extractor: extractor.name, config }))
      .digest('hex')
      .slice(0, 16);
    const n = key['count'] as number;
    const path = join(dir, `${key['dataset']}-${key['split']}-n${n}-${extractor.name}-${hash}.npy`);
    if (existsSync(path)) {
      try {
        const a = readNpy(new Uint8Array(readFileSync(path)));
        if (a.dtype !== 'float32' || a.shape[0] !== n || a.shape[1] !== extractor.featureDim) {
          throw new Error(
            `holds ${a.dtype} [${a.shape.join(', ')}], expected float32 [${n}, ${extractor.featureDim}]`,
          );
        }
        records.set(extractor.name, { path, cached: true });
        return a.data as Float32Array;
      } catch (e) {
        warn(`ignoring the cached reference features ${path}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const features = await compute();
    writeFileAtomic(path, writeNpy({ dtype: 'float32', shape: [n, extractor.featureDim], data: features }));
    records.set(extractor.name, { path, cached: false });
    return features;
  };
}

function parseModes(text: string): SamplingMode[] {
  const modes = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = modes.filter((m) => m !== 'one-stage' && m !== 'two-stage');
  if (bad.length || modes.length === 0) {
    throw new CliError(`--modes must list one-stage and/or two-stage (comma-separated), got "${text}"`);
  }
  return [...new Set(modes)] as SamplingMode[];
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
    const what =
      p.phase === 'reference'
        ? `${p.extractor}: reference images`
        : `${p.extractor}: ${p.generator} samples${p.trial ? ` (trial ${p.trial + 1})` : ''}`;
    const rate = p.done / Math.max(1e-3, (t - started) / 1000);
    const eta = rate > 0 ? (p.total - p.done) / rate : 0;
    const bar = Math.round((p.done / p.total) * width);
    out.write(
      `\r${what} [${'#'.repeat(bar)}${'-'.repeat(width - bar)}] ${p.done}/${p.total} ${rate.toFixed(1)} img/s${finished ? '' : ` eta ${Math.ceil(eta)} s`}\x1b[K${finished ? '\n' : ''}`,
    );
  };
}

function jsonEvalProgress(out: OutputStream) {
  return (p: EvaluationProgress) => out.write(`${JSON.stringify({ event: 'progress', ...p })}\n`);
}

function resultTable(rows: readonly GeneratorEvaluation[]): string {
  const head = ['extractor', 'samples', 'FID', 'KID x 1e3', 'N gen', 'N test', 'trials'];
  const body = rows.map((r) => [
    r.extractor,
    r.generator,
    r.trials.length > 1 ? `${num(r.fid.mean, 2)} ± ${num(r.fid.std, 2)}` : num(r.fid.mean, 2),
    r.kid ? `${num(r.kid.mean * 1e3, 2)} ± ${num(r.kid.std * 1e3, 2)}` : '-',
    String(r.count),
    String(r.referenceCount),
    String(r.trials.length),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

/** Runs `tsvae eval`; resolves to the exit code. */
export async function runEval(o: EvalOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const json = o.json || !io.stdout.isTTY;
  const started = performance.now();
  await loadPluginModules(o.plugins, cwd);
  if (!o.run) throw new CliError('eval needs a run directory: tsvae eval <run-dir>');
  const modes = parseModes(o.modes);
  const runDir = resolve(cwd, o.run);
  const backend = await setupBackend(o.backend, io, o.verbose ?? false);
  const logger = stderrLogger(io, o.verbose ?? false);
  // Extractor set-up (e.g. training the classifier on first use) is long work: its info records
  // are progress, printed even without --verbose.
  const progressLogger: Logger = { ...logger, info: stderrLogger(io, true).info };
  const run = await loadRun(runDir, { logger });
  const extractors: { choice: ExtractorChoice; extractor: FeatureExtractor }[] = [];
  const controller = new AbortController();
  const unsubscribe = io.onInterrupt?.(() => {
    io.stderr.write('\ninterrupt: stopping the evaluation (nothing is written)\n');
    controller.abort(new CliError('interrupted', 130));
  });
  try {
    warnIfUnfinished(io, runDir, run.position, 'evaluating');
    const dsRef = run.config.dataset;
    const dataset = await create('dataset', dsRef.name, dsRef.config);
    if (o.split !== 'test' && o.split !== 'train')
      throw new CliError(`--split must be test or train, got "${o.split}"`);
    const split = o.split;
    let reference: DataSplit;
    try {
      reference = await dataset.load(split);
    } catch (e) {
      throw new CliError(
        `cannot load the ${split} split of ${dsRef.name}: ${e instanceof Error ? e.message : String(e)}${split === 'test' ? ' (--split train compares against the training images instead)' : ''}`,
      );
    }
    const referenceCount = o.referenceCount ?? Math.min(10000, reference.size);
    if (referenceCount > reference.size) {
      throw new CliError(
        `--reference-count ${referenceCount} exceeds the ${reference.size} ${split} images of ${dsRef.name}`,
      );
    }
    const { chosen, skipped } = chooseExtractors(o, cwd, {
      name: dsRef.name,
      config: dsRef.config as Record<string, unknown>,
      labelled: dataset.numClasses !== undefined || reference.labels !== undefined,
    });
    for (const s of skipped) io.stderr.write(`note: skipping ${s.plugin}: ${s.reason}\n`);
    if (chosen.length === 0) {
      throw new CliError(
        `no feature extractor is available for ${dsRef.name}: ${skipped.map((s) => `${s.plugin}: ${s.reason}`).join('; ')}`,
      );
    }
    for (const choice of chosen) {
      extractors.push({
        choice,
        extractor: await create('feature-extractor', choice.plugin, choice.config, {
          context: { logger: progressLogger },
        }),
      });
    }
    const generators = Object.fromEntries(
      modes.map((m) => [m, new VaeGenerator(run.stage1, run.secondStage, m)] as const),
    );
    const say = (obj: Record<string, unknown>, text: string) =>
      io.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
    say(
      {
        event: 'start',
        runDir,
        checkpoint: run.checkpoint,
        backend: backend.backend,
        extractors: extractors.map((e) => e.extractor.name),
        skipped,
        count: o.count,
        referenceCount,
        trials: o.trials,
      },
      `evaluating ${runDir} (${modes.join(', ')}) with ${extractors.map((e) => e.extractor.name).join(', ')}\n` +
        `N = ${o.count} samples vs ${referenceCount} ${dsRef.name} ${split} images, ${o.trials} trial${o.trials === 1 ? '' : 's'}; backend: ${describeBackend(backend)}`,
    );
    const kid = o.kid ? { subsets: o.kidSubsets, subsetSize: o.kidSubsetSize } : false;
    const references = new Map<string, ReferenceRecord>();
    const perImage = reference.shape[0] * reference.shape[1] * reference.shape[2];
    const refData = reference.data.subarray(0, referenceCount * perImage);
    const cacheRoot = cacheDir(o.cacheDir ? resolve(cwd, o.cacheDir) : undefined);
    const referenceFeatures = o.referenceCache
      ? referenceCache(
          join(cacheRoot, 'metrics', 'reference'),
          {
            dataset: dsRef.name,
            datasetConfig: dsRef.config,
            split,
            count: referenceCount,
            shape: reference.shape,
            images: createHash('sha256')
              .update(new Uint8Array(refData.buffer, refData.byteOffset, refData.byteLength))
              .digest('hex'),
          },
          new Map(extractors.map((e) => [e.extractor, e.choice.config] as const)),
          references,
          (m) => io.stderr.write(`warning: ${m}\n`),
        )
      : undefined;
    const results = await evaluateGenerators({
      generators,
      reference,
      extractors: extractors.map((e) => e.extractor),
      count: o.count,
      referenceCount,
      trials: o.trials,
      seed: o.seed,
      batchSize: o.batchSize,
      quantize: o.quantize,
      minMaxNormalize: o.minMaxNormalize ?? false,
      kid,
      ...(referenceFeatures ? { referenceFeatures } : {}),
      signal: controller.signal,
      onProgress: json ? jsonEvalProgress(io.stdout) : ttyEvalProgress(io.stdout),
    });
    const out = resolve(cwd, o.out ?? join(runDir, 'eval.json'));
    const report = {
      format: EVAL_FORMAT,
      run: runDir,
      checkpoint: run.checkpoint,
      position: run.position,
      finished: run.position.stage === 'done',
      dataset: { name: dsRef.name, config: dsRef.config, split, size: reference.size },
      protocol: {
        count: o.count,
        referenceCount,
        referenceImages: `${split}[0:${referenceCount}]`,
        trials: o.trials,
        seed: o.seed,
        modes,
        quantize: o.quantize,
        minMaxNormalize: o.minMaxNormalize ?? false,
        kid: kid ? { ...kid, kernel: '(x.y/d + 1)^3', estimator: 'unbiased MMD^2' } : false,
        stdOver:
          'FID std is over trials (ddof 0); KID std is over subsets for one trial, over trials otherwise',
        batchSize: o.batchSize,
      },
      extractors: extractors.map((e) => ({
        name: e.extractor.name,
        plugin: e.choice.plugin,
        config: e.choice.config,
        featureDim: e.extractor.featureDim,
        reference: references.get(e.extractor.name) ?? null,
      })),
      skipped,
      results,
      environment: { versions: packageVersions(), backend, node: process.version },
      createdAt: new Date().toISOString(),
      seconds: (performance.now() - started) / 1000,
    };
    writeJsonAtomic(out, report);
    say(
      { event: 'done', out, results },
      `\n${resultTable(results)}\n\nwritten: ${out}${skipped.length ? `\nskipped: ${skipped.map((s) => s.plugin).join(', ')} (see above)` : ''}`,
    );
    return 0;
  } finally {
    unsubscribe?.();
    for (const e of extractors) e.extractor.dispose();
    run.dispose();
  }
}

/** Adds the `eval` command to the program. */
export function addEvalCommand(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('eval')
    .description(
      "FID and KID of a run's one-stage and two-stage samples against the test set; writes <run>/eval.json.",
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
    .option('--modes <list>', 'sampling modes, comma-separated', 'one-stage,two-stage')
    .option(
      '--trials <int>',
      'trials with fresh samples, mean ± std (the paper: 10)',
      intOption('--trials', 1),
      1,
    )
    .option('--seed <int>', 'seed of trial 0 (trial t uses seed + t)', intOption('--seed'), 0)
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
    .option('--no-kid', 'skip KID')
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
