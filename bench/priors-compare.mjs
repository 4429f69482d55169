#!/usr/bin/env node
// Second stages compared on one stage 1 (issue 13): on one quick-preset MNIST run, the paper's `mlp`
// second stage (the run's own), `gmm` with k = 10 and k = 100, and `flow` (each fitted with
// `fitSecondStage` into <run>/stage2-<name>/), plus N(0, I) (one-stage sampling). For each:
//   - image FID with the `classifier` extractor (@tsvae/metrics' evaluate, N samples vs the test set)
//   - the latent Fréchet distance between its samples and held-out codes q(z) (z = mu + sigma * eps
//     of the test split), with @tsvae/metrics' statistics and Fréchet distance (N(0, I) in closed form)
//   - the held-out log-likelihood of those codes per code (gmm, flow, N(0, I): exact; mlp: the ELBO,
//     a lower bound)
// Prints a table and writes <run>/priors-compare.json. Needs `npm run build`. Existing pieces (the
// run, a second stage) are reused, unfinished ones resumed.
//
//   node bench/priors-compare.mjs [run-dir] [--count 10000] [--flow-epochs 20] [--tiny]
//
// The real figures need a quiet machine (stage 1 + 4 second stages + 5 x 10,000 samples through the
// classifier: tens of minutes on 2 cores). `--tiny` checks that the script runs (256 training
// images, 1 epoch, k = 2 / 4, 100 samples, a 1-epoch classifier): its numbers mean nothing.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@tsvae/backend';
import { create, deriveSeed } from '@tsvae/core';
import { writeJsonAtomic } from '@tsvae/core/node';
import '@tsvae/datasets';
import { computeStatistics, evaluate, frechetDistance } from '@tsvae/metrics';
import '@tsvae/priors';
import {
  encodeDataset,
  fitSecondStage,
  loadRun,
  RunDirectory,
  resolveRunConfig,
  trainTwoStage,
  VaeGenerator,
} from '@tsvae/stages';

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const tiny = argv.includes('--tiny');
const positional = argv.filter(
  (a, i) =>
    !a.startsWith('--') && !argv[i - 1]?.startsWith('--count') && !argv[i - 1]?.startsWith('--flow-epochs'),
);
const runDir = resolve(positional[0] ?? join(mkdtempSync(join(tmpdir(), 'tsvae-priors-')), 'run'));
const count = Number(flag('--count', tiny ? 100 : 10000));
const flowEpochs = Number(flag('--flow-epochs', tiny ? 1 : 20));
if (tiny && !process.env.TSVAE_CACHE)
  process.env.TSVAE_CACHE = mkdtempSync(join(tmpdir(), 'tsvae-priors-cache-'));

const info = await initBackend({});
console.log(`backend: ${info.backend}${tiny ? ' (--tiny: a smoke test, the numbers mean nothing)' : ''}`);
const log = (m, f) => console.log(`  ${m}${f ? ` ${JSON.stringify(f)}` : ''}`);
const logger = { debug() {}, info: log, warn: log, error: log };

// 1. one stage 1 (the quick preset; the run's own second stage is the paper's mlp)
const dir = new RunDirectory(runDir);
const t0 = performance.now();
if (!dir.holdsRun()) {
  const overrides = tiny
    ? { dataset: { subset: 256 }, stage1: { epochs: 1 }, stage2: { epochs: 1 }, samples: { count: 4 } }
    : {};
  console.log(`training ${runDir} (quick preset, MNIST)`);
  await trainTwoStage({ runDir, config: resolveRunConfig('quick', 'mnist', overrides), logger });
} else {
  const r = await trainTwoStage({ runDir, resume: true, logger });
  if (r.status !== 'completed') throw new Error(`${runDir}: ${r.status}`);
}

// 2. the other second stages on that stage 1
const SECOND = [
  { name: 'gmm10', plugin: 'gmm', config: { components: tiny ? 2 : 10 } },
  { name: 'gmm100', plugin: 'gmm', config: { components: tiny ? 4 : 100 } },
  { name: 'flow', plugin: 'flow', config: tiny ? { couplings: 2, width: 16 } : {}, epochs: flowEpochs },
];
for (const s of SECOND) {
  const exists = existsSync(join(dir.secondStageDir(s.name), 'config.json'));
  const t = performance.now();
  const r = await fitSecondStage({
    runDir,
    name: s.name,
    ...(exists ? { resume: true } : { secondStage: { name: s.plugin, config: s.config } }),
    ...(s.epochs !== undefined && !exists ? { epochs: s.epochs } : {}),
    logger,
  });
  console.log(`${s.name}: ${r.status} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
}

// 3. held-out codes q(z): z = mu + sigma * eps of the test split (one seeded draw per code)
const base = await loadRun(runDir, { logger });
const ds = base.record.components.dataset;
const dataset = await create('dataset', ds.plugin, ds.config);
const test = await dataset.load('test');
const codes = encodeDataset(base.stage1, test, { batchSize: 256 });
const d = codes.latentDim;
const zTest = tf.tidy(() =>
  tf.add(
    tf.tensor2d(codes.mu, [codes.size, d]),
    tf.mul(
      tf.tensor2d(codes.sigma, [codes.size, d]),
      tf.randomNormal([codes.size, d], 0, 1, 'float32', deriveSeed(1, 'bench-codes')),
    ),
  ),
);
const zData = zTest.dataSync();
const qStats = computeStatistics(zData, d);
base.dispose();

/** Mean over the held-out codes of -loss (batched): log-likelihood (gmm, flow) or ELBO (mlp). */
function heldOut(model) {
  let sum = 0;
  for (let s = 0; s < codes.size; s += 1000) {
    const n = Math.min(1000, codes.size - s);
    const t = tf.tidy(() =>
      model.loss(tf.slice(zTest, [s, 0], [n, d]), { training: false, seed: deriveSeed(1, 'bench-loss', s) }),
    );
    sum += -t.loss.dataSync()[0] * n;
    tf.dispose([t.loss, t.reconstruction, t.kl]);
  }
  return sum / codes.size;
}

// 4. every second stage: latent FD and held-out likelihood; generators for the image FID
const rows = [];
const loaded = [];
const generators = {};
for (const s of [{ name: 'mlp' }, ...SECOND]) {
  const run = await loadRun(runDir, s.name === 'mlp' ? { logger } : { logger, stage2: s.name });
  loaded.push(run);
  const z = run.secondStage.sample(Math.max(count, d + 1), { seed: deriveSeed(2, 'bench-latent') });
  const fd = frechetDistance(computeStatistics(z.dataSync(), d), qStats).fid;
  z.dispose();
  rows.push({ name: s.name, plugin: s.plugin ?? 'mlp', latentFd: fd, heldOut: heldOut(run.secondStage) });
  generators[s.name] = new VaeGenerator(run.stage1, run.secondStage, 'two-stage');
}
// N(0, I), the one-stage prior, in closed form
const identity = new Float64Array(d * d);
for (let j = 0; j < d; j++) identity[j * d + j] = 1;
const normalFd = frechetDistance({ dim: d, count: 0, mu: new Float64Array(d), sigma: identity }, qStats).fid;
let normalLl = 0;
for (const v of zData) normalLl += -0.5 * v * v;
normalLl = normalLl / codes.size - 0.5 * d * Math.log(2 * Math.PI);
rows.push({ name: 'N(0, I)', plugin: 'one-stage', latentFd: normalFd, heldOut: normalLl });
generators['N(0, I)'] = new VaeGenerator(loaded[0].stage1, null, 'one-stage');

// 5. image FID, classifier features, N samples vs the test images
const report = await evaluate({
  generators,
  dataset: { name: ds.plugin, config: ds.config },
  count,
  kid: false,
  extractors: ['classifier'],
  ...(tiny ? { extractorConfigs: { classifier: { epochs: 1, trainSize: 512 } } } : {}),
  logger,
});
for (const r of rows) r.fid = report.results.find((x) => x.generator === r.name)?.fid.mean;
for (const run of loaded) run.dispose();
zTest.dispose();

console.log(`\n${runDir}: κ = ${d}, ${codes.size} held-out codes, N = ${count} samples\n`);
console.log('second stage   image FID (classifier)   latent FD to q(z)   held-out log p(z) per code');
for (const r of rows) {
  console.log(
    `${r.name.padEnd(14)} ${(r.fid ?? Number.NaN).toFixed(3).padStart(22)}   ${r.latentFd.toFixed(4).padStart(17)}   ${r.heldOut.toFixed(3).padStart(12)}${r.plugin === 'mlp' ? ' (ELBO)' : ''}`,
  );
}
const out = join(runDir, 'priors-compare.json');
writeJsonAtomic(out, {
  runDir,
  tiny,
  count,
  heldOutCodes: codes.size,
  latentDim: d,
  backend: info.backend,
  rows,
  seconds: (performance.now() - t0) / 1000,
});
console.log(`\nwritten: ${out} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
