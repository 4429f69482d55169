/** `tsvae sample` and `tsvae encode`: images from a trained run, codes of a dataset split. */
import { resolve } from 'node:path';
import { create } from '@tsvae/core';
import { writeJsonAtomic } from '@tsvae/core/node';
import { encodeDataset, loadRun, writeImageGrid } from '@tsvae/stages';
import { type Command, Option } from 'commander';
import {
  backendOption,
  type CliIO,
  intOption,
  loadPluginModules,
  pluginsOption,
  seedOption,
  setupBackend,
  stderrLogger,
  usageError,
  warnIfUnfinished,
} from './common';
import { loadSamplers } from './models';
import { writeNpy } from './npy';

interface SampleOpts {
  run: string;
  count: number;
  mode?: string;
  seed: number;
  out?: string;
  batchSize: number;
  stage2?: string;
  plugins?: string[];
  backend?: string;
  verbose?: boolean;
}

async function runSample(o: SampleOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  await loadPluginModules(o.plugins, cwd);
  await setupBackend(o.backend, io, o.verbose ?? false);
  const run = await loadSamplers(resolve(cwd, o.run), {
    logger: stderrLogger(io, o.verbose ?? false),
    ...(o.stage2 !== undefined ? { stage2: o.stage2 } : {}),
  });
  try {
    const mode = o.mode ?? run.defaultMode;
    const generator = run.modes[mode];
    if (!generator) {
      throw usageError(
        `--mode ${mode} does not apply to this ${run.model} run; its modes: ${Object.keys(run.modes).join(', ')}`,
      );
    }
    // one-stage sampling needs only a finished stage 1
    if (mode !== 'one-stage' || run.position.stage === 'stage1') {
      warnIfUnfinished(io, run.outputDir.path, run.position, 'sampling from');
    }
    const images = await generator.generate(o.count, { seed: o.seed, batchSize: o.batchSize });
    const out = o.out ? resolve(cwd, o.out) : run.outputDir.samplePath(`${mode}-seed${o.seed}.png`);
    try {
      writeImageGrid(out, images);
    } finally {
      images.dispose();
    }
    io.stdout.write(`${out}\n`);
    return 0;
  } finally {
    run.dispose();
  }
}

interface EncodeOpts {
  run: string;
  split: 'train' | 'test';
  out?: string;
  batchSize: number;
  plugins?: string[];
  backend?: string;
  verbose?: boolean;
}

async function runEncode(o: EncodeOpts, io: CliIO): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  await loadPluginModules(o.plugins, cwd);
  await setupBackend(o.backend, io, o.verbose ?? false);
  const logger = stderrLogger(io, o.verbose ?? false);
  const run = await loadRun(resolve(cwd, o.run), { logger });
  try {
    const ds = run.record.components.dataset;
    const dataset = await create('dataset', ds.plugin, ds.config, { context: { logger } });
    const split = await dataset.load(o.split);
    const codes = encodeDataset(run.stage1, split, { batchSize: o.batchSize });
    const outDir = o.out ? resolve(cwd, o.out) : run.dir.codesDir(o.split);
    writeNpy(resolve(outDir, 'mu.npy'), codes.mu, [codes.size, codes.latentDim]);
    writeNpy(resolve(outDir, 'sigma.npy'), codes.sigma, [codes.size, codes.latentDim]);
    if (split.labels) writeNpy(resolve(outDir, 'labels.npy'), split.labels, [split.size]);
    writeJsonAtomic(resolve(outDir, 'codes.json'), {
      run: run.runDir,
      checkpoint: run.checkpoint,
      dataset: ds.plugin,
      split: o.split,
      size: codes.size,
      latentDim: codes.latentDim,
      files: ['mu.npy', 'sigma.npy', ...(split.labels ? ['labels.npy'] : [])],
    });
    io.stdout.write(`${outDir}\n`);
    return 0;
  } finally {
    run.dispose();
  }
}

/** Adds `sample` and `encode` to the program. */
export function addSampleCommands(program: Command, io: CliIO, result: { code: number }): void {
  program
    .command('sample')
    .description('Draw a grid of samples from a trained run.')
    .requiredOption('--run <dir>', 'run directory')
    .option('-n, --count <int>', 'number of images', intOption('--count', 1), 64)
    .addOption(
      new Option(
        '--mode <mode>',
        "sampling mode (default: the run's own: two-stage, one-stage or gan)",
      ).choices(['two-stage', 'one-stage', 'gan']),
    )
    .option('--seed <int>', 'seed of the draws, 0..2147483647', seedOption(), 0)
    .option('--out <file.png>', 'output PNG (default <run>/samples/<mode>-seed<seed>.png)')
    .option(
      '--stage2 <name>',
      "sample with the second stage <run>/stage2-<name>/ (tsvae fit-stage2) instead of the run's own; its samples go to <run>/stage2-<name>/samples/",
    )
    .option(
      '--batch-size <int>',
      'images per batch (the draws depend on it)',
      intOption('--batch-size', 1),
      256,
    )
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: SampleOpts) => {
      result.code = await runSample(o, io);
    });

  program
    .command('encode')
    .description('Write the stage-1 posterior (mu, sigma) of a dataset split as .npy files.')
    .requiredOption('--run <dir>', 'run directory')
    .addOption(new Option('--split <name>', 'dataset split').choices(['train', 'test']).default('train'))
    .option('--out <dir>', 'output directory (default <run>/codes-<split>)')
    .option('--batch-size <int>', 'images per batch', intOption('--batch-size', 1), 256)
    .addOption(pluginsOption())
    .addOption(backendOption())
    .option('-v, --verbose', 'log debug records to stderr')
    .action(async (o: EncodeOpts) => {
      result.code = await runEncode(o, io);
    });
}
