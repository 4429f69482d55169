/**
 * `tsvae export <run>`: a trained run as a self-contained folder for the browser (`@tsvae/web`'s
 * format): the stage-1 decoder and the second stage of a VAE run, or the generator of a GAN run, in
 * the tfjs model format, reference samples with their seeds (PNG and the raw values), the run's
 * `eval.json` and a manifest with the sha256 of every file. {@link exportRun} is the library
 * function; the folder is checked by reloading it (the code a page runs) before it is written.
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { GAN_TRAINER, loadGanRun, readGanRecord } from '@tsvae/baselines';
import { type Logger, type SecondStage, silentLogger } from '@tsvae/core';
import { assertWritable, fsError, readJsonFile, tempNameFor, writeDirectoryAtomic } from '@tsvae/core/node';
import { imageGridPng, type LoadedRun, loadRun, RunDirectory, readVaeRecord } from '@tsvae/stages';
import {
  buildExport,
  buildGanExport,
  checkExport,
  type ExportCheck,
  type ExportCommonInput,
  type ExportEvalResult,
  type ExportFiles,
  type ExportInput,
  type ExportManifest,
  exportability,
} from '@tsvae/web';
import type { Command } from 'commander';
import {
  backendOption,
  CliError,
  type CliIO,
  intOption,
  loadPluginModules,
  packageVersions,
  pluginsOption,
  seedOption,
  setupBackend,
  stderrLogger,
  usageError,
} from './common';

/** Options of {@link exportRun}. */
export interface ExportOptions {
  /** The run directory. */
  readonly run: string;
  /** The export folder (default `exports/<run name>` under `cwd`). It must not exist unless `force`. */
  readonly out?: string;
  /** Seed of the reference grids (default 0). */
  readonly seed?: number;
  /** Images per reference grid (default 16). */
  readonly count?: number;
  /** Sampling batch size (default 256; the draws of a seed depend on it). */
  readonly batchSize?: number;
  /** Replace an existing export folder. */
  readonly force?: boolean;
  /** Weight shard size in bytes (default 4 MiB). */
  readonly shardBytes?: number;
  /** Base of relative paths (default `process.cwd()`). */
  readonly cwd?: string;
  readonly logger?: Logger;
}

/** What {@link exportRun} wrote. */
export interface ExportResult {
  /** The export folder. */
  readonly out: string;
  readonly manifest: ExportManifest;
  /** The reload check: per reference grid, the largest difference to the stored values (0 expected). */
  readonly checks: readonly ExportCheck[];
}

/** The largest difference a reload on the same backend may show before the export is refused. */
const RELOAD_TOLERANCE = 1e-6;

/** The default export folder of a run: `exports/<run name>`. */
export function defaultExportDir(runDir: string, cwd: string = process.cwd()): string {
  return resolve(cwd, 'exports', basename(resolve(cwd, runDir)));
}

/**
 * The stage-1 decoder's registry reference. The `vae` stage 1 records its decoder as
 * `{ name, config }` and creates it with `latentDim` and `imageShape` added (as its `partConfigs`
 * does); the export rebuilds it the same way.
 */
function decoderReference(run: LoadedRun): { plugin: string; config: Record<string, unknown> } {
  const s1 = run.record.components.stage1;
  const cfg = (s1.resolved ?? s1.config) as {
    decoder?: { name?: unknown; config?: unknown };
    latentDim?: unknown;
    imageShape?: unknown;
  };
  const name = cfg.decoder?.name;
  if (typeof name !== 'string') {
    throw new CliError(
      `${run.dir.configFile}: the stage-1 plugin "${s1.plugin}" records no decoder plugin ({ decoder: { name, config } }); tsvae export needs one`,
    );
  }
  return {
    plugin: name,
    config: {
      ...((cfg.decoder?.config as Record<string, unknown> | undefined) ?? {}),
      latentDim: cfg.latentDim ?? run.stage1.latentDim,
      imageShape: cfg.imageShape ?? [...run.stage1.decoder.outputShape],
    },
  };
}

/** FID / KID per generator from an `eval.json` (tolerant: what it cannot read is left out). */
function evalSummary(json: unknown): ExportEvalResult[] {
  const results = (json as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) return [];
  const out: ExportEvalResult[] = [];
  for (const r of results as Record<string, unknown>[]) {
    const fid = r['fid'] as { mean?: unknown; std?: unknown } | undefined;
    const kid = r['kid'] as { mean?: unknown } | undefined;
    if (typeof r['generator'] !== 'string' || typeof fid?.mean !== 'number') continue;
    out.push({
      generator: r['generator'],
      extractor: String(r['extractor'] ?? ''),
      fid: fid.mean,
      fidStd: typeof fid.std === 'number' ? fid.std : 0,
      kid: typeof kid?.mean === 'number' ? kid.mean : null,
      count: typeof r['count'] === 'number' ? r['count'] : 0,
      referenceCount: typeof r['referenceCount'] === 'number' ? r['referenceCount'] : 0,
    });
  }
  return out;
}

function readEval(
  run: { readonly dir: RunDirectory; readonly checkpoint: string },
  logger: Logger,
): NonNullable<ExportInput['eval']> | null {
  const path = run.dir.evalFile;
  if (!existsSync(path)) return null;
  try {
    const json = readJsonFile(path) as { checkpoint?: unknown };
    return {
      bytes: new Uint8Array(readFileSync(path)),
      sameCheckpoint:
        typeof json.checkpoint === 'string' && basename(json.checkpoint) === basename(run.checkpoint),
      results: evalSummary(json),
    };
  } catch (e) {
    logger.warn(`${path} is not readable; the export has no FID`, { error: (e as Error).message });
    return null;
  }
}

/** Writes `files` as the folder `out` atomically; with `force` an existing folder is replaced. */
function writeExportDir(out: string, files: ReadonlyMap<string, Uint8Array>, force: boolean): void {
  const content = Object.fromEntries(files);
  if (!existsSync(out)) {
    writeDirectoryAtomic(out, content);
    return;
  }
  if (!force) throw new CliError(`${out} exists; pass --force to replace it`);
  const fresh = tempNameFor(out);
  writeDirectoryAtomic(fresh, content);
  const old = tempNameFor(out);
  try {
    renameSync(out, old);
  } catch (e) {
    rmSync(fresh, { recursive: true, force: true });
    throw fsError('replace', out, e);
  }
  try {
    renameSync(fresh, out);
  } catch (e) {
    renameSync(old, out);
    rmSync(fresh, { recursive: true, force: true });
    throw fsError('replace', out, e);
  }
  rmSync(old, { recursive: true, force: true });
}

/**
 * Exports a trained run for the browser: a two-stage VAE run (the stage-1 decoder and the second
 * stage; a run whose stage 2 is not finished exports one-stage sampling only and says why in
 * `manifest.notes` and the logger's warnings) or a GAN run (trainer `gan`: its generator, sampling
 * mode `gan`, codes from the run's prior). Errors name the path: an unknown run directory, an
 * unwritable or existing output, a model that is not a tfjs-layers model.
 */
export async function exportRun(options: ExportOptions): Promise<ExportResult> {
  const cwd = options.cwd ?? process.cwd();
  const logger = options.logger ?? silentLogger;
  const runDir = resolve(cwd, options.run);
  // The run must be a two-stage VAE or a GAN run (errors name config.json) and the output
  // writable, before any model is loaded.
  const dir = new RunDirectory(runDir);
  const gan = dir.readRecord().trainer === GAN_TRAINER;
  if (gan) readGanRecord(dir);
  else readVaeRecord(dir);
  const out = options.out ? resolve(cwd, options.out) : defaultExportDir(runDir, cwd);
  if (existsSync(out) && !options.force) throw new CliError(`${out} exists; pass --force to replace it`);
  assertWritable(out);

  const common = {
    references: {
      seed: options.seed ?? 0,
      count: options.count ?? 16,
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    },
    versions: packageVersions(),
    backend: tf.getBackend(),
    encodePng: (images: tf.Tensor4D) => imageGridPng(images),
    ...(options.shardBytes === undefined ? {} : { shardBytes: options.shardBytes }),
  } satisfies Partial<ExportCommonInput>;
  const built = gan
    ? await buildGanRunExport(runDir, common, logger)
    : await buildVaeRunExport(runDir, common, logger);
  const checks = await checkExport(built.files);
  const worst = Math.max(...checks.map((c) => c.maxAbsDiff));
  if (!(worst <= RELOAD_TOLERANCE)) {
    throw new CliError(
      `the export of ${runDir} does not reproduce its reference samples when reloaded (max abs difference ${worst}); nothing was written`,
    );
  }
  writeExportDir(out, built.files, options.force ?? false);
  return { out, manifest: built.manifest, checks };
}

/** What {@link exportRun} passes to both kinds of export: references, versions, backend, PNG encoder. */
type CommonInput = Pick<
  ExportCommonInput,
  'references' | 'versions' | 'backend' | 'encodePng' | 'shardBytes'
>;

/** The export of a GAN run (written by `@tsvae/baselines`' `trainGan`), from its newest good checkpoint. */
async function buildGanRunExport(runDir: string, common: CommonInput, logger: Logger): Promise<ExportFiles> {
  const run = await loadGanRun(runDir, { logger });
  try {
    const { position } = run;
    const ref = run.record.components.generator;
    const problem = exportability(run.generator);
    if (problem) {
      throw new CliError(
        `${run.dir.configFile}: the generator (plugin "${ref.plugin}") cannot be exported: ${problem}`,
      );
    }
    const notes: string[] = [];
    if (position.stage !== 'done') {
      notes.push(
        `training is not finished (checkpoint after ${position.epoch} of ${run.config.epochs} epochs${position.step ? ` and ${position.step} steps` : ''}): samples from a generator in mid-training`,
      );
    }
    for (const n of notes) logger.warn(n);
    return await buildGanExport({
      ...common,
      // a GAN trains in one stage, which its checkpoints call stage1
      ...runFacts(runDir, run, {
        stage1: position.stage === 'done' ? run.config.epochs : position.epoch,
        stage2: 0,
      }),
      imageShape: [...run.generator.outputShape],
      generator: {
        plugin: ref.plugin,
        config: { ...ref.config },
        module: run.generator,
        prior: run.config.prior,
      },
      notes,
      eval: readEval(run, logger),
    });
  } finally {
    run.dispose();
  }
}

/** The export of a two-stage VAE run, from its newest good checkpoint. */
async function buildVaeRunExport(runDir: string, common: CommonInput, logger: Logger): Promise<ExportFiles> {
  const run = await loadRun(runDir, { logger });
  try {
    const { position } = run;
    const notes: string[] = [];
    const totals = run.config;
    const at = (total: number) =>
      `checkpoint after ${position.epoch} of ${total} epochs${position.step ? ` and ${position.step} steps` : ''}`;
    if (position.stage === 'stage1') {
      notes.push(
        `stage 1 is not finished (${at(totals.stage1.epochs)}) and stage 2 not trained: one-stage sampling only, from a decoder in mid-training`,
      );
    } else if (position.stage === 'stage2') {
      notes.push(
        `stage 2 is not finished (${at(totals.stage2.epochs)}): two-stage sampling is not exported, one-stage only`,
      );
    }
    const stage2Problem = exportability(run.secondStage);
    if (position.stage === 'done' && stage2Problem) {
      notes.push(
        `the second stage (plugin "${run.record.components.secondStage.plugin}") cannot be exported: ${stage2Problem}; one-stage sampling only`,
      );
    }
    for (const n of notes) logger.warn(n);
    const withSecond = position.stage === 'done' && !stage2Problem;
    const secondStage: ExportInput['secondStage'] = withSecond
      ? {
          plugin: run.record.components.secondStage.plugin,
          config: run.record.components.secondStage.config,
          module: run.secondStage as SecondStage,
        }
      : null;
    const epochs = {
      stage1: position.stage === 'stage1' ? position.epoch : totals.stage1.epochs,
      stage2:
        position.stage === 'done' ? totals.stage2.epochs : position.stage === 'stage2' ? position.epoch : 0,
    };
    const gammaZ = withSecond ? (run.secondStage.diagnostics?.()['gamma'] ?? null) : null;
    const decoderRef = decoderReference(run);
    return await buildExport({
      ...common,
      ...runFacts(runDir, run, epochs),
      imageShape: [...run.stage1.decoder.outputShape],
      gamma: run.stage1.gamma(),
      gammaZ: typeof gammaZ === 'number' && Number.isFinite(gammaZ) ? gammaZ : null,
      decoder: { ...decoderRef, module: run.stage1.decoder },
      secondStage,
      notes,
      eval: readEval(run, logger),
    });
  } finally {
    run.dispose();
  }
}

interface ExportCliOpts {
  run?: string;
  out?: string;
  seed: number;
  count: number;
  batchSize: number;
  force?: boolean;
  plugins?: string[];
  backend?: string;
  verbose?: boolean;
}

async function runExport(runArg: string | undefined, o: ExportCliOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  if (runArg && o.run && resolve(cwd, runArg) !== resolve(cwd, o.run)) {
    throw usageError(`two run directories given (${runArg} and --run ${o.run}); give one`);
  }
  const run = runArg ?? o.run;
  if (!run) throw usageError('tsvae export needs a run directory: tsvae export <run>');
  await loadPluginModules(o.plugins, cwd);
  const backend = await setupBackend(o.backend, io, o.verbose ?? false);
  const logger = stderrLogger(io, o.verbose ?? false);
  const result = await exportRun({
    run,
    ...(o.out ? { out: o.out } : {}),
    seed: o.seed,
    count: o.count,
    batchSize: o.batchSize,
    force: o.force ?? false,
    cwd,
    logger,
  });
  const m = result.manifest;
  const bytes = Object.values(m.files).reduce((s, f) => s + f.bytes, 0);
  io.stdout.write(
    [
      `exported ${m.run.id} (${m.modes.join(' and ')} sampling; ${m.run.position.stage === 'done' ? 'finished' : `checkpoint at ${m.run.position.stage} epoch ${m.run.position.epoch}`}) to ${result.out}`,
      `  ${Object.keys(m.files).length + 1} files, ${(bytes / 1024 / 1024).toFixed(2)} MiB; references: ${m.references.map((r) => `${r.mode} seed ${r.seed} (${r.count})`).join(', ')}, computed on ${backend.backend}`,
      `  reloaded and checked: ${result.checks.map((c) => `${c.mode} max |diff| ${c.maxAbsDiff}`).join(', ')}`,
      ...m.notes.map((n) => `  note: ${n}`),
      '  view it: npm run demo (serves ./exports), or drop the folder on the demo page',
      '',
    ].join('\n'),
  );
  return 0;
}

/** Adds `export` to the program. */
export function addExportCommand(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('export')
    .description(
      "Write a trained run as a folder for the browser: a VAE's decoder and second stage, or a GAN's generator, in the tfjs model format, reference samples, manifest (see @tsvae/web, apps/demo).",
    )
    .argument('[run]', 'run directory')
    .option('--run <dir>', 'run directory (instead of the argument)')
    .option('--out <dir>', 'export folder (default exports/<run name>)')
    .option('--seed <int>', 'seed of the reference samples, 0..2147483647', seedOption(), 0)
    .option('-n, --count <int>', 'reference images per sampling mode', intOption('--count', 1, 4096), 16)
    .option(
      '--batch-size <int>',
      'sampling batch size (the draws of a seed depend on it)',
      intOption('--batch-size', 1),
      256,
    )
    .option('--force', 'replace an existing export folder')
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (runArg: string | undefined, o: ExportCliOpts) => {
      result.code = await runExport(runArg, o, io);
    });
}

/** The `run` and `dataset` facts of an export, the same for a VAE run and a GAN run. */
function runFacts(
  runDir: string,
  run: {
    readonly record: {
      readonly trainer: string;
      readonly seed: number;
      readonly createdAt: string;
      readonly components: { readonly dataset: { readonly plugin: string; readonly config: object } };
    };
    readonly position: ExportManifest['run']['position'];
    readonly checkpoint: string;
  },
  epochs: ExportManifest['run']['epochs'],
): Pick<ExportManifest, 'run' | 'dataset'> {
  return {
    run: {
      id: basename(runDir),
      trainer: run.record.trainer,
      seed: run.record.seed,
      createdAt: run.record.createdAt,
      position: { ...run.position },
      checkpoint: basename(run.checkpoint),
      epochs,
    },
    dataset: {
      plugin: run.record.components.dataset.plugin,
      config: { ...run.record.components.dataset.config },
    },
  };
}
