#!/usr/bin/env node
// Table 1 on MNIST at a CPU budget: NS GAN and WGAN-GP (compare_gan's network and losses,
// @tsvae/baselines' quick preset: half widths, a 6,400-image subset, Adam 2e-4 / 0.5) against the
// two-stage VAE of @tsvae/stages' quick preset, all measured by @tsvae/metrics' evaluate() with the
// same extractor (the MNIST classifier) and the same N. Prints FID (and KID) per model with N and
// the training time. The default budget is meant to fit about 20 minutes on 2 CPU cores; the
// numbers are NOT the paper's (tiny budget, small networks, classifier features, not Inception).
// Needs `npm run build` (or `npx nx run @tsvae/baselines:build` plus metrics and datasets).
//
//   node bench/baselines-mnist.mjs [--gan-epochs 5] [--vae-epochs 5] [--stage2-epochs 20]
//        [--subset 6400] [--count 10000] [--models ns-gan,wgan-gp] [--out <dir>] [--seed 0]
//        [--backend auto|wasm|cpu] [--no-vae]
//
// A tiny check that everything runs: --gan-epochs 1 --vae-epochs 1 --stage2-epochs 1 --subset 256 --count 200
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { describeBackend, initBackend } from '@tsvae/backend';
import { baselineRunConfig, loadGanRun, trainGan } from '@tsvae/baselines';
import { consoleLogger, create, getRegistry } from '@tsvae/core';
import '@tsvae/datasets';
import { evaluate } from '@tsvae/metrics';
import { resolveRunConfig, trainTwoStage, vaeRunGenerator } from '@tsvae/stages';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const flag = (name) => args.includes(`--${name}`);
const ganEpochs = Number(opt('gan-epochs', 5));
const vaeEpochs = Number(opt('vae-epochs', 5));
const stage2Epochs = Number(opt('stage2-epochs', 20));
const subset = Number(opt('subset', 6400));
const count = Number(opt('count', 10000));
const seed = Number(opt('seed', 0));
const models = opt('models', 'ns-gan,wgan-gp').split(',').filter(Boolean);
const out = resolve(opt('out', mkdtempSync(join(tmpdir(), 'tsvae-baselines-'))));
const backend = opt('backend', 'auto');

const info = await initBackend(backend === 'auto' ? {} : { backend });
console.log(`backend: ${describeBackend(info)}`);
if (!getRegistry().has('generator', 'vae-run')) getRegistry().register(vaeRunGenerator);

const quiet = { ...consoleLogger, debug: () => {}, info: () => {} };
const generators = {};
const seconds = {};
const dispose = [];

for (const model of models) {
  const b = baselineRunConfig(model, 'quick', 'mnist', { epochs: ganEpochs, seed, dataset: { subset } });
  if (b.trainer !== 'gan') throw new Error(`${model} is not a GAN; use --vae-epochs for the two-stage VAE`);
  const runDir = join(out, model);
  const t0 = performance.now();
  const r = await trainGan({ runDir, config: b.config, logger: quiet });
  seconds[model] = (performance.now() - t0) / 1000;
  const last = r.metrics.at(-1);
  console.log(
    `${model}: ${ganEpochs} epochs in ${seconds[model].toFixed(0)} s; last epoch D ${last?.discriminatorLoss.toFixed(3)}, G ${last?.generatorLoss?.toFixed(3) ?? '-'} (${runDir})`,
  );
  const run = await loadGanRun(runDir);
  generators[model] = run.sampler;
  dispose.push(() => run.dispose());
}

if (!flag('no-vae')) {
  const runDir = join(out, 'two-stage-vae');
  const config = resolveRunConfig('quick', 'mnist', {
    seed,
    dataset: { subset },
    stage1: { epochs: vaeEpochs },
    stage2: { epochs: stage2Epochs },
  });
  const t0 = performance.now();
  await trainTwoStage({ runDir, config, logger: quiet });
  seconds['two-stage-vae'] = (performance.now() - t0) / 1000;
  console.log(
    `two-stage-vae: ${vaeEpochs} + ${stage2Epochs} epochs in ${seconds['two-stage-vae'].toFixed(0)} s (${runDir})`,
  );
  const g = await create('generator', 'vae-run', { runDir, mode: 'two-stage' });
  generators['two-stage-vae'] = g;
  dispose.push(() => g.dispose());
}

const t0 = performance.now();
const report = await evaluate({
  generators,
  dataset: { name: 'mnist' },
  extractors: ['classifier'],
  count,
  referenceCount: count,
  seed,
  logger: quiet,
});
const evalSeconds = (performance.now() - t0) / 1000;
console.log(
  `\nFID / KID on MNIST, N = ${count} generated vs ${report.protocol.referenceCount} test images, extractor ${report.extractors.map((e) => e.name).join(', ')} (${evalSeconds.toFixed(0)} s)`,
);
console.log('model            FID        KID x1000   train s');
for (const r of report.results) {
  const kid = r.kid ? (1000 * r.kid.mean).toFixed(2) : '-';
  console.log(
    `${r.generator.padEnd(16)} ${r.fid.mean.toFixed(2).padStart(8)}   ${kid.padStart(9)}   ${(seconds[r.generator] ?? 0).toFixed(0).padStart(7)}`,
  );
}
console.log(
  '\nPaper (Table 1, MNIST, Inception FID, full budget): NS GAN 6.8, WGAN-GP 20.3, 2-Stage VAE 12.6. Not comparable to this run.',
);
for (const d of dispose) d();
console.log(`tensors left: ${tf.memory().numTensors}`);
