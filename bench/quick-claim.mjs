#!/usr/bin/env node
// The paper's claim with the main job (issue 14): does the `quick` preset's two-stage sampling beat
// one-stage sampling? For each seed it trains `tsvae train`'s quick preset, then measures FID with
// the classifier extractor, N generated vs the first N test images, and prints the table. Run it
// alone on the machine (training time is part of the claim). Needs `npm run build`.
//
//   node bench/quick-claim.mjs [--dataset mnist] [--seeds 0,1,2] [-n 10000] [--config '{"stage2":{"epochs":40}}']
//                              [--runs <dir>] [--kid] [--backend auto|wasm|tensorflow|cpu]
//
// A new user's machine has no native TensorFlow, so the training-time budget (<= 5 min) is the
// wasm backend's: pass --backend wasm where `tsvae setup tensorflow` has been run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeBackend, initBackend } from '@tsvae/backend';
import '@tsvae/datasets';
import { evaluate } from '@tsvae/metrics';
import { loadRun, resolveRunConfig, trainTwoStage, VaeGenerator } from '@tsvae/stages';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    seeds: { type: 'string', default: '0,1,2' },
    n: { type: 'string', short: 'n', default: '10000' },
    config: { type: 'string', default: '{}' },
    runs: { type: 'string' },
    kid: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'auto' },
  },
});
const seeds = values.seeds.split(',').map(Number);
const n = Number(values.n);
const overrides = JSON.parse(values.config);
const root = values.runs ?? mkdtempSync(join(tmpdir(), 'tsvae-claim-'));
const info = await initBackend({ backend: values.backend });
console.log(`backend: ${describeBackend(info)}`);
console.log(
  `dataset ${values.dataset}, quick preset, overrides ${JSON.stringify(overrides)}, N = ${n}, runs in ${root}`,
);

const rows = [];
for (const seed of seeds) {
  const config = resolveRunConfig('quick', values.dataset, { ...overrides, seed });
  const runDir = join(root, `${values.dataset}-seed${seed}-${Date.now()}`);
  const t0 = performance.now();
  const r = await trainTwoStage({ runDir, config });
  const trainSeconds = (performance.now() - t0) / 1000;
  const s1 = r.metrics.filter((m) => m.stage === 'stage1').at(-1);
  const s2 = r.metrics.filter((m) => m.stage === 'stage2').at(-1);
  const run = await loadRun(runDir);
  const t1 = performance.now();
  const report = await evaluate({
    generators: {
      'one-stage': new VaeGenerator(run.stage1, run.secondStage, 'one-stage'),
      'two-stage': new VaeGenerator(run.stage1, run.secondStage, 'two-stage'),
    },
    dataset: { name: values.dataset },
    count: n,
    referenceCount: n,
    extractors: ['classifier'],
    kid: values.kid ? {} : false,
  });
  run.dispose();
  const fid = Object.fromEntries(report.results.map((x) => [x.generator, x.fid.mean]));
  const row = {
    seed,
    trainSeconds,
    evalSeconds: (performance.now() - t1) / 1000,
    gamma: s1?.gamma,
    activeDims: s1?.activeDims,
    reconMse: s1?.reconMse,
    gammaZ: s2?.gamma,
    oneStage: fid['one-stage'],
    twoStage: fid['two-stage'],
    runDir,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}

const f = (v, d = 2) => (typeof v === 'number' ? v.toFixed(d) : '-');
console.log(
  '\n| seed | train (s) | gamma | active dims | recon MSE | gamma_z | FID one-stage | FID two-stage | two < one |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.seed} | ${f(r.trainSeconds, 0)} | ${f(r.gamma, 3)} | ${r.activeDims} | ${f(r.reconMse, 4)} | ${f(r.gammaZ, 3)} | ${f(r.oneStage)} | ${f(r.twoStage)} | ${r.twoStage < r.oneStage ? 'yes' : 'NO'} |`,
  );
}
const wins = rows.filter((r) => r.twoStage < r.oneStage).length;
console.log(
  `\ntwo-stage FID < one-stage FID for ${wins} of ${rows.length} seeds (classifier features, N = ${n} vs ${n} test images)`,
);
process.exitCode = wins === rows.length ? 0 : 1;
