#!/usr/bin/env node
// The theory, demonstrated (issue 5, section 3): on data lying on an r-dimensional manifold in R^d,
// a learned-gamma VAE drives gamma towards 0 and keeps about r active latent dimensions (mean
// encoder variance < 0.05). Prints gamma and active dims per epoch. Needs `npm run build`.
//
//   node bench/stages-manifold.mjs [dataset=synthetic-sphere] [r=2] [epochs=60]
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tsvae/datasets';
import { RunDirectory, trainTwoStage } from '@tsvae/stages';
import { registerTinyPlugins } from '@tsvae/stages/testing';

const dataset = process.argv[2] ?? 'synthetic-sphere';
const r = Number(process.argv[3] ?? 2);
const epochs = Number(process.argv[4] ?? 60);
await tf.setBackend('cpu');
registerTinyPlugins();
const runDir = join(mkdtempSync(join(tmpdir(), 'tsvae-manifold-')), 'run');
const latentDim = 8;
const t0 = performance.now();
await trainTwoStage({
  runDir,
  config: {
    dataset: { name: dataset, config: { dim: 16, intrinsicDim: r, trainSize: 2048, testSize: 256 } },
    seed: 1,
    batchSize: 64,
    latentDim,
    stage1: {
      encoder: { name: 'tiny-dense', config: { hidden: 128 } },
      decoder: { name: 'tiny-dense', config: { hidden: 128, output: 'linear' } },
      epochs,
      lr: Number(process.env.LR ?? 1e-2),
      lrEpochs: Math.max(1, Math.floor(epochs / 2)),
    },
    stage2: { model: { name: 'tiny-mlp', config: { width: 64 } }, epochs: 5, lr: 1e-3 },
    diagnostics: { samples: 1024 },
    checkpoint: { everyEpochs: epochs, keep: 1 },
    samples: { count: 16 },
  },
});
const m = new RunDirectory(runDir).readMetrics().filter((x) => x.stage === 'stage1');
console.log(
  `${dataset}, intrinsic dimension r = ${r}, ambient d = 16, latent κ = ${latentDim}, ${epochs} epochs`,
);
console.log('epoch  gamma      active dims  recon MSE');
for (const x of m) {
  if (x.epoch === 1 || x.epoch % Math.max(1, Math.floor(epochs / 12)) === 0 || x.epoch === epochs) {
    console.log(
      `${String(x.epoch).padStart(5)}  ${x.gamma.toExponential(3)}  ${String(x.activeDims).padStart(11)}  ${x.reconMse.toExponential(3)}`,
    );
  }
}
const last = m.at(-1);
console.log(
  `final: gamma ${last.gamma.toExponential(3)} (from ${m[0].gamma.toFixed(3)}), active dims ${last.activeDims} (r = ${r}); ${((performance.now() - t0) / 1000).toFixed(0)} s`,
);
