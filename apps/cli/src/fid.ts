/**
 * `tsvae fid <a> [b]`: pytorch-fid's command line in tsvae. Each side is a folder (or tar archive)
 * of images, an `.npz` of statistics (pytorch-fid's `mu`, `sigma`) or a run directory (samples
 * drawn from it); `--save-stats` writes side a's statistics in pytorch-fid's layout. The pieces
 * are the libraries': `@tsvae/datasets`' `loadImageFolder` (decoding, `--resize-to`),
 * `@tsvae/metrics`' extractors, features, statistics, `.npz` and metrics, `@tsvae/stages`' runs.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeBackend } from '@tsvae/backend';
import { create, type FeatureExtractor, getRegistry } from '@tsvae/core';
import { assertWritable, cacheDir, fsError, writeFileAtomic } from '@tsvae/core/node';
import { DatasetFormatError, type ImageFolderSplit, isTarPath, loadImageFolder } from '@tsvae/datasets';
import {
  computeStatistics,
  EvaluationError,
  type FeatureStatistics,
  FID_WEIGHTS_FILE,
  fidFromFeatures,
  frechetDistance,
  generatorFeatures,
  type KidResult,
  kernelInceptionDistance,
  LOGITS_DIM,
  POOL3_DIM,
  type PrdcResult,
  precisionRecallDensityCoverage,
  type SelectionEnvironment,
  selectExtractors,
  splitFeatures,
  statisticsFromNpz,
  statisticsToNpz,
} from '@tsvae/metrics';
import { type LoadedRun, loadRun, RunDirectory, type SamplingMode, VaeGenerator } from '@tsvae/stages';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  backendOption,
  CliError,
  type CliIO,
  intOption,
  loadPluginModules,
  pluginsOption,
  SIGNAL_EXIT,
  seedOption,
  setupBackend,
  stderrLogger,
  usageError,
} from './common';
import type { OutputStream } from './progress';

/** Options of `tsvae fid` as commander parses them. */
export interface FidOpts {
  saveStats?: string;
  extractor: string;
  extractorConfig?: string;
  inceptionWeights?: string;
  resize: 'tf1-legacy' | 'pytorch-fid';
  resizeTo?: [number, number];
  dims?: number;
  kid?: boolean;
  kidSubsets: number;
  kidSubsetSize: number;
  prdc?: boolean;
  prdcK: number;
  batchSize: number;
  count: number;
  mode: SamplingMode;
  seed: number;
  cacheDir?: string;
  plugins?: string[];
  backend?: string;
  json?: boolean;
  verbose?: boolean;
}

/** One side of the comparison, as found on disk. */
type Side =
  | {
      readonly name: 'a' | 'b';
      readonly path: string;
      readonly kind: 'images';
      readonly split: ImageFolderSplit;
    }
  | {
      readonly name: 'a' | 'b';
      readonly path: string;
      readonly kind: 'statistics';
      readonly stats: FeatureStatistics;
    }
  | { readonly name: 'a' | 'b'; readonly path: string; readonly kind: 'run'; readonly run: LoadedRun };

/** What a side amounts to once featurised: features (images, runs) or only statistics (.npz). */
interface Measured {
  readonly features?: Float32Array;
  readonly stats: () => FeatureStatistics;
  readonly count: number;
}

function parseResizeTo(value: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:[x,]\s*(\d+))?\s*$/i.exec(value);
  const h = Number(m?.[1]);
  const w = Number(m?.[2] ?? m?.[1]);
  if (!m || !Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 1 || w < 1) {
    throw new InvalidArgumentError(
      `--resize-to expects <height>x<width> (or one size), e.g. 32x32, got "${value}".`,
    );
  }
  return [h, w];
}

/** A folder of RGB images all of whose pixels are grey becomes one channel (as a grey dataset is). */
function greyToOneChannel(split: ImageFolderSplit): ImageFolderSplit {
  const [h, w, c] = split.shape;
  if (c !== 3) return split;
  const d = split.data;
  for (let i = 0; i < d.length; i += 3) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return split;
  const grey = new Uint8Array(d.length / 3);
  for (let i = 0; i < grey.length; i++) grey[i] = d[i * 3] as number;
  return { ...split, shape: [h, w, 1], data: grey };
}

function describeSide(s: Side): Record<string, unknown> {
  if (s.kind === 'images') return { path: s.path, kind: s.kind, count: s.split.size, shape: s.split.shape };
  if (s.kind === 'statistics') return { path: s.path, kind: s.kind, count: s.stats.count, dim: s.stats.dim };
  return {
    path: s.path,
    kind: s.kind,
    checkpoint: s.run.checkpoint,
    shape: s.run.stage1.decoder.outputShape,
  };
}

function sideText(s: Side, o: FidOpts): string {
  if (s.kind === 'images') return `${s.path} (${s.split.size} images, ${s.split.shape.join('x')})`;
  if (s.kind === 'statistics') {
    return `${s.path} (statistics, ${s.stats.dim}-d, N = ${s.stats.count || 'unknown'})`;
  }
  return `${s.path} (run: ${o.count} ${o.mode} samples, seed ${o.seed})`;
}

/** Whether `path` is a file named `*.npz` (a side of statistics). */
function isStatisticsFile(path: string): boolean {
  try {
    return /\.npz$/i.test(path) && statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Reads one side: an .npz of statistics, a run directory, or a folder / tar archive of images. */
async function openSide(name: 'a' | 'b', path: string, o: FidOpts, io: CliIO): Promise<Side> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new CliError(`${name}: ${fsError('read', path, e).message}`);
  }
  if (isStatisticsFile(path)) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new CliError(`${name}: ${fsError('read', path, e).message}`);
    }
    try {
      return { name, path, kind: 'statistics', stats: statisticsFromNpz(bytes) };
    } catch (e) {
      throw new CliError(
        `${name}: ${path}: not pytorch-fid statistics: ${(e as Error).message} (expected an .npz with 'mu' [d] and 'sigma' [d, d])`,
      );
    }
  }
  if (isDir && existsSync(new RunDirectory(path).configFile)) {
    const run = await loadRun(path, { logger: stderrLogger(io, o.verbose ?? false) });
    if (o.mode === 'two-stage' && run.position.stage !== 'done') {
      io.stderr.write(
        `warning: ${path} has not finished training (checkpoint at ${run.position.stage} epoch ${run.position.epoch}); sampling from it anyway\n`,
      );
    }
    return { name, path, kind: 'run', run };
  }
  if (!isDir && !isTarPath(path)) {
    throw new CliError(
      `${name}: ${path} is neither a folder (or .tar) of images, an .npz of statistics nor a run directory`,
    );
  }
  try {
    const split = loadImageFolder(path, {
      channels: 3,
      labels: 'none',
      ...(o.resizeTo ? { resizeTo: o.resizeTo, filter: 'area' as const } : {}),
    });
    return { name, path, kind: 'images', split: greyToOneChannel(split) };
  } catch (e) {
    if (e instanceof DatasetFormatError) {
      throw new CliError(
        `${name}: ${e.message.replace('pass resizeTo to resize', 'pass --resize-to <height>x<width> to resize every image')}`,
      );
    }
    throw e;
  }
}

/** One progress line per side on a terminal (at most every 200 ms), JSON lines otherwise. */
function progressPrinter(out: OutputStream, json: boolean, now: () => number = () => Date.now()) {
  let key = '';
  let started = 0;
  let last = 0;
  const width = 24;
  return (side: string, phase: 'features' | 'prdc', done: number, total: number) => {
    if (json) {
      out.write(`${JSON.stringify({ event: 'progress', side, phase, done, total })}\n`);
      return;
    }
    const k = `${side}/${phase}`;
    const t = now();
    if (k !== key) {
      key = k;
      started = t;
      last = 0;
    }
    const finished = done === total;
    if (!finished && t - last < 200) return;
    last = t;
    const bar = Math.round((done / Math.max(1, total)) * width);
    const rate = done / Math.max(1e-3, (t - started) / 1000);
    const what = phase === 'features' ? `${side}: features` : 'k-NN distances';
    const amount =
      phase === 'features'
        ? `${done}/${total} ${rate.toFixed(1)} img/s`
        : `${Math.floor((100 * done) / total)}%`;
    out.write(
      `\r${what} [${'#'.repeat(bar)}${'-'.repeat(width - bar)}] ${amount}\x1b[K${finished ? '\n' : ''}`,
    );
  };
}

function extractorMessage(e: EvaluationError, o: FidOpts): string {
  if (e.field === 'inceptionWeights') return `--inception-weights ${o.inceptionWeights ?? ''}: ${e.problem}`;
  if (e.extractor !== undefined) return `--extractor ${e.extractor}: ${e.problem}`;
  return e.message;
}

/** The extractor's registry config from the options (`--resize`, `--dims`, `--extractor-config`). */
function extractorConfig(o: FidOpts): Record<string, unknown> {
  let user: Record<string, unknown> = {};
  if (o.extractorConfig !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(o.extractorConfig);
    } catch (e) {
      throw new CliError(`--extractor-config: not valid JSON (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CliError(`--extractor-config: expected a JSON object, got ${o.extractorConfig}`);
    }
    user = value as Record<string, unknown>;
  }
  if (o.extractor !== 'inception-fid') return user;
  const output = o.dims === LOGITS_DIM ? 'logits' : 'pool3';
  return { resize: o.resize, ...(o.dims !== undefined ? { output } : {}), ...user };
}

/** Runs `tsvae fid`; resolves to the exit code. */
export async function runFid(
  aPath: string,
  bPath: string | undefined,
  o: FidOpts,
  io: CliIO,
): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const json = o.json || !io.stdout.isTTY;
  await loadPluginModules(o.plugins, cwd);
  if (bPath === undefined && o.saveStats === undefined) {
    throw usageError('fid needs two inputs, <a> and <b> (or one with --save-stats <out.npz>)');
  }
  if (
    o.dims !== undefined &&
    o.extractor === 'inception-fid' &&
    o.dims !== POOL3_DIM &&
    o.dims !== LOGITS_DIM
  ) {
    throw new CliError(
      `--dims ${o.dims}: the FID Inception port gives ${POOL3_DIM} (pool3, the FID standard) or ${LOGITS_DIM} (logits) features; pytorch-fid's 64 / 192 / 768 block features are not available`,
    );
  }
  const config = extractorConfig(o);
  const saveStats = o.saveStats === undefined ? undefined : resolve(cwd, o.saveStats);
  if (saveStats !== undefined) {
    // pytorch-fid's rule: never overwrite statistics (they are often a published reference).
    if (existsSync(saveStats)) {
      throw new CliError(
        `--save-stats ${saveStats}: the file exists (statistics are never overwritten; remove it first)`,
      );
    }
    try {
      assertWritable(saveStats);
    } catch (e) {
      throw new CliError(
        `--save-stats: cannot write ${saveStats}: ${fsError('write', saveStats, e).message}`,
      );
    }
  }
  const backend = await setupBackend(o.backend, io, o.verbose ?? false);
  const logger = stderrLogger(io, o.verbose ?? false);
  const sides: Side[] = [];
  const controller = new AbortController();
  const unsubscribe = io.onInterrupt?.((signal) => {
    io.stderr.write(`\n${signal}: stopping (nothing is written)\n`);
    controller.abort(new CliError('interrupted', SIGNAL_EXIT[signal]));
  });
  let extractor: FeatureExtractor | undefined;
  try {
    // Every input is read and checked before any long work; what the paths alone tell, first.
    const paths = [aPath, ...(bPath !== undefined ? [bPath] : [])].map((p) => resolve(cwd, p));
    const flag = o.kid ? '--kid' : o.prdc ? '--prdc' : undefined;
    if (flag && bPath === undefined) throw new CliError(`${flag} compares two sides; give <b>`);
    const statsPath = paths.find(isStatisticsFile);
    if (flag && statsPath !== undefined) {
      throw new CliError(
        `${flag} needs the features of both sides, but ${statsPath} holds only statistics (mu, sigma); give the images or the run instead`,
      );
    }
    sides.push(await openSide('a', paths[0] as string, o, io));
    if (paths[1] !== undefined) sides.push(await openSide('b', paths[1], o, io));
    const countOf = (s: Side): number =>
      s.kind === 'images' ? s.split.size : s.kind === 'run' ? o.count : s.stats.count;
    for (const s of sides) {
      if (s.kind !== 'statistics' && countOf(s) < 2) {
        throw new CliError(`${s.name}: ${s.path}: ${countOf(s)} image; FID needs at least 2`);
      }
      if (o.prdc && countOf(s) < o.prdcK + 1) {
        throw new CliError(
          `--prdc: ${s.name} (${s.path}) has ${countOf(s)} samples; k = ${o.prdcK} needs at least ${o.prdcK + 1}`,
        );
      }
    }
    const needFeatures = sides.some((s) => s.kind !== 'statistics');
    const say = (obj: Record<string, unknown>, text: string) =>
      io.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);

    let dim: number;
    let extractorName: string | null = null;
    if (needFeatures) {
      const firstRun = sides.find((s) => s.kind === 'run');
      const environment: SelectionEnvironment = {
        dataset:
          firstRun?.kind === 'run'
            ? {
                name: firstRun.run.config.dataset.name,
                config: firstRun.run.config.dataset.config as Record<string, unknown>,
                labelled: false,
              }
            : { name: 'image folders', config: {}, labelled: false },
        cacheDir: cacheDir(o.cacheDir === undefined ? undefined : resolve(cwd, o.cacheDir)),
        inceptionWeights: o.inceptionWeights === undefined ? undefined : resolve(cwd, o.inceptionWeights),
      };
      const registry = getRegistry();
      if (!registry.has('feature-extractor', o.extractor)) {
        throw new CliError(
          `--extractor ${o.extractor}: no such feature extractor (known: ${registry.list('feature-extractor').join(', ')}; load others with --plugins)`,
        );
      }
      try {
        const [chosen] = selectExtractors([o.extractor], environment, { [o.extractor]: config }).chosen;
        if (!chosen) throw new CliError(`--extractor ${o.extractor}: not available`);
        extractor = await create('feature-extractor', chosen.plugin, chosen.config, { context: { logger } });
      } catch (e) {
        if (e instanceof EvaluationError) throw new CliError(extractorMessage(e, o));
        throw e;
      }
      dim = extractor.featureDim;
      extractorName = extractor.name;
      if (o.dims !== undefined && o.dims !== dim) {
        throw new CliError(`--dims ${o.dims}: extractor ${extractor.name} gives ${dim}-d features`);
      }
    } else {
      dim = (sides[0] as Side & { kind: 'statistics' }).stats.dim;
    }
    for (const s of sides) {
      if (s.kind === 'statistics' && s.stats.dim !== dim) {
        throw new CliError(
          `${s.name}: ${s.path}: statistics of ${s.stats.dim}-d features, but ${
            extractorName
              ? `${extractorName} gives ${dim}-d features (--dims, --extractor)`
              : `the other side's are ${dim}-d`
          }`,
        );
      }
    }
    say(
      {
        event: 'start',
        a: describeSide(sides[0] as Side),
        ...(sides[1] ? { b: describeSide(sides[1]) } : {}),
        extractor: extractorName,
        featureDim: dim,
        backend: backend.backend,
      },
      `a: ${sideText(sides[0] as Side, o)}${sides[1] ? `\nb: ${sideText(sides[1], o)}` : ''}\n` +
        `${extractorName ? `features: ${extractorName} (${dim}-d${o.extractor === 'inception-fid' ? `, ${String(config['resize'])}` : ''}); ` : ''}backend: ${describeBackend(backend)}`,
    );

    const progress = progressPrinter(io.stdout, json);
    const measure = async (s: Side): Promise<Measured> => {
      if (s.kind === 'statistics') return { stats: () => s.stats, count: s.stats.count };
      const ex = extractor as FeatureExtractor;
      const common = {
        batchSize: o.batchSize,
        signal: controller.signal,
        onProgress: (p: { done: number; total: number }) => progress(s.name, 'features', p.done, p.total),
      };
      const features =
        s.kind === 'images'
          ? await splitFeatures(ex, s.split, common)
          : await generatorFeatures(ex, new VaeGenerator(s.run.stage1, s.run.secondStage, o.mode), o.count, {
              ...common,
              seed: o.seed,
            });
      let stats: FeatureStatistics | undefined;
      return {
        features,
        stats: () => {
          stats ??= computeStatistics(features, dim);
          return stats;
        },
        count: features.length / dim,
      };
    };
    const a = await measure(sides[0] as Side);
    const b = sides[1] ? await measure(sides[1]) : undefined;

    let fid: number | undefined;
    let kid: KidResult | undefined;
    let prdc: PrdcResult | undefined;
    if (b) {
      fid =
        a.features && b.features
          ? fidFromFeatures(a.features, b.features, dim).fid
          : frechetDistance(a.stats(), b.stats()).fid;
      if (o.kid && a.features && b.features) {
        kid = kernelInceptionDistance(a.features, b.features, dim, {
          subsets: o.kidSubsets,
          subsetSize: o.kidSubsetSize,
          clampSubsetSize: true,
          seed: o.seed,
        });
      }
      if (o.prdc && a.features && b.features) {
        // b is the reference (real) set, a the one judged (generated), as in torch-fidelity.
        prdc = precisionRecallDensityCoverage(b.features, a.features, dim, { k: o.prdcK });
      }
    }
    const lines: string[] = [];
    const done: Record<string, unknown> = { event: 'done' };
    if (fid !== undefined && b) {
      Object.assign(done, { fid, n1: a.count, n2: b.count, dim });
      lines.push(`FID: ${fid.toFixed(4)}  (N = ${a.count} vs ${b.count || 'unknown'}, ${dim}-d)`);
    }
    if (kid) {
      done['kid'] = { mean: kid.mean, std: kid.std, subsets: kid.values.length, subsetSize: kid.subsetSize };
      lines.push(
        `KID: ${kid.mean.toExponential(4)} ± ${kid.std.toExponential(2)}  (${kid.values.length} subsets of ${kid.subsetSize})`,
      );
    }
    if (prdc) {
      const { precision, recall, density, coverage, k } = prdc;
      done['prdc'] = { precision, recall, density, coverage, k, real: 'b', fake: 'a' };
      lines.push(
        `precision ${precision.toFixed(4)}  recall ${recall.toFixed(4)}  density ${density.toFixed(4)}  coverage ${coverage.toFixed(4)}  (k = ${k}; b is the reference)`,
      );
    }
    if (saveStats !== undefined) {
      const stats = a.stats();
      try {
        writeFileAtomic(saveStats, statisticsToNpz(stats));
      } catch (e) {
        throw new CliError(
          `${fsError('write', saveStats, e).message}${lines.length ? ` (results: ${lines.join('; ')})` : ''}`,
        );
      }
      done['savedStats'] = { path: saveStats, count: stats.count, dim: stats.dim };
      lines.push(
        `saved: ${saveStats} (statistics of a: mu [${stats.dim}], sigma [${stats.dim}, ${stats.dim}], N = ${stats.count})`,
      );
    }
    say(done, lines.join('\n'));
    return 0;
  } finally {
    unsubscribe?.();
    extractor?.dispose();
    for (const s of sides) if (s.kind === 'run') s.run.dispose();
  }
}

/** Adds the `fid` command to the program. */
export function addFidCommand(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('fid')
    .description(
      'FID between two image folders, .npz statistics or run directories (pytorch-fid style); --kid, --prdc, --save-stats.',
    )
    .argument(
      '<a>',
      'images to judge: a folder or .tar of images, an .npz of statistics (mu, sigma), or a run directory',
    )
    .argument('[b]', 'the reference: the same kinds (optional with --save-stats)')
    .option(
      '--save-stats <out.npz>',
      "write a's statistics in pytorch-fid's layout (mu, sigma; never overwrites)",
    )
    .option('--extractor <name>', 'feature extractor', 'inception-fid')
    .option(
      '--extractor-config <json>',
      `the extractor's plugin config, e.g. '{"dataset":"mnist"}' for classifier`,
    )
    .option('--inception-weights <file>', `local ${FID_WEIGHTS_FILE} (or TSVAE_FID_WEIGHTS)`)
    .addOption(
      new Option('--resize <mode>', 'Inception input protocol')
        .choices(['tf1-legacy', 'pytorch-fid'])
        .default('tf1-legacy'),
    )
    .option('--resize-to <HxW>', 'resize every image of a folder to HxW first (area filter)', parseResizeTo)
    .option(
      '--dims <int>',
      `feature dimension: ${POOL3_DIM} (pool3) or ${LOGITS_DIM} (logits) for inception-fid`,
      intOption('--dims', 1),
    )
    .option('--kid', 'also the Kernel Inception Distance (needs features: no .npz side)')
    .option('--kid-subsets <int>', 'KID subsets', intOption('--kid-subsets', 1), 100)
    .option(
      '--kid-subset-size <int>',
      'KID subset size (clamped to N)',
      intOption('--kid-subset-size', 2),
      1000,
    )
    .option('--prdc', 'also precision, recall, density, coverage (b is the reference; needs features)')
    .option('--prdc-k <int>', 'k of the k-NN balls of --prdc', intOption('--prdc-k', 1), 3)
    .option('--batch-size <int>', 'images per extract call', intOption('--batch-size', 1), 50)
    .option('-n, --count <int>', 'samples drawn from a run directory side', intOption('--count', 2), 10000)
    .addOption(
      new Option('--mode <mode>', 'sampling of a run directory side')
        .choices(['two-stage', 'one-stage'])
        .default('two-stage'),
    )
    .option('--seed <int>', 'seed of the samples of a run side and of the KID subsets', seedOption(), 0)
    .option('--cache-dir <dir>', 'where extractors keep weights (default $TSVAE_CACHE or ~/.cache/tsvae)')
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('--json', 'JSON lines on stdout even on a terminal')
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (a: string, b: string | undefined, o: FidOpts) => {
      result.code = await runFid(a, b, o, io);
    });
}
